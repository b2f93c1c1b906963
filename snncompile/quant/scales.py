"""Scale rules: one positive float scale per scale group (see :mod:`.fold`), and the rounding used everywhere.

With ``q = 2^(weight_bits-1) - 1`` and ``m`` the largest |w| over the effective weights of a group (all output
channels of all weight layers in it, gains folded in, see :meth:`.fold.LayerFold.effective_weight`):

    maxabs      s = q / m                                   the largest weight maps to +-q
    percentile  s = q / P_p(|w|)                            P_p = p-th percentile of the group's |w| (numpy's
                                                            linear interpolation); larger weights saturate to +-q
    pow2        s = 2^floor(log2(q / m))                    the largest power of two not above the maxabs scale

A group whose weights are all zero takes ``m`` from its weight-layer biases instead, and if those are zero too
from its neurons' own parameters (max |threshold|, |v_reset|, |bias|; 1 if all are zero): such neurons see only
their own bias, so any positive scale is exact. A percentile of 0 (mostly zero weights) falls back to maxabs.

Rounding: :func:`round_half_away` (half away from zero, so +-x round symmetrically); weights, biases,
thresholds, resets and decays are all rounded with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .fold import FoldPlan
from .spec import QuantSpec


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """Round to the nearest integer, halves away from zero: 0.5 -> 1, -0.5 -> -1, 2.5 -> 3 (int64).

    Magnitudes beyond 2^62 saturate there (no int64 cast overflow), so the range checks that follow report them.
    """
    return _round_in_place(np.asarray(np.clip(np.asarray(x, np.float64), -_BIG, _BIG)))  # clip: a new array


def _round_in_place(a: np.ndarray) -> np.ndarray:
    """round_half_away of a float64 buffer already clipped to +-2^62, consuming it: trunc(a + copysign(0.5, a))
    is sign(a) * floor(|a| + 0.5) value for value (IEEE rounding of a +- 0.5 is symmetric in the sign).

    A C-contiguous writeable buffer is rounded a block at a time and each block's int64 values are stored over
    its own float64 ones: the result is ``a``'s memory reinterpreted as int64 (``a`` must not be used after),
    and no temporary is larger than one block -- a 33 M-weight layer's full-size temporaries (its fresh pages)
    cost more time than the arithmetic, and their memory was the export's peak."""
    if a.ndim == 0 or not (a.flags.c_contiguous and a.flags.writeable):
        b = np.array(a, np.float64)  # a 0-d or read-only input: rounded in a copy
        b += np.copysign(0.5, b)
        np.trunc(b, out=b)
        out = b.astype(np.int64)
        return out[()] if out.ndim == 0 else out  # a 0-d input gives an int64 scalar, as numpy's ufuncs do
    flat = a.reshape(-1)
    ints = flat.view(np.int64)
    for k in range(0, flat.size, _BLOCK):
        block = flat[k:k + _BLOCK]
        block += np.copysign(0.5, block)
        np.trunc(block, out=block)
        ints[k:k + _BLOCK] = block  # the same memory: numpy reads the block through a block-sized buffer
    return ints.reshape(a.shape)


_BLOCK = 1 << 18


_BIG = float(1 << 62)
_TINY = 1e-300  # smallest magnitude m a scale is computed from, so q / m stays finite


def scale_round(x: np.ndarray | float, scale: np.ndarray | float) -> np.ndarray:
    """round_half_away(x * scale); a product that overflows float64 saturates like any other huge value."""
    with np.errstate(over="ignore"):
        product = np.multiply(x, scale, dtype=np.float64)  # a fresh buffer: rounded in place
    if product.ndim == 0:
        return round_half_away(product)
    np.clip(product, -_BIG, _BIG, out=product)
    return _round_in_place(product)


def show_int(value: int) -> str:
    """An integer for a message; a value that saturated in :func:`round_half_away` shows as '>= 2^62'."""
    return f"{'-' if value < 0 else ''}>= 2^62" if abs(int(value)) >= 1 << 62 else str(int(value))


def weight_limit(bits: int) -> int:
    """q = 2^(bits-1) - 1, the largest weight magnitude (symmetric range)."""
    return (1 << (bits - 1)) - 1


def pow2_floor(r: np.ndarray) -> np.ndarray:
    """2^floor(log2(r)) for r > 0, exact (via frexp: r = f * 2^e with f in [0.5, 1))."""
    _, e = np.frexp(np.asarray(r, np.float64))
    return np.ldexp(1.0, e - 1)


def group_scales(
    plan: FoldPlan, weights: Mapping[str, np.ndarray], biases: Mapping[str, np.ndarray],
    neuron_params: Mapping[str, np.ndarray], spec: QuantSpec, group_bits: np.ndarray | None = None,
) -> np.ndarray:
    """float[n_groups], the scale of every group under ``spec.scale_rule`` (see the module docstring).

    weights / biases: effective float weights [C_out, ...] and biases [C_out] of every weight layer;
    neuron_params: per neuron node, max |threshold, v_reset, bias| per neuron (the node's shape);
    group_bits: int[n_groups], the weight width of each group (per-layer precision); None: ``spec.weight_bits``.
    """
    q = (weight_limit(spec.weight_bits) if group_bits is None
         else ((1 << (np.asarray(group_bits, np.int64) - 1)) - 1).astype(np.float64))
    m_w = np.zeros(plan.n_groups)
    m_b = np.zeros(plan.n_groups)
    for name, fold in plan.layers.items():
        w = weights[name].reshape(weights[name].shape[0], -1)  # max |w| per row without an |w| copy
        np.maximum.at(m_w, fold.groups, np.maximum(w.max(axis=1, initial=0.0), -w.min(axis=1, initial=0.0)))
        np.maximum.at(m_b, fold.groups, np.abs(biases[name]))
    m_n = np.zeros(plan.n_groups)
    for name, groups in plan.neurons.items():
        np.maximum.at(m_n, groups.reshape(-1), np.asarray(neuron_params[name], np.float64).reshape(-1))
    m = np.where(m_w > 0, m_w, np.where(m_b > 0, m_b, np.where(m_n > 0, m_n, 1.0)))
    m = np.maximum(m, _TINY)
    if spec.scale_rule == "percentile":
        m = np.where(m_w > 0, _group_percentiles(plan, weights, float(spec.percentile), m), m)
    scale = q / m
    if spec.scale_rule == "pow2":
        scale = pow2_floor(scale)
    return scale


def _group_percentiles(plan: FoldPlan, weights: Mapping[str, np.ndarray], pct: float, fallback: np.ndarray
                       ) -> np.ndarray:
    values, labels = [], []
    for name, fold in plan.layers.items():
        w = np.abs(weights[name]).reshape(weights[name].shape[0], -1)
        values.append(w.reshape(-1))
        labels.append(np.repeat(fold.groups, w.shape[1]))
    if not values:
        return fallback
    v, lab = np.concatenate(values), np.concatenate(labels)
    order = np.argsort(lab, kind="stable")
    v, lab = v[order], lab[order]
    starts = np.searchsorted(lab, np.arange(plan.n_groups), side="left")
    ends = np.searchsorted(lab, np.arange(plan.n_groups), side="right")
    out = fallback.copy()
    for g in range(plan.n_groups):
        if ends[g] > starts[g]:
            p = float(np.percentile(v[starts[g]:ends[g]], pct))
            if p > 0:
                out[g] = max(p, _TINY)
    return out
