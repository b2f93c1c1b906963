"""bitsim's plain executor: one node at a time, one step at a time, int64 throughout.

This is the *definition* of a QGraph's behaviour. It is written to be read, not
to be fast; every fast path (:mod:`.fast`) and every backend is tested against it
with ``==`` on every integer of every trace.

Recurrent edges carry their source's output of step t-1; at t=0 that is the
source's output on the initial state (as in the float reference executor).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snncompile.errors import GraphError, InputError
from snncompile.nodes import Delay, Input
from snncompile.quant.clamps import ClampEvent, clamp_events
from snncompile.quant.intops import fire
from snncompile.quant.qnodes import QGraph, QNeuron

from .neuron import IntNeuronState
from .ops import apply_int
from .traces import Keep, narrowed, resolve_keep, trace_dtypes

Traces = dict[str, dict[str, np.ndarray]]


def check_inputs(
    graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, allow_counts: bool = False
) -> dict[str, np.ndarray]:
    """Inputs as int64 ``[T, B, *shape]`` per Input node; spikes must be 0/1 (or counts >= 0)."""
    names = graph.inputs
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise GraphError(f"graph has {len(names)} inputs ({', '.join(names)}); pass a dict of arrays")
        inputs = {names[0]: inputs}
    out: dict[str, np.ndarray] = {}
    T = None
    for name in names:
        if name not in inputs:
            raise InputError(f"no data for input node '{name}'")
        arr = np.asarray(inputs[name])
        want = graph.nodes[name].shape  # type: ignore[attr-defined]
        if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != tuple(want):
            raise InputError(f"input '{name}': data of shape {arr.shape} does not match [T, B, *{tuple(want)}]")
        if T is not None and arr.shape[0] != T:
            raise InputError(f"input '{name}': {arr.shape[0]} timesteps, other inputs have {T}")
        T = arr.shape[0]
        as_int = np.rint(arr).astype(np.int64) if arr.dtype.kind == "f" else arr.astype(np.int64)
        bad = (as_int != arr) | (as_int < 0) | ((as_int > 1) if not allow_counts else False)
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            what = "a spike count (integer >= 0)" if allow_counts else "a spike (0 or 1)"
            raise InputError(
                f"input '{name}': value {arr[idx]} at [t={idx[0]}, b={idx[1]}, {idx[2:]}] is not {what}"
            )
        out[name] = as_int
    return out


def initial_outputs(graph: QGraph, states: dict[str, IntNeuronState], B: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in graph.order:
        node = graph.nodes[name]
        zeros = np.zeros((B, *graph.shapes[name]), np.int64)
        if isinstance(node, QNeuron) and node.kind != "Threshold":
            out[name] = zeros if node.SPIKING else states[name].v.copy()
        elif isinstance(node, (Input, Delay)):
            out[name] = zeros
        else:
            preds = [p for p in graph.predecessors(name) if (p, name) not in graph.recurrent_edges]
            x = sum((out[p] for p in preds), np.zeros((B, *graph.input_shape(name)), np.int64))
            out[name] = _threshold_initial(node, x) if isinstance(node, QNeuron) else apply_int(node, x)
    return out


def _threshold_initial(node: QNeuron, x: np.ndarray) -> np.ndarray:
    sem = node.semantics
    return fire(x, node.threshold, sem.compare, sem.spikes, sem.spike_cap)


def run_plain(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, allow_counts: bool = False,
              keep: Keep = None, narrow: bool = True) -> Traces:
    """Per-node traces ``[T, B, ...]``: "out" for every node, "v" (and "i") for neurons.

    ``keep``: the traces to record (:func:`.traces.resolve_keep`; default all); each in its proven narrow
    integer type (:func:`.traces.trace_dtypes`), or int64 throughout with ``narrow=False``.
    """
    return run_plain_with_clamps(graph, inputs, allow_counts=allow_counts, keep=keep, narrow=narrow)[0]


def run_plain_with_clamps(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *,
                          allow_counts: bool = False, keep: Keep = None,
                          narrow: bool = True) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """:func:`run_plain`'s traces and the run's register clamp events (:mod:`snncompile.quant.clamps`)."""
    from .xylo import run_xylo_graph_with_clamps, uses_xylo

    if uses_xylo(graph):  # Xylo's per-event saturation: the xylo path's event-order definition, never an approximation
        return run_xylo_graph_with_clamps(graph, inputs, allow_counts=allow_counts)
    want = resolve_keep(graph, keep)
    dtypes = trace_dtypes(graph, narrow=narrow, allow_counts=allow_counts)
    data = check_inputs(graph, inputs, allow_counts=allow_counts)
    first = next(iter(data.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    states = {n: IntNeuronState.fresh(nd, B) for n, nd in graph.nodes.items() if isinstance(nd, QNeuron)}
    delay_buf = {
        n: np.zeros((int(nd.delay.max(initial=0)) + 1, B, *nd.delay.shape), np.int64)
        for n, nd in graph.nodes.items()
        if isinstance(nd, Delay)
    }
    prev = initial_outputs(graph, states, B)
    recs = {n: {k: np.empty((T, B, *graph.shapes[n]), dtypes[n][k]) for k in keys} for n, keys in want.items()}
    for t in range(T):
        cur: dict[str, np.ndarray] = {}
        for name in graph.order:
            node = graph.nodes[name]
            extra: dict[str, np.ndarray] = {}
            if isinstance(node, Input):
                y = data[name][t]
            else:
                x = sum(prev[p] if (p, name) in graph.recurrent_edges else cur[p] for p in graph.predecessors(name))
                assert isinstance(x, np.ndarray)
                if isinstance(node, QNeuron):
                    y, extra = states[name].step(x)
                elif isinstance(node, Delay):
                    buf = np.roll(delay_buf[name], 1, axis=0)
                    buf[0] = x
                    delay_buf[name] = buf
                    y = np.take_along_axis(buf, node.delay.astype(np.int64)[None, None], axis=0)[0]
                else:
                    y = apply_int(node, x)
            cur[name] = y
            for key, rec in recs.get(name, {}).items():
                val = y if key == "out" else extra[key]
                rec[t] = narrowed(name, key, np.asarray(val, np.int64), rec.dtype, checked=True)
        prev = cur
    events = clamp_events(graph, {n: st.clamps for n, st in states.items()})
    return recs, events

