"""Float reference executor: the float rung of the verification ladder.

Runs a :class:`~snncompile.graph.Graph` on time-major inputs ``[T, B, *shape]``
exactly as its nodes' :class:`~snncompile.semantics.Semantics` say (see that
module for the equations), in float64 by default.

Feed-forward graphs are executed layer by layer: stateless nodes see all T*B
samples at once, neurons loop over t. Graphs with recurrent edges are executed
step by step. Both orders compute the same operations on the same values.

The neuron steps run on one intra-op thread (:func:`one_thread`), the weight layers on torch's default: an
elementwise op gives the same values on any number of threads, and on a busy 2-core machine a second thread
made the steps of a [16, 8192] layer 35x slower (5.5 s instead of 0.16 s CPU for 100 steps: the waiting
thread spins while its partner is descheduled), where a weight layer's GEMM keeps its CPU time and halves its
wall time on two threads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import GraphError, UnsupportedNodeError
from .graph import Graph
from .nodes import (
    LI,
    LIF,
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Delay,
    Flatten,
    Input,
    Linear,
    NeuronNode,
    Node,
    Output,
    Scale,
    SumPool2d,
    Threshold,
)
from .semantics import Semantics
from .values import data_problem

Traces = dict[str, dict[str, np.ndarray]]


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op threads set to one for the block, restored after it (the neuron steps: module docstring)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _t(a: Any, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64, copy=True)).to(dtype)


def apply_stateless(node: Node, x: torch.Tensor) -> torch.Tensor:
    """A stateless node on a batch ``[N, *in_shape]`` (N = B, or T*B)."""
    dt = x.dtype
    if isinstance(node, (Input, Output)):
        return x
    if isinstance(node, Affine):
        return F.linear(x, _t(node.weight, dt), _t(node.bias, dt))
    if isinstance(node, Linear):
        return F.linear(x, _t(node.weight, dt))
    if isinstance(node, Scale):
        return x * _t(node.scale, dt)
    if isinstance(node, Conv1d):
        w, b = _t(node.weight, dt), _t(node.bias, dt)
        return F.conv1d(x, w, b, node.stride, node.padding, node.dilation, node.groups)
    if isinstance(node, Conv2d):
        w, b = _t(node.weight, dt), _t(node.bias, dt)
        return F.conv2d(x, w, b, node.stride, node.padding, node.dilation, node.groups)
    if isinstance(node, SumPool2d):
        return F.avg_pool2d(x, node.kernel_size, node.stride, node.padding, divisor_override=1)
    if isinstance(node, AvgPool2d):
        return F.avg_pool2d(x, node.kernel_size, node.stride, node.padding, count_include_pad=True)
    if isinstance(node, Flatten):
        return torch.flatten(x, node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1)
    raise UnsupportedNodeError(f"reference executor: no rule for node type {node.type_name}")


def _fire(v: torch.Tensor, theta: torch.Tensor, sem: Semantics) -> torch.Tensor:
    hit = v > theta if sem.compare == "gt" else v >= theta
    if sem.spikes == "binary":
        return hit.to(v.dtype)
    count = torch.clamp(torch.floor(v / theta), 1, sem.spike_cap)
    return torch.where(hit, count, torch.zeros_like(v))


@dataclass
class NeuronState:
    """State of one neuron node across steps (shape ``[B, *shape]``)."""

    node: NeuronNode
    v: torch.Tensor
    i: torch.Tensor
    s: torch.Tensor  # spikes of the previous step (delayed reset)
    x_prev: torch.Tensor  # input of the previous step (synapse_delay = 1)
    consts: dict[tuple[str, torch.dtype], torch.Tensor] = field(default_factory=dict)

    def param(self, key: str, dt: torch.dtype) -> torch.Tensor:
        """The node's parameter ``key`` as a tensor of ``dt``, converted once for all steps (not once per step)."""
        if (key, dt) not in self.consts:
            self.consts[key, dt] = _t(getattr(self.node, key), dt)
        return self.consts[key, dt]

    @classmethod
    def fresh(cls, node: NeuronNode, batch: int, dtype: torch.dtype) -> NeuronState:
        shape = (batch, *node.shape)
        zeros = torch.zeros(shape, dtype=dtype)
        v = zeros.clone()
        if node.semantics.initial_v == "v_init":
            v = v + _t(node.v_init, dtype)
        return cls(node, v, zeros.clone(), zeros.clone(), zeros.clone())

    def step(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One step; returns the output (spikes, or v for non-spiking) and the recorded states."""
        node, sem, dt = self.node, self.node.semantics, x.dtype
        if isinstance(node, Threshold):
            return _fire(x, self.param("threshold", dt), sem), {}
        if sem.synapse_delay == 1:
            x, self.x_prev = self.x_prev, x
        beta = self.param("beta", dt) if isinstance(node, (LI, LIF, CubaLI, CubaLIF)) else None
        bias = self.param("bias", dt)
        if isinstance(node, (CubaLI, CubaLIF)):
            alpha = self.param("alpha", dt)
            if sem.synapse_order == "decay_then_add":
                self.i = alpha * self.i + x
            else:
                self.i = alpha * (self.i + x)
            drive = self.i
        else:
            drive = x
        decayed = self.v if beta is None else beta * self.v
        states: dict[str, torch.Tensor] = {}
        if isinstance(node, (CubaLI, CubaLIF)):
            states["i"] = self.i
        if not node.SPIKING:
            self.v = decayed + drive + bias
            states["v"] = self.v
            return self.v, states
        theta = self.param("threshold", dt)
        v_reset = self.param("v_reset", dt)
        if sem.timing == "immediate":
            v = decayed + drive + bias
            s = _fire(v, theta, sem)
            v = _reset(v, s, theta, v_reset, sem.reset)
        else:
            if sem.timing == "delayed":
                r = self.s
            else:  # snntorch_immediate: R from the recorded (already reset) membrane
                r = _fire(self.v, theta, sem)
            v = _delayed_reset_update(self.v, decayed, drive + bias, r, theta, v_reset, sem)
            s = _fire(v, theta, sem)
            if sem.timing == "snntorch_immediate":
                d = s - r
                if sem.reset == "subtract":
                    v = v - d * theta
                elif sem.reset == "zero":
                    v = v - d * (v - v_reset)
        if node.v_min is not None:  # the lower clamp, after this step's reset (Sinabs' min_v_mem)
            v = torch.maximum(v, self.param("v_min", dt))
        self.v, self.s = v, s
        states["v"] = v
        return s, states


def _reset(v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor, v_reset: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "subtract":
        return v - s * theta
    if mode == "zero":
        return torch.where(s > 0, v_reset.expand_as(v), v)
    return v


def _delayed_reset_update(
    v_prev: torch.Tensor,
    decayed: torch.Tensor,
    new: torch.Tensor,
    r: torch.Tensor,
    theta: torch.Tensor,
    v_reset: torch.Tensor,
    sem: Semantics,
) -> torch.Tensor:
    """The new membrane with the reset of the previous step's spikes ``r`` folded in."""
    if sem.reset == "subtract":
        return decayed + new - r * theta
    if sem.reset == "zero":
        fired = r > 0
        if sem.delayed_zero == "state":
            # beta*(1-R)*v + new, generalised to v_reset: the carried state restarts at v_reset
            carried = torch.where(fired, v_reset.expand_as(decayed), decayed)
            return carried + new
        return torch.where(fired, v_reset.expand_as(decayed), decayed + new)
    return decayed + new


def _as_inputs(graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = graph.inputs
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise GraphError(f"graph has {len(names)} inputs ({', '.join(names)}); pass a dict of arrays")
        inputs = {names[0]: inputs}
    out = {}
    for name in names:
        if name not in inputs:
            raise GraphError(f"no data for input node '{name}'")
        arr = np.asarray(inputs[name])
        want = graph.nodes[name].shape  # type: ignore[attr-defined]
        if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != tuple(want):
            raise GraphError(
                f"input '{name}': data of shape {arr.shape} does not match [T, B, *{tuple(want)}]"
            )
        problem = data_problem(arr)  # NaN compares false everywhere: it would silently give no spikes
        if problem is not None:
            raise GraphError(f"input '{name}': {problem}")
        out[name] = arr
    return out


def run(
    graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray], *, dtype: torch.dtype = torch.float64
) -> Traces:
    """Run ``graph`` on ``[T, B, *shape]`` inputs; per-node traces ``[T, B, ...]``.

    Every node gets ``"out"`` (its output: spikes or counts for spiking neurons,
    v for non-spiking ones). Neuron nodes also record ``"v"`` (after an
    immediate reset; the un-reset value under delayed timing, as snnTorch
    reports it) and, for CubaLI/CubaLIF, ``"i"``.
    """
    data = _as_inputs(graph, inputs)
    first = next(iter(data.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    with torch.no_grad():
        if graph.recurrent_edges:
            raw = _run_stepwise(graph, data, T, B, dtype)
        else:
            raw = _run_layerwise(graph, data, T, B, dtype)
    return {n: {k: v.numpy() for k, v in tr.items()} for n, tr in raw.items()}


def _run_layerwise(graph: Graph, data: dict[str, np.ndarray], T: int, B: int, dtype: torch.dtype) -> dict:
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            out[name] = {"out": _t(data[name], dtype)}
            continue
        preds = graph.predecessors(name)  # one predecessor: its output itself (0 + a would copy [T, B, ...])
        x = out[preds[0]]["out"] if len(preds) == 1 else sum(out[p]["out"] for p in preds)
        assert isinstance(x, torch.Tensor)
        if isinstance(node, Delay):
            out[name] = {"out": _delay_all(node, x)}
        elif isinstance(node, NeuronNode):
            with one_thread():
                state = NeuronState.fresh(node, B, dtype)
                steps = [state.step(x[t]) for t in range(T)]
                rec = {"out": torch.stack([o for o, _ in steps])}
                for key in steps[0][1] if steps else ():
                    rec[key] = torch.stack([st[key] for _, st in steps])
            out[name] = rec
        else:
            flat = x.reshape(T * B, *x.shape[2:])
            y = apply_stateless(node, flat)
            if y.data_ptr() == x.data_ptr():  # Output, Flatten: a view of the predecessor's trace; traces own memory
                y = y.clone()
            out[name] = {"out": y.reshape(T, B, *y.shape[1:])}
    return out


def _delay_all(node: Delay, x: torch.Tensor) -> torch.Tensor:
    d = torch.as_tensor(node.delay.astype(np.int64))
    T = x.shape[0]
    t_idx = torch.arange(T).reshape(T, *([1] * (x.ndim - 1)))
    src = t_idx - d  # [T, 1, *shape]
    valid = src >= 0
    gathered = torch.gather(x, 0, src.clamp(min=0).expand_as(x))
    return torch.where(valid, gathered, torch.zeros_like(x))


def _run_stepwise(graph: Graph, data: dict[str, np.ndarray], T: int, B: int, dtype: torch.dtype) -> dict:
    states = {n: NeuronState.fresh(nd, B, dtype) for n, nd in graph.nodes.items() if isinstance(nd, NeuronNode)}
    delay_buf = {
        n: torch.zeros((int(nd.delay.max(initial=0)) + 1, B, *nd.delay.shape), dtype=dtype)
        for n, nd in graph.nodes.items()
        if isinstance(nd, Delay)
    }
    prev = _initial_outputs(graph, states, B, dtype)
    recs: dict[str, dict[str, list[torch.Tensor]]] = {n: {} for n in graph.nodes}
    tensors = {n: _t(a, dtype) for n, a in data.items()}
    for t in range(T):
        cur: dict[str, torch.Tensor] = {}
        for name in graph.order:
            node = graph.nodes[name]
            extra: dict[str, torch.Tensor] = {}
            if isinstance(node, Input):
                y = tensors[name][t]
            else:
                x = sum(
                    prev[p] if (p, name) in graph.recurrent_edges else cur[p] for p in graph.predecessors(name)
                )
                assert isinstance(x, torch.Tensor)
                if isinstance(node, NeuronNode):
                    with one_thread():
                        y, extra = states[name].step(x)
                elif isinstance(node, Delay):
                    buf = torch.roll(delay_buf[name], 1, dims=0)
                    buf[0] = x
                    delay_buf[name] = buf
                    d = torch.as_tensor(node.delay.astype(np.int64)).unsqueeze(0).unsqueeze(0)
                    y = torch.gather(buf, 0, d.expand(1, *buf.shape[1:]))[0]
                else:
                    y = apply_stateless(node, x)
            cur[name] = y
            for key, val in {"out": y, **extra}.items():
                recs[name].setdefault(key, []).append(val.clone())
        prev = cur
    with one_thread():
        return {n: {k: torch.stack(v) for k, v in r.items()} for n, r in recs.items()}


def _initial_outputs(
    graph: Graph, states: dict[str, NeuronState], B: int, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Every node's output at step -1: neurons at their initial state (no spikes; a readout's v_init),
    stateless nodes applied to that. A recurrent edge out of an Affine therefore delivers its bias at t=0,
    exactly as snnTorch's RLeaky computes ``recurrent(spk)`` on zero spikes."""
    out: dict[str, torch.Tensor] = {}
    for name in graph.order:
        node = graph.nodes[name]
        zeros = torch.zeros((B, *graph.shapes[name]), dtype=dtype)
        if isinstance(node, NeuronNode):
            out[name] = zeros if node.SPIKING else states[name].v.clone()
        elif isinstance(node, (Input, Delay)):
            out[name] = zeros
        else:
            preds = [p for p in graph.predecessors(name) if (p, name) not in graph.recurrent_edges]
            x = sum((out[p] for p in preds), torch.zeros((B, *graph.input_shape(name)), dtype=dtype))
            out[name] = apply_stateless(node, x)
    return out
