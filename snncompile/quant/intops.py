"""Integer primitives shared by bitsim and the quantiser (numpy int64, vectorised).

Registers up to 32 bits and decay multipliers up to 2^16 keep every product
below 2^48. Values outside that (a huge input shift, or a ``wrap_loihi``
register whose single correction cannot keep up with its input) are caught by
bitsim's neuron step, which raises instead of letting int64 wrap silently.
"""

from __future__ import annotations

import numpy as np

from .shiftleak import shift_subtract


def shift_round(acc: np.ndarray, shift: int) -> np.ndarray:
    """``acc << shift`` for shift >= 0; ``floor(acc / 2^-shift)`` (arithmetic >>) otherwise."""
    return acc << shift if shift >= 0 else acc >> (-shift)


def decay(y: np.ndarray, m: np.ndarray, frac_bits: int, rounding: str) -> np.ndarray:
    """round(y*m / 2^frac_bits) with rounding toward_zero | floor | nearest (half up), or the
    shift_subtract leak ``y - (y >> k)`` for ``m = 2^D - 2^(D-k)`` (:mod:`.shiftleak`)."""
    if rounding == "shift_subtract":
        return shift_subtract(y, m, frac_bits)
    p = y * m
    if rounding == "floor":
        return p >> frac_bits
    if rounding == "nearest":
        return (p + (1 << (frac_bits - 1))) >> frac_bits
    mag = np.abs(p) >> frac_bits
    return np.where(p < 0, -mag, mag)


def clamp(y: np.ndarray, bits: int, policy: str) -> np.ndarray:
    """Fit y into a ``bits``-wide register: saturate +-(2^(bits-1)-1), two's-complement wrap, or wrap_loihi.

    wrap_loihi is Lava's single correction by 2^bits: the result lies in (-2^(bits-1), 2^(bits-1)] only when
    |y| < 3*2^(bits-1); a larger overshoot stays outside the register (as in Lava), and bitsim's neuron step
    refuses it once it could make an int64 product wrap."""
    half = 1 << (bits - 1)
    if policy == "saturate":
        return np.clip(y, -(half - 1), half - 1)
    if policy == "wrap":
        return ((y + half) & ((1 << bits) - 1)) - half
    # Lava's LIF: a single correction by 2^bits, kept range (-2^(bits-1), 2^(bits-1)]
    full = 1 << bits
    return np.where(y > half, y - full, np.where(y <= -half, y + full, y))


def fire(v: np.ndarray, threshold: np.ndarray, compare: str, spikes: str, cap: int) -> np.ndarray:
    """Spikes (0/1) or spike counts (min(v // threshold, cap)) where v crosses the threshold."""
    hit = v > threshold if compare == "gt" else v >= threshold
    if spikes == "binary":
        return hit.astype(np.int64)
    count = np.clip(v // np.maximum(threshold, 1), 1, cap)
    return np.where(hit, count, 0).astype(np.int64)
