"""One C emitter per QGraph node type: ``EMITTERS = {NodeType: emit_fn}``.

Each emitter declares its node's buffers and constants on the :class:`~.lower.Lowering`,
writes the body of the node's layer function (a few loops that call the
runtime's integer rules, ``include/snn_runtime.h``) and records bitsim's traces.
Weight layers have two forms, chosen per layer: *dense* (every weight, row by
row) and *sparse* (only the inputs that are non-zero, then a scatter of their
weight columns), selected by ``sparse=True`` for inputs that are event counts.
"""

from __future__ import annotations

import numpy as np

from snncompile.nodes import Delay, Flatten, Input, Output, SumPool2d
from snncompile.quant.qnodes import CUBA_KINDS, QConv1d, QConv2d, QDense, QNeuron, QScale
from snncompile.quant.ranges import spike_range, union
from snncompile.semantics import Semantics

from .cwrite import Code, ctype_for, index_type
from .lower import Emitter, Lowering, Memory, Operand


def _shift(expr: str, shift: int) -> str:
    return expr if shift == 0 else f"snn_shift_round({expr}, {shift})"


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def lower_input(lw: Lowering, name: str, node: Input, x: Operand) -> None:
    offset = sum(_size(lw.graph.shapes[n]) for n in lw.graph.inputs[: lw.graph.inputs.index(name)])
    y = lw.output(name)
    lw.inputs(f"for (k = 0; k < {y.size}; k++) {{ {y.at('k')} = in[{offset} + k]; }}")
    lw.record(name, "out", y)


def lower_pass(lw: Lowering, name: str, node: Output | Flatten, x: Operand) -> None:
    """Output and Flatten: the same values (a flat buffer), aliased unless they come from the previous step."""
    if x in lw.prev.values():  # the previous-step buffer is overwritten at the end of the step: copy it
        y = lw.output(name)
        body = Code()("int k;")
        with body.block(f"for (k = 0; k < {y.size}; k++)"):
            body.pragma("PIPELINE II=1")
            body(f"{y.at('k')} = {x.at('k')};")
        lw.layer(name, body)
    else:
        lw.outputs[name] = x
    lw.record(name, "out", lw.outputs[name])


def lower_dense(lw: Lowering, name: str, node: QDense, x: Operand) -> None:
    n_out, n_in = (int(s) for s in node.weight.shape)
    c = lw.cid[name]
    y = lw.output(name)
    acc_t = ctype_for(*lw.ranges.acc[name], signed_only=True)
    b = lw.const(name, f"B_{c}", np.broadcast_to(node.bias, (n_out,)))
    body = Code()
    if lw.sparse and x.events:
        w = lw.const(name, f"WT_{c}", node.weight.T, kind="weight")
        acc = lw.buffer(name, f"acc_{c}", *lw.ranges.acc[name], n_out, kind="state", ctype=acc_t)
        ev = lw.buffer(name, f"ev_{c}", 0, n_in - 1, n_in, kind="state", ctype=index_type(n_in))
        mul = "" if x.binary else f" * ({acc_t.name}){x.at('j')}"
        body("int i, j, e, n_ev = 0;")
        lw.partition(body, w.name, 2)
        lw.partition(body, acc.buf)
        with body.block(f"for (i = 0; i < {n_out}; i++)"):
            body(f"{acc.at('i')} = {b.at('i')};")
        _collect_events(body, x, ev, n_in)
        with body.block("for (e = 0; e < n_ev; e++)"):
            body(f"j = {ev.at('e')};")
            with body.block(f"for (i = 0; i < {n_out}; i++)"):
                lw.lanes(body)
                body(f"{acc.at('i')} += ({acc_t.name}){w.name}[j][i]{mul};")
        with body.block(f"for (i = 0; i < {n_out}; i++)"):
            body.pragma("PIPELINE II=1")
            body(f"{y.at('i')} = ({y.ctype.name}){_shift(acc.at('i'), node.shift)};")
    else:
        w = lw.const(name, f"W_{c}", node.weight, kind="weight")
        body("int i, j;")
        lw.partition(body, w.name, 2)
        lw.partition(body, x.buf)
        with body.block(f"for (i = 0; i < {n_out}; i++)"):
            body(f"{acc_t.name} acc = {b.at('i')};")
            with body.block(f"for (j = 0; j < {n_in}; j++)"):
                lw.lanes(body)
                if x.binary:
                    body(f"acc += {x.at('j')} ? ({acc_t.name}){w.name}[i][j] : 0;")
                else:
                    body(f"acc += ({acc_t.name}){w.name}[i][j] * ({acc_t.name}){x.at('j')};")
            body(f"{y.at('i')} = ({y.ctype.name}){_shift('acc', node.shift)};")
    lw.layer(name, body)
    lw.record(name, "out", y)


def _collect_events(body: Code, x: Operand, ev: Operand, n: int) -> None:
    """``ev[0..n_ev)``: the indices j with x[j] != 0, in increasing order."""
    with body.block(f"for (j = 0; j < {n}; j++)"):
        body.pragma("PIPELINE II=1")
        with body.block(f"if ({x.at('j')} != 0)"):
            body(f"{ev.at('n_ev')} = ({ev.ctype.name})j;", "n_ev++;")


def lower_conv(lw: Lowering, name: str, node: QConv1d | QConv2d, x: Operand) -> None:
    """Conv1d runs as a Conv2d of height 1; groups, stride, padding and dilation are general."""
    c = lw.cid[name]
    in_shape, out_shape = lw.graph.input_shape(name), lw.graph.shapes[name]
    if isinstance(node, QConv1d):
        w4 = node.weight[:, :, None, :]
        (hh, ww), (co, ho, wo) = (1, in_shape[1]), (out_shape[0], 1, out_shape[1])
        (sh, sw), (ph, pw), (dh, dw) = (1, node.stride), (0, node.padding), (1, node.dilation)
    else:
        w4 = node.weight
        (_, hh, ww), (co, ho, wo) = in_shape, out_shape
        (sh, sw), (ph, pw), (dh, dw) = node.stride, node.padding, node.dilation
    cin_g, kh, kw = (int(s) for s in w4.shape[1:])
    cout_g = co // node.groups
    y = lw.output(name)
    acc_t = ctype_for(*lw.ranges.acc[name], signed_only=True)
    b = lw.const(name, f"B_{c}", np.broadcast_to(node.bias, (co,)))
    w = lw.const(name, f"W_{c}", w4, kind="weight")
    body = Code()
    if lw.sparse and x.events:
        acc = lw.buffer(name, f"acc_{c}", *lw.ranges.acc[name], y.size, kind="state", ctype=acc_t)
        ev = lw.buffer(name, f"ev_{c}", 0, x.size - 1, x.size, kind="state", ctype=index_type(x.size))
        mul = "" if x.binary else f" * ({acc_t.name}){x.at('j')}"
        body("int k, j, e, n_ev = 0, ch, g, cl, iy, ix, ky, kx, ny, nx, oy, ox, o;")
        lw.partition(body, acc.buf)
        with body.block(f"for (k = 0; k < {y.size}; k++)"):
            body(f"{acc.at('k')} = {b.at(f'k / {ho * wo}')};")
        _collect_events(body, x, ev, x.size)
        with body.block("for (e = 0; e < n_ev; e++)"):
            body(f"j = {ev.at('e')};", f"ch = j / {hh * ww};", f"iy = j / {ww} % {hh};", f"ix = j % {ww};",
                 f"g = ch / {cin_g};", f"cl = ch % {cin_g};")
            with body.block(f"for (ky = 0; ky < {kh}; ky++)"):
                body(f"ny = iy + {ph} - ky * {dh};", f"if (ny < 0 || ny % {sh} != 0 || ny / {sh} >= {ho}) continue;",
                     f"oy = ny / {sh};")
                with body.block(f"for (kx = 0; kx < {kw}; kx++)"):
                    body(f"nx = ix + {pw} - kx * {dw};",
                         f"if (nx < 0 || nx % {sw} != 0 || nx / {sw} >= {wo}) continue;", f"ox = nx / {sw};")
                    with body.block(f"for (o = g * {cout_g}; o < (g + 1) * {cout_g}; o++)"):
                        lw.lanes(body)
                        body(f"{acc.at(f'(o * {ho} + oy) * {wo} + ox')} += ({acc_t.name}){w.name}[o][cl][ky][kx]{mul};")
        with body.block(f"for (k = 0; k < {y.size}; k++)"):
            body.pragma("PIPELINE II=1")
            body(f"{y.at('k')} = ({y.ctype.name}){_shift(acc.at('k'), node.shift)};")
    else:
        body("int o, oy, ox, cl, ky, kx, iy, ix;")
        with body.block(f"for (o = 0; o < {co}; o++)"), body.block(f"for (oy = 0; oy < {ho}; oy++)"), \
                body.block(f"for (ox = 0; ox < {wo}; ox++)"):
            body(f"{acc_t.name} acc = {b.at('o')};")
            with body.block(f"for (cl = 0; cl < {cin_g}; cl++)"), body.block(f"for (ky = 0; ky < {kh}; ky++)"), \
                    body.block(f"for (kx = 0; kx < {kw}; kx++)"):
                lw.lanes(body)
                body(f"iy = oy * {sh} + ky * {dh} - {ph};", f"ix = ox * {sw} + kx * {dw} - {pw};")
                src = x.at(f"((o / {cout_g} * {cin_g} + cl) * {hh} + iy) * {ww} + ix")
                with body.block(f"if (iy >= 0 && iy < {hh} && ix >= 0 && ix < {ww})"):
                    body(f"acc += ({acc_t.name}){w.name}[o][cl][ky][kx] * ({acc_t.name}){src};")
            body(f"{y.at(f'(o * {ho} + oy) * {wo} + ox')} = ({y.ctype.name}){_shift('acc', node.shift)};")
    lw.layer(name, body)
    lw.record(name, "out", y)


def lower_sumpool(lw: Lowering, name: str, node: SumPool2d, x: Operand) -> None:
    (ch, hh, ww), (_, ho, wo) = lw.graph.input_shape(name), lw.graph.shapes[name]
    (kh, kw), (sh, sw), (ph, pw) = node.kernel_size, node.stride, node.padding
    y = lw.output(name)
    acc_t = ctype_for(*lw.ranges.acc[name], signed_only=True)
    body = Code()("int c, oy, ox, ky, kx, iy, ix;")
    with body.block(f"for (c = 0; c < {ch}; c++)"), body.block(f"for (oy = 0; oy < {ho}; oy++)"), \
            body.block(f"for (ox = 0; ox < {wo}; ox++)"):
        body(f"{acc_t.name} acc = 0;")
        with body.block(f"for (ky = 0; ky < {kh}; ky++)"), body.block(f"for (kx = 0; kx < {kw}; kx++)"):
            lw.lanes(body)
            body(f"iy = oy * {sh} + ky - {ph};", f"ix = ox * {sw} + kx - {pw};")
            with body.block(f"if (iy >= 0 && iy < {hh} && ix >= 0 && ix < {ww})"):
                body(f"acc += {x.at(f'(c * {hh} + iy) * {ww} + ix')};")
        body(f"{y.at(f'(c * {ho} + oy) * {wo} + ox')} = ({y.ctype.name})acc;")
    lw.layer(name, body)
    lw.record(name, "out", y)


def lower_scale(lw: Lowering, name: str, node: QScale, x: Operand) -> None:
    c = lw.cid[name]
    y = lw.output(name)
    acc_t = ctype_for(*lw.ranges.acc[name], signed_only=True)
    s = lw.const(name, f"S_{c}", node.weight.reshape(-1))
    b = lw.const(name, f"B_{c}", np.broadcast_to(node.bias, node.weight.shape).reshape(-1))
    body = Code()("int k;")
    with body.block(f"for (k = 0; k < {y.size}; k++)"):
        lw.lanes(body)
        acc = f"({acc_t.name}){s.at('k')} * ({acc_t.name}){x.at('k')} + {b.at('k')}"
        body(f"{y.at('k')} = ({y.ctype.name}){_shift(acc, node.shift)};")
    lw.layer(name, body)
    lw.record(name, "out", y)


def lower_delay(lw: Lowering, name: str, node: Delay, x: Operand) -> None:
    """A shift register of depth max(delay)+1 per element: dbuf[d] holds x[t-d] (as bitsim's rolled buffer)."""
    c = lw.cid[name]
    depth = int(node.delay.max()) + 1
    y = lw.output(name)
    d = lw.const(name, f"D_{c}", node.delay.reshape(-1))
    lw.state(f"static {y.ctype.name} dbuf_{c}[{depth}][{y.size}];")
    lw.memory.append(Memory(name, f"dbuf_{c}", "state", depth * y.size, y.ctype.bits))
    body = Code()("int k, j;")
    with body.block(f"for (k = 0; k < {y.size}; k++)"):
        lw.lanes(body)
        body(f"for (j = {depth - 1}; j > 0; j--) dbuf_{c}[j][k] = dbuf_{c}[j - 1][k];",
             f"dbuf_{c}[0][k] = ({y.ctype.name}){x.at('k')};", f"{y.at('k')} = dbuf_{c}[{d.at('k')}][k];")
    lw.layer(name, body)
    lw.reset(f"for (k = 0; k < {depth * y.size}; k++) {{ dbuf_{c}[k / {y.size}][k % {y.size}] = 0; }}")
    lw.record(name, "out", y)


_ENUM = {
    "rounding": {"toward_zero": "SNN_ROUND_TOWARD_ZERO", "floor": "SNN_ROUND_FLOOR", "nearest": "SNN_ROUND_NEAREST",
                 "shift_subtract": "SNN_ROUND_SHIFT_SUBTRACT"},
    "overflow": {"saturate": "SNN_SATURATE", "wrap": "SNN_WRAP", "wrap_loihi": "SNN_WRAP_LOIHI"},
    "reset": {"zero": "SNN_RESET_ZERO", "subtract": "SNN_RESET_SUBTRACT", "none": "SNN_RESET_NONE"},
    "timing": {"immediate": "SNN_TIMING_IMMEDIATE", "delayed": "SNN_TIMING_DELAYED",
               "snntorch_immediate": "SNN_TIMING_SNNTORCH"},
}


def _neuron_cfg(node: QNeuron, sem: Semantics) -> str:
    fields = {
        "cuba": int(node.kind in CUBA_KINDS), "spiking": int(node.SPIKING),
        "add_then_decay": int(sem.synapse_order == "add_then_decay"), "compare_ge": int(sem.compare == "ge"),
        "multi": int(sem.spikes == "multi"), "cap": sem.spike_cap, "reset": _ENUM["reset"][sem.reset],
        "timing": _ENUM["timing"][sem.timing], "zero_total": int(sem.delayed_zero == "total"),
        "rounding": _ENUM["rounding"][sem.rounding], "overflow_i": _ENUM["overflow"][sem.overflow_i],
        "overflow_v": _ENUM["overflow"][sem.overflow_v], "frac_bits": node.frac_bits, "i_bits": node.i_bits,
        "v_bits": node.v_bits, "input_shift": node.input_shift,
    }
    return ", ".join(f".{k} = {v}" for k, v in fields.items())


def lower_neuron(lw: Lowering, name: str, node: QNeuron, x: Operand) -> None:
    c, sem = lw.cid[name], node.semantics
    multi, ge = int(sem.spikes == "multi"), int(sem.compare == "ge")
    body = Code()("int k;")
    if node.kind == "Threshold":
        theta = lw.const(name, f"TH_{c}", node.threshold.reshape(-1))
        out_th = lw.output(name)
        with body.block(f"for (k = 0; k < {out_th.size}; k++)"):
            lw.lanes(body)
            body(f"{out_th.at('k')} = ({out_th.ctype.name})snn_fire({x.at('k')}, {theta.at('k')}, {ge}, {multi}, "
                 f"{sem.spike_cap});")
        lw.layer(name, body)
        lw.record(name, "out", out_th)
        return
    n = _size(node.shape)
    cuba = node.kind in CUBA_KINDS
    regs = lw.ranges.states[name]
    v = lw.buffer(name, f"v_{c}", *regs["v"], n, kind="state")
    i = lw.buffer(name, f"i_{c}", *regs["i"], n, kind="state") if cuba else None
    s = lw.buffer(name, f"s_{c}", *spike_range(node), n, kind="state") \
        if node.SPIKING and sem.timing == "delayed" else None
    xd = lw.buffer(name, f"xd_{c}", *union((x.lo, x.hi), (0, 0)), n, kind="state") if sem.synapse_delay else None
    used = {"alpha": cuba, "beta": True, "threshold": node.SPIKING, "v_reset": node.SPIKING and sem.reset == "zero",
            "bias": True, "v_init": True, "i_init": cuba}
    par = {k: lw.const(name, f"{k.upper()}_{c}", getattr(node, k).reshape(-1)).at("k") if on else "0"
           for k, on in used.items()}
    par["v_min"] = ("INT64_MIN" if node.v_min is None else  # the lower clamp after the reset (none: INT64_MIN)
                    lw.const(name, f"V_MIN_{c}", node.v_min.reshape(-1)).at("k"))
    lw.state(f"static const snn_neuron_cfg CFG_{c} = {{ {_neuron_cfg(node, sem)} }};")
    y = lw.output(name) if node.SPIKING else None
    for reg in (v, i, s, xd, y):
        if reg is not None:
            lw.partition(body, reg.buf)
    with body.block(f"for (k = 0; k < {n}; k++)"):
        lw.lanes(body)
        p = ", ".join(par[k] for k in ("alpha", "beta", "threshold", "v_reset", "bias", "v_min"))
        body(f"const snn_neuron_par p = {{ {p} }};")
        body(f"int64_t x = {xd.at('k') if xd else x.at('k')};")
        if xd:
            body(f"{xd.at('k')} = ({xd.ctype.name}){x.at('k')};")
        body(f"int64_t i = {i.at('k') if i else 0}, v = {v.at('k')}, s = {s.at('k') if s else 0};")
        call = f"snn_neuron_step(&CFG_{c}, &p, x, &i, &v, &s)"
        body(f"{y.at('k')} = ({y.ctype.name}){call};" if y else f"(void){call};")
        for op, var in ((v, "v"), (i, "i"), (s, "s")):
            if op is not None:
                body(f"{op.at('k')} = ({op.ctype.name}){var};")
    lw.layer(name, body)
    lw.fill(v, par["v_init"])
    if i is not None:
        lw.fill(i, par["i_init"])
    for op in (s, xd):
        if op is not None:
            lw.fill(op, "0")
    out: Operand = y if y is not None else v
    lw.outputs[name] = out
    lw.record(name, "out", out)
    if i is not None:
        lw.record(name, "i", i)
    lw.record(name, "v", v)


EMITTERS: dict[type, Emitter] = {
    Input: lower_input,  # type: ignore[dict-item]
    Output: lower_pass,  # type: ignore[dict-item]
    Flatten: lower_pass,  # type: ignore[dict-item]
    QDense: lower_dense,  # type: ignore[dict-item]
    QConv1d: lower_conv,  # type: ignore[dict-item]
    QConv2d: lower_conv,  # type: ignore[dict-item]
    SumPool2d: lower_sumpool,  # type: ignore[dict-item]
    QScale: lower_scale,  # type: ignore[dict-item]
    Delay: lower_delay,  # type: ignore[dict-item]
    QNeuron: lower_neuron,  # type: ignore[dict-item]
}
