"""Delays whose entries are all equal (every Spyx export, any one-element Delay, delay 0): every backend equals
bitsim's plain executor, in a feed-forward chain and in a recurrent loop through the Delay.

The ONNX lowering picks the delayed input with one Gather when the delays are uniform; a scalar index that
became a one-element vector kept the gathered axis and failed ONNX shape inference (issue 11, item 6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import trace_mismatch
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.fast import PATHS, run_fast

from snncompile.nodes import Delay, Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import Semantics

#: (shape, delay value): one element, several elements, delay 0, and a delay deeper than 1
UNIFORM = [((1,), 1), ((1,), 0), ((1,), 3), ((3,), 1), ((3,), 0), ((4,), 2)]
IDS = [f"n{s[0]}-d{d}" for s, d in UNIFORM]


def chain(shape: tuple[int, ...], d: int) -> QGraph:
    """Input -> Delay(d everywhere) -> QDense -> LIF -> Output, plus a tap on the Delay itself."""
    n = shape[0]
    rng = np.random.default_rng(n * 10 + d)
    nodes: dict[str, Any] = {
        "in": Input(shape=shape), "delay": Delay(delay=np.full(shape, d)),
        "w": QDense(name="w", weight=rng.integers(-3, 8, (n, n)), w_bits=4),
        "lif": QNeuron(name="lif", kind="LIF", shape=shape, beta=3000, threshold=4, frac_bits=12),
        "out": Output(), "tap": Output(),
    }
    edges = [("in", "delay"), ("delay", "w"), ("w", "lif"), ("lif", "out"), ("delay", "tap")]
    return QGraph(nodes, edges)


def loop(shape: tuple[int, ...], d: int) -> QGraph:
    """A spiking layer fed back into itself through a uniform Delay (Spyx's one-step output delay)."""
    n = shape[0]
    nodes: dict[str, Any] = {
        "in": Input(shape=shape), "w": QDense(name="w", weight=np.eye(n, dtype=np.int64) * 3, w_bits=4),
        "if": QNeuron(name="if", kind="IF", shape=shape, threshold=2,
                      semantics=Semantics(reset="subtract", timing="delayed")),
        "back": Delay(delay=np.full(shape, d)), "out": Output(),
    }
    edges = [("in", "w"), ("w", "if"), ("if", "back"), ("back", "if"), ("if", "out")]
    return QGraph(nodes, edges)


def spikes(graph: QGraph) -> np.ndarray:
    shape = graph.nodes["in"].shape  # type: ignore[attr-defined]
    return (np.random.default_rng(7).random((8, 3, *shape)) < 0.5).astype(np.int64)


def run_backend(backend: str, graph: QGraph, inputs: np.ndarray) -> list[tuple[str, Any]]:
    if backend == "bitsim":
        return [(path, run_fast(graph, inputs, path=path)) for path in PATHS]
    if backend == "hls":
        from snncompile.backends.hls import BACKEND as HLS

        return [(f"sparse={s}", HLS.run(graph, inputs, sparse=s)) for s in (True, False)]
    from snncompile.backends.onnx import BACKEND as ONNX

    return [(model, ONNX.run(graph, inputs, model=model)) for model in ("scan", "step")]


@pytest.mark.parametrize("backend", ["bitsim", "hls", "onnx"])
@pytest.mark.parametrize("build", [chain, loop], ids=["chain", "loop"])
@pytest.mark.parametrize(("shape", "d"), UNIFORM, ids=IDS)
def test_uniform_delay_equals_plain(backend: str, build: Any, shape: tuple[int, ...], d: int) -> None:
    graph = build(shape, d)
    inputs = spikes(graph)
    expected = run_plain(graph, inputs)
    for what, got in run_backend(backend, graph, inputs):
        report = trace_mismatch(expected, got)
        assert report == "", f"{backend} {what}: {report}"


@pytest.mark.parametrize(("shape", "d"), UNIFORM, ids=IDS)
def test_uniform_delay_float_onnx_equals_reference(shape: tuple[int, ...], d: int) -> None:
    """The float ONNX model (written next to the integer one by export) takes the same Gather."""
    from snncompile.backends.onnx import run_float

    from snncompile.graph import Graph
    from snncompile.nodes import LIF, Affine
    from snncompile.reference import run as reference

    n = shape[0]
    graph = Graph({"in": Input(shape=shape), "delay": Delay(delay=np.full(shape, d)),
                   "fc": Affine(weight=np.eye(n) * 0.7, bias=np.zeros(n)),
                   "lif": LIF(shape=shape, beta=np.full(shape, 0.9), threshold=np.ones(shape)), "out": Output()},
                  [("in", "delay"), ("delay", "fc"), ("fc", "lif"), ("lif", "out")])
    inputs = spikes(graph).astype(np.float64)
    want = reference(graph, inputs)
    for model in ("scan", "step"):
        got = run_float(graph, inputs, model=model)
        assert np.array_equal(got["lif"]["out"], want["lif"]["out"]), model
        np.testing.assert_allclose(got["lif"]["v"], want["lif"]["v"], rtol=1e-12, atol=1e-12, err_msg=model)
