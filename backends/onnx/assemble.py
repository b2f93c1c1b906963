"""One timestep of a graph as ONNX, and the two models built from it.

``step.onnx`` (explicit state), per step t:

    inputs   in/<input node>         [B, *shape]  spikes at t (uint8; the float model: its float dtype)
             state/<node>/<key>      [B, ...]     every state at t-1 (see StateSpec; initial values: t=0)
    outputs  out/<node>              [B, *shape]  every node's output at t (graph outputs, spikes, readouts)
             next/<node>/<key>       [B, ...]     every state at t, to feed back as state/<node>/<key>

``scan.onnx`` runs all T steps with one Scan from the initial states:

    inputs   in/<input node>         [T, B, *shape]
    outputs  out/<node>              [T, B, *shape]
             v/<neuron>, i/<neuron>  [T, B, *shape]  the membrane / current of every neuron at every step

State keys: ``v``, ``i`` (neurons), ``s`` (spikes of t-1, delayed reset), ``x``
(summed input of t-1, synapse_delay 1), ``buf`` (a Delay's last inputs,
[B, max_delay, *shape]) and ``rec`` (the source of a recurrent edge: its output at
t-1; at t=0 its output on the initial state, as bitsim's ``initial_outputs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Input

from .builder import I64, Val, make_model, value_info
from .context import IOSpec, Lowering, StateSpec, StepContext


@dataclass(frozen=True)
class StepGraph:
    """The lowered step: nodes and initializers, with the per-step inputs, states and outputs."""

    nodes: list[onnx.NodeProto]
    initializers: list[onnx.TensorProto]
    inputs: list[IOSpec]
    states: list[StateSpec]
    outputs: list[IOSpec]
    label: str

    @property
    def traced_states(self) -> list[StateSpec]:
        """States that are also per-step traces (a neuron's v and i)."""
        return [s for s in self.states if s.key in ("v", "i")]


def lower_step(ctx: StepContext, lowerings: Mapping[type, Lowering], input_dtype: np.dtype,
               recurrent_init: Mapping[str, np.ndarray], label: str) -> StepGraph:
    """Lower every node of ``ctx.graph`` in execution order; ``recurrent_init`` holds [1, *shape] per source."""
    graph, b = ctx.graph, ctx.b
    inputs: list[IOSpec] = []
    held: dict[str, Val] = {}
    sources = [n for n in graph.order if any(a == n for a, _ in graph.recurrent_edges)]
    for src in sources:
        interval = None if ctx.ranges is None else ctx.ranges[src]
        held[src] = ctx.state(src, "rec", graph.shapes[src], interval, recurrent_init[src][0])
    outs: dict[str, Val] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            spec = IOSpec(f"in/{name}", name, "out", tuple(node.shape), np.dtype(input_dtype))
            inputs.append(spec)
            outs[name] = Val(spec.name, spec.dtype)
            continue
        fn = lowerings.get(type(node))
        if fn is None:
            raise UnsupportedNodeError(f"node '{name}' ({node.type_name}): backend 'onnx' has no lowering for it "
                                       f"in the {label} model")
        preds = [held[p] if (p, name) in graph.recurrent_edges else outs[p] for p in graph.predecessors(name)]
        x = preds[0] if len(preds) == 1 else b.sum([b.cast(v, ctx.compute) for v in preds])
        outs[name] = fn(ctx, name, node, x)
        if name in held:
            ctx.set_next(name, "rec", outs[name])
    outputs: list[IOSpec] = []
    for name in graph.order:
        if isinstance(graph.nodes[name], Input):
            continue
        interval = None if ctx.ranges is None else ctx.ranges[name]
        spec = IOSpec(f"out/{name}", name, "out", tuple(graph.shapes[name]), ctx.storage(interval))
        b.cast(outs[name], spec.dtype, out=spec.name)
        outputs.append(spec)
    for st in ctx.states:
        b.cast(ctx.next[st.name], st.dtype, out=st.next_name)
    nodes = _live(b.nodes, {s.name for s in outputs} | {s.next_name for s in ctx.states})
    used = {name for node in nodes for name in node.input}
    initializers = [t for t in b.initializers if t.name in used]
    return StepGraph(nodes, initializers, inputs, list(ctx.states), outputs, label)


def _live(nodes: list[onnx.NodeProto], wanted: set[str]) -> list[onnx.NodeProto]:
    """The nodes some wanted value depends on, in their original order."""
    needed = set(wanted)
    keep = []
    for node in reversed(nodes):
        if needed.intersection(node.output):
            keep.append(node)
            needed.update(node.input)
    return keep[::-1]


def _dims(spec: IOSpec | StateSpec, *lead: str) -> list[int | str]:
    return [*lead, *spec.shape]


def step_model(sg: StepGraph) -> onnx.ModelProto:
    """The one-step model with explicit state inputs and outputs."""
    ins = [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.inputs]
    ins += [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.states]
    outs = [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.outputs]
    outs += [value_info(s.next_name, s.dtype, _dims(s, "B")) for s in sg.states]
    graph = helper.make_graph(sg.nodes, f"snn_{sg.label}_step", ins, outs, sg.initializers)
    return make_model(graph, f"snncompile {sg.label} model, one timestep with explicit state")


def _renamed(g: onnx.GraphProto, prefix: str) -> onnx.GraphProto:
    """``g`` with every value name prefixed, in place (a Scan body must not reuse the outer graph's names); ``g``
    must own its nodes and initializers -- ``helper.make_graph`` copies them in -- so nothing else changes."""
    for node in g.node:
        node.input[:] = [prefix + n if n else n for n in node.input]
        node.output[:] = [prefix + n for n in node.output]
        node.name = prefix + node.name if node.name else ""
    for coll in (g.input, g.output, g.value_info, g.initializer):
        for item in coll:
            item.name = prefix + item.name
    return g


def scan_model(sg: StepGraph) -> onnx.ModelProto:
    """All T steps: initial states expanded to the batch, then one Scan over the time axis."""
    traced = sg.traced_states
    body_nodes = list(sg.nodes)
    body_nodes += [helper.make_node("Identity", [s.next_name], [f"{s.key}/{s.node}"],
                                   name=f"n_{s.key}/{s.node}") for s in traced]
    body_in = [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.states]
    body_in += [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.inputs]
    body_out = [value_info(s.next_name, s.dtype, _dims(s, "B")) for s in sg.states]
    body_out += [value_info(s.name, s.dtype, _dims(s, "B")) for s in sg.outputs]
    body_out += [value_info(f"{s.key}/{s.node}", s.dtype, _dims(s, "B")) for s in traced]
    body = _renamed(helper.make_graph(body_nodes, "step", body_in, body_out, sg.initializers), "step.")

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    first = sg.inputs[0].name
    nodes.append(helper.make_node("Shape", [first], ["batch"], start=1, end=2))
    starts = []
    for k, s in enumerate(sg.states):
        inits.append(onnx.numpy_helper.from_array(s.init, f"init{k}"))
        inits.append(onnx.numpy_helper.from_array(np.asarray(s.shape, np.int64), f"init{k}_shape"))
        nodes.append(helper.make_node("Concat", ["batch", f"init{k}_shape"], [f"init{k}_dims"], axis=0))
        nodes.append(helper.make_node("Expand", [f"init{k}", f"init{k}_dims"], [f"start{k}"]))
        starts.append(f"start{k}")
    finals = [f"final{k}" for k in range(len(sg.states))]
    scan_outs = [s.name for s in sg.outputs] + [f"{s.key}/{s.node}" for s in traced]
    nodes.append(helper.make_node("Scan", starts + [s.name for s in sg.inputs], finals + scan_outs,
                                  body=body, num_scan_inputs=len(sg.inputs)))
    ins = [value_info(s.name, s.dtype, _dims(s, "T", "B")) for s in sg.inputs]
    outs = [value_info(s.name, s.dtype, _dims(s, "T", "B")) for s in sg.outputs]
    outs += [value_info(f"{s.key}/{s.node}", s.dtype, _dims(s, "T", "B")) for s in traced]
    graph = helper.make_graph(nodes, f"snn_{sg.label}_scan", ins, outs, inits)
    return make_model(graph, f"snncompile {sg.label} model, all timesteps (Scan over the time axis)")


def check_model(model: onnx.ModelProto | bytes) -> None:
    """onnx.checker with full shape inference (raises onnx.checker.ValidationError); ``model`` may be its bytes."""
    onnx.checker.check_model(model, full_check=True)


def initial_state(sg: StepGraph, batch: int) -> dict[str, np.ndarray]:
    """Every state input of the step model at t=0 for ``batch`` samples."""
    return {s.name: np.ascontiguousarray(np.broadcast_to(s.init, (batch, *s.shape))) for s in sg.states}


__all__ = ["I64", "StepGraph", "check_model", "initial_state", "lower_step", "scan_model", "step_model"]
