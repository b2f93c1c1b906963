"""What the RTL is made of: a QGraph read as layers of the layer engine, with every width proven.

A *layer* is a non-Threshold QNeuron whose summed input comes from one or more QDense
*edges*, each reading a spike *source* (an Input or a spiking QNeuron, binary or multi-spike, through
any Flatten). An edge is *delayed* when a recurrent edge lies on its path (it reads the
source's previous step). Each source that feeds an edge gets an event queue.

Weights of every edge with a non-negative shift are stored as ``W << shift`` and share one
exact accumulator (``shift(Wx + b) = (W << s)x + (b << s)``); a single edge may also have a
negative shift, applied after the sum (``RSH``). Everything else is refused by name before
anything is written.

Widths come from the one range analysis of the QGraph (:mod:`snncompile.quant.ranges`):
the accumulator, the neuron input x, the v/i registers as stored, and the neuron
datapath width W, which holds every intermediate of the integer step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Flatten, Input, Node, Output
from snncompile.quant.limits import check_int64, neuron_bounds
from snncompile.quant.qnodes import CUBA_KINDS, QDense, QGraph, QNeuron
from snncompile.quant.ranges import Interval, analyse, neuron_states, row_sums, summed_input

BACKEND = "rtl"
SUPPORTED = "Input, Output, Flatten, QDense, QNeuron (LIF, CubaLIF, IF, I, LI, CubaLI)"
#: the largest multi-spike cap the comparator chain of snn_neuron is generated for
MAX_CAP = 15
#: the widest neuron datapath we generate (every intermediate of the step must fit)
MAX_DATAPATH = 64


def refuse(name: str, node: Node, what: str) -> UnsupportedNodeError:
    return UnsupportedNodeError(f"{BACKEND}: node '{name}' ({type(node).__name__}): {what}")


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's-complement type holding [lo, hi] (at least 2)."""
    return max(2, int(max(-lo - 1, hi, 0)).bit_length() + 1)


@dataclass(frozen=True)
class Edge:
    dense: str
    source: str
    delayed: bool
    shift: int
    weight: np.ndarray  # int64 [N, M], pre-shifted when shift >= 0
    base: int = 0  # first word of this edge in the layer's weight memory


@dataclass(frozen=True)
class Layer:
    name: str
    node: QNeuron
    index: int
    n: int
    lanes: int
    edges: tuple[Edge, ...]
    rsh: int
    xbias: np.ndarray  # int64 [N]: sum of the edges' (pre-shifted) biases
    w_bits: int
    acc_bits: int
    x_bits: int
    v_bits: int  # stored width of v (holds every value the register takes)
    i_bits: int
    s_bits: int
    datapath: int
    feeds: bool  # its spikes feed an edge: it owns an event queue

    @property
    def groups(self) -> int:
        return -(-self.n // self.lanes)

    @property
    def spiking(self) -> bool:
        return self.node.SPIKING

    @property
    def cuba(self) -> bool:
        return self.node.kind in CUBA_KINDS


@dataclass(frozen=True)
class Source:
    """A spike source with an event queue: an Input (offset in the input address space) or a layer."""

    name: str
    n: int
    offset: int  # Inputs only
    count_bits: int = 1  # width of an event's spike count (multi-spike layers)


@dataclass(frozen=True)
class Port:
    """An Output node: the layer it reads and its offset in the output address space."""

    name: str
    layer: str
    n: int
    offset: int
    bits: int  # width of a value (spike count or readout v)


@dataclass(frozen=True)
class Plan:
    graph: QGraph
    layers: tuple[Layer, ...]
    sources: tuple[Source, ...]
    ports: tuple[Port, ...]
    lanes: int

    @property
    def n_in(self) -> int:
        return sum(s.n for s in self.sources if s.name in self.graph.inputs)

    @property
    def n_out(self) -> int:
        return sum(p.n for p in self.ports)

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)


def _size(graph: QGraph, name: str) -> int:
    return int(np.prod(graph.shapes[name], dtype=np.int64))


def _through_flatten(graph: QGraph, name: str) -> tuple[str, int]:
    """The first non-Flatten node upstream of ``name`` and the number of recurrent edges on the way."""
    delays = 0
    while isinstance(graph.nodes[name], Flatten):
        (pred,) = graph.predecessors(name)
        delays += (pred, name) in graph.recurrent_edges
        name = pred
    return name, delays


def _check_types(graph: QGraph) -> None:
    for name in graph.order:
        node = graph.nodes[name]
        if not isinstance(node, (Input, Output, Flatten, QDense, QNeuron)):
            raise refuse(name, node, f"not supported by the rtl target (it takes {SUPPORTED}); "
                         "use --target hls or onnx for this graph")
        if isinstance(node, QNeuron) and node.kind == "Threshold":
            raise refuse(name, node, "a stateless Threshold neuron is not supported by the rtl target")
        if isinstance(node, (Flatten, QDense)) and len(graph.predecessors(name)) != 1:
            raise refuse(name, node, f"reads {len(graph.predecessors(name))} nodes; the rtl target needs exactly one")


def _edge(graph: QGraph, layer: str, pred: str) -> Edge:
    dense_name, hops = _through_flatten(graph, pred)
    hops += (pred, layer) in graph.recurrent_edges
    dense = graph.nodes[dense_name]
    if not isinstance(dense, QDense):
        raise refuse(layer, graph.nodes[layer], f"its input '{dense_name}' ({type(dense).__name__}) is not a QDense; "
                     "the rtl layer engine takes neuron inputs from weight layers only")
    consumers = graph.successors(dense_name)
    if len(consumers) != 1:
        raise refuse(dense_name, dense, f"feeds {len(consumers)} nodes; the rtl target needs exactly one neuron layer")
    (src_pred,) = graph.predecessors(dense_name)
    source, more = _through_flatten(graph, src_pred)
    hops += more + ((src_pred, dense_name) in graph.recurrent_edges)
    src = graph.nodes[source]
    if isinstance(src, QNeuron):
        if not src.SPIKING:
            raise refuse(dense_name, dense, f"reads the non-spiking readout '{source}'; the rtl event queues carry "
                         "spike events (addresses and counts), not membrane values")
    elif not isinstance(src, Input):
        raise refuse(dense_name, dense, f"reads '{source}' ({type(src).__name__}), not a spike source")
    if hops > 1:
        raise refuse(dense_name, dense, f"lies on {hops} recurrent edges (a delay of {hops} steps); "
                     "the rtl event queues hold one previous step")
    w = dense.weight.astype(np.int64)
    shift = int(dense.shift)
    if shift > 0:
        w = w << shift
    return Edge(dense_name, source, bool(hops), shift, w)


def _datapath_bits(node: QNeuron, x: Interval) -> int:
    """Bits that hold every intermediate of snn_neuron for this node: the core's bounds of the integer step
    (the same numbers every backend's int64 limit uses), plus the rounding bump and a sign bit of margin."""
    bounds = neuron_bounds(node, x)
    return (max(bounds.values()) + (1 << (node.frac_bits + 1))).bit_length() + 2


def build_plan(graph: QGraph, *, lanes: int = 8) -> Plan:
    """Read ``graph`` as layers of the layer engine; UnsupportedNodeError names what cannot be built."""
    _check_types(graph)
    ranges = analyse(graph)
    check_int64(graph, ranges, BACKEND)
    neurons = [n for n in graph.order if isinstance(graph.nodes[n], QNeuron)]
    fed: set[str] = set()
    layers: list[Layer] = []
    for index, name in enumerate(neurons):
        node = graph.nodes[name]
        assert isinstance(node, QNeuron)
        preds = graph.predecessors(name)
        if not preds:
            raise refuse(name, node, "has no input")
        edges = [_edge(graph, name, p) for p in preds]
        if len(edges) > 1 and any(e.shift < 0 for e in edges):
            raise refuse(name, node, "sums several weight layers, one with a negative shift; the rtl accumulator "
                         "adds pre-shifted weights and can apply a right shift only to a single weight layer")
        if node.semantics.spikes == "multi" and node.semantics.spike_cap > MAX_CAP:
            raise refuse(name, node, f"spike_cap {node.semantics.spike_cap} exceeds the rtl limit {MAX_CAP}")
        fed.update(e.source for e in edges)
        n = _size(graph, name)
        rsh = -edges[0].shift if edges[0].shift < 0 else 0
        xbias = np.zeros(n, np.int64)
        base = 0
        placed = []
        groups = -(-n // lanes)
        for e in edges:
            dense = graph.nodes[e.dense]
            assert isinstance(dense, QDense)
            b = np.broadcast_to(dense.bias, (n,)).astype(np.int64)
            xbias += b << e.shift if e.shift > 0 else b
            placed.append(Edge(e.dense, e.source, e.delayed, e.shift, e.weight, base))
            base += e.weight.shape[1] * groups
        # every partial sum of the accumulator: each source sends at most its largest output per input per step
        pos = sum(row_sums(e.weight)[0] * ranges[e.source][1] for e in edges)
        neg = sum(row_sums(e.weight)[1] * ranges[e.source][1] for e in edges)
        acc = (int(np.min(neg)), int(np.max(pos)))
        w_lo = min(int(e.weight.min(initial=0)) for e in edges)
        w_hi = max(int(e.weight.max(initial=0)) for e in edges)
        xr = summed_input(graph, name, ranges)
        raw = (acc[0] + int(xbias.min()), acc[1] + int(xbias.max()))
        states = neuron_states(node, xr)
        v_lo, v_hi = states["v"]
        i_lo, i_hi = states.get("i", (0, 0))
        cap = node.semantics.spike_cap if node.semantics.spikes == "multi" else 1
        x_bits = max(signed_bits(*raw), signed_bits(*xr))
        datapath = max(_datapath_bits(node, xr), x_bits + 2, signed_bits(*raw) + 2)
        if datapath > MAX_DATAPATH:
            raise refuse(name, node, f"its neuron step needs a {datapath}-bit datapath (limit {MAX_DATAPATH})")
        layers.append(Layer(
            name=name, node=node, index=index, n=n, lanes=lanes, edges=tuple(placed), rsh=rsh, xbias=xbias,
            w_bits=signed_bits(w_lo, w_hi), acc_bits=signed_bits(*acc) + 1, x_bits=x_bits,
            v_bits=signed_bits(v_lo, v_hi), i_bits=signed_bits(i_lo, i_hi), s_bits=max(1, cap.bit_length()),
            datapath=datapath, feeds=False,
        ))
    layers = [Layer(**{**lay.__dict__, "feeds": lay.name in fed}) for lay in layers]
    sources: list[Source] = []
    offset = 0
    for name in graph.inputs:
        sources.append(Source(name, _size(graph, name), offset))
        offset += _size(graph, name)
    sources += [Source(lay.name, lay.n, 0, lay.s_bits) for lay in layers if lay.feeds]
    ports: list[Port] = []
    offset = 0
    by_name = {lay.name: lay for lay in layers}
    for name in graph.outputs:
        (pred,) = graph.predecessors(name) or (None,)
        src, _ = _through_flatten(graph, pred) if pred else (None, 0)
        if src not in by_name or (pred, name) in graph.recurrent_edges:
            raise refuse(name, graph.nodes[name], "the rtl target streams Output nodes that read one neuron layer")
        lay = by_name[src]
        bits = lay.s_bits + 1 if lay.spiking else lay.v_bits
        ports.append(Port(name, src, lay.n, offset, bits))
        offset += lay.n
    if not ports:
        raise UnsupportedNodeError(f"{BACKEND}: the graph has no Output node reading a neuron layer")
    return Plan(graph, tuple(layers), tuple(sources), tuple(ports), lanes)
