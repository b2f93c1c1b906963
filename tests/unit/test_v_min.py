"""The lower membrane clamp v_min (Sinabs' min_v_mem): v = max(v, v_min) after the reset of every step.

The float reference against hand-computed steps; the node checks; exact round trips through .nir (float graph
and QGraph); the quantiser's v_min_q = round(v_min * scale); and one clamped QGraph run bit-exactly by every
executor: bitsim's definition and each fast path (numpy, C, stepwise), the gcc-compiled HLS C, onnxruntime
(scan and step models) and the Icarus-simulated RTL. Loihi refuses it by name. The random-graph strategies of
tests/backends (bitsim, hls, rtl) also draw v_min on half the spiking neurons.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import trace_mismatch
from snncompile.backends.bitsim import run_plain, simulate

import snncompile as sc
from snncompile import nodes as ir
from snncompile.errors import GraphError, ParameterError, QuantizationError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.qnir import read_qgraph, write_qgraph
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import Semantics


def _float_graph(v_min: float | None) -> sc.Graph:
    w = np.array([[1.0, -2.0], [-1.5, 0.5]])
    lif = ir.LIF(shape=(2,), beta=np.full(2, 0.5), threshold=np.ones(2), v_min=None if v_min is None else v_min,
                 semantics=Semantics(reset="subtract"))
    return sc.Graph({"input": Input(shape=(2,)), "fc": ir.Linear(weight=w), "lif": lif, "output": Output()},
                    [("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_reference_clamps_after_the_reset() -> None:
    x = np.array([[1, 1], [0, 1], [0, 1], [1, 0], [1, 0]], np.float64)[:, None, :]
    tr = sc.simulate(_float_graph(-0.75), x)["lif"]
    v, s = np.zeros(2), np.zeros(2)
    w = np.array([[1.0, -2.0], [-1.5, 0.5]])
    for t in range(len(x)):
        v = 0.5 * v + w @ x[t, 0]
        s = (v > 1).astype(float)
        v = np.maximum(v - s, -0.75)  # spikes come from the unclamped v; the clamp follows the reset
        np.testing.assert_array_equal(tr["v"][t, 0], v)
        np.testing.assert_array_equal(tr["out"][t, 0], s)
    assert (tr["v"] == -0.75).any(), "the clamp never engaged"
    unclamped = sc.simulate(_float_graph(None), x)["lif"]["v"]
    assert (unclamped < -0.75).any()


def test_v_min_only_on_spiking_neurons_with_a_membrane() -> None:
    with pytest.raises(ParameterError, match="v_min .* applies to spiking neurons with a membrane .* not LI"):
        ir.LI(shape=(2,), beta=np.ones(2), v_min=0.0)
    with pytest.raises(ParameterError, match="not Threshold"):
        ir.Threshold(shape=(2,), threshold=np.ones(2), v_min=0.0)
    with pytest.raises(ParameterError, match="parameter 'v_min' of shape"):
        ir.IF(shape=(2,), threshold=np.ones(2), v_min=np.zeros(3))
    with pytest.raises(GraphError, match="node 'n': v_min .* not LI"):
        QNeuron(name="n", kind="LI", shape=(2,), beta=100, v_min=0)
    with pytest.raises(QuantizationError, match="node 'n': v_min value -200 does not fit int8"):
        QNeuron(name="n", kind="LIF", shape=(2,), beta=100, threshold=5, v_bits=8, v_min=-200)


def test_float_graph_round_trips_v_min(tmp_path: Path) -> None:
    g = _float_graph(-0.75)
    sc.save(g, str(tmp_path / "g.nir"))
    back = sc.load(str(tmp_path / "g.nir"))
    assert back.nodes["lif"].equals(g.nodes["lif"])
    np.testing.assert_array_equal(back.nodes["lif"].v_min, [-0.75, -0.75])
    sc.save(_float_graph(None), str(tmp_path / "h.nir"))
    assert sc.load(str(tmp_path / "h.nir")).nodes["lif"].v_min is None


def test_quantiser_scales_v_min_like_the_state(tmp_path: Path) -> None:
    q = sc.quantize(_float_graph(-0.75), sc.QuantSpec())
    node = q.nodes["lif"]
    assert isinstance(node, QNeuron)
    np.testing.assert_array_equal(node.v_min, np.round(-0.75 * node.threshold / 1.0))
    write_qgraph(q, tmp_path / "q.nir")
    assert read_qgraph(tmp_path / "q.nir").nodes["lif"].equals(node)


def clamped_qgraph() -> tuple[QGraph, np.ndarray]:
    """Input(5) -> dense -> LIF (v_min per neuron, subtract) -> dense -> CubaLIF (scalar v_min, zero reset)."""
    rng = np.random.default_rng(7)
    w1 = rng.integers(-60, 60, size=(6, 5))
    w2 = rng.integers(-60, 60, size=(4, 6))
    nodes = {
        "input": Input(shape=(5,)),
        "fc1": QDense(name="fc1", weight=w1, bias=rng.integers(-5, 5, size=6)),
        "lif": QNeuron(name="lif", kind="LIF", shape=(6,), semantics=Semantics(reset="subtract", compare="ge"),
                       beta=3500, threshold=rng.integers(40, 90, size=6), v_min=-rng.integers(10, 50, size=6),
                       v_bits=16, i_bits=16),
        "fc2": QDense(name="fc2", weight=w2),
        "cuba": QNeuron(name="cuba", kind="CubaLIF", shape=(4,), semantics=Semantics(reset="zero"),
                        alpha=3000, beta=3800, threshold=60, v_reset=-3, v_min=-20, v_bits=16, i_bits=16),
        "output": Output(),
    }
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "cuba"), ("cuba", "output")]
    spikes = (rng.random((24, 3, 5)) < 0.5).astype(np.int64)
    return QGraph(nodes, edges), spikes


def test_clamped_graph_engages_the_clamp() -> None:
    graph, spikes = clamped_qgraph()
    tr = run_plain(graph, spikes)
    for name in ("lif", "cuba"):
        node = graph.nodes[name]
        assert isinstance(node, QNeuron)
        at_floor = tr[name]["v"] == node.v_min
        assert at_floor.any(), f"{name}: v never reached v_min"
        assert (tr[name]["v"] >= node.v_min).all()
        assert 0 < tr[name]["out"].sum()
    free = QGraph({n: (QNeuron(**{**nd.params(), "name": n, "v_min": None}) if isinstance(nd, QNeuron) else nd)
                   for n, nd in graph.nodes.items()}, graph.edges)
    assert trace_mismatch(tr, run_plain(free, spikes)) != "", "the clamp changed nothing"


@pytest.mark.parametrize("path", ["layerwise", "float_gemm", "sparse", "c", "stepwise", "auto"])
def test_bitsim_paths_equal_the_definition(path: str) -> None:
    graph, spikes = clamped_qgraph()
    if path == "c" and shutil.which("gcc") is None:
        pytest.skip("gcc not on PATH")
    assert trace_mismatch(run_plain(graph, spikes), simulate(graph, spikes, path=path)) == ""


def test_hls_c_equals_bitsim() -> None:
    from snncompile.backends.hls import BACKEND

    graph, spikes = clamped_qgraph()
    want = run_plain(graph, spikes)
    for sparse in (True, False):
        assert trace_mismatch(want, BACKEND.run(graph, spikes, sparse=sparse)) == "", f"sparse={sparse}"


def test_onnx_equals_bitsim() -> None:
    pytest.importorskip("onnxruntime")
    from snncompile.backends.onnx import BACKEND

    graph, spikes = clamped_qgraph()
    want = run_plain(graph, spikes)
    for model in ("scan", "step"):
        assert trace_mismatch(want, BACKEND.run(graph, spikes, model=model)) == "", model


def test_rtl_equals_bitsim() -> None:
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not on PATH")
    from snncompile.backends.rtl import BACKEND

    graph, spikes = clamped_qgraph()
    assert trace_mismatch(run_plain(graph, spikes), BACKEND.run(graph, spikes, simulator="icarus")) == ""


def test_loihi_refuses_v_min_by_name() -> None:
    from snncompile.backends.loihi.encode import loihi_float_graph
    from snncompile.backends.loihi.rules import NEURON_RULES, check_clamp_field

    graph, _ = clamped_qgraph()
    assert check_clamp_field in NEURON_RULES
    with pytest.raises(UnsupportedNodeError, match="node 'cuba': v_min .* Loihi's CUBA neuron has no lower bound"):
        check_clamp_field("cuba", graph.nodes["cuba"])  # type: ignore[arg-type]
    with pytest.raises(UnsupportedNodeError, match="node 'lif': v_min"):
        loihi_float_graph(_float_graph(-0.75))


def test_float_onnx_equals_reference() -> None:
    pytest.importorskip("onnxruntime")
    from snncompile.backends.onnx import run_float

    graph = _float_graph(-0.75)
    x = np.random.default_rng(3).uniform(0, 1.2, (16, 2, 2))
    want = sc.simulate(graph, x)
    assert (want["lif"]["v"] == -0.75).any()
    for model in ("scan", "step"):
        got = run_float(graph, {"input": x}, model=model)
        assert np.array_equal(got["lif"]["out"], want["lif"]["out"]), model
        np.testing.assert_allclose(got["lif"]["v"], want["lif"]["v"], rtol=1e-12, atol=1e-12, err_msg=model)
