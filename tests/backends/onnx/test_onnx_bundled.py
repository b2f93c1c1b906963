"""The bundled digits-mlp, quantised to 8-bit weights: onnxruntime equals bitsim; its float model equals the
reference executor (float64: spikes exactly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx_graphs import trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND, emit_float, run_float

import snncompile as sc
from snncompile.quant.qnodes import QGraph
from snncompile.quant.spec import QuantSpec

MODEL = Path(__file__).resolve().parents[3] / "models" / "digits-mlp"


@pytest.fixture(scope="module")
def digits() -> tuple[sc.Graph, QGraph, np.ndarray]:
    from snncompile.quant.quantize import quantize

    graph = sc.load("digits-mlp")
    inputs = np.load(MODEL / "test.npz")["inputs"][:, :6]
    return graph, quantize(graph, QuantSpec(weight_bits=8), calib=None), inputs


def test_integer_models_equal_bitsim(digits: tuple[sc.Graph, QGraph, np.ndarray], tmp_path: Path) -> None:
    _, qgraph, inputs = digits
    want = run_plain(qgraph, inputs)
    assert want["3"]["out"].sum() > 0
    files = BACKEND.emit(qgraph, tmp_path / "onnx", inputs)
    for model in ("scan", "step"):
        assert trace_mismatches(want, BACKEND.run(files, model=model)) == [], model
    step = onnx.load(str(files["step.onnx"]))
    assert [i.name for i in step.graph.input] == ["in/input", "state/1/v", "state/1/s", "state/3/v", "state/3/s"]


def test_float_model_equals_reference(digits: tuple[sc.Graph, QGraph, np.ndarray], tmp_path: Path) -> None:
    graph, _, inputs = digits
    want = sc.simulate(graph, inputs)
    files = emit_float(graph, tmp_path / "float")
    assert sorted(files) == ["float_initial_state.npz", "float_scan.onnx", "float_step.onnx"]
    got = run_float(files, inputs)
    for node in ("1", "3"):
        assert np.array_equal(want[node]["out"], got[node]["out"]), node
        np.testing.assert_allclose(got[node]["v"], want[node]["v"], rtol=1e-12, atol=1e-12)
    got32 = run_float(graph, inputs.astype(np.float32), dtype="float32")
    agree = (got32["3"]["out"] == want["3"]["out"]).mean()
    assert agree > 0.99
