"""Sinabs 3.1.3 -> sinabs.nir.to_nir -> ``--from sinabs`` -> float reference: spikes equal Sinabs' own, exactly.

Five seeded random networks of Squeeze layers (one forward call on batch-major flattened input, as Sinabs runs
them): IAF MLPs with MultiSpike counts, a CNN with Conv2d, SumPool2d and Flatten (the NIR paper's layout), IAF
with SingleSpike + MembraneReset (not in the file: stated with ``spikes=``/``reset=``), and LIF (norm_input,
exact decays) feeding an ExpLeak readout. Thresholds and time constants are per-neuron tensors.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from interop_helpers import compare_layers, fill_input_shapes, spikes, write_and_load

sinabs_layers = pytest.importorskip("sinabs.layers", reason="Sinabs is in the 'interop' extra that CI installs")
sinabs_nir = pytest.importorskip("sinabs.nir")
activation = pytest.importorskip("sinabs.activation")

T, B = 30, 3
WEIGHT_SCALE = 0.4


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _init(gen: torch.Generator, layer: torch.nn.Module, mean: float, std: float) -> torch.nn.Module:
    with torch.no_grad():
        # IAF has no leak: small weights keep the counts per step in single digits, as in a trained network
        layer.weight.copy_(WEIGHT_SCALE * (mean + std * torch.randn(layer.weight.shape, generator=gen)))  # type: ignore[operator]
        if getattr(layer, "bias", None) is not None:
            layer.bias.copy_(0.1 * torch.randn(layer.bias.shape, generator=gen))  # type: ignore[union-attr]
    return layer


def _iaf(gen: torch.Generator, shape: tuple[int, ...], **kwargs: Any) -> torch.nn.Module:
    return sinabs_layers.IAFSqueeze(batch_size=B, spike_threshold=_u(gen, shape, 0.7, 1.5), **kwargs)


def net_iaf_mlp(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    return [_init(gen, torch.nn.Linear(12, 10, bias=False), 0.3, 0.8), _iaf(gen, (10,)),
            _init(gen, torch.nn.Linear(10, 4), 0.3, 0.8), _iaf(gen, (4,))], (12,), {}


def net_cnn(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    return [_init(gen, torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), 0.2, 0.8), _iaf(gen, (4, 4, 4)),
            sinabs_layers.SumPool2d(2), _init(gen, torch.nn.Conv2d(4, 6, 3, padding=1, bias=False), 0.2, 0.6),
            _iaf(gen, (6, 2, 2)), torch.nn.Flatten(), _init(gen, torch.nn.Linear(24, 5), 0.1, 0.6),
            _iaf(gen, (5,))], (2, 8, 8), {}


def net_single_spike_reset(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    kw = {"spike_fn": activation.SingleSpike, "reset_fn": activation.MembraneReset()}
    return [_init(gen, torch.nn.Linear(10, 8), 0.3, 1.0), _iaf(gen, (8,), **kw),
            _init(gen, torch.nn.Linear(8, 6), 0.4, 1.0), _iaf(gen, (6,), **kw)], (10,), \
        {"spikes": "binary", "reset": "zero"}


def net_multi_spike_reset(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    kw = {"reset_fn": activation.MembraneReset()}
    return [_init(gen, torch.nn.Linear(12, 9), 0.6, 1.2), _iaf(gen, (9,), **kw),
            _init(gen, torch.nn.Linear(9, 5), 0.4, 1.2), _iaf(gen, (5,), **kw)], (12,), {"reset": "zero"}


def net_lif_explreak(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...], dict[str, Any]]:
    lif = sinabs_layers.LIFSqueeze(tau_mem=_u(gen, (10,), 2.0, 10.0), spike_threshold=_u(gen, (10,), 0.3, 0.6),
                                   batch_size=B)
    readout = sinabs_layers.ExpLeakSqueeze(tau_mem=_u(gen, (4,), 3.0, 8.0), batch_size=B)
    return [_init(gen, torch.nn.Linear(12, 10), 0.4, 1.0), lif, _init(gen, torch.nn.Linear(10, 4), 0.2, 1.0),
            readout], (12,), {}


NETS = {"iaf_mlp": net_iaf_mlp, "cnn": net_cnn, "single_spike_reset": net_single_spike_reset,
        "multi_spike_reset": net_multi_spike_reset, "lif_expleak": net_lif_explreak}
NEURONS = ("IAFSqueeze", "LIFSqueeze", "ExpLeakSqueeze")


def run_sinabs(net: torch.nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """One forward call on [B*T, ...] (batch-major); every neuron layer's output back as [T, B, ...]."""
    xb = torch.from_numpy(x).transpose(0, 1).reshape(B * T, *x.shape[2:])
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, a, out, k=str(i): seen.__setitem__(k, out.detach().clone()))
             for i, m in enumerate(net) if type(m).__name__ in NEURONS]
    with torch.no_grad():
        net(xb)
    for h in hooks:
        h.remove()
    return {k: v.reshape(B, T, *v.shape[1:]).transpose(0, 1).numpy() for k, v in seen.items()}


@pytest.mark.parametrize("seed", range(len(NETS)))
def test_sinabs_network_spikes_equal(seed: int, tmp_path: Path) -> None:
    name = list(NETS)[seed]
    gen = torch.Generator().manual_seed(200 + seed)
    modules, in_shape, stated = NETS[name](gen)
    net = torch.nn.Sequential(*modules)
    x = spikes(seed, (T, B, *in_shape))
    outputs = run_sinabs(net, x)
    xb = torch.from_numpy(x).transpose(0, 1).reshape(B * T, *in_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = sinabs_nir.to_nir(net, xb)
    fill_input_shapes(graph, net, xb[:B])
    loaded = write_and_load(graph, tmp_path / "sinabs.nir", "sinabs", **stated)
    readouts = {k: v for k, v in outputs.items() if type(net[int(k)]).__name__ == "ExpLeakSqueeze"}
    spiking = {k: v for k, v in outputs.items() if k not in readouts}
    traces = compare_layers(f"sinabs/{name}", loaded, x, spiking, readouts)
    if name in ("iaf_mlp", "cnn"):
        assert max(float(v.max()) for v in spiking.values()) >= 2, "MultiSpike counts > 1 must be exercised"
    for fact, option in (("spike_fn", "spikes"), ("reset_fn", "reset")):
        warned = any(w.startswith(f"--from sinabs: {fact} is not stored") for w in loaded.warnings)
        assert warned == (option not in stated), (fact, loaded.warnings)
    assert any("min_v_mem" in w for w in loaded.warnings)
    assert set(traces) >= set(spiking)
