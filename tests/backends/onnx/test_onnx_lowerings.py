"""Which exact lowering each matrix product and convolution gets, and that each one is exact at its bounds."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP
from onnx_graphs import trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND, lower_qgraph
from snncompile.backends.onnx.lower_int import product_kind

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QConv1d, QDense, QGraph, QNeuron
from snncompile.semantics import Semantics


@pytest.mark.parametrize(("weight", "x", "kind"), [
    (np.full((2, 64), 127), (0, 1), "uint8"),
    (np.full((2, 64), -128), (-128, 127), "int8"),
    (np.full((1, 100), 127), (0, 300), "float32"),  # x does not fit 8 bits
    (np.full((1, 4), 2047), (0, 1), "float32"),  # 12-bit weights: no int8 path
    (np.full((1, 4), 2**15 - 1), (-(2**23), 2**23), "float64"),
    (np.full((1, 1), 1), (-(2**53), 0), "int64"),
])
def test_product_kind(weight: np.ndarray, x: tuple[int, int], kind: str) -> None:
    assert product_kind(weight, x) == kind


def readout(name: str, shape: tuple[int, ...], v_bits: int) -> QNeuron:
    """A saturating integrator: its v may sweep the whole v_bits range."""
    return QNeuron(name=name, kind="I", shape=shape, semantics=Semantics(), v_bits=v_bits)


def lowering_graph() -> QGraph:
    """One QDense per product lowering, fed by spikes or by readouts of growing width; two QConv1d likewise."""
    rng = np.random.default_rng(3)
    signs = np.where(np.arange(64) % 2 == 0, 1, -1)
    nodes = {
        "in": Input(shape=(64,)), "c_in": Input(shape=(1, 9)),
        "mmi_u8": QDense(name="mmi_u8", weight=rng.integers(-128, 128, (3, 64)), w_bits=8),
        "f32": QDense(name="f32", weight=rng.integers(-2047, 2048, (3, 64)), w_bits=12),
        "drive": QDense(name="drive", weight=np.tile(signs * (2**15 - 1), (200, 1)), w_bits=16, shift=12),
        "r8": readout("r8", (200,), 8), "r24": readout("r24", (200,), 24), "r32": readout("r32", (200,), 32),
        "mmi_i8": QDense(name="mmi_i8", weight=rng.integers(-128, 128, (3, 200)), w_bits=8),
        "f64": QDense(name="f64", weight=rng.integers(-(2**15) + 1, 2**15, (3, 200)), w_bits=16),
        "i64": QDense(name="i64", weight=np.array([[1], [-1], [1]]) * np.full((3, 200), 2**15 - 1), w_bits=16),
        "conv_int": QConv1d(name="conv_int", weight=rng.integers(-128, 128, (2, 1, 3)), w_bits=8, padding=1),
        "c_ro": readout("c_ro", (1, 9), 24),
        "conv_f64": QConv1d(name="conv_f64", weight=rng.integers(-500, 500, (2, 1, 3)), w_bits=10, padding=2,
                            dilation=2, stride=2),
    }
    edges = [("in", "mmi_u8"), ("in", "f32"), ("in", "drive"), ("drive", "r8"), ("drive", "r24"),
             ("drive", "r32"), ("r8", "mmi_i8"), ("r24", "f64"), ("r32", "i64"), ("c_in", "conv_int"),
             ("c_in", "c_ro"), ("c_ro", "conv_f64")]
    for name in ("mmi_u8", "mmi_i8", "f32", "f64", "i64", "conv_int", "conv_f64"):
        nodes[f"o_{name}"] = Output()
        edges.append((name, f"o_{name}"))
    return QGraph(nodes, edges)


def test_each_lowering_is_used_and_exact() -> None:
    graph = lowering_graph()
    sg = lower_qgraph(graph)
    const = {t.name: t.data_type for t in sg.initializers}
    cast = {n.output[0]: n.attribute[0].i for n in sg.nodes if n.op_type == "Cast"}
    cast.update({s.name: TP.UINT8 for s in sg.inputs})
    used = sorted((n.op_type, *(const.get(i) or cast.get(i) or TP.INT64 for i in n.input))
                  for n in sg.nodes if n.op_type in ("MatMul", "MatMulInteger", "ConvInteger"))
    assert used == sorted([
        ("MatMulInteger", TP.UINT8, TP.INT8), ("MatMulInteger", TP.INT8, TP.INT8),  # spikes; the 8-bit readout
        ("MatMul", TP.FLOAT, TP.FLOAT), ("MatMul", TP.FLOAT, TP.FLOAT),  # 12-bit weights; 'drive'
        ("MatMul", TP.DOUBLE, TP.DOUBLE), ("MatMul", TP.INT64, TP.INT64),
        ("ConvInteger", TP.UINT8, TP.INT8), ("MatMul", TP.DOUBLE, TP.DOUBLE),  # conv_f64 via windows
    ])
    assert any(n.op_type == "Gather" for n in sg.nodes)
    rng = np.random.default_rng(0)
    spikes = {"in": (rng.random((12, 2, 64)) < 0.5).astype(np.uint8),
              "c_in": (rng.random((12, 2, 1, 9)) < 0.5).astype(np.uint8)}
    want = run_plain(graph, spikes)
    assert np.abs(want["r32"]["v"]).max() == 2**31 - 1  # the int64 product sees full-width values
    assert trace_mismatches(want, BACKEND.run(graph, spikes)) == []
