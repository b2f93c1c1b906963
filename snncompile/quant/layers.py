"""Per-layer precision: resolve ``QuantSpec.layers`` against a graph into one effective spec per node.

A *layer* is a neuron node together with the weight layers that feed it (through Flatten, pooling, Scale,
Delay; :func:`.fold.plan_folding`). Layers are numbered ``@0``, ``@1``, ... in graph order of their neuron
nodes. An override names a layer by

- the name of its neuron node,
- the name of a weight layer feeding it (a weight layer that feeds several neuron nodes names all of them), or
- ``@N``.

What an override sets:

    weight_bits  every weight layer feeding the layer's neurons. They share the neurons' scale groups, so one
                 neuron node cannot take two weight widths; a weight layer feeding two layers with different
                 weight_bits is a QuantizationError naming it.
    state_bits   the layer's v and i registers (instead of the spec's, or of calibration sizing)
    frac_bits    the layer's decay fractional bits D (alpha, beta in 0..2^D)

Two overrides may name the same layer if they set different fields (or the same value); a field set twice to
different values is a QuantizationError naming both. Unknown names and nodes that are not a layer (Flatten,
Input, ...) are QuantizationErrors that list the layers.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import QuantizationError, SnnCompileError
from ..graph import Graph
from ..nodes import NeuronNode
from .fold import FoldPlan
from .spec import LayerQuant, QuantSpec


def neuron_layers(graph: Graph) -> list[str]:
    """The neuron nodes in graph order: ``@N`` is the N-th of them."""
    return [n for n, nd in graph.nodes.items() if isinstance(nd, NeuronNode)]


def _layer_list(graph: Graph) -> str:
    return ", ".join(f"@{k} '{n}' ({graph.nodes[n].type_name})" for k, n in enumerate(neuron_layers(graph)))


def _targets(graph: Graph, plan: FoldPlan, override: LayerQuant) -> tuple[str, ...]:
    """The neuron nodes an override names."""
    key, layers = override.layer, neuron_layers(graph)
    if key in graph.nodes:
        if key in plan.neurons:
            return (key,)
        if key in plan.layers and plan.layers[key].neurons:
            return tuple(plan.layers[key].neurons)
        raise QuantizationError(f"per-layer precision: node '{key}' ({graph.nodes[key].type_name}) is not a neuron "
                                f"node or a weight layer (layers: {_layer_list(graph)})")
    if key.startswith("@") and key[1:].isdigit():
        k = int(key[1:])
        if k < len(layers):
            return (layers[k],)
        raise QuantizationError(f"per-layer precision: layer {key} does not exist; the graph has {len(layers)} "
                                f"layer(s): {_layer_list(graph)}")
    raise QuantizationError(f"per-layer precision: no node named '{key}' (layers: {_layer_list(graph)})")


def layer_overrides(graph: Graph, plan: FoldPlan, spec: QuantSpec) -> dict[str, dict[str, int]]:
    """``{neuron node: {field: value}}`` for every layer an override touches (merged; conflicts raise)."""
    merged: dict[str, dict[str, tuple[int, str]]] = {}
    for override in spec.layers:
        for neuron in _targets(graph, plan, override):
            fields = merged.setdefault(neuron, {})
            for field, value in override.overrides().items():
                if field in fields and fields[field][0] != value:
                    before, who = fields[field]
                    raise QuantizationError(
                        f"per-layer precision: layer '{neuron}': {field} set to {before} (by '{who}') and to "
                        f"{value} (by '{override.layer}')")
                fields[field] = (value, override.layer)
    return {n: {f: v for f, (v, _) in fields.items()} for n, fields in merged.items()}


def layer_specs(graph: Graph, plan: FoldPlan, spec: QuantSpec) -> dict[str, QuantSpec]:
    """The effective spec (``layers=()``) of every neuron node and every weight layer in ``plan``."""
    over = layer_overrides(graph, plan, spec)
    base = replace(spec, layers=())
    out: dict[str, QuantSpec] = {n: replace(base, **over[n]) if n in over else base  # type: ignore[arg-type]
                                 for n in plan.neurons}
    for name, fold in plan.layers.items():
        bits = {n: out[n].weight_bits for n in fold.neurons}
        if len(set(bits.values())) > 1:
            shown = ", ".join(f"'{n}' {b}" for n, b in bits.items())
            raise QuantizationError(f"per-layer precision: weight layer '{name}' feeds layers with different "
                                    f"weight_bits ({shown}); give them the same weight_bits")
        width = next(iter(bits.values()), spec.weight_bits)
        out[name] = base if width == base.weight_bits else replace(base, weight_bits=width)
    return out


def group_weight_bits(plan: FoldPlan, specs: dict[str, QuantSpec]) -> np.ndarray:
    """int[n_groups]: the weight width of every scale group (its neurons' and weight layers' weight_bits)."""
    bits = np.zeros(plan.n_groups, np.int64)
    for name, groups in plan.neurons.items():
        bits[np.asarray(groups).reshape(-1)] = specs[name].weight_bits
    for name, fold in plan.layers.items():
        g = np.asarray(fold.groups)
        clash = (bits[g] != 0) & (bits[g] != specs[name].weight_bits)
        if clash.any():  # unreachable after layer_specs' check; kept so a fold change cannot mix widths silently
            raise QuantizationError(f"per-layer precision: weight layer '{name}' shares a scale group with "
                                    "neurons of another weight width")
        bits[g] = specs[name].weight_bits
    return bits


def precision_table(graph: Graph, spec: QuantSpec) -> list[dict[str, object]]:
    """One row per layer: ``{"layer": "@N", "node", "weight_bits", "state_bits", "frac_bits"}`` (state_bits None:
    sized from calibration), for reports."""
    from .fold import plan_folding

    plan = plan_folding(graph, spec.granularity)
    specs = layer_specs(graph, plan, spec)
    return [{"layer": f"@{k}", "node": n, "weight_bits": specs[n].weight_bits, "state_bits": specs[n].state_bits,
             "frac_bits": specs[n].frac_bits} for k, n in enumerate(neuron_layers(graph))]


def layer_precision(graph: Graph, qgraph: object) -> dict[str, str]:
    """``{neuron node: "w8 s16 d12"}``: the weight width of the weight layers feeding each neuron node, its v/i
    register width and decay fractional bits, as the QGraph holds them (for the verify report's per-layer rows)."""
    from .fold import plan_folding
    from .qnodes import QGraph, QNeuron

    assert isinstance(qgraph, QGraph)
    granularity = qgraph.spec.granularity if qgraph.spec is not None else "channel"
    try:
        plan = plan_folding(graph, granularity)
    except SnnCompileError:  # a graph quantize could not fold has no per-layer rows
        return {}
    weights: dict[str, set[int]] = {}
    for name, fold in plan.layers.items():
        for n in fold.neurons:
            weights.setdefault(n, set()).add(int(getattr(qgraph.nodes[name], "w_bits", 0)))
    out = {}
    for n in plan.neurons:
        q = qgraph.nodes.get(n)
        if isinstance(q, QNeuron):
            w = "/".join(f"w{b}" for b in sorted(weights.get(n, ())))
            out[n] = " ".join(x for x in (w, f"s{q.v_bits}", f"d{q.frac_bits}") if x)
    return out
