"""Value ranges of every buffer of a QGraph, proven from the parameters alone (interval arithmetic).

The C code stores each node's output, accumulator and register in the narrowest
type that holds its range, and ``check()`` uses the same ranges to prove that
no int64 intermediate can overflow (bitsim's int64 numpy would wrap silently,
C would be undefined). Inputs are spikes in [0, 1].

Ranges of recurrent sources are found by iterating to a fixpoint, starting
from the outputs on the initial state; a loop whose range keeps growing
(stateless nodes and Delays only) has no bound and is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Delay, Flatten, Input, Node, Output, SumPool2d
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, QWeightNode

Range = tuple[int, int]
#: every intermediate must stay within +-2^LIMIT_BITS (int64 with headroom)
LIMIT_BITS = 62


@dataclass
class Ranges:
    """out: each node's output; inp: each node's summed input; acc: weight layers' pre-shift accumulator."""

    out: dict[str, Range] = field(default_factory=dict)
    inp: dict[str, Range] = field(default_factory=dict)
    acc: dict[str, Range] = field(default_factory=dict)


def with_zero(r: Range) -> Range:
    return min(r[0], 0), max(r[1], 0)


def union(a: Range, b: Range) -> Range:
    return min(a[0], b[0]), max(a[1], b[1])


def shifted(r: Range, shift: int) -> Range:
    """The range after ``snn_shift_round`` (monotone)."""
    if shift >= 0:
        return r[0] << shift, r[1] << shift
    return r[0] >> -shift, r[1] >> -shift


def register_range(bits: int, policy: str) -> Range:
    """Every value a clamped register (and its reset/initial values) can hold."""
    half = 1 << (bits - 1)
    return -half, (half if policy == "wrap_loihi" else half - 1)


def spike_range(node: QNeuron) -> Range:
    return 0, (node.semantics.spike_cap if node.semantics.spikes == "multi" else 1)


def _weighted(pos: np.ndarray, neg: np.ndarray, bias: np.ndarray, x: Range) -> Range:
    """Range of sum_j w_j x_j + b over every partial sum (terms widened to include 0), per output, then overall.

    pos/neg: per output, the sum of the positive / negative weights it reads.
    """
    lo, hi = with_zero(x)
    b = np.broadcast_to(bias, pos.shape)
    rows = list(zip(pos.ravel().tolist(), neg.ravel().tolist(), b.ravel().tolist(), strict=True))
    highs = [hi * p + lo * n + max(c, 0) for p, n, c in rows]
    lows = [lo * p + hi * n + min(c, 0) for p, n, c in rows]
    return min(lows), max(highs)


def accumulator_range(node: QWeightNode, x: Range) -> Range:
    """The pre-shift accumulator of a weight layer for inputs in ``x``."""
    w = node.weight
    if isinstance(node, QScale):
        return _weighted(np.maximum(w, 0), np.minimum(w, 0), node.bias, x)
    axes = tuple(range(1, w.ndim))
    pos, neg = np.maximum(w, 0).sum(axis=axes), np.minimum(w, 0).sum(axis=axes)
    return _weighted(pos, neg, node.bias, x)


def _neuron_out(node: QNeuron) -> Range:
    if node.SPIKING:
        return spike_range(node)
    return register_range(node.v_bits, node.semantics.overflow_v)


def _forward(graph: QGraph, rec: dict[str, Range]) -> Ranges:
    r = Ranges()
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            r.out[name] = (0, 1)
            continue
        parts = [rec[p] if (p, name) in graph.recurrent_edges else r.out[p] for p in graph.predecessors(name)]
        x = (sum(p[0] for p in parts), sum(p[1] for p in parts))
        r.inp[name] = x
        if isinstance(node, (QDense, QConv1d, QConv2d, QScale)):
            r.acc[name] = accumulator_range(node, x)
            r.out[name] = shifted(r.acc[name], node.shift)
        elif isinstance(node, SumPool2d):
            k = node.kernel_size[0] * node.kernel_size[1]
            lo, hi = with_zero(x)
            r.out[name] = (k * lo, k * hi)
        elif isinstance(node, Delay):
            r.out[name] = with_zero(x)
        elif isinstance(node, QNeuron):
            r.out[name] = _neuron_out(node)
        else:  # Output, Flatten and any other pass-through
            r.out[name] = x
    return r


def value_ranges(graph: QGraph, initial: dict[str, np.ndarray]) -> Ranges:
    """Ranges of every buffer; ``initial``: each node's output on the initial state (bitsim's)."""
    sources = sorted({a for a, _ in graph.recurrent_edges})
    rec = {s: (int(initial[s].min()), int(initial[s].max())) if initial[s].size else (0, 0) for s in sources}
    changed: list[str] = []
    for _ in range(len(graph.nodes) + 8):
        r = _forward(graph, rec)
        grown = {s: union(rec[s], r.out[s]) for s in sources}
        if grown == rec:
            return r
        changed = [s for s in sources if grown[s] != rec[s]]
        rec = grown
    name = changed[0]
    raise UnsupportedNodeError(
        f"hls: node '{name}' ({graph.nodes[name].type_name}): its value range grows without bound along a "
        "recurrent edge (a loop through stateless nodes and Delays only); the C backend needs bounded integers"
    )


def _one_correction(name: str, reg: str, pre: Range, bits: int) -> None:
    """wrap_loihi corrects once by 2^bits: the result stays in the register only for pre in (-3h, 3h]."""
    h = 1 << (bits - 1)
    if pre[0] <= -3 * h or pre[1] > 3 * h:
        raise UnsupportedNodeError(
            f"hls: node '{name}' (QNeuron): overflow_{reg}='wrap_loihi' on a {bits}-bit register whose pre-clamp "
            f"value can reach [{pre[0]}, {pre[1]}], beyond one correction's reach (-3*2^{bits - 1}, 3*2^{bits - 1}]; "
            f"the single correction would leave {reg} outside its register with no bound (use saturate or wrap)"
        )


def check_wrap_loihi(name: str, node: QNeuron, x: Range) -> None:
    """Prove that wrap_loihi registers stay within their range, as the C types assume (conservative)."""
    sem = node.semantics
    xs = with_zero((x[0] << node.input_shift, x[1] << node.input_shift))
    cuba = node.kind in ("CubaLI", "CubaLIF")
    if cuba and sem.overflow_i == "wrap_loihi":
        i_reg = with_zero(register_range(node.i_bits, "wrap_loihi"))
        _one_correction(name, "i", (i_reg[0] + xs[0], i_reg[1] + xs[1]), node.i_bits)
    if sem.overflow_v != "wrap_loihi":
        return
    drive = with_zero(register_range(node.i_bits, sem.overflow_i)) if cuba else xs
    v_reg = with_zero(register_range(node.v_bits, "wrap_loihi"))
    b = with_zero((int(node.bias.min()), int(node.bias.max())))
    pre = (v_reg[0] + drive[0] + b[0], v_reg[1] + drive[1] + b[1])
    cap = sem.spike_cap if sem.spikes == "multi" else 1
    theta = max(int(node.threshold.max()), 0) * cap
    if node.SPIKING and sem.timing != "immediate" and sem.reset == "subtract":
        pre = (pre[0] - theta, pre[1])
    _one_correction(name, "v", pre, node.v_bits)
    if node.SPIKING and sem.timing == "snntorch_immediate" and sem.reset != "none":
        swing = theta if sem.reset == "subtract" else cap * 3 * (1 << (node.v_bits - 1))
        _one_correction(name, "v", (v_reg[0] - swing, v_reg[1] + swing), node.v_bits)


def check_headroom(name: str, node: Node, r: Ranges) -> None:
    """Raise UnsupportedNodeError when an int64 intermediate of this node could exceed +-2^62."""
    limit = 1 << LIMIT_BITS
    worst: list[tuple[str, int]] = []
    if name in r.acc:
        acc = r.acc[name]
        worst.append(("accumulator", max(-acc[0], acc[1])))
        out = r.out[name]
        worst.append(("shifted output", max(-out[0], out[1])))
    if isinstance(node, (SumPool2d, Delay, Output, Flatten)) and name in r.inp:
        worst.append(("summed input", max(-r.out[name][0], r.out[name][1])))
    if isinstance(node, QNeuron) and node.kind != "Threshold":
        xin = r.inp[name]
        check_wrap_loihi(name, node, xin)
        x = max(-xin[0], xin[1]) << node.input_shift
        i_max = 1 << (node.i_bits - 1)
        v_max = 1 << (node.v_bits - 1)
        cap = node.semantics.spike_cap if node.semantics.spikes == "multi" else 1
        cuba = node.kind in ("CubaLI", "CubaLIF")
        drive = i_max if cuba else x
        worst += [("shifted input", x), ("membrane sum", 2 * v_max + drive + 3 * cap * v_max)]
        if cuba:
            worst.append(("current sum", i_max + x))
            if node.semantics.synapse_order == "add_then_decay":
                worst.append(("decay product of i + x", (i_max + x) << node.frac_bits))
    if isinstance(node, QNeuron) and node.kind == "Threshold":
        worst.append(("input", max(-r.inp[name][0], r.inp[name][1])))
    for what, value in worst:
        if value >= limit:
            raise UnsupportedNodeError(
                f"hls: node '{name}' ({node.type_name}): {what} can reach {value} (>= 2^{LIMIT_BITS}); "
                "the C backend computes in int64 and cannot prove it does not overflow"
            )
