"""A QGraph as Loihi sees it: compartment populations, host spike sources and projections.

Lowering is a dict ``LOWER[node type] -> function``; a node type without an entry raises UnsupportedNodeError
naming the node and the backend. The field rules of :mod:`.rules` run on every neuron and weight layer.

* ``Input``            -> a host population (spikes arrive from the host, on no core)
* ``QNeuron`` CubaLIF  -> a compartment population with its :class:`~.registers.NeuronRegisters`
* ``QDense``           -> synapses W[post, pre] != 0
* ``QConv1d/QConv2d``  -> sparse synapses: every (kernel tap, output position) inside the input (zero padding
                          synapses are dropped), flat C-order indices on both sides
* ``Flatten``, ``Output``, identity ``QScale`` (weight 1, shift 0, bias 0) -> pass-through (no hardware)

A *projection* is one weight layer W feeding one population N: its synapses, its ``weight_exp`` (the layer's
shift) and its *taps*, the populations whose spikes W sums. A recurrent edge on the way from a source to W
delays that tap by one step (``lag``, an axon delay); one between W and N adds one step to the projection's
``delay`` (1 = Lava's Dense delay; 2 = one extra synaptic delay). So, per step t and neuron n of N::

    acc_W[t]  = sum over taps (S, lag) and synapses j->n of  w[n, j] * s_S[j, t - lag]
    out_W[t]  = acc_W[t] << weight_exp  (floor shift when negative)            (W's trace, as in bitsim)
    a_in_N[t] = sum over projections into N of  out_W[t - delay]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Flatten, Input, Node, Output
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, QWeightNode

from .registers import INPUT_SHIFT, NeuronRegisters, num_weight_bits, sign_mode_of, split_bias
from .rules import check_fields

BACKEND_NAME = "loihi"


@dataclass(frozen=True)
class Population:
    """Neurons of one node, flat C order. registers None: an Input node (host spike source, no core)."""

    name: str
    shape: tuple[int, ...]
    registers: NeuronRegisters | None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_input(self) -> bool:
        return self.registers is None


@dataclass(frozen=True)
class Tap:
    """One population whose spikes a projection sums; ``lag`` steps of axon delay (recurrent edges)."""

    source: str
    lag: int


@dataclass(frozen=True)
class Projection:
    """Weight layer ``weights`` into population ``target``; synapses int64 [nnz] sorted by (post, pre)."""

    name: str
    weights: str
    target: str
    taps: tuple[Tap, ...]
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    weight_exp: int
    delay: int
    sign_mode: str
    num_weight_bits: int
    out_shape: tuple[int, ...]


@dataclass(frozen=True)
class TraceNode:
    """A QGraph node for the trace: kind input | neuron | weights | pass; inputs (predecessor, recurrent)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    inputs: tuple[tuple[str, bool], ...]


@dataclass(frozen=True)
class Netlist:
    populations: Mapping[str, Population]
    projections: tuple[Projection, ...]
    nodes: tuple[TraceNode, ...]

    @property
    def layers(self) -> list[str]:
        """Compartment populations (those placed on cores), in graph order."""
        return [n for n, p in self.populations.items() if not p.is_input]


# -- per-node lowering ------------------------------------------------------------------------------------------------

Part = dict[str, Any]


def lower_input(name: str, node: Node, qgraph: QGraph) -> Part:
    return {"kind": "input", "population": Population(name, qgraph.shapes[name], None)}


def neuron_registers(node: QNeuron) -> NeuronRegisters:
    """The registers of a QNeuron that passed the field rules (flat arrays)."""
    flat = {q: np.broadcast_to(getattr(node, q), node.shape).reshape(-1).astype(np.int64)
            for q in ("alpha", "beta", "threshold", "bias", "i_init", "v_init")}
    mant, exp, _ = split_bias(flat["bias"])
    return NeuronRegisters(du=4095 - flat["alpha"], dv=4096 - flat["beta"], vth=flat["threshold"] >> INPUT_SHIFT,
                           bias_mant=mant, bias_exp=exp, u0=flat["i_init"], v0=flat["v_init"])


def lower_neuron(name: str, node: Node, qgraph: QGraph) -> Part:
    assert isinstance(node, QNeuron)
    check_fields(name, node)
    return {"kind": "neuron", "population": Population(name, qgraph.shapes[name], neuron_registers(node))}


def dense_synapses(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pre, post, w) of the nonzero entries of weight[post, pre], sorted by (post, pre), int64.

    One boolean mask (1 byte per entry) serves the positions, the row counts and the values; pre is computed in
    the positions' own buffer (no matrix-sized int64 temporaries beyond the three results and one product)."""
    mask = weight.reshape(-1) != 0
    pre = np.flatnonzero(mask).astype(np.int64, copy=False)  # flat positions, made into pre in place below
    counts = np.add.reduce(mask.reshape(weight.shape), axis=1, dtype=np.int64)
    post = np.repeat(np.arange(weight.shape[0], dtype=np.int64), counts)
    np.subtract(pre, post * weight.shape[1], out=pre)
    return pre, post, weight.reshape(-1)[mask].astype(np.int64, copy=False)


def conv_synapses(weight: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                  stride: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...], groups: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pre, post, w) of a 1-d / 2-d convolution as sparse synapses (flat C-order indices, zero taps dropped)."""
    nd = weight.ndim - 2
    c_out, c_in_g = weight.shape[:2]
    taps = np.argwhere(weight != 0)  # [K, 2 + nd]: out channel, in channel within group, kernel offsets
    co = taps[:, 0]
    ci = (co // (c_out // groups)) * c_in_g + taps[:, 1]
    vals = weight[tuple(taps.T)].astype(np.int64)
    pos = np.indices(out_shape[1:]).reshape(nd, -1).T  # [P, nd] output positions
    inp = (pos[None] * np.array(stride) - np.array(padding)) + taps[:, None, 2:] * np.array(dilation)  # [K, P, nd]
    valid = ((inp >= 0) & (inp < np.array(in_shape[1:]))).all(axis=2)
    k_idx, p_idx = np.nonzero(valid)
    pre = np.ravel_multi_index((ci[k_idx], *inp[k_idx, p_idx].T), in_shape)
    post = np.ravel_multi_index((co[k_idx], *pos[p_idx].T), out_shape)
    return pre.astype(np.int64), post.astype(np.int64), vals[k_idx]


def lower_weights(name: str, node: Node, qgraph: QGraph) -> Part:
    assert isinstance(node, QWeightNode)
    check_fields(name, node)
    w = np.asarray(node.weight, np.int64)
    if isinstance(node, QDense):
        syn = dense_synapses(w)
    elif isinstance(node, QConv1d):
        syn = conv_synapses(w, qgraph.input_shape(name), qgraph.shapes[name], (node.stride,), (node.padding,),
                            (node.dilation,), node.groups)
    else:
        assert isinstance(node, QConv2d)
        syn = conv_synapses(w, qgraph.input_shape(name), qgraph.shapes[name], node.stride, node.padding,
                            node.dilation, node.groups)
    if not isinstance(node, QDense):  # np.nonzero already lists a dense matrix's synapses by (post, pre)
        order = np.lexsort((syn[0], syn[1]))
        syn = (syn[0][order], syn[1][order], syn[2][order])
    return {"kind": "weights", "synapses": syn, "weight_exp": int(node.shift),
            "sign_mode": sign_mode_of(w), "num_weight_bits": num_weight_bits(w)}


def lower_pass(name: str, node: Node, qgraph: QGraph) -> Part:
    if isinstance(node, QScale) and not (np.all(node.weight == 1) and node.shift == 0 and np.all(node.bias == 0)):
        raise UnsupportedNodeError(
            f"node '{name}' (QScale): backend '{BACKEND_NAME}' passes only identity scales (weight 1, shift 0, "
            "bias 0) through; fold the factor into the weights before it"
        )
    return {"kind": "pass"}


LOWER: dict[type, Callable[[str, Node, QGraph], Part]] = {
    Input: lower_input, QNeuron: lower_neuron, QDense: lower_weights, QConv1d: lower_weights,
    QConv2d: lower_weights, Flatten: lower_pass, Output: lower_pass, QScale: lower_pass,
}


# -- connecting -------------------------------------------------------------------------------------------------------

def _chains_back(qgraph: QGraph, parts: Mapping[str, Part], name: str) -> list[tuple[str, int]]:
    """(origin, recurrent edges on the way) for every path into ``name`` through pass-through nodes."""
    out: list[tuple[str, int]] = []
    for pred in qgraph.predecessors(name):
        rec = int((pred, name) in qgraph.recurrent_edges)
        if parts[pred]["kind"] == "pass":
            out.extend((origin, r + rec) for origin, r in _chains_back(qgraph, parts, pred))
        else:
            out.append((pred, rec))
    return out


def _kind(qgraph: QGraph, name: str) -> str:
    node = qgraph.nodes[name]
    return f"QNeuron {node.kind}" if isinstance(node, QNeuron) else node.type_name


def _projections_into(qgraph: QGraph, parts: Mapping[str, Part], target: str) -> list[Projection]:
    projections: list[Projection] = []
    seen: set[str] = set()
    for weights, delay_rec in _chains_back(qgraph, parts, target):
        if parts[weights]["kind"] != "weights":
            raise UnsupportedNodeError(
                f"node '{target}' is fed by '{weights}' ({_kind(qgraph, weights)}) without a weight layer; on "
                f"backend '{BACKEND_NAME}' every neuron input passes through Dense or Conv synapses"
            )
        if weights in seen:
            raise UnsupportedNodeError(
                f"node '{weights}' reaches '{target}' along two paths; backend '{BACKEND_NAME}' needs one"
            )
        seen.add(weights)
        taps = []
        for source, lag in _chains_back(qgraph, parts, weights):
            if parts[source]["kind"] not in ("input", "neuron"):
                raise UnsupportedNodeError(
                    f"node '{weights}' is fed by '{source}' ({_kind(qgraph, source)}); on backend '{BACKEND_NAME}' "
                    "a weight layer reads spikes of an Input or a neuron"
                )
            taps.append(Tap(source, lag))
        part = parts[weights]
        pre, post, w = part["synapses"]
        projections.append(Projection(
            name=f"{weights}->{target}", weights=weights, target=target, taps=tuple(taps), pre=pre, post=post,
            weight=w, weight_exp=part["weight_exp"], delay=1 + delay_rec, sign_mode=part["sign_mode"],
            num_weight_bits=part["num_weight_bits"], out_shape=qgraph.shapes[weights],
        ))
    return projections


def lower(qgraph: QGraph) -> Netlist:
    """The netlist of ``qgraph``; UnsupportedNodeError / QuantizationError name what Loihi cannot hold."""
    parts: dict[str, Part] = {}
    for name in qgraph.order:
        node = qgraph.nodes[name]
        fn = LOWER.get(type(node))
        if fn is None:
            known = ", ".join(sorted(t.__name__ for t in LOWER))
            raise UnsupportedNodeError(
                f"node '{name}' ({node.type_name}): backend '{BACKEND_NAME}' has no lowering for it (supported: "
                f"{known})"
            )
        parts[name] = fn(name, node, qgraph)
    populations = {n: parts[n]["population"] for n in qgraph.nodes if "population" in parts[n]}
    projections = [p for n in qgraph.nodes if parts[n]["kind"] == "neuron" for p in _projections_into(qgraph, parts, n)]
    fed = {p.weights for p in projections}
    for name, part in parts.items():
        if part["kind"] == "weights" and name not in fed:
            raise UnsupportedNodeError(
                f"node '{name}' ({_kind(qgraph, name)}) feeds no neuron; backend '{BACKEND_NAME}' computes synapses "
                "into compartments only"
            )
    nodes = tuple(
        TraceNode(n, parts[n]["kind"], tuple(qgraph.shapes[n]),
                  tuple((p, (p, n) in qgraph.recurrent_edges) for p in qgraph.predecessors(n)))
        for n in qgraph.order
    )
    return Netlist(MappingProxyType(populations), tuple(projections), nodes)
