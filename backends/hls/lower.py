"""Lowering a QGraph to C: the shared bookkeeping; the per-node-type emitters are in :mod:`.layers`.

A :class:`Lowering` holds what the emitters produce: constant data (weights.h),
static buffers and registers, reset code, one layer function per node, and the
trace table (every value bitsim records, in bitsim's order). Every buffer is a
flat 1-D array typed by its proven value range: the core's one range analysis
(:mod:`snncompile.quant.ranges`), whose int64 limits (:mod:`snncompile.quant.limits`)
:func:`check_graph` applies before anything is lowered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from snncompile.backends.bitsim.neuron import IntNeuronState
from snncompile.backends.bitsim.plain import initial_outputs

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Input, Node
from snncompile.quant.limits import check_int64
from snncompile.quant.qnodes import CUBA_KINDS, QGraph, QNeuron
from snncompile.quant.ranges import Ranges, value_ranges

from .cwrite import U8, Code, CType, c_array, ctype_for, data_type_for

#: constant arrays of at least this many values are also written as raw bytes (weights.bin) that gcc links
#: with ``.incbin`` instead of parsing their C initialiser (which costs ~2 s of gcc per million values)
BLOB_MIN = 1 << 16


@dataclass(frozen=True)
class Operand:
    """A flat C array read by a layer: its name, proven range and length."""

    buf: str
    lo: int
    hi: int
    size: int
    ctype: CType

    def at(self, idx: str) -> str:
        return f"{self.buf}[{idx}]"

    @property
    def binary(self) -> bool:
        """Values are 0/1 spikes: a weight layer accumulates instead of multiplying."""
        return self.lo >= 0 and self.hi <= 1

    @property
    def events(self) -> bool:
        """Values are non-negative event counts: a spike-sparse loop is worth it."""
        return self.lo >= 0


@dataclass(frozen=True)
class Trace:
    """One recorded value of bitsim's traces, and the C array that holds it after each step."""

    node: str
    key: str
    shape: tuple[int, ...]
    buf: str
    ctype: CType

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Memory:
    """One array of the design, for the estimate: kind is weight | param | state | buffer."""

    node: str
    array: str
    kind: str
    elements: int
    bits: int


@dataclass(frozen=True)
class Param:
    """A constant: scalar when every element is equal, else an array in weights.h."""

    name: str
    ctype: CType
    scalar: bool

    def at(self, idx: str) -> str:
        return self.name if self.scalar else f"{self.name}[{idx}]"


@dataclass
class Lowering:
    graph: QGraph
    sparse: bool
    unroll: int
    ranges: Ranges  # of :func:`check_graph`
    initial: dict[str, np.ndarray] = field(init=False)
    cid: dict[str, str] = field(init=False)
    labels: dict[str, str] = field(init=False)  # node name -> its bounded name in the C and the .bin files
    outputs: dict[str, Operand] = field(default_factory=dict)
    prev: dict[str, Operand] = field(default_factory=dict)
    prev_init: dict[str, Param] = field(default_factory=dict)  # what a recurrent edge carries at t = 0
    data: Code = field(default_factory=Code)
    state: Code = field(default_factory=Code)
    reset: Code = field(default_factory=Code)
    inputs: Code = field(default_factory=Code)  # copies of in[] at the start of snn_step
    layers: list[tuple[str, str, Code]] = field(default_factory=list)  # (node, C function, body)
    traces: dict[str, list[Trace]] = field(default_factory=dict)
    memory: list[Memory] = field(default_factory=list)  # arrays, for the estimate
    blobs: list[tuple[str, CType, np.ndarray]] = field(default_factory=list)  # large arrays, also in weights.bin

    def __post_init__(self) -> None:
        g = self.graph
        states = {n: IntNeuronState.fresh(nd, 1) for n, nd in g.nodes.items() if isinstance(nd, QNeuron)}
        self.initial = {k: v[0] for k, v in initial_outputs(g, states, 1).items()}
        self.cid = c_identifiers(list(g.nodes))
        self.labels = trace_labels(list(g.nodes))

    # -- declarations --------------------------------------------------------
    def buffer(self, node: str, name: str, lo: int, hi: int, size: int, *, kind: str = "buffer",
               ctype: CType | None = None) -> Operand:
        """A static array in snn.c typed for [lo, hi]; recorded for the memory estimate."""
        t = ctype or ctype_for(lo, hi)
        self.state(f"static {t.name} {name}[{size}];")
        self.memory.append(Memory(node, name, kind, size, t.bits))
        return Operand(name, lo, hi, size, t)

    def const(self, node: str, name: str, values: np.ndarray, *, kind: str = "param") -> Param:
        """A constant array in weights.h (a scalar when uniform), narrowest of int8/int16/int32."""
        arr = np.asarray(values, dtype=np.int64)
        t = data_type_for(arr)
        if arr.size and np.all(arr == arr.reshape(-1)[0]) and kind == "param":
            self.data.lines += c_array(name, t, np.asarray(arr.reshape(-1)[0]))
            return Param(name, t, True)
        if arr.size >= BLOB_MIN:  # weights_data.h (Vitis, WEIGHTS=text) or weights.bin (gcc): project.render_blobs
            self.blobs.append((name, t, arr))
        else:
            self.data.lines += c_array(name, t, arr)
        self.memory.append(Memory(node, name, kind, int(arr.size), t.bits))
        return Param(name, t, False)

    def output(self, node: str, lo: int | None = None, hi: int | None = None) -> Operand:
        """Declare ``y_<cid>``, the node's output buffer for this step."""
        r = self.ranges.out[node]
        size = int(np.prod(self.graph.shapes[node], dtype=np.int64))
        op = self.buffer(node, f"y_{self.cid[node]}", r[0] if lo is None else lo, r[1] if hi is None else hi, size)
        self.outputs[node] = op
        return op

    def record(self, node: str, key: str, op: Operand, shape: tuple[int, ...] | None = None) -> None:
        self.traces.setdefault(node, []).append(
            Trace(node, key, tuple(shape if shape is not None else self.graph.shapes[node]), op.buf, op.ctype))

    def fill(self, op: Operand, value: str) -> None:
        """Reset code: ``op[k] = value`` for every k (``value`` may use k)."""
        self.reset(f"for (k = 0; k < {op.size}; k++) {{ {op.at('k')} = ({op.ctype.name})({value}); }}")

    def layer(self, node: str, body: Code) -> None:
        self.layers.append((node, f"layer_{self.cid[node]}", body))

    def partition(self, code: Code, var: str, dim: int = 1) -> None:
        """Cyclic partitioning by the unroll factor, so that ``unroll`` lanes read in parallel."""
        if self.unroll > 1:
            code.pragma(f"ARRAY_PARTITION variable={var} type=cyclic factor={self.unroll} dim={dim}")

    def lanes(self, code: Code) -> None:
        """Pragmas of an inner loop that runs ``unroll`` lanes per clock."""
        code.pragma("PIPELINE II=1")
        if self.unroll > 1:
            code.pragma(f"UNROLL factor={self.unroll}")

    # -- the summed input of a node -------------------------------------------
    def operand(self, name: str) -> tuple[Operand, Code]:
        """The summed input of ``name`` (materialised into ``x_<cid>`` when several edges feed it)."""
        g = self.graph
        parts = [self.prev[p] if (p, name) in g.recurrent_edges else self.outputs[p] for p in g.predecessors(name)]
        if len(parts) == 1:
            return parts[0], Code()
        lo, hi = self.ranges.inp[name]
        x = self.buffer(name, f"x_{self.cid[name]}", lo, hi, parts[0].size, kind="state")
        code = Code()
        code("int k;")
        with code.block(f"for (k = 0; k < {x.size}; k++)"):
            code.pragma("PIPELINE II=1")
            code(f"{x.at('k')} = " + " + ".join(f"(int64_t){p.at('k')}" for p in parts) + ";")
        return x, code


def c_identifiers(names: list[str]) -> dict[str, str]:
    """Unique C identifiers for node names (letters, digits, '_'; never starting with a digit)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name)[:40] or "node"
        cid, k = base, 2
        while cid in used:
            cid, k = f"{base}_{k}", k + 1
        used.add(cid)
        out[name] = cid
    return out


#: longest node name (UTF-8 bytes) the trace table, golden.bin and stimuli.bin carry unchanged; the testbench reads
#: names of up to 255 bytes, and C99 guarantees string literals of 4095
MAX_LABEL_BYTES = 96


def trace_labels(names: list[str]) -> dict[str, str]:
    """Unique, bounded labels for node names in the generated C's trace table and the .bin headers.

    A name of at most MAX_LABEL_BYTES bytes is its own label; a longer one is cut (at a character
    boundary) and gets ``~`` and 12 hex digits of its SHA-256, so labels stay distinct. The full
    name stays in a C comment, in project.json and in the manifest.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        raw = name.encode("utf-8")
        label = name
        if len(raw) > MAX_LABEL_BYTES:
            head = raw[:MAX_LABEL_BYTES - 13].decode("utf-8", "ignore")
            label = f"{head}~{hashlib.sha256(raw).hexdigest()[:12]}"
        base, k = label, 2
        while label in used:
            label, k = f"{base}~{k}", k + 1
        used.add(label)
        out[name] = label
    return out


def trace_keys(node: Node) -> tuple[str, ...]:
    """bitsim's recorded keys for a node, in its order."""
    if not isinstance(node, QNeuron) or node.kind == "Threshold":
        return ("out",)
    return ("out", "i", "v") if node.kind in CUBA_KINDS else ("out", "v")


Emitter = Callable[[Lowering, str, Node, Operand], None]


def lower(graph: QGraph, emitters: dict[type, Emitter], *, sparse: bool, unroll: int) -> Lowering:
    """Run every node's emitter in execution order (after :func:`check_graph`)."""
    lw = Lowering(graph, sparse, unroll, check_graph(graph, emitters))
    for src in sorted({a for a, _ in graph.recurrent_edges}):
        lo, hi = lw.ranges.out[src]
        size = int(np.prod(graph.shapes[src], dtype=np.int64))
        lw.prev[src] = lw.buffer(src, f"yp_{lw.cid[src]}", lo, hi, size, kind="state")
        lw.prev_init[src] = lw.const(src, f"INIT_{lw.cid[src]}", lw.initial[src].reshape(-1))
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            emitters[Input](lw, name, node, Operand("in", 0, 1, 0, U8))
            continue
        x, pre = lw.operand(name)
        n_layers = len(lw.layers)
        emitters[type(node)](lw, name, node, x)
        if not pre.empty:
            if len(lw.layers) == n_layers:  # a pass-through node: its function only sums
                lw.layer(name, Code())
            lw.layers[-1][2].lines[:0] = ["{"] + ["    " + ln for ln in pre.lines] + ["}"]
    return lw


def check_graph(graph: QGraph, emitters: dict[type, Emitter]) -> Ranges:
    """Everything the C backend rejects, raised before anything is written; returns the proven ranges.

    The C types hold the ranges, and every intermediate (computed in int64_t, where an overflow
    is undefined) is proven to fit by the core's int64 limits.
    """
    if not graph.outputs:
        raise UnsupportedNodeError("hls: the graph has no Output node; the top function would have no outputs")
    for name in graph.order:
        node = graph.nodes[name]
        if type(node) not in emitters:
            raise UnsupportedNodeError(f"hls: node '{name}' ({node.type_name}): no C lowering for this node type")
        if int(np.prod(graph.shapes[name], dtype=np.int64)) == 0:
            raise UnsupportedNodeError(f"hls: node '{name}' ({node.type_name}): zero-sized shape "
                                       f"{graph.shapes[name]} (C99 has no empty arrays)")
    ranges = value_ranges(graph)
    check_int64(graph, ranges.out, "hls")
    return ranges
