"""snncompile.trace reads Rockpool 3.1.0 torch models directly: spikes equal Rockpool's own forward, exactly.

What Rockpool's to_nir drops is kept: LIFTorch's bias and w_rec, per-synapse tau_syn. Seeded random networks
(each case twice): biases and recurrent weights everywhere, several synapses per neuron (equal and distinct
tau_syn), LIFNeuronTorch with a spike cap, ExpSynTorch readouts (to 1e-5: Rockpool runs float32), dt = 2 ms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_spikes_equal
from interop_helpers import spikes

import snncompile as sc
from snncompile.errors import UnsupportedNodeError

modules = pytest.importorskip("rockpool.nn.modules", reason="Rockpool is in the 'interop' extra that CI installs")
combinators = pytest.importorskip("rockpool.nn.combinators")

T, B = 30, 3


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _linear(gen: torch.Generator, n_in: int, n_out: int, scale: float = 0.12, bias: bool = True) -> Any:
    w = scale * (0.3 + torch.randn(n_in, n_out, generator=gen))
    kw = {"bias": 0.1 * torch.randn(n_out, generator=gen)} if bias else {}
    return modules.LinearTorch((n_in, n_out), weight=w, has_bias=bias, **kw)


def _lif(gen: torch.Generator, n_out: int, n_syn: int = 1, rec: bool = True, equal: bool = False,
         dt: float = 1e-3, **kw: Any) -> Any:
    tau_syn = _u(gen, (n_out, 1) if equal else (n_out, n_syn), 0.004, 0.03).repeat(1, n_syn if equal else 1)
    extra = {"has_rec": True, "w_rec": 0.05 * torch.randn(n_out, n_out * n_syn, generator=gen) - 0.02} if rec else {}
    return modules.LIFTorch((n_out * n_syn, n_out), tau_mem=_u(gen, (n_out,), 0.01, 0.05), tau_syn=tau_syn,
                            bias=_u(gen, (n_out,), -0.05, 0.1), threshold=_u(gen, (n_out,), 0.5, 1.5), dt=dt,
                            **extra, **kw)


def net_bias_rec(gen: torch.Generator) -> list[Any]:
    return [_linear(gen, 10, 8), _lif(gen, 8), _linear(gen, 8, 4), modules.ExpSynTorch(4, tau=_u(gen, (4,), .005, .02))]


def net_per_synapse_tau(gen: torch.Generator) -> list[Any]:
    return [_linear(gen, 10, 12), _lif(gen, 6, n_syn=2), _linear(gen, 6, 6), _lif(gen, 3, n_syn=2, rec=False)]


def net_equal_synapses(gen: torch.Generator) -> list[Any]:
    return [_linear(gen, 10, 15, bias=False), _lif(gen, 5, n_syn=3, equal=True), _linear(gen, 5, 3),
            modules.ExpSynTorch(3, tau=torch.tensor(0.01))]


def net_lif_neuron(gen: torch.Generator) -> list[Any]:
    neuron = modules.LIFNeuronTorch(7, tau_mem=_u(gen, (7,), 0.01, 0.04), threshold=_u(gen, (7,), 0.4, 0.9),
                                    bias=_u(gen, (7,), 0.0, 0.1), max_spikes_per_dt=3)
    return [_linear(gen, 10, 7), neuron, _linear(gen, 7, 5), _lif(gen, 5, max_spikes_per_dt=torch.tensor(2.0))]


def net_dt_2ms(gen: torch.Generator) -> list[Any]:
    return [_linear(gen, 10, 9), _lif(gen, 9, dt=2e-3), _linear(gen, 9, 6), _lif(gen, 6, dt=2e-3),
            _linear(gen, 6, 3), modules.ExpSynTorch(3, tau=_u(gen, (3,), .005, .02), dt=2e-3)]


NETS: dict[str, Callable[[torch.Generator], list[Any]]] = {
    "bias_rec": net_bias_rec, "per_synapse_tau": net_per_synapse_tau, "equal_synapses": net_equal_synapses,
    "lif_neuron": net_lif_neuron, "dt_2ms": net_dt_2ms,
}


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", sorted(NETS))
def test_traced_rockpool_spikes_equal(case: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(700 + 11 * seed + len(case))
    net = combinators.Sequential(*NETS[case](gen))
    graph = sc.trace(net, torch.zeros(1, 10))
    assert graph.metadata["snncompile.source"] == "rockpool.trace"
    x = spikes(seed, (T, B, 10), rate=0.4)
    with torch.no_grad():
        _, _, record = net(torch.from_numpy(x).transpose(0, 1), record=True)
    traces = sc.simulate(graph, x)
    layers = [name for name, _ in net.named_children()]
    for layer in layers:
        if "LinearTorch" in layer:
            continue
        got = traces[layer]["out"]
        if "ExpSyn" in layer:
            want = record[f"{layer}_output"].transpose(0, 1).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=layer)
        else:
            want = record[layer]["spikes"].transpose(0, 1).numpy()
            assert_spikes_equal(f"{case}/{layer}", want, got)
            assert 0 < np.count_nonzero(want) < want.size, f"{case}/{layer}: vacuous"
            assert want.max() < 20, f"{case}/{layer}: runaway spike counts ({want.max():g})"
    if case == "dt_2ms":
        assert graph.dt == 2e-3
    if case == "lif_neuron":
        assert int(traces[layers[1]]["out"].max()) <= 3


def test_refusals_name_the_module() -> None:
    noisy = combinators.Sequential(modules.LinearTorch((3, 3)), modules.LIFTorch(3, noise_std=0.1))
    with pytest.raises(UnsupportedNodeError, match="rockpool module '1_LIFTorch' \\(LIFTorch\\): noise_std=0.1"):
        sc.trace(noisy, torch.zeros(1, 3))
    mixed = combinators.Sequential(modules.LinearTorch((3, 3)), modules.LIFTorch(3, dt=1e-3),
                                   modules.LinearTorch((3, 3)), modules.LIFTorch(3, dt=2e-3))
    with pytest.raises(UnsupportedNodeError, match="different dt \\(1_LIFTorch: 0.001, 3_LIFTorch: 0.002\\)"):
        sc.trace(mixed, torch.zeros(1, 3))
