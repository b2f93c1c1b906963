"""Rockpool 3.1.0 -> to_nir -> ``--from rockpool`` -> float reference: spike counts equal Rockpool's own, exactly.

Five seeded random networks cover every module Rockpool's to_nir exports: LIFTorch (CubaLIF, add-then-decay
current, exact decays, multi-spike), LIFNeuronTorch (LIF), ExpSynTorch (LI readout), LinearTorch with and without
bias (Linear/Affine). dt differs between networks (0.5, 1 and 2 ms): the file does not store it and the reader
recovers it from r = tau*exp(-dt/tau)/dt. to_nir keeps a batch dim on Input/Output ([1, F]); the reader drops it.
Bias and w_rec are dropped by the exporter, so the networks use neither (the reader warns about it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from interop_helpers import compare_layers, spikes, write_and_load

modules = pytest.importorskip("rockpool.nn.modules", reason="Rockpool is in the 'interop' extra that CI installs")
combinators = pytest.importorskip("rockpool.nn.combinators")
rockpool_nir = pytest.importorskip("rockpool.nn.modules.torch.nir")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # rockpool's own numpy-2 notices

T, B = 40, 3
WEIGHT_SCALE = 0.04


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _linear(gen: torch.Generator, n_in: int, n_out: int, mean: float, std: float, bias: bool = False) -> Any:
    # Rockpool: y = x @ W, W [in, out]. A LIFTorch integrates its input over ~tau_syn*tau_mem/dt^2 (~100x) steps
    # of unit gain, so weights are small (as on Xylo) to keep spike counts per step in single digits.
    weight = WEIGHT_SCALE * (mean + std * torch.randn((n_in, n_out), generator=gen))
    if bias:
        return modules.LinearTorch((n_in, n_out), weight=weight,
                                   bias=WEIGHT_SCALE * 0.5 * torch.randn(n_out, generator=gen),
                                   has_bias=True)
    return modules.LinearTorch((n_in, n_out), weight=weight, has_bias=False)


def _lif(gen: torch.Generator, n: int, dt: float, threshold: tuple[float, float] = (1.0, 1.0)) -> Any:
    return modules.LIFTorch((n,), tau_mem=_u(gen, (n,), 0.01, 0.05), tau_syn=_u(gen, (n,), 0.005, 0.02),
                            threshold=_u(gen, (n,), *threshold), dt=dt)


def _lif_neuron(gen: torch.Generator, n: int, dt: float) -> Any:
    return modules.LIFNeuronTorch((n,), tau_mem=_u(gen, (n,), 0.01, 0.05), threshold=_u(gen, (n,), 0.7, 1.3), dt=dt)


def _expsyn(gen: torch.Generator, n: int, dt: float) -> Any:
    return modules.ExpSynTorch((n,), tau=_u(gen, (n,), 0.01, 0.04), dt=dt)


def net_lif_lif(gen: torch.Generator) -> tuple[list[Any], int]:
    dt = 1e-3
    return [_linear(gen, 12, 10, 0.3, 1.0), _lif(gen, 10, dt), _linear(gen, 10, 4, 0.4, 1.5), _lif(gen, 4, dt)], 12


def net_lif_expsyn(gen: torch.Generator) -> tuple[list[Any], int]:
    dt = 1e-3
    return [_linear(gen, 12, 9, 0.4, 1.2), _lif(gen, 9, dt), _linear(gen, 9, 3, 0.0, 1.0), _expsyn(gen, 3, dt)], 12


def net_affine(gen: torch.Generator) -> tuple[list[Any], int]:
    dt = 5e-4
    return [_linear(gen, 10, 8, 0.3, 1.2, bias=True), _lif(gen, 8, dt, (0.5, 1.5)),
            _linear(gen, 8, 6, 0.3, 1.5, bias=True), _lif(gen, 6, dt)], 10


def net_lif_neuron(gen: torch.Generator) -> tuple[list[Any], int]:
    dt = 2e-3
    return [_linear(gen, 12, 10, 2.0, 2.0), _lif_neuron(gen, 10, dt), _linear(gen, 10, 5, 1.0, 3.0),
            _lif(gen, 5, dt)], 12


def net_deep(gen: torch.Generator) -> tuple[list[Any], int]:
    dt = 1e-3
    return [_linear(gen, 14, 12, 0.4, 1.0), _lif(gen, 12, dt, (0.4, 0.9)), _linear(gen, 12, 10, 0.1, 1.0),
            _lif(gen, 10, dt), _linear(gen, 10, 6, 0.3, 1.5), _lif_neuron(gen, 6, dt),
            _linear(gen, 6, 3, 0.0, 1.0), _expsyn(gen, 3, dt)], 14


NETS = {"lif_lif": net_lif_lif, "lif_expsyn": net_lif_expsyn, "affine": net_affine, "lif_neuron": net_lif_neuron,
        "deep": net_deep}


@pytest.mark.parametrize("seed", range(len(NETS)))
def test_rockpool_network_spikes_equal(seed: int, tmp_path: Path) -> None:
    name = list(NETS)[seed]
    gen = torch.Generator().manual_seed(300 + seed)
    layers, n_in = NETS[name](gen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = combinators.Sequential(*layers)
        x = spikes(seed, (T, B, n_in))
        with torch.no_grad():
            _, _, rec = net(torch.from_numpy(x).transpose(0, 1), record=True)
        for layer in layers:  # to_nir hands ExpSynTorch.tau to nir.LI undetached: nir.write fails on a
            for p in torch.nn.Module.parameters(layer):  # tensor that requires grad
                p.requires_grad_(False)
        graph = rockpool_nir.to_nir(net)
    loaded = write_and_load(graph, tmp_path / "rockpool.nir", "rockpool")
    dt = next(m.dt for m in layers if hasattr(m, "tau") or hasattr(m, "tau_mem"))
    assert loaded.graph.dt == pytest.approx(float(dt), rel=1e-9), loaded.source
    assert "recovered from r" in loaded.source
    spiking: dict[str, np.ndarray] = {}
    readouts: dict[str, np.ndarray] = {}
    for key, record in rec.items():
        if not isinstance(record, dict):  # '<module>_output' entries repeat the module's output
            continue
        if "spikes" in record:
            spiking[key] = record["spikes"].detach().transpose(0, 1).numpy()
        elif key.endswith("ExpSynTorch"):
            readouts[key] = rec[f"{key}_output"].detach().transpose(0, 1).numpy()  # its isyn after the decay
    assert len(spiking) + len(readouts) == sum(1 for m in layers if not type(m).__name__.startswith("Linear"))
    compare_layers(f"rockpool/{name}", loaded, x, spiking, readouts)
    if name == "deep":
        assert max(float(v.max()) for v in spiking.values()) >= 2, "multi-spike counts > 1 must be exercised"
