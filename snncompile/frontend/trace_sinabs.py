"""Trace a Sinabs 3.1 model (``nn.Sequential`` of Sinabs and torch layers) into a snncompile Graph.

Read from the module objects, so what ``sinabs.nir.to_nir`` drops (spike_fn, reset_fn, min_v_mem, tau_syn,
norm_input, recurrent weights) is kept. Sinabs 3.1.3, ``layers/functional/lif.py`` ``lif_forward_single``, per
step (alpha = exp(-1/tau), tau in steps, so dt = 1):

    i = alpha_syn * (i + x)            with tau_syn (synapse_order "add_then_decay"), else i = x
    v = alpha_mem * v + g * i          g = 1 - alpha_mem when norm_input (LIF's default), else 1
    s = spike_fn(v);  v = reset_fn(s, v);  v = max(v, min_v_mem)

Mapping: IAF -> IF (CubaLIF with beta 1 when tau_syn), LIF -> LIF / CubaLIF, ExpLeak -> LI (its output is v);
``g`` != 1 is a Scale node ``<name>.gain`` in front. spike_fn MultiSpike -> spikes "multi" (floor(v/theta),
cap 2^16), MaxSpike(k) -> "multi" capped at k, SingleSpike -> "binary"; all fire at v >= theta ("ge").
reset_fn MembraneSubtract() -> "subtract", MembraneReset(0) -> "zero"; min_v_mem -> ``v_min``.
The Squeeze forms (IAFSqueeze, ...) step the same way. IAFRecurrent/LIFRecurrent: ``rec_connect`` (a
bias-free Linear or Conv2d) becomes ``<name>.rec_connect`` on a cycle into the neuron's input (Sinabs adds
rec_connect(s[t-1]) to the input of step t; at t=0 nothing). SumPool2d -> SumPool2d; FlattenTime/
UnflattenTime are the identity per step; Repeat is its module. Anything else is refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sinabs.activation as act  # optional dependency (extra "interop"): imported only on dispatch
import sinabs.layers as sl
import torch
from torch import nn

from .. import nodes as ir
from ..errors import UnsupportedNodeError
from ..graph import Graph
from ..semantics import Semantics
from .conventions import MULTI_SPIKE_CAP
from .trace_chain import TORCH_LAYERS, Chain, broadcast, torch_layer, trace_chain

_SUPPORTED = ("IAF, IAFSqueeze, IAFRecurrent, LIF, LIFSqueeze, LIFRecurrent, ExpLeak, ExpLeakSqueeze, SumPool2d, "
              "FlattenTime, UnflattenTime, Repeat, nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.Flatten, "
              "nn.Identity, nn.Dropout")


def trace_sinabs(model: nn.Module, sample: torch.Tensor, *, name_prefix: str = "", **_: Any) -> Graph:
    """The IR graph of a Sinabs model (see the module docstring); ``sample``: one step ``[batch, *shape]``."""
    return trace_chain(model, sample, framework="sinabs", containers=(nn.Sequential,), describe=_describe,
                       dt=1.0, name_prefix=name_prefix)


def _describe(chain: Chain, name: str, m: nn.Module) -> None:
    if isinstance(m, sl.Repeat):
        _describe(chain, name, m.module)
    elif isinstance(m, (sl.FlattenTime, sl.UnflattenTime)):
        return  # batch and time are one axis to Sinabs, absent from the IR's per-step shape
    elif isinstance(m, sl.SumPool2d):
        if m.ceil_mode:
            raise UnsupportedNodeError(f"sinabs module '{name}' (SumPool2d): ceil_mode=True is not supported")
        kernel = m.kernel_size
        chain.then(name, ir.SumPool2d(kernel_size=kernel, stride=m.stride if m.stride is not None else kernel))
    elif isinstance(m, sl.ALIF if hasattr(sl, "ALIF") else ()):
        raise UnsupportedNodeError(f"sinabs module '{name}' (ALIF): an adaptive threshold has no IR form")
    elif isinstance(m, sl.LIF):  # IAF, ExpLeak and the Squeeze/Recurrent forms derive from LIF
        _neuron(chain, name, m)
    elif isinstance(m, TORCH_LAYERS + (nn.Identity, nn.Dropout)):
        node = torch_layer(name, m, chain.shape)
        if node is not None:
            chain.then(name, node)
    else:
        raise UnsupportedNodeError(f"sinabs module '{name}' ({type(m).__name__}) is not supported by "
                                   f"snncompile.trace; supported: {_SUPPORTED}")


def _spikes(name: str, m: Any) -> tuple[str, int]:
    fn = m.spike_fn
    if fn is act.MultiSpike:
        return "multi", MULTI_SPIKE_CAP
    if fn is act.SingleSpike:
        return "binary", 1
    if isinstance(fn, act.MaxSpike):
        cap = fn.max_num_spikes_per_bin
        return "multi", MULTI_SPIKE_CAP if cap is None else int(cap)
    raise UnsupportedNodeError(f"sinabs module '{name}' ({type(m).__name__}): spike_fn {fn!r} is not one of "
                               "MultiSpike, SingleSpike, MaxSpike")


def _reset(name: str, m: Any, theta: np.ndarray) -> str:
    fn = m.reset_fn
    if isinstance(fn, act.MembraneSubtract):
        if fn.subtract_value is None or np.all(np.asarray(fn.subtract_value, np.float64) == theta):
            return "subtract"
        raise UnsupportedNodeError(f"sinabs module '{name}': MembraneSubtract(subtract_value={fn.subtract_value}) "
                                   "subtracts other than the threshold; the IR subtracts s*threshold")
    if isinstance(fn, act.MembraneReset):
        if float(fn.reset_value) == 0.0:
            return "zero"
        raise UnsupportedNodeError(f"sinabs module '{name}': MembraneReset(reset_value={fn.reset_value}) adds "
                                   "reset_value to every neuron that did not spike too (v*(s == 0) + reset_value), "
                                   "which no IR reset expresses; only reset_value=0 is supported")
    raise UnsupportedNodeError(f"sinabs module '{name}': reset_fn {fn!r} is not MembraneSubtract or MembraneReset")


def _neuron(chain: Chain, name: str, m: Any) -> None:
    kind, shape = type(m).__name__, chain.shape
    if getattr(m, "train_alphas", False) and getattr(m, "alpha_mem", None) is None:
        raise UnsupportedNodeError(f"sinabs module '{name}' ({kind}): train_alphas without alpha_mem")
    with torch.no_grad():
        alpha = broadcast(name, "alpha_mem", m.alpha_mem_calculated, shape)
        syn = m.alpha_syn_calculated
        alpha_syn = None if syn is None else broadcast(name, "alpha_syn", syn, shape)
    spiking = m.spike_fn is not None
    v_min = None if m.min_v_mem is None else broadcast(name, "min_v_mem", m.min_v_mem, shape)
    if not spiking and v_min is not None:
        raise UnsupportedNodeError(f"sinabs module '{name}' ({kind}): min_v_mem on a non-spiking layer clamps the "
                                   "carried v but not the v it outputs; the IR's v_min is for spiking neurons")
    entry = name
    if bool(getattr(m, "norm_input", False)):  # (1 - alpha_mem) scales the (synaptic) input
        entry = chain.then(f"{name}.gain", ir.Scale(scale=1.0 - alpha))
    sem = Semantics(compare="ge", reset="subtract", timing="immediate",
                    synapse_order="add_then_decay" if alpha_syn is not None else "decay_then_add")
    params: dict[str, Any] = {"shape": shape, "beta": alpha, "bias": np.zeros(shape)}
    if alpha_syn is not None:
        params["alpha"] = alpha_syn
    if not spiking:
        node: ir.Node = ir.CubaLI(**params, semantics=sem) if alpha_syn is not None else ir.LI(**params, semantics=sem)
    else:
        theta = broadcast(name, "spike_threshold", m.spike_threshold, shape)
        spikes, cap = _spikes(name, m)
        sem = sem.with_(spikes=spikes, spike_cap=cap, reset=_reset(name, m, theta))
        params.update(threshold=theta, v_reset=np.zeros(shape), v_min=v_min, semantics=sem)
        if alpha_syn is not None:
            node = ir.CubaLIF(**params)
        elif np.all(alpha == 1.0):
            node = ir.IF(**{k: v for k, v in params.items() if k != "beta"})
        else:
            node = ir.LIF(**params)
    chain.then(name, node)
    if isinstance(m, sl.LIFRecurrent):
        _recurrent(chain, name, m, entry)


def _recurrent(chain: Chain, name: str, m: Any, entry: str) -> None:
    rec = m.rec_connect
    bias = getattr(rec, "bias", None)
    if bias is not None and bool(torch.any(bias != 0)):
        raise UnsupportedNodeError(f"sinabs module '{name}' ({type(m).__name__}): rec_connect has a bias; Sinabs "
                                   "adds no recurrent input at t=0 (rec_out starts at zeros), while the IR's "
                                   "recurrent edge delivers rec_connect(0) = bias from t=0; use bias=False")
    if not isinstance(rec, (nn.Linear, nn.Conv2d)):
        raise UnsupportedNodeError(f"sinabs module '{name}': rec_connect {type(rec).__name__} is not nn.Linear or "
                                   "nn.Conv2d")
    node = torch_layer(f"{name}.rec_connect", rec, chain.shape)
    assert node is not None
    if isinstance(node, ir.Affine):  # a zero bias
        node = ir.Linear(weight=node.weight)
    chain.loop(name, f"{name}.rec_connect", node, entry)
