"""The int64 limits of a QGraph's integer arithmetic, proven from its value ranges (:mod:`.ranges`).

bitsim computes in numpy int64, where an overflow wraps silently; the onnx models
compute in int64 too, and the hls C in ``int64_t``, where signed overflow is undefined
(the rtl backend applies the same limits before it sizes its datapath).
:func:`check_int64` proves, per node and before anything is emitted, that every value
of every step fits int64: the summed input, a weight layer's accumulator (every
partial sum) and shifted output, a pool's window sum, a neuron's intermediate
products and sums, and that every output and state has a bound independent of the
number of steps. Otherwise it raises UnsupportedNodeError naming the node, the
quantity and the backend.
"""

from __future__ import annotations

from collections.abc import Mapping

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Input, Node, SumPool2d
from snncompile.quant.qnodes import CUBA_KINDS, QGraph, QNeuron, QWeightNode

from .ranges import (
    INT64_MAX,
    Interval,
    array_range,
    magnitude,
    neuron_registers,
    unbounded,
    weight_output,
    window_sum,
)


def _limit(name: str, node: Node, what: str, mag: int, backend: str) -> None:
    if mag > INT64_MAX:
        raise UnsupportedNodeError(
            f"node '{name}' ({type(node).__name__}): {what} can reach magnitude {mag} (> 2^63-1); "
            f"backend '{backend}' computes in int64 and cannot represent it exactly"
        )


def check_int64(graph: QGraph, out: Mapping[str, Interval], backend: str = "onnx") -> None:
    """Raise UnsupportedNodeError unless every value of every step provably fits int64.

    ``out``: the node output ranges of :func:`snncompile.quant.ranges.analyse`.
    """
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, Input):
            continue
        preds = graph.predecessors(name)
        if not any(unbounded(out[p]) for p in preds):
            # every range holds 0 (analyse), so the total bounds each partial sum of the edges too
            x = sum(out[p][0] for p in preds), sum(out[p][1] for p in preds)
            _limit(name, node, "the summed input", magnitude(x), backend)
            if isinstance(node, QWeightNode):
                acc, y = weight_output(node, x)
                _limit(name, node, "the accumulator", magnitude(acc), backend)
                _limit(name, node, f"the output after shift {node.shift}", magnitude(y), backend)
            elif isinstance(node, SumPool2d):
                _limit(name, node, "the window sum", magnitude(window_sum(node, x)), backend)
            elif isinstance(node, QNeuron) and node.kind != "Threshold":
                _check_neuron(name, node, x, backend)
        if unbounded(out[name]):
            raise UnsupportedNodeError(
                f"node '{name}' ({type(node).__name__}): its output has no bound independent of the number of "
                "steps (a recurrent loop without a neuron, or a wrap_loihi register that drifts, feeds it); "
                f"backend '{backend}' cannot prove its int64 arithmetic exact"
            )


def _check_neuron(name: str, node: QNeuron, x: Interval, backend: str) -> None:
    sem = node.semantics
    xs = magnitude(x) << node.input_shift
    _limit(name, node, f"the input shifted by input_shift={node.input_shift}", xs, backend)
    regs = neuron_registers(node, x)
    for key, policy, bits in (("i", sem.overflow_i, node.i_bits), ("v", sem.overflow_v, node.v_bits)):
        if key in regs and unbounded(regs[key].state):
            lo, hi = regs[key].pre
            raise UnsupportedNodeError(
                f"node '{name}' ({type(node).__name__}): overflow_{key}={policy!r} corrects {key} once by 2^{bits}, "
                f"but its pre-clamp value can reach [{lo}, {hi}], beyond one correction's reach "
                f"(-3*2^{bits - 1}, 3*2^{bits - 1}], so {key} drifts without bound (bitsim's int64 products "
                f"eventually overflow); backend '{backend}' supports wrap_loihi only where one correction keeps "
                "the register in range (use saturate or wrap)"
            )
    for what, mag in neuron_bounds(node, x).items():
        _limit(name, node, what, mag, backend)


def neuron_bounds(node: QNeuron, x: Interval) -> dict[str, int]:
    """The largest magnitude of every intermediate of the integer neuron step on a summed input in ``x``.

    The int64 limit of every backend, and the rtl backend's datapath width, come from these numbers. The
    neuron's registers must be bounded (``_check_neuron`` refuses a drifting wrap_loihi register first).
    """
    sem, frac = node.semantics, node.frac_bits
    xs = magnitude(x) << node.input_shift
    regs = neuron_registers(node, x)
    out = {f"the input shifted by input_shift={node.input_shift}": xs}
    # wrap computes y + 2^(W-1) before it masks: one more intermediate of the clamp
    wrap_i = 1 << (node.i_bits - 1) if sem.overflow_i == "wrap" else 0
    wrap_v = 1 << (node.v_bits - 1) if sem.overflow_v == "wrap" else 0
    drive = xs
    if node.kind in CUBA_KINDS:
        i_mag = magnitude(regs["i"].state)
        pre = max(i_mag << frac, i_mag + xs + wrap_i)
        if sem.synapse_order == "add_then_decay":
            pre = max(((i_mag + xs) << frac) + (1 << frac), i_mag + xs + wrap_i)
        out["the current update"] = pre
        drive = i_mag
    v_mag, cap = magnitude(regs["v"].state), sem.spike_cap
    reset = magnitude(array_range(node.threshold)) * cap + (1 + cap) * (v_mag + magnitude(array_range(node.v_reset)))
    total = v_mag + drive + magnitude(array_range(node.bias)) + (reset if node.SPIKING else 0) + wrap_v
    out["the membrane update"] = max(v_mag << frac, total)
    return out
