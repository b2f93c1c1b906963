"""Scale folding: which weight-layer channels and neurons must share one scale (docs/quantisation.md).

Below threshold a neuron is linear. Multiplying its summed input ``x``, its threshold, v_reset, bias, v_init
and its states ``i``, ``v`` by one positive number ``s`` multiplies every later state by ``s`` and leaves every
comparison ``v > theta`` unchanged:

    i' = alpha*i' + s*x = s*i        v' = beta*v' + i' + s*b = s*v        v' > s*theta  <=>  v > theta

Spikes leave a neuron as 0/1, so a scale never crosses a spiking layer. The input ``x`` of a neuron is a sum of
weight-layer outputs, each reaching it through *transparent* nodes (Flatten, SumPool2d, AvgPool2d, Scale,
Delay), all linear. The scale is therefore folded into the weights: every weight-layer output channel feeding a
neuron is multiplied by that neuron's scale. The float gains on the way are folded into the same weights:

    AvgPool2d  -> SumPool2d, its 1/(kh*kw) goes into the weights before it (gain per channel)
    Scale      -> identity, its factor goes into the weights before it (must be one value per channel)
    on the input side of a weight layer (spikes -> Scale/AvgPool2d -> weights) the gains go into the
    weight columns (dense: per input; conv: per input channel)

:func:`plan_folding` finds, per weight layer, those gains and the *group* of each output channel, and per
neuron node the group of each neuron: all members of a group share one scale. Groups come from a union-find over
(layer, channel) and (neuron, element) units: a neuron is joined to every channel feeding it. With granularity
``"tensor"`` a neuron node and all its weight layers form one group; a non-spiking neuron (a readout) always has
one scale per node, so its integer outputs are comparable across neurons and ``QNeuron.out_scale`` is exact.
A weight layer that feeds several neurons simply joins their groups. What cannot be folded raises
:class:`~snncompile.errors.UnsupportedNodeError` naming the node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ..errors import UnsupportedNodeError
from ..graph import Graph
from ..nodes import (
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Delay,
    Flatten,
    Input,
    Linear,
    NeuronNode,
    Node,
    Output,
    Scale,
    SumPool2d,
)

TRANSPARENT = (Flatten, SumPool2d, AvgPool2d, Scale, Delay)
GAIN_TYPES = (Scale, AvgPool2d)
WEIGHT_TYPES = (Affine, Linear, Conv1d, Conv2d)
WeightNode = Affine | Linear | Conv1d | Conv2d
Chain = tuple[str, ...]


@dataclass(frozen=True)
class LayerFold:
    """How one weight layer is folded.

    groups:   int[C_out], the scale group of each output channel.
    out_gain: float[C_out], product of the Scale / AvgPool2d factors between this layer and its neurons.
    in_gain:  float[n_in] (dense) or float[C_in] (conv), the factors between the spike sources and this layer.
    neurons:  the neuron nodes it feeds (graph order).
    """

    groups: np.ndarray
    out_gain: np.ndarray
    in_gain: np.ndarray
    neurons: tuple[str, ...]

    def effective_weight(self, node: WeightNode) -> np.ndarray:
        """W * out_gain[out] * in_gain[in] in float64: the weights the scale rule sees and quantises."""
        tail = (1,) * (np.ndim(node.weight) - 1)
        # one fresh float64 buffer, multiplied in place: (W * out_gain) * in_gain, the same values and order as
        # three temporaries, whose fresh pages cost ~1 s of system time per 67 M weights here
        w = np.multiply(node.weight, self.out_gain.reshape(-1, *tail), dtype=np.float64)
        if isinstance(node, (Affine, Linear)):
            w *= self.in_gain.reshape(1, -1)
            return w
        groups = node.groups
        c_out, c_in_g = w.shape[0], w.shape[1]
        group_of_out = np.arange(c_out) // (c_out // groups)
        cols = group_of_out[:, None] * c_in_g + np.arange(c_in_g)[None, :]  # input channel of W[o, j]
        w *= self.in_gain[cols].reshape(c_out, c_in_g, *tail[1:])
        return w

    def effective_bias(self, node: WeightNode) -> np.ndarray:
        if isinstance(node, Linear):
            return np.zeros(node.weight.shape[0])
        return np.asarray(node.bias, np.float64) * self.out_gain


@dataclass(frozen=True)
class FoldPlan:
    """Scale groups of a whole graph: ``layers[name]`` per weight layer, ``neurons[name]`` = int group of each
    neuron (array of the neuron's shape), ``n_groups`` groups numbered 0..n_groups-1."""

    layers: Mapping[str, LayerFold]
    neurons: Mapping[str, np.ndarray]
    n_groups: int


def chains_into(graph: Graph, name: str, _seen: tuple[str, ...] = ()) -> list[Chain]:
    """Every chain ``(source, t1, ..., tk, name)`` where t1..tk are transparent nodes and source is not."""
    chains: list[Chain] = []
    for pred in graph.predecessors(name):
        if isinstance(graph.nodes[pred], TRANSPARENT):
            if pred in _seen:
                raise UnsupportedNodeError(
                    f"node '{pred}': a cycle through '{pred}' carries values without passing through a neuron"
                )
            chains.extend((*c, name) for c in chains_into(graph, pred, (*_seen, pred)))
        else:
            chains.append((pred, name))
    return chains


def _kind(node: Node) -> str:
    return node.type_name


def _check_readouts(graph: Graph) -> None:
    for name, node in graph.nodes.items():
        if isinstance(node, NeuronNode) and not node.SPIKING:
            bad = [s for s in graph.successors(name) if not isinstance(graph.nodes[s], Output)]
            if bad:
                raise UnsupportedNodeError(
                    f"node '{name}' ({_kind(node)}) is a non-spiking readout but feeds '{bad[0]}' "
                    f"({_kind(graph.nodes[bad[0]])}); its integer value carries the scale of its own weights, so "
                    "it may only feed Output nodes"
                )


def _channel_ids(graph: Graph, layer: str) -> np.ndarray:
    shape = graph.shapes[layer]
    ids = np.arange(shape[0]).reshape(-1, *([1] * (len(shape) - 1)))
    return np.broadcast_to(ids, shape).copy()


def _first_mismatch(ids: np.ndarray, gain: np.ndarray, n: int) -> tuple[np.ndarray, tuple[int, float, float] | None]:
    """Per-id gain vector (NaN where an id is absent) and the first id whose elements disagree, if any."""
    flat_ids, flat_g = ids.ravel(), gain.ravel()
    ref = np.full(n, np.nan)
    ref[flat_ids] = flat_g
    bad = flat_g != ref[flat_ids]
    if bad.any():
        k = int(np.argmax(bad))
        c = int(flat_ids[k])
        return ref, (c, float(ref[c]), float(flat_g[k]))
    return ref, None


def _pool_gain(graph: Graph, name: str, gain: np.ndarray, what: str) -> np.ndarray:
    """A gain array through a pooling node: it must be one value per channel; AvgPool2d adds 1/(kh*kw)."""
    node = graph.nodes[name]
    assert isinstance(node, (SumPool2d, AvgPool2d))
    if gain.ndim != 3 or not np.array_equal(gain, np.broadcast_to(gain[:, :1, :1], gain.shape)):
        raise UnsupportedNodeError(
            f"node '{name}' ({_kind(node)}) pools {what} scaled by float gains that differ within a channel; "
            "only per-channel Scale nodes can be folded into integer weights"
        )
    factor = 1.0 / (node.kernel_size[0] * node.kernel_size[1]) if isinstance(node, AvgPool2d) else 1.0
    return np.broadcast_to(gain[:, :1, :1] * factor, graph.shapes[name]).copy()


def _output_side(graph: Graph, chain: Chain) -> tuple[np.ndarray, np.ndarray]:
    """For chain (layer, t1.., neuron): channel id of the layer feeding each neuron element, and the
    per-channel float gain the transparent nodes apply (float[C_out])."""
    layer = chain[0]
    n_out = graph.shapes[layer][0]
    ids = _channel_ids(graph, layer)
    gain = np.ones(ids.shape)
    for t in chain[1:-1]:
        node = graph.nodes[t]
        if isinstance(node, Flatten):
            ids, gain = ids.reshape(graph.shapes[t]), gain.reshape(graph.shapes[t])
        elif isinstance(node, Scale):
            gain = gain * np.asarray(node.scale, np.float64)
            _, bad = _first_mismatch(ids, gain, n_out)
            if bad is not None:
                c, a, b = bad
                raise UnsupportedNodeError(
                    f"node '{t}' (Scale) multiplies output channel {c} of weight layer '{layer}' by different "
                    f"values ({a:.6g} and {b:.6g}); only a per-channel Scale can be folded into the weights"
                )
        elif isinstance(node, (SumPool2d, AvgPool2d)):
            if ids.ndim != 3 or not np.array_equal(ids, np.broadcast_to(ids[:, :1, :1], ids.shape)):
                raise UnsupportedNodeError(
                    f"node '{t}' ({_kind(node)}) pools across output channels of weight layer '{layer}'; "
                    "a scale per channel cannot be folded through it"
                )
            gain = _pool_gain(graph, t, gain, f"the output of '{layer}'")
            ids = np.broadcast_to(ids[:, :1, :1], graph.shapes[t]).copy()
        # Delay: unchanged
    per_channel, _ = _first_mismatch(ids, gain, n_out)
    return ids, np.where(np.isnan(per_channel), 1.0, per_channel)


def _input_side(graph: Graph, layer: str) -> np.ndarray:
    """The float gain between the spike sources and ``layer``: float[n_in] (dense) or float[C_in] (conv)."""
    node = graph.nodes[layer]
    found: tuple[Chain, np.ndarray] | None = None
    for chain in chains_into(graph, layer):
        src = graph.nodes[chain[0]]
        if isinstance(src, WEIGHT_TYPES):
            raise UnsupportedNodeError(
                f"node '{layer}' ({_kind(node)}) is fed by weight layer '{chain[0]}' without a neuron in between; "
                "each weight layer must read spikes (merge the two layers into one)"
            )
        if not isinstance(src, (Input, NeuronNode)):
            raise UnsupportedNodeError(f"node '{layer}' ({_kind(node)}) is fed by '{chain[0]}' ({_kind(src)})")
        gain = np.ones(graph.shapes[chain[0]])
        for t in chain[1:-1]:
            tn = graph.nodes[t]
            if isinstance(tn, Flatten):
                gain = gain.reshape(graph.shapes[t])
            elif isinstance(tn, Scale):
                gain = gain * np.asarray(tn.scale, np.float64)
            elif isinstance(tn, (SumPool2d, AvgPool2d)):
                gain = _pool_gain(graph, t, gain, f"the spikes of '{chain[0]}'")
        if found is not None and not np.array_equal(found[1], gain):
            raise UnsupportedNodeError(
                f"node '{layer}' ({_kind(node)}) sums inputs that carry different float gains (via "
                f"{' -> '.join(found[0])} and {' -> '.join(chain)}); one set of integer weights cannot fold both"
            )
        found = (chain, gain)
    assert found is not None  # a validated Graph feeds every non-Input node
    gain = found[1]
    if isinstance(node, (Affine, Linear)):
        return gain.reshape(-1)
    per_channel = gain.reshape(gain.shape[0], -1)
    if not np.array_equal(per_channel, np.broadcast_to(per_channel[:, :1], per_channel.shape)):
        raise UnsupportedNodeError(
            f"node '{layer}' ({_kind(node)}): the Scale before it differs within an input channel; only a "
            "per-channel input Scale can be folded into convolution weights"
        )
    return per_channel[:, 0].copy()


def _check_outputs(graph: Graph) -> None:
    for name, node in graph.nodes.items():
        if not isinstance(node, Output):
            continue
        for chain in chains_into(graph, name):
            src = graph.nodes[chain[0]]
            if isinstance(src, WEIGHT_TYPES):
                raise UnsupportedNodeError(
                    f"node '{chain[0]}' ({_kind(src)}) reaches Output '{name}' without a neuron; add a readout "
                    "neuron (LI) to carry the integer scale"
                )
            gains = [t for t in chain[1:-1] if isinstance(graph.nodes[t], GAIN_TYPES)]
            if gains:
                raise UnsupportedNodeError(
                    f"node '{gains[0]}' ({_kind(graph.nodes[gains[0]])}) lies between '{chain[0]}' and Output "
                    f"'{name}'; its float factor can only be folded into the weights of a following layer"
                )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        root = a
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[a] != root:
            self.parent[a], a = root, self.parent[a]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def plan_folding(graph: Graph, granularity: str) -> FoldPlan:
    """Scale groups and float gains of every weight layer and neuron; raises UnsupportedNodeError (see module)."""
    _check_readouts(graph)
    layers = [n for n, nd in graph.nodes.items() if isinstance(nd, WEIGHT_TYPES)]
    neurons = [n for n, nd in graph.nodes.items() if isinstance(nd, NeuronNode)]
    base: dict[str, int] = {}
    size = 0
    for n in (*layers, *neurons):
        base[n] = size
        size += graph.shapes[n][0] if n in layers else int(np.prod(graph.shapes[n], dtype=np.int64))
    uf = _UnionFind(size)
    out_gain: dict[str, tuple[str, np.ndarray]] = {}
    feeds: dict[str, list[str]] = {n: [] for n in layers}
    for n in neurons:
        node = graph.nodes[n]
        assert isinstance(node, NeuronNode)
        elems = base[n] + np.arange(int(np.prod(node.shape, dtype=np.int64)))
        for chain in chains_into(graph, n):
            src = graph.nodes[chain[0]]
            if not isinstance(src, WEIGHT_TYPES):
                raise UnsupportedNodeError(
                    f"node '{n}' ({_kind(node)}) is fed by {_kind(src)} '{chain[0]}' without a weight layer in "
                    "between; the quantiser folds each neuron's scale into its incoming weights, so put an "
                    "Affine/Linear (e.g. identity weights) before it"
                )
            ids, gain = _output_side(graph, chain)
            layer = chain[0]
            if layer in out_gain and not np.allclose(out_gain[layer][1], gain, rtol=1e-12, atol=0.0):
                other, prev = out_gain[layer]
                c = int(np.argmax(~np.isclose(prev, gain, rtol=1e-12, atol=0.0)))
                whom = f"neurons '{other}' and '{n}'" if other != n else f"neuron '{n}' along two paths"
                raise UnsupportedNodeError(
                    f"node '{layer}' ({_kind(src)}) feeds {whom} through different float gains (channel {c}: "
                    f"{prev[c]:.6g} vs {gain[c]:.6g}); one set of integer weights cannot carry both scales"
                )
            out_gain.setdefault(layer, (n, gain))
            if n not in feeds[layer]:
                feeds[layer].append(n)
            chans = base[layer] + ids.reshape(-1)
            for e, c in zip(elems.tolist(), chans.tolist(), strict=True):
                uf.union(e, c)
            if granularity == "tensor":
                uf.union(base[n], base[layer])
        if granularity == "tensor" or not node.SPIKING:
            for e in elems.tolist()[1:]:
                uf.union(int(elems[0]), e)
    for layer in layers:
        if not feeds[layer]:
            raise UnsupportedNodeError(
                f"node '{layer}' ({_kind(graph.nodes[layer])}) feeds no neuron; its output has no scale to carry"
            )
    if granularity == "tensor":
        for layer in layers:
            for c in range(1, graph.shapes[layer][0]):
                uf.union(base[layer], base[layer] + c)
    _check_outputs(graph)
    roots = np.array([uf.find(k) for k in range(size)], dtype=np.int64)
    _, label = np.unique(roots, return_inverse=True)
    folds = {
        layer: LayerFold(
            groups=label[base[layer]:base[layer] + graph.shapes[layer][0]],
            out_gain=out_gain[layer][1],
            in_gain=_input_side(graph, layer),
            neurons=tuple(feeds[layer]),
        )
        for layer in layers
    }
    groups = {
        n: label[base[n]:base[n] + int(np.prod(graph.shapes[n], dtype=np.int64))].reshape(graph.shapes[n])
        for n in neurons
    }
    return FoldPlan(MappingProxyType(folds), MappingProxyType(groups), int(label.max(initial=-1)) + 1)
