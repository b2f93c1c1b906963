"""Graph-level import passes: flatten nested NIR subgraphs, place input gains.

Subgraphs: a node of type NIRGraph named ``sub`` is replaced by its inner nodes,
renamed ``sub.<inner>``. Outer edges to ``sub`` (or ``sub.<input>``) are
rewired to the successors of the subgraph's Input node(s); outer edges from
``sub`` (or ``sub.<output>``) start at the predecessors of its Output node(s).
NIR ``Identity`` nodes are bypassed the same way.

Gains: a neuron whose discretised input gain is not 1 gets it folded into its
single feeding Affine/Linear/Conv (when that layer feeds nothing else and the
gain is per output channel), else a ``Scale`` node ``<neuron>.gain`` is put in
front of it. Spikes are unchanged by either form.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nodes as ir
from ..errors import GraphError

Edge = tuple[str, str]


def _edges(raw: Any) -> list[Edge]:
    arr = np.asarray(raw if raw is not None else [], dtype=object)
    if arr.size == 0:
        return []
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise GraphError(f"graph: edges must be pairs of node names, got an array of shape {arr.shape}")
    return [(str(a), str(b)) for a, b in arr.tolist()]


def flatten_subgraphs(graph: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[Edge]]:
    nodes: dict[str, dict[str, Any]] = dict(graph.get("nodes", {}))
    edges = _edges(graph.get("edges"))
    for name in list(nodes):
        data = nodes[name]
        if data.get("type") == "NIRGraph":
            inner_nodes, inner_edges = flatten_subgraphs(data)
            del nodes[name]
            ins = [n for n, d in inner_nodes.items() if d.get("type") == "Input"]
            outs = [n for n, d in inner_nodes.items() if d.get("type") == "Output"]
            for n, d in inner_nodes.items():
                if n not in ins and n not in outs:
                    nodes[f"{name}.{n}"] = d
            inside = [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges if a not in ins and b not in outs]
            entry = {i: [f"{name}.{b}" for a, b in inner_edges if a == i] for i in ins}
            exit_ = {o: [f"{name}.{a}" for a, b in inner_edges if b == o] for o in outs}
            edges = _rewire(name, edges, entry, exit_) + inside
        elif data.get("type") == "Identity":
            del nodes[name]
            preds = [a for a, b in edges if b == name]
            succs = [b for a, b in edges if a == name]
            edges = [e for e in edges if name not in e] + [(p, s) for p in preds for s in succs]
    return nodes, edges


def _port(node: str, sub: str, ports: dict[str, list[str]]) -> list[str] | None:
    if node == sub:
        if len(ports) != 1:
            return None if not ports else sum(ports.values(), [])
        return next(iter(ports.values()))
    if node.startswith(sub + ".") and node[len(sub) + 1 :] in ports:
        return ports[node[len(sub) + 1 :]]
    return None


def _rewire(sub: str, edges: list[Edge], entry: dict[str, list[str]], exit_: dict[str, list[str]]) -> list[Edge]:
    out: list[Edge] = []
    for a, b in edges:
        starts = _port(a, sub, exit_) or [a]
        ends = _port(b, sub, entry) if entry else None
        for s in starts:
            for e in ends or [b]:
                if (s, e) not in out:
                    out.append((s, e))
    return out


def _foldable(layer: ir.Node, gain: np.ndarray) -> np.ndarray | None:
    """Per-output-channel gain vector when ``gain`` can be folded into ``layer``."""
    if isinstance(layer, (ir.Affine, ir.Linear)):
        return gain.reshape(-1) if gain.ndim == 1 else None
    if isinstance(layer, (ir.Conv1d, ir.Conv2d)) and gain.ndim >= 2:
        flat = gain.reshape(gain.shape[0], -1)
        if np.all(flat == flat[:, :1]):
            return flat[:, 0]
    return None


def _fold(layer: ir.Node, g: np.ndarray) -> ir.Node:
    w = np.asarray(layer.weight, np.float64)  # type: ignore[attr-defined]
    scaled = w * g.reshape(-1, *([1] * (w.ndim - 1)))
    params = layer.params()
    params["weight"] = scaled
    if "bias" in params:
        params["bias"] = np.asarray(params["bias"], np.float64) * g
    return type(layer)(**params)


def apply_gains(
    nodes: dict[str, ir.Node], edges: list[Edge], gains: dict[str, np.ndarray]
) -> tuple[dict[str, ir.Node], list[Edge]]:
    nodes = dict(nodes)
    edges = list(edges)
    for name, gain in gains.items():
        neuron = nodes[name]
        assert isinstance(neuron, ir.NeuronNode)
        gain = np.broadcast_to(np.asarray(gain, np.float64), neuron.shape)
        preds = [a for a, b in edges if b == name]
        if len(preds) == 1 and [b for a, b in edges if a == preds[0]] == [name]:
            g = _foldable(nodes[preds[0]], gain)
            if g is not None:
                nodes[preds[0]] = _fold(nodes[preds[0]], g)
                continue
        scale = f"{name}.gain"
        if scale in nodes:
            raise GraphError(f"node '{name}': cannot insert gain node, name '{scale}' is taken")
        nodes[scale] = ir.Scale(scale=gain.copy())
        edges = [(a, scale if b == name else b) for a, b in edges] + [(scale, name)]
    return nodes, edges
