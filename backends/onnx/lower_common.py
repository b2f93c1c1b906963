"""Lowerings that are the same for integer and float graphs: Output, Flatten, Delay, and sliding windows.

Delay keeps the last ``max(delay)`` inputs as a state ``buf`` of shape
``[B, max_delay, *shape]`` (``buf[:, k-1]`` is x[t-k], zeros at t=0); the output
picks ``x[t - delay]`` per element from ``concat(x[t], buf)``.
"""

from __future__ import annotations

import numpy as np

from snncompile.nodes import Delay, Flatten, Node
from snncompile.quant.ranges import union

from .builder import I64, Val
from .context import StepContext


def lower_identity(ctx: StepContext, name: str, node: Node, x: Val) -> Val:
    return x


def lower_flatten(ctx: StepContext, name: str, node: Flatten, x: Val) -> Val:
    shape = ctx.b.const([0, *ctx.graph.shapes[name]], I64)  # 0 keeps the batch dimension
    return ctx.b.op("Reshape", [x, shape], x.dtype, "flatten")


def lower_delay(ctx: StepContext, name: str, node: Delay, x: Val) -> Val:
    b = ctx.b
    delay = node.delay.astype(np.int64)
    depth = int(delay.max(initial=0))
    if depth == 0:
        return x
    shape = tuple(int(s) for s in delay.shape)
    interval = None if ctx.ranges is None else union(ctx.in_range(name), (0, 0))
    buf = ctx.state(name, "buf", (depth, *shape), interval, np.zeros((depth, *shape)))
    x = b.cast(x, ctx.compute)
    head = b.op("Unsqueeze", [x, b.const([1], I64)], x.dtype, "unsqueeze")
    full = b.op("Concat", [head, buf], x.dtype, "concat", axis=1)  # [B, depth+1, *shape]: x[t], x[t-1], ...
    if np.all(delay == delay.reshape(-1)[0]):
        y = b.op("Gather", [full, b.const(int(delay.reshape(-1)[0]), I64)], x.dtype, "gather", axis=1)
    else:
        onehot = (np.arange(depth + 1).reshape(-1, *([1] * delay.ndim)) == delay[None]).astype(x.dtype)
        picked = b.mul(full, b.const(onehot[None]))
        y = b.op("ReduceSum", [picked, b.const([1], I64)], x.dtype, "pick", keepdims=0)
    rest = b.op("Slice", [full, b.const([0], I64), b.const([depth], I64), b.const([1], I64)], x.dtype, "slice")
    ctx.set_next(name, "buf", rest)
    return y


def windows(ctx: StepContext, x: Val, in_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
            padding: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[Val, tuple[int, ...]]:
    """Sliding windows of x [B, C, *spatial] as [B, C, K, P] (K taps, P output positions; zero padding).

    Returns the windows and the output spatial shape. A constant index table and one
    Gather do the work, so the lowering is exact for every dtype.
    """
    b = ctx.b
    channels, spatial = in_shape[0], in_shape[1:]
    padded = tuple(n + 2 * p for n, p in zip(spatial, padding, strict=True))
    out = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, p, d, k, s in zip(spatial, padding, dilation, kernel, stride, strict=True))
    if any(padding):
        pads = b.const([0, 0, *padding, 0, 0, *padding], I64)
        x = b.op("Pad", [x, pads], x.dtype, "pad")
    flat = b.op("Reshape", [x, b.const([0, channels, int(np.prod(padded))], I64)], x.dtype, "flat")
    taps = np.stack(np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij"), -1).reshape(-1, len(kernel))
    pos = np.stack(np.meshgrid(*[np.arange(o) for o in out], indexing="ij"), -1).reshape(-1, len(out))
    coords = pos[None, :, :] * np.array(stride) + taps[:, None, :] * np.array(dilation)  # [K, P, nd]
    strides = np.array([int(np.prod(padded[d + 1:])) for d in range(len(padded))])
    index = (coords * strides).sum(-1).astype(np.int64)
    return b.op("Gather", [flat, b.const(index)], x.dtype, "windows", axis=2), out


def sum_pool(ctx: StepContext, x: Val, in_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
             padding: tuple[int, ...]) -> Val:
    """Sum over each window: [B, C, H, W] -> [B, C, Ho, Wo] in x's dtype."""
    b = ctx.b
    win, out = windows(ctx, x, in_shape, kernel, stride, padding, (1,) * len(kernel))
    total = b.op("ReduceSum", [win, b.const([2], I64)], x.dtype, "window_sum", keepdims=0)
    return b.op("Reshape", [total, b.const([0, in_shape[0], *out], I64)], x.dtype, "pool")
