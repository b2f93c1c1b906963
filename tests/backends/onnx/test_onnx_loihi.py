"""The loihi preset on Lava-shaped graphs: onnxruntime equals bitsim and Lava's own bit-accurate traces.

The QGraph is built as in tests/backends/bitsim/test_lava_loihi.py: Dense -> LIF
(-> Dense -> LIF) with Lava's weights, decays (current decay 4095-du), threshold
and bias scaled by 2^6, 24-bit wrap_loihi current and saturating voltage.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, first_mismatch
from onnx_graphs import trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS

LAVA = SHARED / "lava_loihi"
CASES = sorted(p.stem for p in LAVA.glob("p*.npz")) if LAVA.is_dir() else []


def lava_qgraph(d: np.lib.npyio.NpzFile) -> QGraph:
    nodes: dict = {"input": Input(shape=(d["input_spikes"].shape[1],))}
    edges = []
    prev = "input"
    for k in range(1, int(d["n_layers"]) + 1):
        dense, lif = f"dense{k}", f"lif{k}"
        nodes[dense] = QDense(name=dense, weight=d[f"dense{k}_weights_lava"], w_bits=9,
                              shift=int(d[f"dense{k}_weight_exp"]))
        nodes[lif] = QNeuron(
            name=lif, kind="CubaLIF", shape=(nodes[dense].weight.shape[0],), semantics=PRESETS["loihi"],
            alpha=4095 - int(d[f"lif{k}_du"]), beta=4096 - int(d[f"lif{k}_dv"]),
            threshold=int(d[f"lif{k}_vth"]) << 6,
            bias=d[f"lif{k}_bias_mant"].astype(np.int64) << d[f"lif{k}_bias_exp"].astype(np.int64),
            v_init=d[f"lif{k}_v0"], i_init=d[f"lif{k}_u0"], input_shift=6, frac_bits=12, i_bits=24, v_bits=24,
        )
        edges += [(prev, dense), (dense, lif)]
        prev = lif
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return QGraph(nodes, edges)


def test_cases_found() -> None:
    assert len(CASES) == 9


@pytest.mark.parametrize("case", CASES)
def test_onnx_equals_lava_and_bitsim(case: str) -> None:
    d = np.load(LAVA / f"{case}.npz")
    graph = lava_qgraph(d)
    spikes = d["input_spikes"][:, None, :]
    traces = BACKEND.run(graph, spikes)
    assert trace_mismatches(run_plain(graph, spikes), traces) == []
    for k in range(1, int(d["n_layers"]) + 1):
        for ours, theirs in (("out", "s"), ("i", "u"), ("v", "v")):
            report = first_mismatch(d[f"lif{k}_{theirs}"][:, None, :].astype(np.int64), traces[f"lif{k}"][ours])
            assert report == "", f"{case} layer 'lif{k}' {theirs}: {report}"
