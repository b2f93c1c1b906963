"""Integer value ranges of a QGraph: the one range analysis that every code-emitting backend prints from.

Used by the onnx backend (storage types, exact matmul choice, int64 limits) and the rtl
backend (register and accumulator widths).

Every node output gets a conservative interval [lo, hi] of Python ints, assuming
inputs are spikes (0 or 1, bitsim's contract). Neuron outputs are bounded by
their registers (spikes by the cap, readouts by the v register), so ranges around
recurrent edges converge in a few passes.

Some values have no bound independent of the number of steps: a ``wrap_loihi``
register whose per-step update can exceed 2^W (Lava's single correction no longer
brings it back, so it drifts and bitsim's int64 products overflow after enough
steps), or a recurrent loop through a Delay only. They are UNBOUNDED, and
:func:`check_int64` rejects them.

The ranges decide (a) the narrowest storage type of every model input, output
and state, (b) which matrix product is exact (int32 MatMulInteger, float32 or
float64 MatMul, else int64), and (c) whether a value can overflow int64 within a
step -- then :func:`check_int64` raises UnsupportedNodeError naming the node and
the quantity.
"""

from __future__ import annotations

from collections.abc import Callable

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


def _of(arr: np.ndarray) -> Interval:
    return int(np.min(arr)), int(np.max(arr))


def _add(a: Interval, b: Interval) -> Interval:
    return a[0] + b[0], a[1] + b[1]


def _toward_zero(iv: Interval) -> Interval:
    """A decay by m <= 2^D moves a value toward zero (under every rounding): the range including 0."""
    return min(iv[0], 0), max(iv[1], 0)


def spike_range(node: QNeuron) -> Interval:
    return (0, node.semantics.spike_cap) if node.semantics.spikes == "multi" else (0, 1)


def register_state(start: Interval, bits: int, policy: str, pre: Callable[[Interval], Interval]) -> Interval:
    """The range of a state register that starts in ``start`` and is set to ``clamp(pre)`` every step.

    Saturate and wrap always land in the register. wrap_loihi lands there only when
    every pre-clamp value is within one correction of it, i.e. in
    (-2^(W-1) - 2^W, 2^(W-1) + 2^W]; otherwise the state drifts (UNBOUNDED).
    ``pre`` maps a state range to the range of the values clamped in one step.
    """
    half, full = 1 << (bits - 1), 1 << bits
    register = {"saturate": (-(half - 1), half - 1), "wrap": (-half, half - 1)}.get(policy, (-half + 1, half))
    state = union(start, register)
    if policy == "wrap_loihi":
        lo, hi = pre(state)
        if lo <= -half - full or hi > half + full:
            return UNBOUNDED
    return state


def _corners(f: Callable[[int, int, int], int], a: Interval, b: Interval, c: Interval) -> Interval:
    """Range of a function multilinear in three interval arguments (its extremes are at the corners)."""
    vals = [f(x, y, z) for x in a for y in b for z in c]
    return min(vals), max(vals)


def neuron_states(node: QNeuron, x: Interval) -> dict[str, Interval]:
    """Ranges of the ``v`` (and ``i``) state of a neuron whose summed input lies in ``x``."""
    sem = node.semantics
    if sem.synapse_delay == 1:
        x = union(x, (0, 0))
    xs = x[0] << node.input_shift, x[1] << node.input_shift
    out: dict[str, Interval] = {}
    drive = xs
    if node.kind in CUBA_KINDS:
        if sem.synapse_order == "decay_then_add":
            def pre_i(i: Interval) -> Interval:
                return _add(_toward_zero(i), xs)
        else:
            def pre_i(i: Interval) -> Interval:
                return _toward_zero(_add(i, xs))
        out["i"] = drive = register_state(_of(node.i_init), node.i_bits, sem.overflow_i, pre_i)
    new = _add(drive, _of(node.bias))
    reset, theta, cap = _of(node.v_reset), _of(node.threshold), sem.spike_cap

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

    start = union(_of(node.v_init), reset) if node.SPIKING else _of(node.v_init)
    out["v"] = register_state(start, node.v_bits, sem.overflow_v, pre_v)
    return out


def row_sums(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output row: the sum of the positive and of the negative weights."""
    w = weight.reshape(weight.shape[0], -1)
    return np.where(w > 0, w, 0).sum(axis=1), np.where(w < 0, w, 0).sum(axis=1)


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


def weight_output(node: QWeightNode, x: Interval) -> tuple[Interval, Interval]:
    """(accumulator range before the shift, output range) of a weight layer."""
    if isinstance(node, QScale):
        corners = [a * b for a in _of(node.weight) for b in x]
        bias = _of(node.bias)
        acc = min(corners) + bias[0], max(corners) + bias[1]
    else:
        xin = conv_input(x) if isinstance(node, (QConv1d, QConv2d)) else x
        rows = product_range(node.weight.reshape(node.weight.shape[0], -1), xin)
        b_lo, b_hi = _of(node.bias) if node.bias.size else (0, 0)
        acc = rows[0] + b_lo, rows[1] + b_hi
    return acc, _shift(acc, node.shift)


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
        k = int(np.prod(node.kernel_size))
        xin = conv_input(x)
        return k * xin[0], k * xin[1]
    raise UnsupportedNodeError(f"node type {type(node).__name__} has no integer range rule")


def summed_input(graph: Graph, name: str, out: dict[str, Interval]) -> Interval:
    """The range of a node's summed input; UNBOUNDED when any input is, or the sum leaves int64."""
    preds = graph.predecessors(name)
    if any(unbounded(out[p]) for p in preds):
        return UNBOUNDED
    return _norm((sum(out[p][0] for p in preds), sum(out[p][1] for p in preds)))


def analyse(graph: QGraph) -> dict[str, Interval]:
    """Output range of every node: a fixed point over the recurrent edges.

    A node still growing after as many passes as there are nodes sits on a loop
    without a bounding neuron: it becomes UNBOUNDED, and the passes go on.
    """
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


def _limit(name: str, node: Node, what: str, mag: int, backend: str) -> None:
    if mag > INT64_MAX:
        raise UnsupportedNodeError(
            f"node '{name}' ({type(node).__name__}): {what} can reach magnitude {mag} (> 2^63-1); "
            f"backend '{backend}' computes in int64 and cannot represent it exactly"
        )


def check_int64(graph: QGraph, out: dict[str, Interval], backend: str = "onnx") -> None:
    """Raise UnsupportedNodeError unless every value of every step provably fits int64.

    Checked per node: its summed input, a weight layer's accumulator and shifted
    output, a pool's window sum, a neuron's intermediate products and sums, and
    that its output and states have a bound independent of the number of steps.
    """
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            continue
        preds = graph.predecessors(name)
        if not any(unbounded(out[p]) for p in preds):
            x = sum(out[p][0] for p in preds), sum(out[p][1] for p in preds)
            _limit(name, node, "the summed input", magnitude(x), backend)
            if isinstance(node, QWeightNode):
                acc, y = weight_output(node, x)
                _limit(name, node, "the accumulator", magnitude(acc), backend)
                _limit(name, node, f"the output after shift {node.shift}", magnitude(y), backend)
            elif isinstance(node, SumPool2d):
                _limit(name, node, "the window sum", magnitude(_stateless_output(node, x)), backend)
            elif isinstance(node, QNeuron) and node.kind != "Threshold":
                _check_neuron(name, node, x, backend)
        if unbounded(out[name]):
            raise UnsupportedNodeError(
                f"node '{name}' ({type(node).__name__}): its output has no bound independent of the number of "
                "steps (a recurrent loop without a neuron, or a wrap_loihi register that drifts, feeds it); "
                f"backend '{backend}' cannot prove its int64 arithmetic exact"
            )


def _check_neuron(name: str, node: QNeuron, x: Interval, backend: str) -> None:
    sem, frac = node.semantics, node.frac_bits
    xs = magnitude(x) << node.input_shift
    _limit(name, node, f"the input shifted by input_shift={node.input_shift}", xs, backend)
    states = neuron_states(node, x)
    for key, policy, bits in (("i", sem.overflow_i, node.i_bits), ("v", sem.overflow_v, node.v_bits)):
        if key in states and unbounded(states[key]):
            raise UnsupportedNodeError(
                f"node '{name}' ({type(node).__name__}): overflow_{key}={policy!r} corrects {key} once by 2^{bits}, "
                f"but its per-step update can exceed that, so {key} drifts without bound (bitsim's int64 "
                f"products eventually overflow); backend '{backend}' supports wrap_loihi only where one correction "
                "keeps the register in range"
            )
    drive = xs
    if node.kind in CUBA_KINDS:
        i_mag = magnitude(states["i"])
        pre = max(i_mag << frac, i_mag + xs)
        if sem.synapse_order == "add_then_decay":
            pre = ((i_mag + xs) << frac) + (1 << frac)
        _limit(name, node, "the current update", pre, backend)
        drive = i_mag
    v_mag, cap = magnitude(states["v"]), sem.spike_cap
    reset = magnitude(_of(node.threshold)) * cap + (1 + cap) * (v_mag + magnitude(_of(node.v_reset)))
    total = max(v_mag << frac, v_mag + drive + magnitude(_of(node.bias)) + (reset if node.SPIKING else 0))
    _limit(name, node, "the membrane update", total, backend)
