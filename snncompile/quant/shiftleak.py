"""The shift-subtract leak: ``decay(y) = y - (y >> k)``, a decay by ``1 - 2^-k`` with no multiplier.

Hardware without multipliers in the neuron (Spiker+-style datapaths, the RTL backend's shift mode) leaks a
membrane as ``y - (y >> k)`` (arithmetic shift, floor). With D fractional bits the decay multiplier is then
``m = 2^D - 2^(D-k)`` for k in 0..D (k = 0: m = 0, the state is forgotten each step), or ``m = 2^D`` (no
leak, I/IF). For these multipliers ``y - floor(y / 2^k) == ceil(y*m / 2^D)``: the shift-subtract leak is
the decay rounded *up*, which none of ``toward_zero``, ``floor`` or ``nearest`` reproduces.

This module is the one place that knows the encoding: which multipliers are legal (:func:`shift_form_problem`),
the shift k of each (:func:`leak_shift`) and the decay itself (:func:`shift_subtract`). A multiplier-based
printer (C, ONNX) may emit ``ceil(y*m / 2^D)`` instead; both are equal for every legal m.
"""

from __future__ import annotations

import numpy as np

#: ``leak_shift`` of a multiplier of exactly 2^D (no leak)
NO_LEAK = -1


def legal_multipliers(frac_bits: int) -> np.ndarray:
    """Every decay multiplier the leak admits, ascending: ``2^D - 2^(D-k)`` for k = 0..D, then ``2^D``."""
    one = 1 << frac_bits
    return np.array([one - (one >> k) for k in range(frac_bits + 1)] + [one], np.int64)


def shift_form_problem(m: np.ndarray, frac_bits: int) -> int | None:
    """The flat index of the first multiplier that is neither ``2^D - 2^(D-k)`` (k in 0..D) nor ``2^D``."""
    one = 1 << frac_bits
    gap = one - np.asarray(m, np.int64).reshape(-1)
    bad = (gap < 0) | (gap > one) | ((gap & (gap - 1)) != 0)
    return int(np.argmax(bad)) if bad.any() else None


def leak_shift(m: np.ndarray, frac_bits: int) -> np.ndarray:
    """k per multiplier (``m = 2^D - 2^(D-k)``), ``NO_LEAK`` where m = 2^D; int64, m's shape.

    Only defined for multipliers :func:`shift_form_problem` accepts (QNeuron refuses the others)."""
    m = np.asarray(m, np.int64)
    gap = (1 << frac_bits) - m
    k = frac_bits - np.log2(np.maximum(gap, 1)).astype(np.int64)  # exact: gap is a power of two
    return np.where(gap == 0, NO_LEAK, k).astype(np.int64)


def shift_subtract(y: np.ndarray, m: np.ndarray, frac_bits: int) -> np.ndarray:
    """``y - (y >> k)`` with k = :func:`leak_shift` (y unchanged where there is no leak)."""
    k = leak_shift(m, frac_bits)
    return np.where(k == NO_LEAK, y, y - (y >> np.maximum(k, 0)))


def nearest_forms(value: float, frac_bits: int) -> str:
    """The two shift-subtract decays around ``value`` (a float in [0, 1]), for an error message."""
    ks = range(frac_bits + 1)
    forms = [(1.0 - 2.0**-k, k) for k in ks] + [(1.0, None)]
    below = max((f for f in forms if f[0] <= value), default=forms[0])
    above = min((f for f in forms if f[0] >= value), default=forms[-1])

    def show(f: tuple[float, int | None]) -> str:
        return "1 (no leak)" if f[1] is None else f"{f[0]:.6g} (k={f[1]})"

    return show(below) if below == above else f"{show(below)} or {show(above)}"
