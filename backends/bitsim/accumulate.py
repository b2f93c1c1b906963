"""Exact integer accumulation for bitsim's fast paths: ``W x`` of a QDense / QConv, four ways.

Each ``matmul(x, w, x_max)`` returns ``x @ w.T`` exactly as int64 for x int64 ``[N, K]``, w int ``[M, K]``
and ``|x| <= x_max``:

* :func:`matmul_int64`  -- numpy int64 (wraps modulo 2^64 like the definition's einsum/matmul);
* :func:`matmul_float`  -- a float32 GEMM when ``max_i sum_j |W_ij| * x_max < 2^24``, float64 below 2^53,
  else int64: under the bound every product and partial sum, in any summation order, is an integer
  the float type represents exactly;
* :func:`matmul_sparse` -- adds the rows of W^T picked by the non-zero inputs (numpy int64);
* :func:`matmul_c`      -- the same in C, int16 weights into int32 accumulators when the bound is < 2^31.

A QConv is im2col + one of these per group (:func:`conv_matmul`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from snncompile.quant.intops import shift_round
from snncompile.quant.qnodes import QConv1d, QConv2d
from snncompile.quant.ranges import by_rows

from . import ckernel
from .cache import abs_row_sums, transposed
from .ops import _windows

#: float types whose integers are exact up to the given magnitude (exclusive)
FLOAT_EXACT = ((np.float32, 1 << 24), (np.float64, 1 << 53))

MatMul = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


def exact_float_type(weight: np.ndarray, bias: np.ndarray, x_max: int) -> type[np.floating] | None:
    """The narrowest float type in which ``W x + b`` is exact for |x| <= x_max, or None (use int64).

    weight: int [out, in]; the bound is max_i (sum_j |W_ij| * x_max + |b_i|).
    """
    rows = by_rows(weight, lambda w: np.abs(w).sum(axis=1)).astype(object) * int(x_max)
    bound = int((rows + np.abs(np.broadcast_to(bias, rows.shape)).astype(object)).max(initial=0))
    for ftype, limit in FLOAT_EXACT:
        if bound < limit:
            return ftype  # type: ignore[no-any-return]
    return None


def max_abs(x: np.ndarray) -> int:
    return max(int(x.max()), -int(x.min())) if x.size else 0


def matmul_int64(x: np.ndarray, w: np.ndarray, x_max: int) -> np.ndarray:
    return x @ w.T


def matmul_float(x: np.ndarray, w: np.ndarray, x_max: int) -> np.ndarray:
    ftype = exact_float_type(w, np.zeros(()), x_max)
    if ftype is None:
        return x @ w.T
    return (x.astype(ftype) @ w.T.astype(ftype)).astype(np.int64)


def matmul_sparse(x: np.ndarray, w: np.ndarray, x_max: int) -> np.ndarray:
    """Sum the rows of W^T picked by the non-zero inputs, weighted by them (int64, chunked)."""
    out = np.zeros((x.shape[0], w.shape[0]), np.int64)
    rows, cols = np.nonzero(x)
    vals = x[rows, cols]
    w_t = np.ascontiguousarray(w.T)
    chunk = max(1, (1 << 21) // max(1, w.shape[0]))
    for start in range(0, rows.size, chunk):
        r, c, v = rows[start:start + chunk], cols[start:start + chunk], vals[start:start + chunk]
        contrib = w_t[c] * v[:, None]
        heads = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        out[r[heads]] += np.add.reduceat(contrib, heads, axis=0)
    return out


def matmul_c(kernels: ckernel.CKernels) -> MatMul:
    def matmul(x: np.ndarray, w: np.ndarray, x_max: int) -> np.ndarray:
        w_t = transposed(w, np.int16 if fits_int32(w, x_max) else np.int64)  # prepared once per weight array
        return kernels.dense_sparse(x, w_t, np.zeros(w.shape[0], np.int64))
    return matmul


def bias_shift(acc: np.ndarray, bias: np.ndarray, shift: int) -> np.ndarray:
    """shift_round(acc + bias, shift), in place on a fresh accumulator."""
    if bias.any():
        acc += bias
    if shift > 0:
        np.left_shift(acc, shift, out=acc)
    elif shift < 0:
        np.right_shift(acc, -shift, out=acc)
    return acc


def fits_int32(w: np.ndarray, x_max: int) -> bool:
    return int(abs_row_sums(w).max(initial=0)) * int(x_max) < (1 << 31)


def conv_matmul(node: QConv1d | QConv2d, x: np.ndarray, matmul: MatMul, x_max: int) -> np.ndarray:
    """A QConv as im2col + matmul per group; x int64 [N, C, *spatial] -> shifted int64 [N, C_out, *out]."""
    geom: tuple[tuple[int, ...], ...] = (
        ((node.stride,), (node.padding,), (node.dilation,)) if isinstance(node, QConv1d)
        else (node.stride, node.padding, node.dilation))
    w = node.weight
    nd = w.ndim - 2
    win = _windows(x, tuple(w.shape[2:]), *geom)  # [N, C, *out, *k]
    n, out_sp = x.shape[0], win.shape[2:2 + nd]
    c_out, c_in_g = int(w.shape[0]), int(w.shape[1])
    per = c_out // node.groups
    parts = []
    for g in range(node.groups):
        cols = np.moveaxis(win[:, g * c_in_g:(g + 1) * c_in_g], 1, 1 + nd).reshape(
            n * int(np.prod(out_sp)), c_in_g * int(np.prod(w.shape[2:])))
        parts.append(matmul(cols, w[g * per:(g + 1) * per].reshape(per, -1), x_max))
    y = np.concatenate(parts, axis=1).reshape(n, *out_sp, c_out)
    y = np.moveaxis(y, -1, 1) + node.bias.reshape(1, -1, *([1] * nd))
    return shift_round(np.ascontiguousarray(y), node.shift)
