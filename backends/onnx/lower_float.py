"""Lowerings of the float discrete-time Graph (the float baseline model), mirroring ``snncompile.reference``.

The neuron step repeats the reference executor's operations in the same order
(so, in float64, neuron arithmetic rounds identically; only the summation order
inside matrix products and convolutions may differ in the last bits). States are
those of the integer model: ``v``, ``i``, ``s`` (delayed reset), ``x`` (synapse
delay), ``buf`` (Delay) and ``rec`` (recurrent edges).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snncompile.nodes import (
    IF,
    LI,
    LIF,
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CubaLI,
    CubaLIF,
    I,
    Linear,
    NeuronNode,
    Scale,
    SumPool2d,
    Threshold,
)
from snncompile.semantics import Semantics

from .builder import I64, Builder, Val
from .context import StepContext
from .lower_common import sum_pool, windows


def _w(ctx: StepContext, arr: Any) -> Val:
    return ctx.b.param(np.asarray(arr), ctx.compute)


def lower_affine(ctx: StepContext, name: str, node: Affine | Linear, x: Val) -> Val:
    b = ctx.b
    y = b.op("MatMul", [x, b.weights(np.ascontiguousarray(node.weight.T), ctx.compute)], ctx.compute, "matmul")
    if isinstance(node, Affine):
        y = b.add(y, b.const(node.bias, ctx.compute))
    return y


def lower_scale(ctx: StepContext, name: str, node: Scale, x: Val) -> Val:
    return ctx.b.mul(x, ctx.b.const(node.scale, ctx.compute))


def lower_conv(ctx: StepContext, name: str, node: Conv1d | Conv2d, x: Val) -> Val:
    b = ctx.b
    w = np.asarray(node.weight, ctx.compute)
    nd = w.ndim - 2
    stride, padding, dilation = (tuple(int(v) for v in np.broadcast_to(np.asarray(a), (nd,)))
                                 for a in (node.stride, node.padding, node.dilation))
    bias = b.const(np.asarray(node.bias, ctx.compute).reshape(-1, *([1] * nd)))
    out_shape = ctx.graph.shapes[name]
    if ctx.compute == np.float32:  # onnxruntime has a float32 Conv kernel only
        y = b.op("Conv", [x, b.weights(w, ctx.compute)], ctx.compute, "conv", strides=list(stride),
                 pads=[*padding, *padding], dilations=list(dilation), group=node.groups,
                 kernel_shape=list(w.shape[2:]))
        return b.add(y, bias)
    g, c_out, c_in_g = node.groups, w.shape[0], w.shape[1]
    win, _ = windows(ctx, x, ctx.graph.input_shape(name), tuple(w.shape[2:]), stride, padding, dilation)
    k, p = int(np.prod(w.shape[2:])), int(np.prod(out_shape[1:]))
    cols = b.op("Reshape", [win, b.const([0, g, c_in_g * k, p], I64)], ctx.compute, "cols")
    prod = b.op("MatMul", [b.weights(np.ascontiguousarray(w.reshape(g, c_out // g, c_in_g * k)), ctx.compute), cols],
                ctx.compute, "matmul")
    return b.add(b.op("Reshape", [prod, b.const([0, *out_shape], I64)], ctx.compute, "conv"), bias)


def lower_pool(ctx: StepContext, name: str, node: SumPool2d | AvgPool2d, x: Val) -> Val:
    total = sum_pool(ctx, x, ctx.graph.input_shape(name), node.kernel_size, node.stride, node.padding)
    if isinstance(node, AvgPool2d):  # padded zeros count in the divisor (torch's count_include_pad=True)
        return ctx.b.binary("Div", total, float(np.prod(node.kernel_size)))
    return total


def _fire(b: Builder, v: Val, theta: Val, sem: Semantics) -> tuple[Val, Val]:
    hit = b.compare("Greater" if sem.compare == "gt" else "GreaterOrEqual", v, theta)
    if sem.spikes == "binary":
        return b.cast(hit, v.dtype), hit
    count = b.clip(b.op("Floor", [b.binary("Div", v, theta)], v.dtype, "floor"), 1.0, float(sem.spike_cap))
    return b.where(hit, count, 0.0), hit


def initial_v(node: NeuronNode) -> np.ndarray:
    if node.semantics.initial_v == "v_init":
        return np.asarray(node.v_init, np.float64)
    return np.zeros(node.shape)


def lower_float_neuron(ctx: StepContext, name: str, node: NeuronNode, x: Val) -> Val:
    b, sem, shape = ctx.b, node.semantics, node.shape
    if isinstance(node, Threshold):
        return _fire(b, x, _w(ctx, node.threshold), sem)[0]
    if sem.synapse_delay == 1:
        held = ctx.state(name, "x", shape, None, 0.0)
        ctx.set_next(name, "x", x)
        x = held
    bias = _w(ctx, node.bias)  # type: ignore[attr-defined]
    if isinstance(node, (CubaLI, CubaLIF)):
        alpha = _w(ctx, node.alpha)
        i_prev = ctx.state(name, "i", shape, None, 0.0)
        if sem.synapse_order == "decay_then_add":
            drive = b.add(b.mul(alpha, i_prev), x)
        else:
            drive = b.mul(alpha, b.add(i_prev, x))
        ctx.set_next(name, "i", drive)
    else:
        drive = x
    v_prev = ctx.state(name, "v", shape, None, initial_v(node))
    decayed = b.mul(_w(ctx, node.beta), v_prev) if isinstance(node, (LI, LIF, CubaLI, CubaLIF)) else v_prev
    if not node.SPIKING:
        v = b.add(b.add(decayed, drive), bias)
        ctx.set_next(name, "v", v)
        return v
    assert isinstance(node, (IF, LIF, CubaLIF))
    theta, v_reset = _w(ctx, node.threshold), _w(ctx, node.v_reset)
    if sem.timing == "immediate":
        v = b.add(b.add(decayed, drive), bias)
        s, hit = _fire(b, v, theta, sem)
        if sem.reset == "subtract":
            v = b.sub(v, b.mul(s, theta))
        elif sem.reset == "zero":
            v = b.where(b.compare("Greater", s, 0.0), v_reset, v)
    else:
        if sem.timing == "delayed":
            r = ctx.state(name, "s", shape, None, 0.0)
        else:
            r, _ = _fire(b, v_prev, theta, sem)
        new = b.add(drive, bias)
        fired = b.compare("Greater", r, 0.0)
        if sem.reset == "subtract":
            v = b.sub(b.add(decayed, new), b.mul(r, theta))
        elif sem.reset == "zero" and sem.delayed_zero == "state":
            v = b.add(b.where(fired, v_reset, decayed), new)
        elif sem.reset == "zero":
            v = b.where(fired, v_reset, b.add(decayed, new))
        else:
            v = b.add(decayed, new)
        s, _ = _fire(b, v, theta, sem)
        if sem.timing == "snntorch_immediate":
            d = b.sub(s, r)
            if sem.reset == "subtract":
                v = b.sub(v, b.mul(d, theta))
            elif sem.reset == "zero":
                v = b.sub(v, b.mul(d, b.sub(v, v_reset)))
        else:
            ctx.set_next(name, "s", s)
    if node.v_min is not None:  # the lower clamp after the reset
        v = b.binary("Max", v, _w(ctx, node.v_min))
    ctx.set_next(name, "v", v)
    return s


FLOAT_NEURONS = (Threshold, I, IF, LI, LIF, CubaLI, CubaLIF)
