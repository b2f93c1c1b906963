"""The float discrete-time model in ONNX equals snncompile.reference.run: float64 spikes exactly, states to
rounding; every float node type and Semantics option (seeded random graphs)."""

from __future__ import annotations

from dataclasses import replace

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


@pytest.mark.parametrize("exact", [True, False])
def test_float32_weights_are_stored_narrow_and_widened_exactly(exact: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """float64 weights that are all float32 numbers are stored as float32 and Cast back (half the bytes): the
    float model's traces equal those of the model stored in float64, value for value, on every node; weights that
    are not float32 numbers stay float64."""
    from snncompile.backends.onnx import builder

    rng = np.random.default_rng(5)
    for _ in range(20):
        graph = float_graph(rng)
        if any(getattr(n, "weight", np.zeros(0)).size >= 8 for n in graph.nodes.values()):
            break
    def weights(w: np.ndarray) -> np.ndarray:  # float32 numbers, or values that are not
        w = np.asarray(w, np.float64)
        return w.astype(np.float32).astype(np.float64) if exact else w + 1e-12

    graph = Graph({n: replace(nd, weight=weights(nd.weight)) if hasattr(nd, "weight") else nd  # type: ignore
                   for n, nd in graph.nodes.items()}, graph.edges)
    inputs = float_inputs(rng, graph)
    monkeypatch.setattr(builder, "NARROW_MIN", 8)
    step, _ = build_models(lower_float_graph(graph))
    narrow = {t.name for t in step.graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    casts = [n for n in step.graph.node if n.op_type == "Cast" and n.input[0] in narrow]
    assert bool(casts) == exact and bool(narrow) == exact
    got = {m: run_float(graph, inputs, model=m) for m in ("scan", "step")}
    monkeypatch.setattr(builder, "NARROW_MIN", 1 << 62)  # nothing narrowed
    for m in ("scan", "step"):
        wide = run_float(graph, inputs, model=m)
        for node, rec in wide.items():
            for key, arr in rec.items():
                assert np.array_equal(arr, got[m][node][key]), f"{m}: {node}.{key}"
