"""Seeded random Xylo networks and xylo-preset QGraphs for the xylo tests (and benchmarks/xylo.py)."""

from __future__ import annotations

import numpy as np
from snncompile.backends.bitsim.xylo import XyloTraces
from snncompile.backends.xylo.encode import multiplier
from snncompile.backends.xylo.spec import XyloNet

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS


def random_net(rng: np.random.Generator, n_in: int = 5, n: int = 12, n_out: int = 3, *, aliases: bool = True,
               syn2: bool = True, bias: bool = True, max_shift: int = 15) -> XyloNet:
    """Dense-ish int8 weights with large shifts (saturation), thresholds from 0 (fires at the cap) to 3000
    (multi-spike), all dashes 0..15, biases, random aliases and both synapses."""

    def w(shape: tuple[int, ...], density: float) -> np.ndarray:
        return rng.integers(-128, 128, shape) * (rng.random(shape) < density)

    w_in, w_rec = w((n_in, n, 2), 0.6), w((n, n, 2), 0.3)
    if not syn2:
        w_in[:, :, 1] = 0
        w_rec[:, :, 1] = 0
    alias = tuple((int(rng.integers(0, n)),) if aliases and rng.random() < 0.3 else () for _ in range(n))
    return XyloNet.build(
        w_in, w((n, n_out), 0.6), w_rec,
        dash_mem=rng.integers(0, 16, n), dash_syn=rng.integers(0, 16, n), dash_syn_2=rng.integers(0, 16, n),
        threshold=rng.integers(0, 3000, n) * (rng.random(n) < 0.9), bias=rng.integers(-2000, 2000, n) if bias else None,
        dash_mem_out=rng.integers(0, 16, n_out), dash_syn_out=rng.integers(0, 16, n_out),
        threshold_out=rng.integers(0, 3000, n_out), bias_out=rng.integers(-500, 500, n_out) if bias else None,
        weight_shift_in=int(rng.integers(0, max_shift + 1)), weight_shift_rec=int(rng.integers(0, max_shift + 1)),
        weight_shift_out=int(rng.integers(0, max_shift + 1)), aliases=alias,
    )


def random_counts(rng: np.random.Generator, T: int, B: int, n_in: int, high: int = 20) -> np.ndarray:
    """Input event counts, some above Xylo's clamp of 15."""
    return rng.integers(0, high, (T, B, n_in)) * (rng.random((T, B, n_in)) < 0.5)


def first_mismatch(want: XyloTraces, got: XyloTraces) -> str | None:
    """``record[t, b, neuron]: expected X, got Y`` of the first differing value, or None when all are equal."""
    for key, a in want.items():
        b = getattr(got, key)
        if a.shape != b.shape:
            return f"{key}: shape {a.shape} != {b.shape}"
        if not np.array_equal(a, b):
            t, batch, i = (int(v) for v in np.argwhere(a != b)[0])
            return f"{key}[t={t}, b={batch}, neuron={i}]: expected {a[t, batch, i]}, got {b[t, batch, i]}"
    return None


def xylo_neuron(rng: np.random.Generator, name: str, n: int, readout: bool) -> QNeuron:
    sem = PRESETS["xylo"].with_(spike_cap=1 if readout else 31)
    return QNeuron(name=name, kind="CubaLIF", shape=(n,), semantics=sem,
                   alpha=multiplier(rng.integers(0, 16, n)), beta=multiplier(rng.integers(0, 16, n)),
                   threshold=rng.integers(1, 2000, n), bias=rng.integers(-300, 300, n), frac_bits=16,
                   i_bits=16, v_bits=16)


def random_qgraph(rng: np.random.Generator, n_in: int = 6, widths: tuple[int, ...] = (10, 8), n_out: int = 3,
                  recurrent: bool = True) -> QGraph:
    """Input -> QDense -> hidden CubaLIF (-> QDense -> hidden)* -> QDense -> readout, under the xylo preset, with a
    recurrent layer on the first hidden population; one shift per Xylo matrix."""
    shifts = {k: int(rng.integers(0, 5)) for k in ("in", "rec", "out")}
    nodes: dict[str, object] = {"input": Input(shape=(n_in,)), "output": Output()}
    edges: list[tuple[str, str]] = []
    prev, size = "input", n_in
    for i, width in enumerate((*widths, n_out)):
        layer, neuron = f"fc{i + 1}", f"lif{i + 1}"
        kind = "in" if prev == "input" else "out" if i == len(widths) else "rec"
        nodes[layer] = QDense(name=layer, weight=rng.integers(-128, 128, (width, size)), shift=shifts[kind])
        nodes[neuron] = xylo_neuron(rng, neuron, width, readout=i == len(widths))
        edges += [(prev, layer), (layer, neuron)]
        prev, size = neuron, width
    if recurrent:
        nodes["lif1.w_rec"] = QDense(name="lif1.w_rec", weight=rng.integers(-128, 128, (widths[0], widths[0])),
                                     shift=shifts["rec"])
        edges += [("lif1", "lif1.w_rec"), ("lif1.w_rec", "lif1")]
    edges.append((prev, "output"))
    return QGraph(nodes=nodes, edges=tuple(edges))  # type: ignore[arg-type]
