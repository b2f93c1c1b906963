"""The Graph: nodes by name, edges as pairs, dt; validated on construction.

Edges into a node are summed (fan-in). An edge that closes a cycle -- found by a
depth-first search from the Input nodes, in node order then edge order -- is a
*recurrent* edge: it carries its source's output of step t-1. At t=0 that is
the source's output on the initial state (neurons silent, readouts at their
initial v, stateless nodes applied to that), so a recurrent Affine delivers its
bias at t=0 -- exactly what snnTorch's RLeaky/RSynaptic compute. Every cycle must pass through a stateful node
(a neuron or a Delay); a cycle of stateless nodes is an algebraic loop and is
rejected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import GraphError
from .nodes import Input, NeuronNode, Node, Output

Edge = tuple[str, str]


@dataclass(frozen=True)
class Graph:
    """A validated discrete-time SNN graph. Build a new one to change it."""

    nodes: Mapping[str, Node]
    edges: Sequence[Edge]
    dt: float = 1e-3
    metadata: Mapping[str, Any] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(init=False, compare=False, repr=False)
    order: tuple[str, ...] = field(init=False, compare=False, repr=False)
    recurrent_edges: frozenset[Edge] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", MappingProxyType(dict(self.nodes)))
        object.__setattr__(self, "edges", tuple((str(a), str(b)) for a, b in self.edges))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        dt_ok = isinstance(self.dt, float | int) and not isinstance(self.dt, bool) and math.isfinite(self.dt)
        if not (dt_ok and self.dt > 0):
            raise GraphError(f"graph: dt must be a positive, finite number of seconds, got {self.dt!r}")
        object.__setattr__(self, "dt", float(self.dt))
        _check_nodes_and_edges(self.nodes, self.edges)
        back = _find_recurrent_edges(self.nodes, self.edges)
        order = _topological_order(self.nodes, [e for e in self.edges if e not in back])
        _check_cycles_have_state(self.nodes, self.edges, back)
        object.__setattr__(self, "recurrent_edges", frozenset(back))
        object.__setattr__(self, "order", tuple(order))
        object.__setattr__(self, "shapes", MappingProxyType(_infer_shapes(self)))
        # An Output's shape is its input's: record it so equal graphs compare equal after a round trip.
        filled = {n: Output(shape=self.shapes[n]) if isinstance(nd, Output) and nd.shape is None else nd
                  for n, nd in self.nodes.items()}
        object.__setattr__(self, "nodes", MappingProxyType(filled))

    # -- queries -------------------------------------------------------------
    def predecessors(self, name: str) -> list[str]:
        return [a for a, b in self.edges if b == name]

    def successors(self, name: str) -> list[str]:
        return [b for a, b in self.edges if a == name]

    @property
    def inputs(self) -> list[str]:
        return [n for n, node in self.nodes.items() if isinstance(node, Input)]

    @property
    def outputs(self) -> list[str]:
        return [n for n, node in self.nodes.items() if isinstance(node, Output)]

    def input_shape(self, name: str) -> tuple[int, ...]:
        """The (summed) input shape of a node; an Input's own shape."""
        node = self.nodes[name]
        if isinstance(node, Input):
            return node.shape
        return self.shapes[self.predecessors(name)[0]]

    # -- building new graphs ---------------------------------------------------
    def replace_node(self, name: str, node: Node) -> Graph:
        if name not in self.nodes:
            raise GraphError(f"replace_node: no node '{name}'")
        nodes = dict(self.nodes)
        nodes[name] = node
        return dataclasses.replace(self, nodes=nodes)

    def with_metadata(self, **items: Any) -> Graph:
        return dataclasses.replace(self, metadata={**self.metadata, **items})

    def equals(self, other: Graph) -> bool:
        """Exact equality: same names, node parameters, edges (as a set), dt and metadata."""
        return (
            list(self.nodes) == list(other.nodes)
            and all(self.nodes[n].equals(other.nodes[n]) for n in self.nodes)
            and set(self.edges) == set(other.edges)
            and self.dt == other.dt
            and dict(self.metadata) == dict(other.metadata)
        )


def _check_nodes_and_edges(nodes: Mapping[str, Node], edges: Iterable[Edge]) -> None:
    if not nodes:
        raise GraphError("graph: has no nodes")
    for name, node in nodes.items():
        if not isinstance(node, Node):
            raise GraphError(f"node '{name}': {type(node).__name__} is not a snncompile node")
    seen: set[Edge] = set()
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise GraphError(f"edge '{a}' -> '{b}': node '{end}' does not exist")
        if (a, b) in seen:
            raise GraphError(f"edge '{a}' -> '{b}' appears twice")
        seen.add((a, b))
        if isinstance(nodes[b], Input):
            raise GraphError(f"edge '{a}' -> '{b}': an Input node cannot have incoming edges")
        if isinstance(nodes[a], Output):
            raise GraphError(f"edge '{a}' -> '{b}': an Output node cannot have outgoing edges")
    if not any(isinstance(n, Input) for n in nodes.values()):
        raise GraphError("graph: has no Input node")
    fed = {b for _, b in edges}
    for name, node in nodes.items():
        if not isinstance(node, Input) and name not in fed:
            raise GraphError(f"node '{name}' ({node.type_name}) has no incoming edge")


def _find_recurrent_edges(nodes: Mapping[str, Node], edges: Sequence[Edge]) -> set[Edge]:
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    back: set[Edge] = set()
    for root in (n for n, node in nodes.items() if isinstance(node, Input)):
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            name, i = stack[-1]
            if i < len(succ[name]):
                stack[-1] = (name, i + 1)
                nxt = succ[name][i]
                if state.get(nxt) == 1:
                    back.add((name, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                stack.pop()
    unreachable = [n for n in nodes if n not in state]
    if unreachable:
        raise GraphError(f"node '{unreachable[0]}' is not reachable from any Input node")
    return back


def _topological_order(nodes: Mapping[str, Node], edges: list[Edge]) -> list[str]:
    indeg = {n: 0 for n in nodes}
    for _, b in edges:
        indeg[b] += 1
    ready = [n for n in nodes if indeg[n] == 0]
    order: list[str] = []
    position = {n: i for i, n in enumerate(nodes)}
    while ready:
        ready.sort(key=position.__getitem__)
        name = ready.pop(0)
        order.append(name)
        for a, b in edges:
            if a == name:
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
    if len(order) != len(nodes):  # cannot happen after back-edge removal; kept as a guard
        raise GraphError("graph: could not order the nodes (cycle left after removing recurrent edges)")
    return order


def _check_cycles_have_state(nodes: Mapping[str, Node], edges: Sequence[Edge], back: set[Edge]) -> None:
    forward = [e for e in edges if e not in back]
    for src, dst in sorted(back):
        # Is there a forward path dst ~> src through stateless nodes only?
        if nodes[dst].STATEFUL or nodes[src].STATEFUL:
            continue
        parent: dict[str, str | None] = {dst: None}
        frontier = [dst]
        while frontier:
            cur = frontier.pop()
            for a, b in forward:
                if a == cur and b not in parent and not nodes[b].STATEFUL:
                    parent[b] = cur
                    frontier.append(b)
        if src in parent:
            path = [src]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            cycle = " -> ".join(f"'{p}'" for p in reversed(path))
            raise GraphError(
                f"cycle {cycle} -> '{dst}' has no stateful node (a neuron or Delay); "
                "a recurrent edge must pass through one"
            )


def _infer_shapes(graph: Graph) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            shapes[name] = node.shape
            continue
        preds = [a for a, b in graph.edges if b == name and (a, b) not in graph.recurrent_edges]
        if not preds:
            raise GraphError(f"node '{name}' ({node.type_name}) is only fed by recurrent edges")
        in_shape = shapes[preds[0]]
        for p in preds[1:]:
            if shapes[p] != in_shape:
                raise GraphError(
                    f"node '{name}' ({node.type_name}): summed inputs disagree: "
                    f"{in_shape} from '{preds[0]}' vs {shapes[p]} from '{p}'"
                )
        expected = node.expected_input()
        if expected is not None and tuple(expected) != in_shape:
            raise GraphError(
                f"node '{name}' ({node.type_name}): input shape {in_shape} from '{preds[0]}' "
                f"does not match expected {tuple(expected)}"
            )
        shapes[name] = node.output_shape(name, in_shape)
    for src, dst in sorted(graph.recurrent_edges):
        want = graph.nodes[dst].expected_input() or shapes[graph.predecessors(dst)[0]]
        if shapes[src] != tuple(want) and not isinstance(graph.nodes[dst], Input):
            raise GraphError(
                f"recurrent edge '{src}' -> '{dst}': shape {shapes[src]} does not match "
                f"the input of '{dst}' {tuple(want)}"
            )
    return shapes


def _describe_array(a: np.ndarray) -> str:
    dims = ",".join(str(s) for s in a.shape)
    kind = a.dtype.kind + str(a.dtype.itemsize * 8)
    if a.size == 0:
        return f"{kind}[{dims}]"
    if a.size <= 4:
        vals = " ".join(f"{v:.6g}" for v in a.reshape(-1).tolist())
        return f"{kind}[{dims}]={{{vals}}}"
    if np.all(a == a.reshape(-1)[0]):
        return f"{kind}[{dims}] all={a.reshape(-1)[0]:.6g}"
    return f"{kind}[{dims}] min={a.min():.6g} max={a.max():.6g} mean={a.mean():.6g}"


def format(graph: Graph) -> str:  # noqa: A001 - the architecture names it ir.format
    """A stable, line-oriented text dump for golden diffs and ``inspect``."""
    lines = [f"graph dt={graph.dt:.6g} nodes={len(graph.nodes)} edges={len(graph.edges)}"]
    for name in graph.order:
        node = graph.nodes[name]
        parts = []
        for key, value in node.params().items():
            if isinstance(value, np.ndarray):
                parts.append(f"{key}={_describe_array(value)}")
            elif value is not None and key != "shape":
                parts.append(f"{key}={value}")
        lines.append(f"  {name}: {node.type_name} -> {graph.shapes[name]}  {' '.join(parts)}".rstrip())
        if isinstance(node, NeuronNode):
            lines.append(f"      semantics: {node.semantics.describe()}")
    lines.append("edges:")
    for a, b in graph.edges:
        mark = "  (recurrent, t-1)" if (a, b) in graph.recurrent_edges else ""
        lines.append(f"  {a} -> {b}{mark}")
    for key in sorted(graph.metadata):
        lines.append(f"meta {key} = {graph.metadata[key]}")
    return "\n".join(lines) + "\n"
