"""Trace a Norse 1.1 model (``SequentialState`` or ``nn.Sequential`` of Norse cells and torch layers).

Read from the module objects: the parameters ``p`` and ``dt`` of each cell. Norse 1.1.0 steps
(norse/torch/functional/{lif,lif_box,leaky_integrator,leaky_integrator_box,iaf}.py), with a = dt*tau_mem_inv:

    LIFCell / LIF      i' = i + x;  v = v + a*((v_leak - v) + i');  z = v > v_th;  v = v_reset where z;
                       i = i' * (1 - dt*tau_syn_inv)
    LIFBoxCell         v = v + a*(x + v_leak - v);  z = v > v_th;  reset_value (v_reset) or reset_subtract
    LICell / LI        as LIFCell without spikes; the output is v
    LIBoxCell          v = v + a*((v_leak - v) + x); the output is v
    IAFCell            v = v + x;  z = v > v_th;  v = v_reset where z

which is the IR's CubaLIF / LIF / CubaLI / LI / IF with beta = 1 - a, alpha = 1 - dt*tau_syn_inv (the IR's i is
Norse's i' of the step), bias = a*v_leak, and the input gain a as a Scale node ``<name>.gain`` in front
(IAF: none). Spikes compare strictly (heaviside of v - v_th; every ``method`` only shapes the gradient). The
initial membrane is v_leak (IAFCell: v_reset), so ``initial_v = "v_init"``. Every cell must share one dt
(the graph's). Recurrent cells, LILinearCell and the other neuron models are refused by name.
"""

from __future__ import annotations

from typing import Any

import norse.torch as norse  # optional dependency (extra "interop"): imported only on dispatch
import numpy as np
import torch
from norse.torch.functional.reset import reset_subtract, reset_value
from torch import nn

from .. import nodes as ir
from ..errors import UnsupportedNodeError
from ..graph import Graph
from ..semantics import Semantics
from .trace_chain import TORCH_LAYERS, Chain, broadcast, leaves, torch_layer, trace_chain

_CELLS = (norse.LIFCell, norse.LIF, norse.LIFBoxCell, norse.LICell, norse.LI, norse.LIBoxCell, norse.IAFCell)
_SUPPORTED = ("LIFCell, LIF, LIFBoxCell, LICell, LI, LIBoxCell, IAFCell, nn.Linear, nn.Conv1d, nn.Conv2d, "
              "nn.AvgPool2d, nn.Flatten, nn.Identity, nn.Dropout")
_CONTAINERS = (nn.Sequential,)  # SequentialState is an nn.Sequential


def trace_norse(model: nn.Module, sample: torch.Tensor, *, name_prefix: str = "", **_: Any) -> Graph:
    """The IR graph of a Norse model (see the module docstring); ``sample``: one step ``[batch, *shape]``."""
    dts = {name: float(m.dt) for name, m in leaves(model, _CONTAINERS) if isinstance(m, _CELLS)}
    if len(set(dts.values())) > 1:
        listed = ", ".join(f"{n}: {d:g}" for n, d in dts.items())
        raise UnsupportedNodeError(f"norse: the cells step with different dt ({listed}); the graph has one dt")
    dt = next(iter(dts.values()), 1e-3)
    return trace_chain(model, sample, framework="norse", containers=_CONTAINERS, describe=_describe, dt=dt,
                       name_prefix=name_prefix)


def _describe(chain: Chain, name: str, m: nn.Module) -> None:
    if isinstance(m, _CELLS):
        _cell(chain, name, m)
    elif isinstance(m, TORCH_LAYERS + (nn.Identity, nn.Dropout)):
        node = torch_layer(name, m, chain.shape)
        if node is not None:
            chain.then(name, node)
    else:
        raise UnsupportedNodeError(f"norse module '{name}' ({type(m).__name__}) is not supported by "
                                   f"snncompile.trace; supported: {_SUPPORTED}")


def _cell(chain: Chain, name: str, m: Any) -> None:
    p, dt, shape, kind = m.p, float(m.dt), chain.shape, type(m).__name__
    sem = Semantics(compare="gt", reset="zero", timing="immediate", initial_v="v_init")

    def get(field: str) -> np.ndarray:
        return broadcast(name, field, getattr(p, field), shape)

    if isinstance(m, norse.IAFCell):
        theta, v_reset = get("v_th"), get("v_reset")
        chain.then(name, ir.IF(shape=shape, threshold=theta, v_reset=v_reset, v_init=v_reset, semantics=sem))
        return
    a = dt * get("tau_mem_inv")
    v_leak = get("v_leak")
    chain.then(f"{name}.gain", ir.Scale(scale=a))
    common: dict[str, Any] = {"shape": shape, "beta": 1.0 - a, "bias": a * v_leak, "v_init": v_leak, "semantics": sem}
    if isinstance(m, (norse.LIFCell, norse.LIF, norse.LICell, norse.LI)):
        common["alpha"] = 1.0 - dt * get("tau_syn_inv")
    if isinstance(m, (norse.LICell, norse.LI)):
        chain.then(name, ir.CubaLI(**common))
    elif isinstance(m, norse.LIBoxCell):
        chain.then(name, ir.LI(**common))
    elif isinstance(m, norse.LIFBoxCell):
        reset = getattr(p, "reset_method", reset_value)
        if reset is reset_subtract:
            common["semantics"] = sem.with_(reset="subtract")
        elif reset is not reset_value:
            raise UnsupportedNodeError(f"norse module '{name}' ({kind}): reset_method {reset!r} is not reset_value "
                                       "or reset_subtract")
        chain.then(name, ir.LIF(threshold=get("v_th"), v_reset=get("v_reset"), **common))
    else:
        chain.then(name, ir.CubaLIF(threshold=get("v_th"), v_reset=get("v_reset"), **common))
