"""The float discrete-time model in ONNX equals snncompile.reference.run: float64 spikes exactly, states to
rounding; every float node type and Semantics option (seeded random graphs)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_graphs import float_graph
from snncompile.backends.onnx import lower_float_graph, run_float
from snncompile.backends.onnx.backend import build_models

from snncompile.errors import InputError, UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import Input, Output
from snncompile.reference import run as reference


def float_inputs(rng: np.random.Generator, graph: Graph, steps: int = 8, batch: int = 2) -> dict[str, np.ndarray]:
    return {n: rng.uniform(0, 1.2, (steps, batch, *graph.nodes[n].shape)) for n in graph.inputs}  # type: ignore


@pytest.mark.parametrize("seed", range(6))
def test_float64_model_equals_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = float_graph(rng)
    inputs = float_inputs(rng, graph)
    want = reference(graph, inputs)
    for model in ("scan", "step"):
        got = run_float(graph, inputs, model=model)
        for node, rec in want.items():
            for key, arr in rec.items():
                if getattr(graph.nodes[node], "SPIKING", False) and key == "out":
                    assert np.array_equal(arr, got[node][key]), f"{model}: {node}.{key} spikes differ"
                else:
                    np.testing.assert_allclose(got[node][key], arr, rtol=1e-9, atol=1e-9,
                                               err_msg=f"{model}: {node}.{key}")


def test_float32_model_is_close() -> None:
    rng = np.random.default_rng(11)
    graph = float_graph(rng)
    inputs = float_inputs(rng, graph)
    want = reference(graph, inputs)
    got = run_float(graph, {k: v.astype(np.float32) for k, v in inputs.items()}, dtype="float32")
    assert got["c2"]["out"].dtype == np.float64  # traces come back as float64
    np.testing.assert_allclose(got["c2"]["out"], want["c2"]["out"], rtol=1e-5, atol=1e-5)
    step, scan = build_models(lower_float_graph(graph, "float32"))
    assert {n.op_type for n in step.graph.node} >= {"Conv", "MatMul"}  # float32 has a native Conv kernel
    for model in (step, scan):
        onnx.checker.check_model(model, full_check=True)
        assert {v.type.tensor_type.elem_type for v in model.graph.input} == {onnx.TensorProto.FLOAT}


def test_float_model_rejects_integer_nodes_and_bad_dtype() -> None:
    from snncompile.quant.qnodes import QDense

    graph = Graph({"in": Input(shape=(2,)), "d": QDense(name="d", weight=np.ones((2, 2))), "o": Output()},
                  [("in", "d"), ("d", "o")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'd' \(QDense\): backend 'onnx' has no float lowering$"):
        lower_float_graph(graph)
    with pytest.raises(InputError, match="float model dtype 'float16' is not 'float32' or 'float64'"):
        lower_float_graph(float_graph(np.random.default_rng(0)), "float16")
