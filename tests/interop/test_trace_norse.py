"""snncompile.trace reads Norse 1.1.0 models directly: spikes equal Norse's own step-by-step forward, exactly.

Seeded random networks (each case twice) of LIFCell, LIFBoxCell (reset_value and reset_subtract), IAFCell,
LICell and LIBoxCell with per-neuron parameters, v_leak, v_reset and a non-default dt, including a Conv2d ->
Flatten network and the time-looping LIF/LI modules; readouts (LI) to 1e-5 (Norse runs float32).
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

norse = pytest.importorskip("norse.torch", reason="Norse is in the 'interop' extra that CI installs")
reset = pytest.importorskip("norse.torch.functional.reset")

T, B = 30, 3
GAIN = 4.0  # input spikes scaled so that dt*tau_mem_inv-sized steps still reach threshold
Net = tuple[list[torch.nn.Module], tuple[int, ...]]


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _init(gen: torch.Generator, layer: Any, scale: float = 1.0, mean: float = 0.3) -> Any:
    with torch.no_grad():
        layer.weight.copy_(scale * (mean + torch.randn(layer.weight.shape, generator=gen)))
        if getattr(layer, "bias", None) is not None:
            layer.bias.copy_(0.3 * torch.randn(layer.bias.shape, generator=gen))
    return layer


def _lif_p(gen: torch.Generator, n: int) -> Any:
    return norse.LIFParameters(tau_syn_inv=_u(gen, (n,), 100, 300), tau_mem_inv=_u(gen, (n,), 50, 150),
                               v_leak=_u(gen, (n,), -0.1, 0.2), v_th=_u(gen, (n,), 0.2, 0.5),
                               v_reset=_u(gen, (n,), -0.2, 0.0))


def net_lif_li(gen: torch.Generator) -> Net:
    return [_init(gen, torch.nn.Linear(10, 8)), norse.LIFCell(_lif_p(gen, 8)), _init(gen, torch.nn.Linear(8, 4)),
            norse.LICell(norse.LIParameters(tau_syn_inv=_u(gen, (4,), 100, 200), tau_mem_inv=_u(gen, (4,), 50, 100),
                                            v_leak=torch.tensor(0.05)))], (10,)


def net_lif_box(gen: torch.Generator) -> Net:
    p1 = norse.LIFBoxParameters(tau_mem_inv=_u(gen, (9,), 100, 300), v_th=_u(gen, (9,), 0.1, 0.3),
                                v_leak=torch.tensor(0.0), v_reset=torch.tensor(-0.05))
    p2 = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.15),
                                reset_method=reset.reset_subtract)
    return [_init(gen, torch.nn.Linear(8, 9)), norse.LIFBoxCell(p1), _init(gen, torch.nn.Linear(9, 6)),
            norse.LIFBoxCell(p2), _init(gen, torch.nn.Linear(6, 3)),
            norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=_u(gen, (3,), 50, 150)))], (8,)


def net_iaf(gen: torch.Generator) -> Net:
    p = norse.IAFParameters(v_th=_u(gen, (7,), 0.8, 1.6), v_reset=_u(gen, (7,), -0.3, 0.0))
    return [_init(gen, torch.nn.Linear(12, 7), 0.4), norse.IAFCell(p), _init(gen, torch.nn.Linear(7, 5), 0.5),
            norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(1.0)))], (12,)


def net_cnn(gen: torch.Generator) -> Net:
    p = norse.LIFParameters(tau_mem_inv=torch.tensor(120.0), v_th=torch.tensor(0.2))
    return [_init(gen, torch.nn.Conv2d(2, 3, 3, padding=1), 0.8), norse.LIFCell(p, dt=2e-3), torch.nn.Flatten(),
            _init(gen, torch.nn.Linear(48, 6), 0.3), norse.LIFCell(_lif_p(gen, 6), dt=2e-3)], (2, 4, 4)


def net_time_modules(gen: torch.Generator) -> Net:
    return [_init(gen, torch.nn.Linear(6, 5)), norse.LIF(_lif_p(gen, 5)._replace(v_leak=torch.tensor(0.1))),
            _init(gen, torch.nn.Linear(5, 3)), norse.LI()], (6,)


NETS: dict[str, Callable[[torch.Generator], Net]] = {
    "lif_li": net_lif_li, "lif_box": net_lif_box, "iaf": net_iaf, "cnn": net_cnn, "time_modules": net_time_modules,
}
CELLS = (norse.LIFCell, norse.LIFBoxCell, norse.IAFCell, norse.LICell, norse.LIBoxCell, norse.LIF, norse.LI)
READOUTS = (norse.LICell, norse.LIBoxCell, norse.LI)


def run_norse(net: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every neuron layer's output [T, B, ...]: cells stepped one timestep per call, time modules on all T."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, a, out, k=str(i): seen.setdefault(k, []).append(out[0].clone()))
             for i, m in enumerate(net) if isinstance(m, CELLS)]
    xt = torch.from_numpy(x)
    with torch.no_grad():
        if any(isinstance(m, (norse.LIF, norse.LI)) for m in net):
            net(xt)  # time modules: [T, B, ...] in one call (torch layers apply per step)
        else:
            state = None
            for t in range(T):
                _, state = net(xt[t], state)
    for h in hooks:
        h.remove()
    return {k: torch.cat(v) if len(v) == 1 else torch.stack(v) for k, v in seen.items()}  # type: ignore[misc]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("case", sorted(NETS))
def test_traced_norse_spikes_equal(case: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(500 + 13 * seed + len(case))
    modules, in_shape = NETS[case](gen)
    net = norse.SequentialState(*modules)
    graph = sc.trace(net, torch.zeros(1, *in_shape))
    assert graph.metadata["snncompile.source"] == "norse.trace"
    x = spikes(seed, (T, B, *in_shape), rate=0.4) * GAIN
    want = {k: v.numpy() for k, v in run_norse(net, x).items()}
    traces = sc.simulate(graph, x)
    for layer, expected in want.items():
        got = traces[layer]["out"]
        if isinstance(net[int(layer)], READOUTS):
            np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-5, atol=1e-5, err_msg=layer)
        else:
            assert_spikes_equal(f"{case}/{layer}", expected.reshape(got.shape), got)
            assert 0 < np.count_nonzero(expected) < expected.size, f"{case}/{layer}: vacuous"
    if case == "cnn":
        assert graph.dt == 2e-3


def test_refusals_name_the_module() -> None:
    with pytest.raises(UnsupportedNodeError, match="norse module '1' \\(LIFRecurrentCell\\) is not supported"):
        sc.trace(norse.SequentialState(torch.nn.Linear(3, 3), norse.LIFRecurrentCell(3, 3)), torch.zeros(1, 3))
    mixed = norse.SequentialState(torch.nn.Linear(3, 3), norse.LIFCell(dt=1e-3), torch.nn.Linear(3, 3),
                                  norse.LIFCell(dt=2e-3))
    with pytest.raises(UnsupportedNodeError, match="cells step with different dt \\(1: 0.001, 3: 0.002\\)"):
        sc.trace(mixed, torch.zeros(1, 3))
