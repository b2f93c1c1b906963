"""Random QGraphs inside the rtl layer engine's scope, drawn with bitsim's own builders.

``rtl_graph_cases()``: Input (1-D, or 2-D through a Flatten) -> 1..3 layers of QDense -> QNeuron
(every non-Threshold kind, every Semantics option, random widths, decays, per-neuron or scalar
parameters, shifts, initial states), fan-in of two weight layers, recurrent edges (a layer onto itself
or back onto an earlier layer), Output taps, binary and multi-spike layers (events carry their counts);
several summed weight layers have non-negative shifts.
``neuron_cases()`` (bitsim's narrow-register cases) is reused as is, minus Threshold neurons.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from snncompile.nodes import Flatten, Input, Output
from snncompile.quant.qnodes import QDense, QGraph, min_threshold

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bitsim"))
from qgraph_strategies import _Builder, neuron_cases  # noqa: E402

KINDS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")


def _neuron(b: _Builder, name: str, n: int, *, binary: bool) -> Any:
    node = b.neuron(name, (n,))
    kind = b.draw(st.sampled_from(KINDS))
    sem = node.semantics.with_(spikes="binary") if binary else node.semantics
    params = {**node.params(), "name": name, "kind": kind, "semantics": sem,
              "threshold": np.maximum(node.threshold, min_threshold(sem)),  # a Threshold neuron's may be lower
              "v_min": node.v_min if kind in ("IF", "LIF", "CubaLIF") else None}  # the lower clamp: spiking only
    return type(node)(**params)


def _dense(b: _Builder, name: str, src: str, n_out: int, *, nonneg_shift: bool) -> str:
    params = b.weights((n_out, b.shapes[src][0]))
    if nonneg_shift:
        params["shift"] = abs(params["shift"])
    return b.add(name, QDense(name=name, **params), (n_out,), src)


@st.composite
def rtl_graph_cases(draw: Any, max_steps: int = 8, max_batch: int = 2) -> tuple[QGraph, np.ndarray]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = _Builder(draw, rng, extreme=draw(st.booleans()))
    if draw(st.booleans()):
        shape: tuple[int, ...] = (draw(st.integers(1, 9)),)
        src = b.add("input", Input(shape=shape), shape)
    else:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)))
        b.add("input", Input(shape=shape), shape)
        src = b.add("flat", Flatten(), (shape[0] * shape[1],), "input")
    n_layers = draw(st.integers(1, 3))
    layers: list[str] = []
    for k in range(n_layers):
        n = draw(st.integers(1, 12))
        rec = draw(st.sampled_from(["none", "none", "self", "back"]))
        fan_in = draw(st.sampled_from(["none", "none", "twin"]))
        several = rec != "none" or fan_in == "twin"
        w = _dense(b, f"w{k}", src, n, nonneg_shift=several)
        name = f"n{k}"
        node = _neuron(b, name, n, binary=draw(st.booleans()))
        b.add(name, node, (n,), w)
        if fan_in == "twin":
            b.edges.append((_dense(b, f"t{k}", src, n, nonneg_shift=True), name))
        spiking = node.SPIKING
        if rec == "self" and spiking:
            b.edges.append((_dense(b, f"r{k}", name, n, nonneg_shift=True), name))
        elif rec == "back" and spiking and layers:
            target = draw(st.sampled_from(layers))
            b.edges.append((_dense(b, f"b{k}", name, b.shapes[target][0], nonneg_shift=True), target))
        if draw(st.integers(0, 4)) == 0:
            b.add(f"tap{k}", Output(), (n,), name)
        layers.append(name)
        if not spiking:  # a readout ends the chain: weight layers read spikes only
            break
        src = name
    b.add("output", Output(), b.shapes[layers[-1]], layers[-1])
    graph = QGraph(b.nodes, b.edges)
    steps, batch = draw(st.integers(1, max_steps)), draw(st.integers(1, max_batch))
    spikes = (rng.random((steps, batch, *shape)) < draw(st.sampled_from([0.1, 0.5, 0.9]))).astype(np.int64)
    return graph, spikes


__all__ = ["neuron_cases", "rtl_graph_cases"]
