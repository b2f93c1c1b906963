"""The gcc-compiled C of the hls backend equals bitsim on every spike and every state, every timestep.

Random graphs: every topology of hls_cases with every Semantics choice, the weight widths 2/4/8/16
laid out as a Latin square (each topology and each Semantics choice meets every width), each in both
loop forms (spike-sparse and dense). Real data: the bundled digits-mlp, quantised, on test samples.
Then bitsim's own hypothesis strategy for random QGraphs (every node type and Semantics option) drives
the same comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import trace_mismatch
from hls_cases import BITS, SEMANTICS, TOPOLOGIES, build, hls_cache  # noqa: F401
from hypothesis import HealthCheck, given, settings
from snncompile.backends.bitsim import run_plain, simulate
from snncompile.backends.hls import BACKEND

import snncompile as sc
from snncompile.errors import UnsupportedNodeError
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bitsim"))
from qgraph_strategies import neuron_cases, qgraph_cases  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
CASES = [(topo, sem, BITS[(i + j) % len(BITS)]) for i, topo in enumerate(TOPOLOGIES) for j, sem in enumerate(SEMANTICS)]


@pytest.mark.parametrize(("topology", "sem", "bits"), CASES, ids=[f"{t}-{s}-w{b}" for t, s, b in CASES])
def test_random_graph_equals_bitsim(topology: str, sem: str, bits: int) -> None:
    graph, spikes = build(topology, sem, bits, seed=bits * 31 + len(topology))
    expected = run_plain(graph, spikes)
    fired = sum(int(expected[n]["out"].sum()) for n, nd in graph.nodes.items() if getattr(nd, "SPIKING", False))
    assert fired > 0, "no neuron ever fired"
    for sparse in (True, False):
        report = trace_mismatch(expected, BACKEND.run(graph, spikes, sparse=sparse))
        assert report == "", f"sparse={sparse}: {report}"


@pytest.fixture(scope="module")
def digits() -> tuple[sc.Graph, np.ndarray]:
    qgraph = quantize(sc.load("digits-mlp"), QuantSpec(weight_bits=8), calib=None)
    inputs = np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:, :6]
    return qgraph, inputs


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_digits_mlp_equals_bitsim(digits: tuple[sc.Graph, np.ndarray], sparse: bool) -> None:
    qgraph, inputs = digits
    expected = simulate(qgraph, inputs, path="plain")
    assert expected["3"]["out"].sum() > 0
    report = trace_mismatch(expected, BACKEND.run(qgraph, inputs, sparse=sparse))
    assert report == "", report


@pytest.mark.parametrize("bits", [2, 4, 16])
def test_digits_mlp_other_widths(bits: int) -> None:
    qgraph = quantize(sc.load("digits-mlp"), QuantSpec(weight_bits=bits), calib=None)
    inputs = np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:, 10:13]
    report = trace_mismatch(run_plain(qgraph, inputs), BACKEND.run(qgraph, inputs))
    assert report == "", report


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases())
def test_hypothesis_graphs_equal_bitsim(case: tuple[sc.Graph, np.ndarray]) -> None:
    graph, spikes = case
    try:
        BACKEND.check(graph)
    except UnsupportedNodeError as exc:  # the one documented limit: wrap_loihi beyond one correction
        assert "wrap_loihi" in str(exc)
        return
    expected = run_plain(graph, spikes)
    sparse = bool(int(spikes.sum()) % 2)
    report = trace_mismatch(expected, BACKEND.run(graph, spikes, sparse=sparse))
    assert report == "", f"sparse={sparse}: {report}"


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(neuron_cases())
def test_hypothesis_narrow_registers_equal_bitsim(case: tuple[sc.Graph, np.ndarray]) -> None:
    graph, spikes = case
    try:
        BACKEND.check(graph)
    except UnsupportedNodeError as exc:
        assert "wrap_loihi" in str(exc)
        return
    report = trace_mismatch(run_plain(graph, spikes), BACKEND.run(graph, spikes))
    assert report == "", report
