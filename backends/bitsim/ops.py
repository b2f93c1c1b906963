"""Integer stateless operations on int64 arrays ``[N, *shape]`` (the plain, definitional forms)."""

from __future__ import annotations

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Flatten, Input, Node, Output, SumPool2d
from snncompile.quant.intops import shift_round
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QScale
from snncompile.shapes import flatten_out


def _windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
             dilation: tuple[int, ...]) -> np.ndarray:
    """Sliding windows of x [N, C, *spatial] -> [N, C, *out_spatial, *kernel] (zero padded)."""
    nd = len(kernel)
    pad = [(0, 0), (0, 0)] + [(p, p) for p in padding]
    xp = np.pad(x, pad)
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=tuple(range(2, 2 + nd)))
    # subsample by stride (output positions) and dilation (taps inside a window)
    sl_out = tuple(slice(None, None, s) for s in stride)
    sl_tap = tuple(slice(None, None, d) for d in dilation)
    return win[(slice(None), slice(None), *sl_out, *sl_tap)]


def conv_int(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple[int, ...], padding: tuple[int, ...],
             dilation: tuple[int, ...], groups: int) -> np.ndarray:
    nd = w.ndim - 2
    win = _windows(x, tuple(w.shape[2:]), stride, padding, dilation)  # [N, C, *out, *k]
    c_out, c_in_g = w.shape[0], w.shape[1]
    letters = "klm"[:nd]
    spatial = "xyz"[:nd]
    outs = []
    for g in range(groups):
        wg = w[g * (c_out // groups):(g + 1) * (c_out // groups)]
        xg = win[:, g * c_in_g:(g + 1) * c_in_g]
        outs.append(np.einsum(f"nc{spatial}{letters},oc{letters}->no{spatial}", xg, wg))
    y = np.concatenate(outs, axis=1)
    return y + b.reshape(1, -1, *([1] * nd))


def sumpool_int(x: np.ndarray, node: SumPool2d) -> np.ndarray:
    win = _windows(x, node.kernel_size, node.stride, node.padding, (1, 1))
    return win.sum(axis=(-2, -1))


def apply_int(node: Node, x: np.ndarray) -> np.ndarray:
    """One integer stateless node on int64 ``x`` of shape [N, *in_shape]."""
    if isinstance(node, (Input, Output)):
        return x
    if isinstance(node, QDense):
        return shift_round(x @ node.weight.T + node.bias, node.shift)
    if isinstance(node, QConv1d):
        acc = conv_int(x, node.weight, node.bias, (node.stride,), (node.padding,), (node.dilation,), node.groups)
        return shift_round(acc, node.shift)
    if isinstance(node, QConv2d):
        acc = conv_int(x, node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups)
        return shift_round(acc, node.shift)
    if isinstance(node, QScale):
        return shift_round(x * node.weight + node.bias, node.shift)
    if isinstance(node, SumPool2d):
        return sumpool_int(x, node)
    if isinstance(node, Flatten):
        return x.reshape(x.shape[0], *flatten_out("flatten", x.shape[1:], node.start_dim, node.end_dim))
    raise UnsupportedNodeError(f"bitsim: no integer rule for node type {type(node).__name__}")
