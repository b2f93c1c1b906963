"""snncompile.trace reads Sinabs 3.1.3 models directly: spikes equal Sinabs' own forward pass, exactly.

What sinabs.nir.to_nir drops is kept: spike_fn, reset_fn, min_v_mem, tau_syn, norm_input and recurrent
weights. Seeded random networks per case (each twice), run by Sinabs on [B*T, ...] (Squeeze forms) or
[B, T, ...] (plain forms), against the float reference on the traced graph; readouts (ExpLeak) to 1e-5.
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
from snncompile import nodes as ir
from snncompile.errors import UnsupportedNodeError

sl = pytest.importorskip("sinabs.layers", reason="Sinabs is in the 'interop' extra that CI installs")
act = pytest.importorskip("sinabs.activation")

T, B = 30, 3
Net = tuple[list[torch.nn.Module], tuple[int, ...], bool]  # modules, input shape, squeeze form


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _init(gen: torch.Generator, layer: Any, scale: float = 0.5, mean: float = 0.2) -> Any:
    with torch.no_grad():
        layer.weight.copy_(scale * (mean + torch.randn(layer.weight.shape, generator=gen)))
        if getattr(layer, "bias", None) is not None:
            layer.bias.copy_(0.2 * torch.randn(layer.bias.shape, generator=gen))
    return layer


def net_iaf_min_v_mem(gen: torch.Generator) -> Net:
    return [_init(gen, torch.nn.Linear(12, 10)),
            sl.IAFSqueeze(batch_size=B, spike_threshold=_u(gen, (10,), 0.6, 1.4), min_v_mem=-0.5),
            _init(gen, torch.nn.Linear(10, 5)),
            sl.IAFSqueeze(batch_size=B, spike_threshold=_u(gen, (5,), 0.6, 1.4), min_v_mem=_u(gen, (5,), -1, -0.2))
            ], (12,), True


def net_single_spike_reset(gen: torch.Generator) -> Net:
    kw = {"spike_fn": act.SingleSpike, "reset_fn": act.MembraneReset()}
    return [_init(gen, torch.nn.Linear(10, 8)), sl.IAFSqueeze(batch_size=B, min_v_mem=-0.4, **kw),
            _init(gen, torch.nn.Linear(8, 6)),
            sl.LIFSqueeze(tau_mem=_u(gen, (6,), 2, 8), batch_size=B, spike_threshold=torch.tensor(0.3), **kw)
            ], (10,), True


def net_recurrent(gen: torch.Generator) -> Net:
    rec1 = _init(gen, torch.nn.Linear(9, 9, bias=False), 0.3, 0.0)
    rec2 = _init(gen, torch.nn.Linear(6, 6, bias=False), 0.3, 0.0)
    return [_init(gen, torch.nn.Linear(8, 9)),
            sl.IAFRecurrent(rec_connect=rec1, spike_threshold=_u(gen, (9,), 0.7, 1.2), min_v_mem=-1.0),
            _init(gen, torch.nn.Linear(9, 6)),
            sl.LIFRecurrent(tau_mem=_u(gen, (6,), 3, 9), rec_connect=rec2, spike_fn=act.SingleSpike,
                            reset_fn=act.MembraneReset(), spike_threshold=torch.tensor(0.25))], (8,), False


def net_cnn(gen: torch.Generator) -> Net:
    return [_init(gen, torch.nn.Conv2d(2, 4, 3, stride=2, padding=1), 0.6),
            sl.IAFSqueeze(batch_size=B, spike_threshold=_u(gen, (4, 4, 4), 0.6, 1.2), min_v_mem=-0.5),
            sl.SumPool2d(2), _init(gen, torch.nn.Conv2d(4, 6, 3, padding=1, bias=False), 0.4),
            sl.IAFSqueeze(batch_size=B, spike_fn=act.MaxSpike(3)), torch.nn.Flatten(),
            _init(gen, torch.nn.Linear(24, 5), 0.3), sl.IAFSqueeze(batch_size=B)], (2, 8, 8), True


def net_synaptic_readout(gen: torch.Generator) -> Net:
    return [_init(gen, torch.nn.Linear(12, 10)),
            sl.LIF(tau_mem=_u(gen, (10,), 2, 10), tau_syn=_u(gen, (10,), 1.5, 4), spike_threshold=torch.tensor(0.15),
                   min_v_mem=-0.2),
            _init(gen, torch.nn.Linear(10, 7)), sl.IAF(tau_syn=2.5, spike_threshold=torch.tensor(0.5)),
            _init(gen, torch.nn.Linear(7, 4)), sl.ExpLeak(tau_mem=_u(gen, (4,), 3, 8))], (12,), False


NETS: dict[str, Callable[[torch.Generator], Net]] = {
    "iaf_min_v_mem": net_iaf_min_v_mem, "single_spike_reset": net_single_spike_reset, "recurrent": net_recurrent,
    "cnn": net_cnn, "synaptic_readout": net_synaptic_readout,
}
NEURON = (sl.LIF,)


def run_sinabs(net: torch.nn.Sequential, x: np.ndarray, squeeze: bool) -> dict[str, np.ndarray]:
    """Every neuron layer's output as [T, B, ...]."""
    xt = torch.from_numpy(x).transpose(0, 1)  # [B, T, ...]
    xin = xt.reshape(B * T, *x.shape[2:]) if squeeze else xt
    seen: dict[str, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda mod, a, out, k=str(i): seen.__setitem__(k, out.detach().clone()))
             for i, m in enumerate(net) if isinstance(m, NEURON)]
    with torch.no_grad():
        if not squeeze:  # plain Sinabs layers take [B, T, ...]; torch layers between them see [B*T, ...]
            net = torch.nn.Sequential(*[m if isinstance(m, NEURON) else sl.Repeat(m) for m in net])
        net(xin)
    for h in hooks:
        h.remove()
    return {k: v.reshape(B, T, *v.shape[-len(v.shape) + (1 if squeeze else 2):]).transpose(0, 1).numpy()
            for k, v in seen.items()}


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", sorted(NETS))
def test_traced_sinabs_spikes_equal(case: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(300 + 17 * seed + len(case))
    modules, in_shape, squeeze = NETS[case](gen)
    net = torch.nn.Sequential(*modules)
    graph = sc.trace(net, torch.zeros(1, *in_shape))
    assert graph.metadata["snncompile.source"] == "sinabs.trace"
    x = spikes(seed, (T, B, *in_shape), rate=0.4)
    want = run_sinabs(net, x, squeeze)
    traces = sc.simulate(graph, x)
    clamped = 0
    for layer, expected in want.items():
        node = graph.nodes[layer]
        if node.SPIKING:
            assert_spikes_equal(f"{case}/{layer}", expected, traces[layer]["out"])
            assert 0 < np.count_nonzero(expected) < expected.size, f"{case}/{layer}: vacuous"
            if node.v_min is not None:
                clamped += int((traces[layer]["v"] == node.v_min).sum())
        else:
            np.testing.assert_allclose(traces[layer]["out"], expected, rtol=1e-5, atol=1e-5, err_msg=layer)
    if any(getattr(m, "min_v_mem", None) is not None for m in modules):
        assert clamped > 0, f"{case}: min_v_mem never engaged"


def test_traced_graph_keeps_what_to_nir_drops() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), sl.IAFSqueeze(batch_size=1, spike_fn=act.SingleSpike,
                                                                    reset_fn=act.MembraneReset(), min_v_mem=-2.0))
    node = sc.trace(net, torch.zeros(1, 4)).nodes["1"]
    assert isinstance(node, ir.IF)
    assert (node.semantics.spikes, node.semantics.reset, node.semantics.compare) == ("binary", "zero", "ge")
    np.testing.assert_array_equal(node.v_min, [-2.0] * 3)


@pytest.mark.parametrize(("module", "message"), [
    (lambda: sl.IAF(reset_fn=act.MembraneReset(reset_value=0.5)),
     "sinabs module '1': MembraneReset\\(reset_value=0.5\\) adds reset_value to every neuron that did not spike"),
    (lambda: sl.IAF(reset_fn=act.MembraneSubtract(subtract_value=0.3)),
     "MembraneSubtract\\(subtract_value=0.3\\) subtracts other than the threshold"),
    (lambda: sl.ExpLeak(tau_mem=3.0, min_v_mem=-1.0), "sinabs module '1' \\(ExpLeak\\): min_v_mem on a non-spiking"),
    (lambda: sl.IAFRecurrent(rec_connect=torch.nn.Linear(3, 3)), "rec_connect has a bias; Sinabs adds no recurrent"),
    (lambda: sl.SumPool2d(2, ceil_mode=True), "SumPool2d\\): ceil_mode=True"),
    (lambda: torch.nn.ReLU(), "sinabs module '1' \\(ReLU\\) is not supported by snncompile.trace; supported: IAF"),
])
def test_refusals_name_the_module(module: Callable[[], torch.nn.Module], message: str) -> None:
    first = torch.nn.Conv2d(1, 3, 1) if "SumPool" in message else torch.nn.Linear(3, 3)
    net = torch.nn.Sequential(first, module(), sl.IAF())
    sample = torch.zeros(1, 1, 4, 4) if "SumPool" in message else torch.zeros(1, 3)
    with pytest.raises(UnsupportedNodeError, match=message):
        sc.trace(net, sample)
