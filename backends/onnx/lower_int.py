"""Integer lowerings of the stateless QGraph nodes: QDense, QConv1d, QConv2d, QScale, SumPool2d.

Weight layers compute ``acc = W x + b`` exactly, then bitsim's shift
(``acc << s``, or ``floor(acc / 2^-s)``). The product ``W x`` takes the fastest
lowering that is exact for the layer's value ranges (:func:`product_kind`):

* ``uint8`` / ``int8``: MatMulInteger (ConvInteger) with int8 weights, int32
  accumulation -- when x fits the 8-bit type, every weight fits int8 and
  ``max_row sum|w| * max|x| < 2^31``;
* ``float32`` / ``float64``: MatMul on floats, exact while that bound is below
  2^24 / 2^53 (every partial sum is then an exactly representable integer);
* ``int64``: MatMul on int64 (always exact; the slowest).

Convolutions that do not fit ConvInteger are lowered to a Gather of windows and a
batched MatMul (onnxruntime has no integer or float64 Conv kernel).
"""

from __future__ import annotations

import numpy as np

from snncompile.nodes import SumPool2d
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QScale
from snncompile.quant.ranges import Interval, accumulation_bound, conv_input

from .builder import I64, Val
from .context import StepContext
from .lower_common import sum_pool, windows

INT8_MIN, INT8_MAX = -128, 127


def product_kind(weight: np.ndarray, x: Interval) -> str:
    """The exact lowering of ``W x`` for x in the interval: uint8, int8, float32, float64 or int64."""
    bound = accumulation_bound(weight, x)
    w_int8 = weight.size == 0 or (int(weight.min()) >= INT8_MIN and int(weight.max()) <= INT8_MAX)
    if w_int8 and bound < 2**31:
        if x[0] >= 0 and x[1] <= 255:
            return "uint8"
        if x[0] >= INT8_MIN and x[1] <= INT8_MAX:
            return "int8"
    if bound < 2**24:
        return "float32"
    if bound < 2**53:
        return "float64"
    return "int64"


def _matmul(ctx: StepContext, a: Val | np.ndarray, b_: Val | np.ndarray, kind: str) -> Val:
    """a @ b (one side a constant weight array) as int64, with the lowering ``kind``."""
    b = ctx.b
    if kind in ("uint8", "int8"):
        ops = [b.cast(v, kind) if isinstance(v, Val) else b.const(v, np.int8) for v in (a, b_)]
        return b.cast(b.op("MatMulInteger", ops, np.dtype(np.int32), "mmi"), I64)
    ops = [b.cast(v, kind) if isinstance(v, Val) else b.const(v, kind) for v in (a, b_)]
    return b.cast(b.op("MatMul", ops, np.dtype(kind), "matmul"), I64)


def shift_round(ctx: StepContext, acc: Val, shift: int) -> Val:
    """bitsim's shift: ``acc << shift`` or ``floor(acc / 2^-shift)``."""
    if shift > 0:
        return ctx.b.mul(acc, 1 << shift)
    if shift < 0:
        return ctx.b.floor_div_pow2(acc, -shift)
    return acc


def _add_bias(ctx: StepContext, acc: Val, bias: np.ndarray, trailing: int) -> Val:
    if not np.any(bias):
        return acc
    return ctx.b.add(acc, ctx.b.const(bias.reshape(-1, *([1] * trailing)), I64))


def lower_qdense(ctx: StepContext, name: str, node: QDense, x: Val) -> Val:
    kind = product_kind(node.weight, ctx.in_range(name))
    acc = _matmul(ctx, x, np.ascontiguousarray(node.weight.T), kind)
    return shift_round(ctx, _add_bias(ctx, acc, node.bias, 0), node.shift)


def lower_qscale(ctx: StepContext, name: str, node: QScale, x: Val) -> Val:
    b = ctx.b
    acc = b.mul(b.cast(x, I64), b.const(node.weight, I64))
    if np.any(node.bias):
        acc = b.add(acc, b.const(node.bias, I64))
    return shift_round(ctx, acc, node.shift)


def lower_qconv(ctx: StepContext, name: str, node: QConv1d | QConv2d, x: Val) -> Val:
    b = ctx.b
    w = node.weight
    nd = w.ndim - 2
    stride, padding, dilation = (tuple(int(v) for v in np.broadcast_to(np.asarray(a), (nd,)))
                                 for a in (node.stride, node.padding, node.dilation))
    in_shape = ctx.graph.input_shape(name)
    out_shape = ctx.graph.shapes[name]
    kind = product_kind(w.reshape(w.shape[0], -1), conv_input(ctx.in_range(name)))
    if kind in ("uint8", "int8"):
        y = b.op("ConvInteger", [b.cast(x, kind), b.const(w, np.int8)], np.dtype(np.int32), "conv",
                 strides=list(stride), pads=[*padding, *padding], dilations=list(dilation), group=node.groups,
                 kernel_shape=list(w.shape[2:]))
        acc = b.cast(y, I64)
    else:
        g, c_out, c_in_g = node.groups, w.shape[0], w.shape[1]
        x = b.cast(x, I64)
        win, _ = windows(ctx, x, in_shape, tuple(w.shape[2:]), stride, padding, dilation)  # [B, C, K, P]
        k, p = int(np.prod(w.shape[2:])), int(np.prod(out_shape[1:]))
        cols = b.op("Reshape", [win, b.const([0, g, c_in_g * k, p], I64)], I64, "cols")
        w3 = np.ascontiguousarray(w.reshape(g, c_out // g, c_in_g * k))
        prod = _matmul(ctx, w3, cols, kind)  # [B, G, C_out/G, P]
        acc = b.op("Reshape", [prod, b.const([0, *out_shape], I64)], I64, "conv")
    return shift_round(ctx, _add_bias(ctx, acc, node.bias, nd), node.shift)


def lower_sumpool_int(ctx: StepContext, name: str, node: SumPool2d, x: Val) -> Val:
    return sum_pool(ctx, ctx.b.cast(x, I64), ctx.graph.input_shape(name), node.kernel_size, node.stride,
                    node.padding)
