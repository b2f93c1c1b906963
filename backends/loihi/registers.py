"""Loihi's register encodings, and Lava's weight processing, exactly.

A Loihi neuron (Lava ``LIF`` with ``PyLifModelBitAcc``) and its incoming ``Dense`` are, in QGraph terms,
a QNeuron of kind CubaLIF under ``PRESETS["loihi"]`` fed by QDense / QConv layers::

    QDense.weight = w          int, 8-bit mantissa (see lava_weights)      shift = weight_exp   -8..7
    QNeuron.alpha = 4095 - du  du: 12-bit, 0..4095 (current decay factor 4096 - (du + 1): Lava's offset)
    QNeuron.beta  = 4096 - dv  dv: 12-bit, 0..4095
    QNeuron.threshold = vth << 6          vth: 17-bit, 1..131071 (0 is legal on Loihi; a QNeuron needs >= 1)
    QNeuron.bias = bias_mant << bias_exp  bias_mant: signed 13-bit, -4096..4095; bias_exp: 3-bit, 0..7
    input_shift = 6, frac_bits = 12, i_bits = v_bits = 24 (u wraps once, v saturates), v_reset = 0

Sources: lava-nc 0.10 ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc`` and ``lava.utils.weightutils`` (the
arithmetic, as ``tests/data/lava_loihi/README.md`` states it: 12-bit decays, vth up to 131071 so that
vth << 6 stays below the v rail, bias_mant over the signed 13-bit range, bias_exp 0..7, Dense a_out of 16-bit
precision); weight_exp -8..7: the signed 4-bit weight exponent field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile.errors import QuantizationError

WEIGHT_BITS = 8
WEIGHT_EXP_RANGE = (-8, 7)  # a signed 4-bit field
VTH_RANGE = (0, (1 << 17) - 1)  # vth = 0 is legal (Lava: fires iff v > 0)
DECAY_MAX = 4095
BIAS_MANT_RANGE = (-(1 << 12), (1 << 12) - 1)
BIAS_EXP_RANGE = (0, 7)
STATE_BITS = 24
INPUT_SHIFT = 6
FRAC_BITS = 12
#: lava-dl netx's bias exponent: it builds every LIF with bias_exp = 6 and the file's bias as bias_mant
NETX_BIAS_EXP = 6
#: Lava's a_out precision (PyDenseModelBitAcc: int32, precision=16): the hardware's dendritic input width
DENDRITE_BITS = 16

#: Lava's SignMode coding (lava.utils.weightutils.SignMode)
SIGN_MODES = {1: "mixed", 2: "excitatory", 3: "inhibitory"}
_SIGN_CODES = {v: k for k, v in SIGN_MODES.items()}


def sign_mode_of(weights: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory if min >= 0, inhibitory if max <= 0, else mixed."""
    w = np.asarray(weights)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def _sign_mode(sign_mode: str | int | None, weights: np.ndarray) -> str:
    if sign_mode is None or sign_mode == -1:
        return sign_mode_of(weights)
    if isinstance(sign_mode, str) and sign_mode in _SIGN_CODES:
        return sign_mode
    if isinstance(sign_mode, (int, np.integer)) and int(sign_mode) in SIGN_MODES:
        return SIGN_MODES[int(sign_mode)]
    raise QuantizationError(f"sign_mode {sign_mode!r} is not one of None, 1/'mixed', 2/'excitatory', 3/'inhibitory'")


def lava_weights(weights: np.ndarray, num_weight_bits: int = 8, sign_mode: str | int | None = None) -> np.ndarray:
    """The weights Lava's bit-accurate Dense actually uses (int64, same shape).

    sign_mode: None (Lava decides from the weights, see :func:`sign_mode_of`), or 1/'mixed', 2/'excitatory',
    3/'inhibitory'. Steps: clip to mixed [-256, 255], excitatory [0, 255], inhibitory [-255, 0]; then clear the
    lowest ``8 - num_weight_bits + (1 if mixed)`` bits, ``w = (w >> k) << k`` (on the magnitude for inhibitory).
    num_weight_bits: 1..8. Non-integer weights raise QuantizationError.
    """
    w = np.asarray(weights)
    if w.dtype.kind == "f" and not np.all(w == np.rint(w)):
        raise QuantizationError("lava_weights: weights must be integers")
    if not isinstance(num_weight_bits, (int, np.integer)) or not 1 <= num_weight_bits <= WEIGHT_BITS:
        raise QuantizationError(f"lava_weights: num_weight_bits {num_weight_bits!r} is outside 1..{WEIGHT_BITS}")
    mode = _sign_mode(sign_mode, w)
    w = w.astype(np.int64, copy=False)  # not changed in place below
    if mode == "inhibitory":
        w = -w
    lo = -(1 << WEIGHT_BITS) if mode == "mixed" else 0
    w = np.clip(w, lo, (1 << WEIGHT_BITS) - 1)
    k = WEIGHT_BITS - int(num_weight_bits) + (1 if mode == "mixed" else 0)
    w = (w >> k) << k
    return -w if mode == "inhibitory" else w


def _clip_range(mode: str) -> tuple[int, int]:
    """The weights :func:`lava_weights` leaves unclipped under ``mode``."""
    top = (1 << WEIGHT_BITS) - 1
    return {"mixed": (-(1 << WEIGHT_BITS), top), "excitatory": (0, top), "inhibitory": (-top, 0)}[mode]


def weight_mantissa_error(weights: np.ndarray) -> tuple[tuple[int, ...], int, str] | None:
    """None when Lava keeps ``weights`` unchanged (8 bits, its own sign mode); else (index, value, rule)."""
    w = np.asarray(weights, np.int64)
    if w.size == 0:
        return None
    mode = sign_mode_of(w)
    lo, hi = _clip_range(mode)
    odd = mode == "mixed" and int(np.bitwise_or.reduce(w, axis=None)) & 1
    if lo <= int(w.min()) and int(w.max()) <= hi and not odd:
        return None  # lava_weights keeps w: inside the clip range, and even when mixed (three reductions, no copy)
    bad = lava_weights(w, WEIGHT_BITS, mode) != w
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    rule = {"mixed": "mixed-sign weights must be even values in [-256, 254]",
            "excitatory": "excitatory weights must lie in [0, 255]",
            "inhibitory": "inhibitory weights must lie in [-255, 0]"}[mode]
    return idx, int(w[idx]), rule


def num_weight_bits(weights: np.ndarray) -> int:
    """The smallest Lava ``num_weight_bits`` (1..8) that leaves valid weights unchanged (8 when none does).

    In one pass instead of one :func:`lava_weights` per width: with b bits Lava clips and then clears the lowest
    ``k = 8 - b + (1 if mixed)`` bits, which leaves the weights unchanged iff they lie in the clip range and all
    have k trailing zero bits (of the magnitude; a two's complement value has the same trailing zeros), i.e.
    ``b = 8 + mixed - z`` for z the trailing zeros of the OR of all weights.
    """
    w = np.asarray(weights, np.int64)
    mode = sign_mode_of(w)
    lo, hi = _clip_range(mode)
    if w.size and (int(w.min()) < lo or int(w.max()) > hi):
        return WEIGHT_BITS
    bits = int(np.bitwise_or.reduce(w, axis=None)) if w.size else 0
    if bits == 0:
        return 1
    zeros = (bits & -bits).bit_length() - 1
    return min(WEIGHT_BITS, max(1, WEIGHT_BITS + (mode == "mixed") - zeros))


def split_bias(bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bias = bias_mant << bias_exp with the smallest bias_exp in 0..7: (mant, exp, ok) int64 arrays.

    ``ok`` is False where no (mantissa, exponent) pair represents the value exactly.
    """
    b = np.asarray(bias, np.int64)
    mant, exp = b.copy(), np.zeros(b.shape, np.int64)
    done = (BIAS_MANT_RANGE[0] <= b) & (b <= BIAS_MANT_RANGE[1])
    for e in range(1, BIAS_EXP_RANGE[1] + 1):
        m = b >> e
        fits = ~done & ((m << e) == b) & (BIAS_MANT_RANGE[0] <= m) & (m <= BIAS_MANT_RANGE[1])
        mant = np.where(fits, m, mant)
        exp = np.where(fits, e, exp)
        done = done | fits
    return mant, exp, done


@dataclass(frozen=True)
class NeuronRegisters:
    """One population's Loihi registers, int64 arrays over its neurons (flat, C order).

    du, dv: 0..4095.  vth: 1..131071.  bias_mant: -4096..4095.  bias_exp: 0..7.
    u0, v0: initial current and voltage, 24-bit.
    """

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray
    u0: np.ndarray
    v0: np.ndarray

    def select(self, start: int, stop: int) -> NeuronRegisters:
        return NeuronRegisters(*(getattr(self, f)[start:stop] for f in REGISTER_FIELDS))


REGISTER_FIELDS = ("du", "dv", "vth", "bias_mant", "bias_exp", "u0", "v0")
