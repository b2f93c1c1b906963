"""bitsim's traces from an RTL simulation: neuron states as the hardware computed them, the rest replayed.

Every neuron's ``out`` (spikes, or v of a readout), ``v`` and ``i`` come from the trace
records of the simulated RTL. The RTL has no separate register for a weight layer's output
(all edges of a layer share one accumulator; the summed input x is checked by the
testbench instead), so the ``out`` traces of QDense, Flatten and Output nodes are
recomputed here from the RTL's own spikes with bitsim's integer ops; Input traces are the
stimuli. The RTL flags every register clamp on its trace port, so its clamp events are its own too.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from snncompile.backends.bitsim import Traces
from snncompile.backends.bitsim.neuron import IntNeuronState
from snncompile.backends.bitsim.ops import apply_int
from snncompile.backends.bitsim.plain import initial_outputs

from snncompile.errors import BackendError
from snncompile.nodes import Input
from snncompile.quant.clamps import ClampCounter, ClampEvent
from snncompile.quant.clamps import clamp_events as events_of
from snncompile.quant.qnodes import QNeuron

from .plan import Plan


def assemble(plan: Plan, data: Mapping[str, np.ndarray], recs: Mapping[str, Mapping[str, np.ndarray]]) -> Traces:
    """Traces {node: {"out", "v", "i"}} [T, B, ...] from the RTL records ``recs`` ([T, B, N] per layer)."""
    g = plan.graph
    first = next(iter(data.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    states = {n: IntNeuronState.fresh(nd, 1) for n, nd in g.nodes.items() if isinstance(nd, QNeuron)}
    initial = {k: v[0] for k, v in initial_outputs(g, states, 1).items()}
    out: Traces = {}
    for name in g.order:  # Inputs and neurons first: a recurrent edge may read a node later in the order
        node = g.nodes[name]
        shape = (T, B, *g.shapes[name])
        if isinstance(node, Input):
            out[name] = {"out": np.asarray(data[name], np.int64).reshape(shape)}
        elif isinstance(node, QNeuron):
            r = recs[name]
            lay = plan.layer(name)
            tr = {"v": r["v"].reshape(shape), "out": (r["s"] if lay.spiking else r["v"]).reshape(shape)}
            if lay.cuba:
                tr["i"] = r["i"].reshape(shape)
            out[name] = tr
    pending = [n for n in g.order if n not in out]
    while pending:
        ready = [n for n in pending if all(p in out for p in g.predecessors(n))]
        for name in ready:
            x = np.zeros((T, B, *g.input_shape(name)), np.int64)
            for p in g.predecessors(name):
                src = out[p]["out"]
                if (p, name) in g.recurrent_edges:
                    start = np.broadcast_to(initial[p], src.shape[1:])[None]
                    src = np.concatenate([start, src[:-1]], axis=0)
                x = x + src
            y = apply_int(g.nodes[name], x.reshape(T * B, *x.shape[2:]))
            out[name] = {"out": np.asarray(y, np.int64).reshape(T, B, *g.shapes[name])}
        pending = [n for n in pending if n not in out]
        if not ready:
            raise BackendError(f"rtl: internal error: no order to replay nodes {pending}")
    return out


def clamp_events(plan: Plan, recs: Mapping[str, Mapping[str, np.ndarray]]) -> tuple[ClampEvent, ...]:
    """The register clamp events the RTL itself flagged (trace port ``sat``: bit 1 = i, bit 0 = v), counted as
    bitsim counts them (:mod:`snncompile.quant.clamps`)."""
    counters: dict[str, dict[str, ClampCounter]] = {}
    for lay in plan.layers:
        sat = recs[lay.name]["sat"]  # [T, B, N]
        regs = {"i": (sat >> 1) & 1, "v": sat & 1}
        counters[lay.name] = {}
        for register, flags in regs.items():
            c = ClampCounter()
            for t in range(flags.shape[0]):
                c.add(t, flags[t].astype(bool))
            counters[lay.name][register] = c
    return events_of(plan.graph, counters)
