"""Graph-level import passes: flatten nested NIR subgraphs, place input gains.

Subgraphs: a node of type NIRGraph named ``sub`` is replaced by its inner nodes,
renamed ``sub.<inner>``. Outer edges to ``sub`` (or ``sub.<input>``) are
rewired to the successors of the subgraph's Input node(s); outer edges from
``sub`` (or ``sub.<output>``) start at the predecessors of its Output node(s).
NIR ``Identity`` nodes are bypassed the same way.

Also: the nodes on a cycle (a convention may step them differently), Input/Output batch dims of size 1 that
some exporters keep, neurons written with 0-d parameters, and Spyx's one-step output delay.

Gains: a neuron whose discretised input gain is not 1 gets it folded into its
single feeding Affine/Linear/Conv (when that layer feeds nothing else and the
gain is per output channel), else a ``Scale`` node ``<neuron>.gain`` is put in
front of it. Spikes are unchanged by either form.
"""

from __future__ import annotations

import dataclasses
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
    return [(_text(a), _text(b)) for a, b in arr.tolist()]


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def flatten_subgraphs(graph: dict[str, Any], _path: str = "") -> tuple[dict[str, dict[str, Any]], list[Edge]]:
    """Nodes and edges with every nested NIRGraph inlined (see the module docstring); ``_path``: the enclosing
    subgraphs' names, for messages. A member whose new name is already a node's raises GraphError."""
    raw = graph.get("nodes", {})
    if not isinstance(raw, dict):
        raise GraphError(f"graph{' ' + repr(_path[:-1]) if _path else ''}: 'nodes' is a dataset, not a group of nodes")
    nodes: dict[str, dict[str, Any]] = dict(raw)
    edges = _edges(graph.get("edges"))
    for name in list(nodes):
        data = nodes[name]
        if not isinstance(data, dict):
            raise GraphError(f"node '{_path}{name}' is stored as a dataset, not a group holding its type and "
                             "parameters")
        if data.get("type") == "NIRGraph":
            inner_nodes, inner_edges = flatten_subgraphs(data, f"{_path}{name}.")
            del nodes[name]
            _check_free_names(name, inner_nodes, nodes, _path)
            _check_inner_edges(f"{_path}{name}", inner_nodes, inner_edges)
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


def _check_inner_edges(sub: str, members: dict[str, dict[str, Any]], edges: list[Edge]) -> None:
    """Every edge inside subgraph ``sub`` joins two of its members; the error names the edge as written in the
    subgraph (not the ``sub.<member>`` names flattening would give it)."""
    for a, b in edges:
        for end in (a, b):
            if end not in members:
                raise GraphError(f"subgraph '{sub}': its edge '{a}' -> '{b}' names '{end}', which is not a node of "
                                 f"the subgraph (its nodes: {', '.join(sorted(members)) or 'none'})")


def _check_free_names(sub: str, members: dict[str, dict[str, Any]], nodes: dict[str, dict[str, Any]],
                      path: str) -> None:
    """Each member of subgraph ``sub`` becomes ``sub.<member>`` (its Input/Output names are the ports outer edges
    may name): none of those names may already be a node of the enclosing graph, which it would replace."""
    for member, data in members.items():
        taken = f"{sub}.{member}"
        if taken in nodes:
            where = f"subgraph '{path[:-1]}'" if path else "the top-level graph"
            raise GraphError(
                f"subgraph '{path}{sub}': its member '{member}' ({data.get('type')}) flattens to '{path}{taken}', "
                f"the name of node '{path}{taken}' ({nodes[taken].get('type')}) of {where}; rename one of them"
            )


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
        gain = np.asarray(gain, np.float64)
        if gain.ndim > len(neuron.shape) and gain.size in (1, int(np.prod(neuron.shape))):
            gain = gain.reshape(neuron.shape if gain.size > 1 else ())  # :func:`fit_neuron_shapes` reshaped it
        gain = np.broadcast_to(gain, neuron.shape)
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


def cycle_nodes(names: list[str], edges: list[Edge]) -> set[str]:
    """The nodes that lie on a directed cycle (strongly connected components of size > 1, or a self-loop)."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[str] = set()
    for root in succ:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ[node]:
                    found.update(component)
    return found


def _fits(node: ir.Node, name: str, shape: tuple[int, ...]) -> bool:
    expected = node.expected_input()
    if expected is not None:
        return tuple(expected) == shape
    try:
        node.output_shape(name, shape)
    except GraphError:
        return False
    return True


def drop_input_batch_dims(nodes: dict[str, ir.Node], edges: list[Edge]) -> tuple[dict[str, ir.Node], list[str]]:
    """Remove leading size-1 dims of an Input when they are unambiguously a batch dim.

    Rockpool's and (with a batched sample) Norse's exporters write Input [1, F]. The dim is dropped only when
    every successor rejects the written shape and accepts it without the leading 1.
    """
    nodes = dict(nodes)
    notes = []
    for name, node in list(nodes.items()):
        if not isinstance(node, ir.Input):
            continue
        succs = [b for a, b in edges if a == name and b in nodes]  # a dangling edge is the Graph's to report
        shape = node.shape
        while len(shape) > 1 and shape[0] == 1 and succs:
            if any(_fits(nodes[s], s, shape) for s in succs) or not all(_fits(nodes[s], s, shape[1:]) for s in succs):
                break
            shape = shape[1:]
        if shape != node.shape:
            nodes[name] = ir.Input(shape=shape)
            notes.append(f"Input '{name}': written shape {list(node.shape)} has a leading batch dim of size 1; "
                         f"read as {list(shape)}")
    return nodes, notes


def relax_output_batch_dims(nodes: dict[str, ir.Node]) -> tuple[dict[str, ir.Node], dict[str, tuple[int, ...]]]:
    """Outputs whose written shape starts with a 1 (and has >= 2 dims) get their shape from the graph instead;
    the written shapes are returned so :func:`check_output_shapes` can compare them afterwards."""
    nodes = dict(nodes)
    written = {}
    for name, node in nodes.items():
        if isinstance(node, ir.Output) and node.shape is not None and len(node.shape) > 1 and node.shape[0] == 1:
            written[name] = node.shape
            nodes[name] = ir.Output()
    return nodes, written


def check_output_shapes(
    shapes: Any, written: dict[str, tuple[int, ...]], preds: dict[str, str]
) -> list[str]:
    """Each relaxed Output's written shape must be the inferred one, or it with leading 1s (a batch dim)."""
    notes = []
    for name, stated in written.items():
        got = tuple(shapes[name])
        extra = len(stated) - len(got)
        if stated == got:
            continue
        if extra > 0 and stated[extra:] == got and all(s == 1 for s in stated[:extra]):
            notes.append(f"Output '{name}': written shape {list(stated)} has a leading batch dim of size 1; "
                         f"read as {list(got)}")
            continue
        raise GraphError(f"node '{name}' (Output): input shape {got} from '{preds[name]}' does not match "
                         f"expected {stated}")
    return notes


def _reshaped(node: ir.NeuronNode, shape: tuple[int, ...], drop_batch: bool) -> ir.NeuronNode:
    """``node`` with neuron shape ``shape``: a leading batch dim of 1 dropped from every parameter, or size-1
    parameters broadcast (the node's constructor does that)."""
    arrays = (*node.ARRAYS, "v_init", *(("v_min",) if node.v_min is not None else ()))
    params = {k: np.asarray(getattr(node, k))[0] if drop_batch else np.asarray(getattr(node, k)).reshape(-1)[0]
              for k in arrays}
    return dataclasses.replace(node, shape=shape, **params)  # type: ignore[call-arg]


def fit_neuron_shapes(nodes: dict[str, ir.Node], edges: list[Edge]) -> tuple[dict[str, ir.Node], list[str]]:
    """Neurons whose written shape disagrees with their input's in one of two unambiguous ways take the input's:
    shape () or all ones (0-d / (1,) parameters: lava-dl's netx, mixed scalars) is broadcast, and a leading
    batch dim of 1 (old Sinabs files write ``[1, N]``) is dropped. Shapes are propagated from the Inputs along
    edges until nothing changes; anything else is left for the Graph to report."""
    if not any(isinstance(n, ir.NeuronNode) and (n.shape == () or n.shape[0] == 1) for n in nodes.values()):
        return nodes, []
    nodes = dict(nodes)
    notes = []
    shapes = {n: nd.shape for n, nd in nodes.items() if isinstance(nd, ir.Input)}
    changed = True
    while changed:
        changed = False
        for name, node in nodes.items():
            if name in shapes:
                continue
            known = [shapes[a] for a, b in edges if b == name and a in shapes]
            if not known:
                continue
            want = known[0]
            if isinstance(node, ir.NeuronNode) and node.shape != want and want != ():
                if all(d == 1 for d in node.shape):
                    node = _reshaped(node, want, drop_batch=False)
                elif len(node.shape) == len(want) + 1 and node.shape[1:] == want:
                    notes.append(f"node '{name}' ({node.type_name}): written parameters of shape "
                                 f"{list(node.shape)} have a leading batch dim of size 1; read as {list(want)}")
                    node = _reshaped(node, want, drop_batch=True)
                nodes[name] = node
            try:
                shapes[name] = node.output_shape(name, want)
            except GraphError:
                shapes[name] = want  # the Graph reports the mismatch with full context
            changed = True
    return nodes, notes


def imply_input_identities(nodes: dict[str, ir.Node], edges: list[Edge]) -> tuple[dict[str, ir.Node], list[Edge]]:
    """An Input feeding a neuron directly (no weight layer) gets an identity weight layer ``<neuron>.identity``
    in between: the quantiser folds each neuron's scale into its incoming weights, and NIR allows the edge
    (a Linear eye(N) for a vector, a depthwise 1x1 Conv for (C, L) and (C, H, W)). Spikes are unchanged."""
    nodes = dict(nodes)
    for a, b in list(edges):
        src, dst = nodes.get(a), nodes.get(b)
        if not (isinstance(src, ir.Input) and isinstance(dst, ir.NeuronNode)) or src.shape != dst.shape:
            continue
        name = f"{b}.identity"
        if name in nodes:
            raise GraphError(f"node '{b}': cannot insert its identity weight layer, name '{name}' is taken")
        shape = src.shape
        if len(shape) == 1:
            layer: ir.Node = ir.Linear(weight=np.eye(shape[0], dtype=np.float32))
        elif len(shape) in (2, 3):
            c = shape[0]
            weight = np.ones((c, 1, *(1,) * (len(shape) - 1)), np.float32)
            bias = np.zeros(c, np.float32)
            layer = (ir.Conv1d(weight=weight, bias=bias, groups=c) if len(shape) == 2
                     else ir.Conv2d(weight=weight, bias=bias, groups=c))
        else:
            continue  # the quantiser names the edge it cannot fold
        nodes[name] = layer
        edges = [e for e in edges if e != (a, b)] + [(a, name), (name, b)]
    return nodes, edges


def flatten_hint(nodes: dict[str, ir.Node], edges: list[Edge]) -> str:
    """A hint for a shape error near a Flatten written with the batch axis counted (start_dim >= 1, or an
    input_type with a leading 1: ``Flatten(start_dim=1)`` of ``[B, C, H, W]`` as snnTorch/Sinabs models
    write it); "" when no Flatten looks like that."""
    for name, node in nodes.items():
        if not isinstance(node, ir.Flatten):
            continue
        shape = node.input_shape
        batch_in_type = shape is not None and len(shape) >= 2 and shape[0] == 1
        if node.start_dim >= 1 or batch_in_type:
            said = f"start_dim={node.start_dim}, end_dim={node.end_dim}"
            if shape is not None:
                said += f", input_type {list(shape)}"
            return (f" (hint: Flatten '{name}' is written with {said}; an exporter that counted the batch axis "
                    "means start_dim-1 (and end_dim-1 when >= 0) over the per-sample shape; NIR dims exclude the "
                    "batch, so fix the exporter's Flatten or the file)")
    return ""


def insert_output_delays(nodes: dict[str, ir.Node], edges: list[Edge], names: list[str]) -> tuple[
    dict[str, ir.Node], list[Edge]
]:
    """A ``Delay`` of one step after each named neuron, ``<name>.out_delay``: the neuron's successors see its
    spikes one step late (Spyx emits s[t] = H(V[t-1] - theta))."""
    nodes = dict(nodes)
    for name in names:
        neuron = nodes[name]
        assert isinstance(neuron, ir.NeuronNode)
        delay = f"{name}.out_delay"
        if delay in nodes:
            raise GraphError(f"node '{name}': cannot insert output delay, name '{delay}' is taken")
        nodes[delay] = ir.Delay(delay=np.ones(neuron.shape, np.int64))
        edges = [(delay if a == name else a, b) for a, b in edges] + [(name, delay)]
    return nodes, edges


def move_affine_bias_into(nodes: dict[str, ir.Node], edges: list[Edge], types: set[str]) -> dict[str, ir.Node]:
    """An Affine whose only successor is a neuron named in ``types`` becomes a Linear, its bias added to the
    neuron's bias (v every step): lava-dl's netx/nir.py writes a netx layer's neuron bias (netx: bias_mant at
    bias_exp 6, the units of the weights) as the bias of the Affine in front of the CubaLIF."""
    nodes = dict(nodes)
    for name in types:
        neuron = nodes[name]
        preds = [a for a, b in edges if b == name]
        if len(preds) != 1 or not isinstance(syn := nodes[preds[0]], ir.Affine):
            continue
        if [b for a, b in edges if a == preds[0]] != [name] or not isinstance(neuron, ir.CubaLIF):
            continue
        dtype = np.result_type(neuron.bias, syn.bias)
        bias = (np.broadcast_to(neuron.bias, neuron.shape) + syn.bias.reshape(neuron.shape)).astype(dtype)
        nodes[name] = dataclasses.replace(neuron, bias=bias)
        nodes[preds[0]] = ir.Linear(weight=syn.weight)
    return nodes
