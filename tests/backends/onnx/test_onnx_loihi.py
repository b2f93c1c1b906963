"""The loihi preset on Lava-shaped graphs: onnxruntime equals bitsim and Lava's own bit-accurate traces.

The QGraph is built as in tests/backends/bitsim/test_lava_loihi.py: Dense -> LIF
(-> Dense -> LIF) with Lava's weights, decays (current decay 4095-du), threshold
and bias scaled by 2^6, 24-bit wrap_loihi current and saturating voltage.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import first_mismatch
from lava_cases import LAVA, LAVA_CASES, lava_qgraph
from onnx_graphs import trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND

CASES = LAVA_CASES


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
