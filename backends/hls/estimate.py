"""Analytic resource and latency estimate of a generated HLS design (no synthesis run).

Model (docs/hls.md has the derivation and the assumptions in prose):

* ops per step: weight layers ``n_in * n_out`` (dense) or ``C_out*H_out*W_out * C_in/g*KH*KW`` (conv, every
  tap), ``op = "acc"`` when the input is 0/1 spikes (no multiplier), else ``"mac"``; SumPool adds; Scale one
  multiply per element; neurons one update per neuron; Delay one move per element.
* cycles per step of a layer: ``ceil(work / U) + D`` with ``U`` lanes (the unroll factor) and ``D`` =
  PIPELINE_DEPTH fill cycles; work = ops (dense form) or ``activity * ops + n_in`` (sparse form: the scan for
  spiking inputs, then only their weight columns). Layers run one after another; a step is their sum.
* DSPs: ``U`` lanes times the DSP48E2 tiles (27x18) of one product; products with a 1-bit operand and decays
  by a uniform power of two cost none.
* memory: every array's elements times its C type's width; BRAM18 per array: ``P = min(U, elements)``
  partitions (cyclic, as the ARRAY_PARTITION pragmas say), each of ``ceil(elements / P)`` words, in the best
  BRAM18 aspect ratio; a partition of at most LUTRAM_BITS bits goes to LUTs/FFs instead.
* latency for T steps: ``T * cycles_per_step / f_clk``.
"""

from __future__ import annotations

from math import ceil, prod
from typing import Any

import numpy as np

from snncompile.nodes import Delay, Input, SumPool2d
from snncompile.quant.qnodes import CUBA_KINDS, QConv1d, QConv2d, QDense, QNeuron, QScale

from .lower import Lowering

PIPELINE_DEPTH = 4
LUTRAM_BITS = 1024
BRAM18_SHAPES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))  # (width, depth)


def bram18(depth: int, width: int) -> int:
    """BRAM18 blocks for one memory of ``depth`` words of ``width`` bits (best aspect ratio)."""
    return min(ceil(width / w) * ceil(depth / d) for w, d in BRAM18_SHAPES)


def dsp_per_product(a_bits: int, b_bits: int) -> int:
    """DSP48E2 tiles (27x18 signed) for one a x b product; none when an operand is a single bit."""
    lo, hi = sorted((a_bits, b_bits))
    return 0 if lo <= 1 else ceil(hi / 27) * ceil(lo / 18)


def bits_of(lo: int, hi: int) -> int:
    """Width of a two's-complement (or unsigned, when lo >= 0) value in [lo, hi]."""
    if lo >= 0:
        return max(int(hi).bit_length(), 1)
    return max(int(hi).bit_length(), int(-lo - 1).bit_length()) + 1


def _memory(lw: Lowering, node: str, unroll: int) -> dict[str, int]:
    out = {"weight_bits": 0, "param_bits": 0, "state_bits": 0, "bram18": 0}
    for m in lw.memory:
        if m.node != node:
            continue
        n, w = m.elements, m.bits
        key = {"weight": "weight_bits", "param": "param_bits"}.get(m.kind, "state_bits")
        out[key] += n * w
        parts = min(unroll, n)
        depth = ceil(n / parts)
        out["bram18"] += 0 if depth * w <= LUTRAM_BITS else parts * bram18(depth, w)
    return out


def _work(lw: Lowering, name: str, unroll: int, activity: float) -> dict[str, Any]:
    """ops per step, the kind of op, the loop form, cycles and DSPs of one node."""
    g, node = lw.graph, lw.graph.nodes[name]
    size = prod(g.shapes[name])
    x_lo, x_hi = lw.ranges.inp.get(name, (0, 1))
    binary = x_lo >= 0 and x_hi <= 1
    form, op, ops, dsp = "copy", "none", 0, 0
    if isinstance(node, (QDense, QConv1d, QConv2d)):
        taps = prod(int(s) for s in node.weight.shape[1:])
        ops = size * taps  # outputs x taps per output (dense: n_out x n_in)
        op = "acc" if binary else "mac"
        form = "sparse" if lw.sparse and x_lo >= 0 else "dense"
        dsp = 0 if binary else unroll * dsp_per_product(bits_of(*_wrange(node.weight)), bits_of(x_lo, x_hi))
    elif isinstance(node, QScale):
        ops, op, form = size, "mac", "elementwise"
        dsp = unroll * dsp_per_product(bits_of(*_wrange(node.weight)), bits_of(x_lo, x_hi))
    elif isinstance(node, SumPool2d):
        ops, op, form = size * node.kernel_size[0] * node.kernel_size[1], "add", "elementwise"
    elif isinstance(node, QNeuron):
        ops, op, form = size, "neuron", "elementwise"
        if node.kind != "Threshold":
            decays = [node.beta] + ([node.alpha] if node.kind in CUBA_KINDS else [])
            mults = sum(1 for m in decays if not _uniform_pow2(m))
            dsp = unroll * mults * dsp_per_product(max(node.v_bits, node.i_bits), node.frac_bits + 1)
    elif isinstance(node, (Delay, Input)):
        ops, op, form = size, "move", "elementwise"
    work = ops
    if form == "sparse":
        work = ceil(activity * ops) + prod(g.input_shape(name))
    cycles = ceil(work / unroll) + PIPELINE_DEPTH if work else 0
    return {"op": op, "ops_per_step": ops, "form": form, "dsp": dsp, "cycles_per_step": cycles}


def _wrange(w: np.ndarray) -> tuple[int, int]:
    return int(w.min()), int(w.max())


def _uniform_pow2(m: np.ndarray) -> bool:
    v = int(m.reshape(-1)[0])
    return bool(np.all(m == v)) and v > 0 and v & (v - 1) == 0


def estimate(lw: Lowering, *, unroll: int, clock_mhz: float, timesteps: int, activity: float = 1.0) -> dict[str, Any]:
    """The estimate as a JSON-able dict: per layer and total, and the latency of ``timesteps`` steps."""
    layers = []
    for name in lw.graph.order:
        node = lw.graph.nodes[name]
        row: dict[str, Any] = {"node": name, "type": node.type_name, "shape": list(lw.graph.shapes[name])}
        row.update(_work(lw, name, unroll, activity))
        row.update(_memory(lw, name, unroll))
        layers.append(row)
    keys = ("ops_per_step", "weight_bits", "param_bits", "state_bits", "bram18", "dsp", "cycles_per_step")
    total: dict[str, Any] = {k: sum(int(r[k]) for r in layers) for k in keys}
    total["memory_bits"] = total["weight_bits"] + total["param_bits"] + total["state_bits"]
    cycles = timesteps * total["cycles_per_step"]
    return {
        "model": "analytic",
        "unroll": unroll,
        "clock_mhz": clock_mhz,
        "sparse": lw.sparse,
        "activity": activity,
        "layers": layers,
        "total": total,
        "latency": {"timesteps": timesteps, "cycles": cycles, "us": cycles / clock_mhz},
        "assumptions": {"pipeline_depth": PIPELINE_DEPTH, "lutram_bits": LUTRAM_BITS, "dsp": "DSP48E2 27x18",
                        "bram": "BRAM18 (18 Kbit), widths 1/2/4/9/18/36"},
    }


def format_table(est: dict[str, Any]) -> str:
    """A fixed-width text table of an estimate."""
    cols = ("node", "type", "form", "op", "ops_per_step", "weight_bits", "param_bits", "state_bits", "bram18", "dsp",
            "cycles_per_step")
    heads = ("node", "type", "form", "op", "ops/step", "weight b", "param b", "state b", "BRAM18", "DSP", "cycles")
    rows = [[str(r[c]) for c in cols] for r in est["layers"]]
    t = est["total"]
    rows.append(["total", "", "", "", *(str(t[c]) for c in cols[4:])])
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(heads)]

    def fmt(cells: list[str] | tuple[str, ...]) -> str:  # text columns left, numbers right
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(v.ljust(w) if k < 4 else v.rjust(w) for k, (v, w) in pairs)

    line = fmt(heads)
    out = [line, "-" * len(line)] + [fmt(r) for r in rows]
    lat = est["latency"]
    out.append(f"unroll {est['unroll']}, {'sparse' if est['sparse'] else 'dense'} loops, activity "
               f"{est['activity']:g}: {t['cycles_per_step']} cycles/step; {lat['timesteps']} steps = "
               f"{lat['cycles']} cycles = {lat['us']:.2f} us at {est['clock_mhz']:g} MHz")
    return "\n".join(out)
