"""Integer value ranges of a QGraph: the one range analysis that every code-emitting backend prints from.

Used by the onnx backend (storage types, exact matmul choice), the hls backend (the C type of every
buffer, accumulator and register) and the rtl backend (register and accumulator widths); the int64
limits they all refuse beyond are proven from these ranges in :mod:`snncompile.quant.limits`.

Every node output gets a conservative interval [lo, hi] of Python ints, assuming
inputs are spikes (0 or 1, bitsim's contract). Neuron outputs are bounded by
their registers (spikes by the cap, readouts by the v register), so ranges around
recurrent edges converge in a few passes. The first pass reads every recurrent
edge as 0, so the ranges also hold each node's output on the initial state
(bitsim's value of a recurrent edge at t = 0).

Some values have no bound independent of the number of steps: a ``wrap_loihi``
register whose per-step update can exceed 2^W (Lava's single correction no longer
brings it back, so it drifts and bitsim's int64 products overflow after enough
steps), or a recurrent loop through a Delay only. They are UNBOUNDED, and
:func:`snncompile.quant.limits.check_int64` rejects them.

:func:`analyse` gives the output of every node; :func:`value_ranges` adds what a backend
stores besides: each node's summed input, each weight layer's and pool's accumulator
(every partial sum) and each neuron's registers.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import Delay, Flatten, Input, Node, Output, SumPool2d
from snncompile.quant.qnodes import CUBA_KINDS, QConv1d, QConv2d, QGraph, QNeuron, QScale, QWeightNode

Interval = tuple[int, int]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UNBOUNDED: Interval = (INT64_MIN, INT64_MAX)
SPIKE_INPUT: Interval = (0, 1)


def unbounded(iv: Interval) -> bool:
    return iv[0] <= INT64_MIN or iv[1] >= INT64_MAX


def _norm(iv: Interval) -> Interval:
    """UNBOUNDED for anything reaching beyond int64."""
    return UNBOUNDED if unbounded(iv) else iv


def union(*ivs: Interval) -> Interval:
    return min(i[0] for i in ivs), max(i[1] for i in ivs)


def magnitude(iv: Interval) -> int:
    return max(abs(iv[0]), abs(iv[1]))


def _shift(iv: Interval, shift: int) -> Interval:
    if shift >= 0:
        return iv[0] << shift, iv[1] << shift
    return iv[0] >> -shift, iv[1] >> -shift


def _clip(iv: Interval, lo: int, hi: int) -> Interval:
    return min(max(iv[0], lo), hi), max(min(iv[1], hi), lo)


def clamp_range(pre: Interval, bits: int, policy: str) -> Interval:
    """The values ``intops.clamp`` gives for inputs in ``pre``.

    ``wrap_loihi`` corrects once by 2^W (as Lava does), so an input beyond
    +-(2^(W-1) + 2^W) stays outside the register: the range follows the input.
    """
    half, full = 1 << (bits - 1), 1 << bits
    if policy == "saturate":
        return _clip(pre, -(half - 1), half - 1)
    if policy == "wrap":
        return pre if -half <= pre[0] and pre[1] <= half - 1 else (-half, half - 1)
    lo, hi = pre
    parts = []
    if hi > half:
        parts.append((max(lo, half + 1) - full, hi - full))
    if lo <= -half:
        parts.append((lo + full, min(hi, -half) + full))
    if hi > -half and lo <= half:
        parts.append((max(lo, -half + 1), min(hi, half)))
    return union(*parts)


def array_range(arr: np.ndarray) -> Interval:
    """[min, max] of a non-empty integer array."""
    return int(np.min(arr)), int(np.max(arr))


def _add(a: Interval, b: Interval) -> Interval:
    return a[0] + b[0], a[1] + b[1]


def _toward_zero(iv: Interval) -> Interval:
    """A decay by m <= 2^D moves a value toward zero (under every rounding): the range including 0."""
    return min(iv[0], 0), max(iv[1], 0)


def spike_range(node: QNeuron) -> Interval:
    return (0, node.semantics.spike_cap) if node.semantics.spikes == "multi" else (0, 1)


class Register(NamedTuple):
    """A state register: the range it holds, and the range of the values clamped into it each step."""

    state: Interval
    pre: Interval


def register_state(start: Interval, bits: int, policy: str, pre: Callable[[Interval], Interval]) -> Register:
    """The range of a state register that starts in ``start`` and is set to ``clamp(pre)`` every step.

    Saturate and wrap always land in the register. wrap_loihi lands there only when
    every pre-clamp value is within one correction of it, i.e. in
    (-2^(W-1) - 2^W, 2^(W-1) + 2^W]; otherwise the state drifts (UNBOUNDED).
    ``pre`` maps a state range to the range of the values clamped in one step.
    """
    half, full = 1 << (bits - 1), 1 << bits
    register = {"saturate": (-(half - 1), half - 1), "wrap": (-half, half - 1)}.get(policy, (-half + 1, half))
    state = union(start, register)
    lo, hi = pre(state)
    if policy == "wrap_loihi" and (lo <= -half - full or hi > half + full):
        return Register(UNBOUNDED, (lo, hi))
    return Register(state, (lo, hi))


def _corners(f: Callable[[int, int, int], int], a: Interval, b: Interval, c: Interval) -> Interval:
    """Range of a function multilinear in three interval arguments (its extremes are at the corners)."""
    vals = [f(x, y, z) for x in a for y in b for z in c]
    return min(vals), max(vals)


def neuron_states(node: QNeuron, x: Interval) -> dict[str, Interval]:
    """Ranges of the ``v`` (and ``i``) state of a neuron whose summed input lies in ``x``."""
    return {key: reg.state for key, reg in neuron_registers(node, x).items()}


def neuron_registers(node: QNeuron, x: Interval) -> dict[str, Register]:
    """The ``i`` (Cuba kinds) and ``v`` registers of a neuron whose summed input lies in ``x``."""
    sem = node.semantics
    if sem.synapse_delay == 1:
        x = union(x, (0, 0))
    xs = x[0] << node.input_shift, x[1] << node.input_shift
    out: dict[str, Register] = {}
    drive = xs
    if node.kind in CUBA_KINDS:
        if sem.synapse_order == "decay_then_add":
            def pre_i(i: Interval) -> Interval:
                return _add(_toward_zero(i), xs)
        else:
            def pre_i(i: Interval) -> Interval:
                return _toward_zero(_add(i, xs))
        out["i"] = register_state(array_range(node.i_init), node.i_bits, sem.overflow_i, pre_i)
        drive = out["i"].state
    new = _add(drive, array_range(node.bias))
    reset, theta, cap = array_range(node.v_reset), array_range(node.threshold), sem.spike_cap

    def pre_v(v: Interval) -> Interval:
        if not node.SPIKING:
            return _add(_toward_zero(v), new)
        pre = _add(_toward_zero(union(v, reset)), new)
        if sem.timing != "immediate" and sem.reset == "subtract":  # minus r*theta, r in [0, cap]
            pre = pre[0] - cap * theta[1], pre[1]
        if sem.timing == "snntorch_immediate":  # v - d*theta or v - d*(v - v_reset), |d| <= cap
            d = (-cap, cap)
            if sem.reset == "subtract":
                pre = union(pre, _corners(lambda a, b, c: a - b * c, v, d, theta))
            elif sem.reset == "zero":
                pre = union(pre, _corners(lambda a, b, c: (1 - b) * a + b * c, v, d, reset))
        return pre

    start = union(array_range(node.v_init), reset) if node.SPIKING else array_range(node.v_init)
    if node.v_min is not None:  # max(v, v_min) lies in the hull of v's range and v_min's
        start = union(start, array_range(node.v_min))
    out["v"] = register_state(start, node.v_bits, sem.overflow_v, pre_v)
    return out


_ROW_SUMS: dict[int, tuple[Any, tuple[np.ndarray, np.ndarray]]] = {}
_ANALYSED: dict[int, tuple[Any, dict[str, Interval]]] = {}


def _remember(store: dict[int, tuple[Any, Any]], obj: Any, value: Any) -> Any:
    """``value`` stored for the live object ``obj`` (by id, dropped when obj is collected)."""
    store[id(obj)] = (weakref.ref(obj), value)
    weakref.finalize(obj, store.pop, id(obj), None)
    return value


def _recalled(store: dict[int, tuple[Any, Any]], obj: Any) -> Any:
    hit = store.get(id(obj))
    return hit[1] if hit is not None and hit[0]() is obj else None


#: elements per block of rows in :func:`by_rows`: its temporaries stay this small, whatever the matrix
ROW_BLOCK_ELEMENTS = 1 << 22


def by_rows(weight: np.ndarray, per_row: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``per_row`` (a reduction of a [rows, n] block to [rows]) over ``weight`` ([out, ...] as [out, n]) in blocks of
    rows: the same values as one call on the whole matrix, with temporaries of a block instead of the matrix
    (a 0.6 G-synapse int64 layer would otherwise need 4.6 GB per temporary)."""
    w = weight.reshape(weight.shape[0], -1)
    step = max(1, ROW_BLOCK_ELEMENTS // max(1, w.shape[1]))
    if step >= w.shape[0]:
        return per_row(w)
    return np.concatenate([per_row(w[r:r + step]) for r in range(0, w.shape[0], step)])


def max_abs_weight(weight: np.ndarray) -> int:
    """max |w| over ``weight`` (0 when empty), without an |w| copy of the matrix."""
    if weight.size == 0:
        return 0
    return max(int(weight.max()), -int(weight.min()))


def row_sums(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: the sum of the positive and of the negative weights (remembered for a read-only array,
    i.e. a QGraph node's: every backend's range analysis asks for the same rows)."""
    frozen = not weight.flags.writeable
    if frozen and (hit := _recalled(_ROW_SUMS, weight)) is not None:
        return hit  # type: ignore[no-any-return]
    sums = by_rows(weight, lambda w: np.where(w > 0, w, 0).sum(axis=1)), \
        by_rows(weight, lambda w: np.where(w < 0, w, 0).sum(axis=1))
    return _remember(_ROW_SUMS, weight, sums) if frozen else sums  # type: ignore[no-any-return]


def product_range(weight: np.ndarray, x: Interval) -> Interval:
    """Range of W x over rows of ``weight`` (any shape [out, ...]) for every x in the interval."""
    pos, neg = row_sums(weight)
    lo = min(p * x[0] + n * x[1] for p, n in zip(pos.tolist(), neg.tolist(), strict=True))
    hi = max(p * x[1] + n * x[0] for p, n in zip(pos.tolist(), neg.tolist(), strict=True))
    return lo, hi


def accumulation_bound(weight: np.ndarray, x: Interval) -> int:
    """max over rows of sum_j |w_j| * max|x|: no partial sum of a row's products exceeds it."""
    pos, neg = row_sums(weight)
    return int((pos - neg).max(initial=0)) * magnitude(x)


def conv_input(x: Interval) -> Interval:
    """A convolution or pooling window may hold padding zeros."""
    return union(x, (0, 0))


def _rows(node: QWeightNode) -> list[tuple[int, int, int]]:
    """Per output row: (sum of its positive weights, sum of its negative weights, its bias); QScale: per element."""
    w = node.weight
    if isinstance(node, QScale):
        rows, bias = w.reshape(-1, 1), np.broadcast_to(node.bias, w.shape).reshape(-1)
    else:
        rows, bias = w, np.broadcast_to(node.bias, w.shape[:1])  # row_sums flattens each row (and remembers w)
    pos, neg = row_sums(rows)
    return list(zip(pos.tolist(), neg.tolist(), bias.tolist(), strict=True))


def accumulator_range(node: QWeightNode, x: Interval) -> Interval:
    """Every value a weight layer's accumulator holds before the shift, for inputs in ``x``.

    A backend starts from the bias and adds the products one by one (in any order,
    some inputs being padding zeros), so per output row r the partial sums and each
    single product lie in [lo_r + min(b_r, 0), hi_r + max(b_r, 0)], with [lo_r, hi_r]
    the range of any subset of the row's products (W x over x widened to include 0).
    QScale has one product per element: s*x and s*x + b.
    """
    xin = x if isinstance(node, QScale) else union(x, (0, 0))
    rows = _rows(node)
    return (min(p * xin[0] + n * xin[1] + min(b, 0) for p, n, b in rows),
            max(p * xin[1] + n * xin[0] + max(b, 0) for p, n, b in rows))


def weight_output(node: QWeightNode, x: Interval) -> tuple[Interval, Interval]:
    """(:func:`accumulator_range`, output range) of a weight layer; the output is W x + b per row, shifted."""
    xin = conv_input(x) if isinstance(node, (QConv1d, QConv2d)) else x
    rows = _rows(node)
    final = (min(p * xin[0] + n * xin[1] + b for p, n, b in rows),
             max(p * xin[1] + n * xin[0] + b for p, n, b in rows))
    return accumulator_range(node, x), _shift(final, node.shift)


def window_sum(node: SumPool2d, x: Interval) -> Interval:
    """Every partial sum of a pooling window (its output among them); the window may hold padding zeros."""
    k = int(np.prod(node.kernel_size))
    xin = conv_input(x)
    return k * xin[0], k * xin[1]


def node_output(node: Node, x: Interval) -> Interval:
    """The output range of ``node`` on a summed input in ``x`` (UNBOUNDED beyond int64)."""
    if isinstance(node, Input):
        return SPIKE_INPUT
    if isinstance(node, QNeuron):
        if node.SPIKING:
            return spike_range(node)
        return neuron_states(node, x)["v"]
    if unbounded(x):
        return UNBOUNDED
    return _norm(_stateless_output(node, x))


def _stateless_output(node: Node, x: Interval) -> Interval:
    if isinstance(node, (Output, Flatten)):
        return x
    if isinstance(node, Delay):
        return union(x, (0, 0))
    if isinstance(node, QWeightNode):
        return weight_output(node, x)[1]
    if isinstance(node, SumPool2d):
        return window_sum(node, x)
    raise UnsupportedNodeError(f"node type {type(node).__name__} has no integer range rule")


def summed_input(graph: Graph, name: str, out: dict[str, Interval]) -> Interval:
    """The range of a node's summed input; UNBOUNDED when any input is, or the sum leaves int64."""
    preds = graph.predecessors(name)
    if any(unbounded(out[p]) for p in preds):
        return UNBOUNDED
    return _norm((sum(out[p][0] for p in preds), sum(out[p][1] for p in preds)))


def analyse(graph: QGraph) -> dict[str, Interval]:
    """Output range of every node: a fixed point over the recurrent edges.

    The passes start from 0 and widen, so every range holds 0: a sum of ranges bounds
    each of its partial sums too.

    A node still growing after as many passes as there are nodes sits on a loop
    without a bounding neuron: it becomes UNBOUNDED, and the passes go on.

    Remembered per (frozen) graph object: check and lowering of every backend read the same analysis.
    """
    for name, node in graph.nodes.items():
        if isinstance(node, QNeuron) and node.semantics.accumulate == "per_event":
            raise UnsupportedNodeError(
                f"node '{name}': semantics accumulate='per_event' (the xylo preset) runs only on bitsim's xylo path "
                "and the xylo target; this range proof and its printers (hls, onnx, rtl) sum a step's input exactly"
            )
    hit = _recalled(_ANALYSED, graph)
    if hit is not None:
        return dict(hit)
    return dict(_remember(_ANALYSED, graph, _analyse(graph)))


def _analyse(graph: QGraph) -> dict[str, Interval]:
    out: dict[str, Interval] = {n: (0, 0) for n in graph.nodes}
    passes = 0
    while True:
        changed = []
        for name in graph.order:
            node = graph.nodes[name]
            x = (0, 0) if isinstance(node, Input) else summed_input(graph, name, out)
            new = _norm(union(node_output(node, x), out[name]))
            if new != out[name]:
                changed.append(name)
            out[name] = new
        passes += 1
        if not changed or not graph.recurrent_edges:
            return out
        if passes > len(graph.nodes) + 1:
            for name in changed:
                out[name] = UNBOUNDED


@dataclass(frozen=True)
class Ranges:
    """Every value a backend stores, per node name.

    out: each node's output (:func:`analyse`). inp: each non-Input node's summed input.
    acc: each weight layer's and SumPool2d's accumulator, every partial sum (:func:`accumulator_range`,
    :func:`window_sum`).
    states: each neuron's registers (``v``, and ``i`` for Cuba kinds; none for Threshold).
    """

    out: Mapping[str, Interval]
    inp: Mapping[str, Interval]
    acc: Mapping[str, Interval]
    states: Mapping[str, Mapping[str, Interval]]


def value_ranges(graph: QGraph) -> Ranges:
    """The :class:`Ranges` of ``graph``; trust them only after ``limits.check_int64`` accepted the graph."""
    out = analyse(graph)
    inp: dict[str, Interval] = {}
    acc: dict[str, Interval] = {}
    states: dict[str, Mapping[str, Interval]] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            continue
        inp[name] = x = summed_input(graph, name, out)
        if isinstance(node, QWeightNode):
            acc[name] = UNBOUNDED if unbounded(x) else accumulator_range(node, x)
        elif isinstance(node, SumPool2d):
            acc[name] = UNBOUNDED if unbounded(x) else window_sum(node, x)
        elif isinstance(node, QNeuron) and node.kind != "Threshold":
            states[name] = neuron_states(node, x)
    return Ranges(out, inp, acc, states)


def trace_ranges(graph: QGraph) -> dict[str, dict[str, Interval]]:
    """The range of every value an executor records per node: "out", and a neuron's "v" (and "i").

    A recorded ``v`` is the membrane after the step's reset: the register's range, and for an immediate
    subtract reset also ``v - s * theta`` of a clamped v (every spike count s, every threshold). The ranges
    assume spike inputs (0/1), like :func:`analyse`; UNBOUNDED where no bound holds.
    """
    ranges = value_ranges(graph)
    out: dict[str, dict[str, Interval]] = {}
    for name in graph.order:
        node = graph.nodes[name]
        rec = {"out": ranges.out[name]}
        if isinstance(node, QNeuron) and name in ranges.states:
            states = dict(ranges.states[name])
            v = states["v"]
            if node.SPIKING and node.semantics.timing == "immediate" and node.semantics.reset == "subtract" \
                    and not unbounded(v):
                post = _corners(lambda a, b, c: a - b * c, v, spike_range(node), array_range(node.threshold))
                v = _norm(union(v, post))
            rec.update(states, v=v)
        out[name] = rec
    return out
