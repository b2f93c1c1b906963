"""The simulated Verilog equals bitsim on every spike and every state, every timestep (Icarus and Verilator).

Random graphs inside the layer engine's scope (rtl_cases), bitsim's narrow-register neuron cases, the hls
suite's mlp/cuba topologies at 2/4/8/16-bit weights under every Semantics choice, the bundled digits-mlp and
digits-seq, Lava's bit-accurate cases (against Lava's own traces too), and the verify CLI's fixed<->rtl rung.
Icarus (0.2 s per build) runs the many random graphs; Verilator (seconds per build) a fixed subset of each family.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import first_mismatch, trace_mismatch
from hypothesis import HealthCheck, assume, given, settings
from lava_cases import LAVA, LAVA_CASES, lava_qgraph
from rtl_cases import neuron_cases, rtl_graph_cases
from snncompile.backends.bitsim import run_plain, run_plain_with_clamps
from snncompile.backends.rtl import BACKEND

import snncompile as sc
from snncompile.cli import main
from snncompile.errors import UnsupportedNodeError
from snncompile.quant.qnodes import QGraph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hls"))
from hls_cases import BITS, SEMANTICS, build  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
EXPECTED_REFUSALS = ("negative shift", "wrap_loihi", "Threshold", "datapath", "readout")
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_equal(graph: QGraph, spikes: np.ndarray, simulator: str) -> None:
    """Every trace equal, and the clamp events the RTL flags itself equal bitsim's count of them."""
    expected, clamps = run_plain_with_clamps(graph, spikes)
    got, rtl_clamps = BACKEND.run_with_clamps(graph, spikes, simulator=simulator)
    report = trace_mismatch(expected, got)
    assert report == "", f"{simulator}: {report}"
    assert rtl_clamps == clamps


def supported(graph: QGraph) -> bool:
    try:
        BACKEND.check(graph)
    except UnsupportedNodeError as err:
        assert any(k in str(err) for k in EXPECTED_REFUSALS), str(err)
        return False
    return True


@SLOW
@given(rtl_graph_cases())
def test_random_rtl_graphs_icarus(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    assume(supported(graph))
    check_equal(graph, spikes, "icarus")


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rtl_graph_cases())
def test_random_rtl_graphs_verilator(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    assume(supported(graph))
    check_equal(graph, spikes, "verilator")


@SLOW
@given(neuron_cases())
def test_narrow_register_neurons_icarus(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    assume(supported(graph))
    check_equal(graph, spikes, "icarus")


HLS_CASES = [(topo, sem, BITS[(i + j) % len(BITS)]) for i, topo in enumerate(("mlp", "cuba"))
             for j, sem in enumerate(SEMANTICS)]


@pytest.mark.parametrize(("topology", "sem", "bits"), HLS_CASES, ids=[f"{t}-{s}-w{b}" for t, s, b in HLS_CASES])
def test_hls_topologies_icarus(topology: str, sem: str, bits: int) -> None:
    graph, spikes = build(topology, sem, bits, seed=bits * 31 + len(topology))
    check_equal(graph, spikes, "icarus")


@pytest.mark.parametrize(("topology", "sem", "bits"), [("mlp", "mix", 4), ("cuba", "loihi", 16)])
def test_hls_topologies_verilator(topology: str, sem: str, bits: int) -> None:
    graph, spikes = build(topology, sem, bits, seed=bits * 31 + len(topology))
    check_equal(graph, spikes, "verilator")


@pytest.mark.parametrize(("model", "bits"), [("digits-mlp", 8), ("digits-seq", 4)])
def test_bundled_models_verilator(model: str, bits: int) -> None:
    qgraph = sc.quantize(sc.load(model), sc.QuantSpec(weight_bits=bits), calib=None)
    inputs = np.load(REPO / "models" / model / "test.npz")["inputs"][:, :8]
    expected = run_plain(qgraph, inputs)
    assert expected["output"]["out"].sum() > 0
    check_equal(qgraph, inputs, "verilator")


@pytest.mark.parametrize("case", LAVA_CASES)
def test_lava_cases_equal_lava_and_bitsim(case: str) -> None:
    """The loihi preset in RTL (synapse delay, wrap_loihi current, negative weight exponents) equals Lava itself."""
    d = np.load(LAVA / f"{case}.npz")
    graph = lava_qgraph(d)
    spikes = d["input_spikes"][:, None, :]
    simulator = "verilator" if case == LAVA_CASES[0] else "icarus"
    traces = BACKEND.run(graph, spikes, simulator=simulator)
    assert trace_mismatch(run_plain(graph, spikes), traces) == ""
    for k in range(1, int(d["n_layers"]) + 1):
        for ours, theirs in (("out", "s"), ("i", "u"), ("v", "v")):
            report = first_mismatch(d[f"lif{k}_{theirs}"][:, None, :].astype(np.int64), traces[f"lif{k}"][ours])
            assert report == "", f"{case} layer 'lif{k}' {theirs}: {report}"


def test_verify_cli_rung(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "x.npy"
    np.save(data, np.load(REPO / "models" / "digits-seq" / "test.npz")["inputs"][:, :4])
    assert main(["verify", "digits-seq", "--target", "rtl", "--inputs", str(data), "--bits", "4"]) == 0
    out = capsys.readouterr().out
    assert "fixed<->rtl    PASS    7 nodes, 9 traces, 0 of " in out


def test_rtl_flags_the_saturating_integrator_like_bitsim() -> None:
    """The issue's case: an integrator readout saturating from step 5 -- the RTL's own flags say so too."""
    from integrator_case import integrator_graph, integrator_inputs

    x = integrator_inputs(40)
    with pytest.warns(sc.errors.OverflowRiskWarning):
        qgraph = sc.quantize(integrator_graph(), sc.QuantSpec(weight_bits=8, state_bits=8), x)
    expected, clamps = run_plain_with_clamps(qgraph, x)
    got, rtl_clamps = BACKEND.run_with_clamps(qgraph, x, simulator="icarus")
    assert trace_mismatch(expected, got) == ""
    assert clamps and rtl_clamps == clamps
    assert clamps[0].node == "readout" and clamps[0].register == "v" and clamps[0].step == 5
