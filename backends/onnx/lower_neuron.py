"""The integer neuron (QNeuron) as ONNX operators on int64, bit-exact with bitsim's ``IntNeuronState.step``.

States (each ``[B, *shape]``): ``v`` (all kinds but Threshold), ``i`` (CubaLI,
CubaLIF), ``s`` (the previous step's spikes, timing ``delayed``), ``x`` (the
previous step's summed input, ``synapse_delay`` 1).

Primitives, exact for negative values (see :class:`~.builder.Builder`):

* decay ``round(y*m / 2^D)``: ``toward_zero`` = ``Sign(p) * Div(Abs(p), 2^D)``;
  ``floor`` = ``Div(p - Mod(p, 2^D), 2^D)``; ``nearest`` = floor of ``p + 2^(D-1)``; ``shift_subtract``
  (``y - (y >> k)``, equal to the ceiling for every multiplier it admits) = floor of ``p + 2^D - 1``.
  A decay by exactly 2^D (I, IF) is the identity and emits nothing.
* clamp: ``saturate`` = Clip to +-(2^(W-1)-1); ``wrap`` = ``Mod(y + 2^(W-1), 2^W) - 2^(W-1)``;
  ``wrap_loihi`` = one Where-selected correction by 2^W.
* fire: Greater / GreaterOrEqual; multi-spike counts ``Clip(Div(v, max(theta, 1)), 1, cap)``
  where fired (v >= theta >= 1 there, so the division is of non-negatives, or by 1).
"""

from __future__ import annotations

import numpy as np

from snncompile.quant.qnodes import CUBA_KINDS, QNeuron
from snncompile.quant.ranges import neuron_states, spike_range, union

from .builder import I64, Builder, Val
from .context import StepContext


def decay(b: Builder, y: Val, m: np.ndarray, frac_bits: int, rounding: str) -> Val:
    """round(y * m / 2^frac_bits) with the Semantics' rounding."""
    one = 1 << frac_bits
    if np.all(m == one):
        return y
    if not np.any(m):
        return b.mul(y, 0)
    p = b.mul(y, b.param(m))
    if rounding == "toward_zero":
        return b.trunc_div_pow2(p, frac_bits)
    if rounding == "nearest":
        p = b.add(p, 1 << (frac_bits - 1))
    elif rounding == "shift_subtract":  # y - (y >> k) == ceil(p / 2^D) for every m it admits (quant/shiftleak.py)
        p = b.add(p, (1 << frac_bits) - 1)
    return b.floor_div_pow2(p, frac_bits)


def clamp(b: Builder, y: Val, bits: int, policy: str) -> Val:
    """Fit y into a ``bits``-wide register (saturate, wrap, wrap_loihi)."""
    half, full = 1 << (bits - 1), 1 << bits
    if policy == "saturate":
        return b.clip(y, -(half - 1), half - 1)
    if policy == "wrap":
        return b.sub(b.binary("Mod", b.add(y, half), full, fmod=0), half)
    low = b.where(b.compare("LessOrEqual", y, -half), b.add(y, full), y)
    return b.where(b.compare("Greater", y, half), b.sub(y, full), low)


def fire(b: Builder, v: Val, node: QNeuron) -> tuple[Val, Val]:
    """(spikes or counts as int64, the bool "fired" mask) of membrane ``v``."""
    sem = node.semantics
    hit = b.compare("Greater" if sem.compare == "gt" else "GreaterOrEqual", v, b.param(node.threshold))
    if sem.spikes == "binary":
        return b.cast(hit, I64), hit
    count = b.clip(b.binary("Div", v, b.param(np.maximum(node.threshold, 1))), 1, sem.spike_cap)
    return b.where(hit, count, 0), hit


def lower_qneuron(ctx: StepContext, name: str, node: QNeuron, x: Val) -> Val:
    b, sem, shape = ctx.b, node.semantics, node.shape
    x = b.cast(x, I64)
    if node.kind == "Threshold":
        return fire(b, x, node)[0]
    if sem.synapse_delay == 1:
        held = ctx.state(name, "x", shape, union(ctx.in_range(name), (0, 0)), 0)
        ctx.set_next(name, "x", x)
        x = held
    if node.input_shift:
        x = b.mul(x, 1 << node.input_shift)
    frac, rnd = node.frac_bits, sem.rounding
    ranges = neuron_states(node, ctx.in_range(name))
    if node.kind in CUBA_KINDS:
        i_prev = ctx.state(name, "i", shape, ranges["i"], node.i_init)
        if sem.synapse_order == "decay_then_add":
            i_new = b.add(decay(b, i_prev, node.alpha, frac, rnd), x)
        else:
            i_new = decay(b, b.add(i_prev, x), node.alpha, frac, rnd)
        drive = clamp(b, i_new, node.i_bits, sem.overflow_i)
        ctx.set_next(name, "i", drive)
    else:
        drive = x
    v_prev = ctx.state(name, "v", shape, ranges["v"], node.v_init)
    decayed = decay(b, v_prev, node.beta, frac, rnd)
    new = b.add(drive, b.param(node.bias)) if np.any(node.bias) else drive
    if not node.SPIKING:
        v = clamp(b, b.add(decayed, new), node.v_bits, sem.overflow_v)
        ctx.set_next(name, "v", v)
        return v
    s, v = _spike_and_reset(ctx, name, node, v_prev, decayed, new)
    if node.v_min is not None:  # the lower clamp after the reset
        v = b.binary("Max", v, b.param(node.v_min, v.dtype))
    ctx.set_next(name, "v", v)
    return s


def _spike_and_reset(ctx: StepContext, name: str, node: QNeuron, v_prev: Val, decayed: Val,
                     new: Val) -> tuple[Val, Val]:
    """(spikes, new v) of a spiking neuron under the node's reset rule and timing."""
    b, sem = ctx.b, node.semantics
    theta, v_reset = b.param(node.threshold), b.param(node.v_reset)
    vb, ov = node.v_bits, sem.overflow_v
    if sem.timing == "immediate":
        v = clamp(b, b.add(decayed, new), vb, ov)
        s, hit = fire(b, v, node)
        if sem.reset == "subtract":
            v = b.sub(v, b.mul(s, theta))
        elif sem.reset == "zero":
            v = b.where(hit, v_reset, v)
        return s, v
    if sem.timing == "delayed":
        r = ctx.state(name, "s", node.shape, spike_range(node), 0)
        r_hit = b.compare("Greater", r, 0)
    else:  # snntorch_immediate: R from the recorded (already reset) membrane of t-1
        r, r_hit = fire(b, v_prev, node)
    if sem.reset == "subtract":
        v = clamp(b, b.sub(b.add(decayed, new), b.mul(r, theta)), vb, ov)
    elif sem.reset == "zero" and sem.delayed_zero == "state":
        v = clamp(b, b.add(b.where(r_hit, v_reset, decayed), new), vb, ov)
    elif sem.reset == "zero":
        v = b.where(r_hit, v_reset, clamp(b, b.add(decayed, new), vb, ov))
    else:
        v = clamp(b, b.add(decayed, new), vb, ov)
    s, _ = fire(b, v, node)
    if sem.timing == "snntorch_immediate":
        d = b.sub(s, r)
        if sem.reset == "subtract":
            v = clamp(b, b.sub(v, b.mul(d, theta)), vb, ov)
        elif sem.reset == "zero":
            v = clamp(b, b.sub(v, b.mul(d, b.sub(v, v_reset))), vb, ov)
    else:
        ctx.set_next(name, "s", s)
    return s, v
