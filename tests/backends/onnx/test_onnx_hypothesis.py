"""bitsim's hypothesis strategy for random QGraphs (every node type and Semantics option, uniform and
per-element Delays) drives onnxruntime: the Scan and step models equal bitsim's plain executor."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from conftest import trace_mismatch
from hypothesis import HealthCheck, given, settings
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND

from snncompile.errors import UnsupportedNodeError
from snncompile.quant.qnodes import QGraph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bitsim"))
from qgraph_strategies import qgraph_cases  # noqa: E402


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases())
def test_hypothesis_graphs_equal_bitsim(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    try:
        BACKEND.check(graph)
    except UnsupportedNodeError as exc:  # documented: values without a bound (wrap_loihi drift, Delay-only loops)
        assert "backend 'onnx'" in str(exc), str(exc)
        return
    expected = run_plain(graph, spikes)
    for model in ("scan", "step"):
        report = trace_mismatch(expected, BACKEND.run(graph, spikes, model=model))
        assert report == "", f"{model}: {report}"
