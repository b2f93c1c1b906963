"""The verification ladder: source<->float, float<->fixed, fixed<->bitsim, and its report."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
from conftest import SHARED
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.backend import BitsimBackend

import snncompile as sc
from snncompile.errors import InputError
from snncompile.frontend.nir_read import load
from snncompile.nodes import LI, LIF, Affine, Input, Output
from snncompile.quant.spec import QuantSpec

ladder = importlib.import_module("snncompile.verify")  # the module; ``snncompile.verify`` is the function
Report, verify = ladder.Report, ladder.verify

CASE = SHARED / "frameworks" / "snntorch_leaky_mlp_subtract"


@pytest.fixture(scope="module")
def digits() -> tuple[sc.Graph, np.ndarray, np.ndarray]:
    test = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")
    return load("digits-mlp").graph, test["inputs"], test["labels"]


def flip_one_spike(monkeypatch: pytest.MonkeyPatch, layer: str, t: int, b: int, n: int) -> None:
    """Make bitsim's backend ``run`` return one wrong spike (a deliberately broken backend)."""
    real = BitsimBackend.run

    def broken(self: BitsimBackend, artifact_dir, inputs=None):  # type: ignore[no-untyped-def]
        traces = real(self, artifact_dir, inputs)
        out = traces[layer]["out"].copy()
        out[t, b, n] = 1 - out[t, b, n]
        traces[layer]["out"] = out
        return traces

    monkeypatch.setattr(BitsimBackend, "run", broken)


@pytest.mark.parametrize("bits", [8, 4])
def test_digits_ladder(digits, bits: int) -> None:
    graph, inputs, labels = digits
    report = verify(graph, inputs=inputs, labels=labels, spec=QuantSpec(weight_bits=bits))
    assert [r.name for r in report.rungs] == ["float<->fixed", "overflow", "fixed<->bitsim"]
    fixed, overflow, exact = report.rungs
    print(f"\ndigits-mlp {bits}-bit: {fixed.message}")
    assert fixed.status == "INFO"
    assert (overflow.status, overflow.message) == ("INFO", "no register saturated or wrapped on the inputs")
    assert exact.status == "PASS" and exact.summary["mismatches"] == 0 and exact.summary["compared"] > 0
    assert report.passed
    assert fixed.summary["accuracy_float"] == pytest.approx(0.9722, abs=1e-4)
    assert fixed.summary["accuracy_fixed"] > (0.95 if bits == 8 else 0.9)
    assert fixed.summary["min_layer_agreement"] > (0.95 if bits == 8 else 0.85)
    assert [r["layer"] for r in fixed.layers] == ["1", "3", "output"]


def test_source_rung_on_snntorch_case() -> None:
    data = np.load(CASE / "data.npz")
    graph = load(CASE / "model.nir", convention="snntorch").graph
    source = {k[4:]: data[k] for k in data.files if k.startswith("spk_")}
    report = verify(graph, inputs=data["input"], source=source)
    rung = report.rung("source<->float")
    assert rung.status == "PASS", rung.message
    assert rung.message == "2 layer(s), 0 of 1680 spike entries differ"
    assert report.rung("fixed<->bitsim").status == "PASS"


def test_source_rung_fails_on_a_changed_recording() -> None:
    data = np.load(CASE / "data.npz")
    graph = load(CASE / "model.nir", convention="snntorch").graph
    spk = data["spk_3"].copy()
    spk[7, 1, 2] = 1 - spk[7, 1, 2]
    rung = verify(graph, inputs=data["input"], source={"1": data["spk_1"], "3": spk}).rung("source<->float")
    assert rung.status == "FAIL" and rung.summary["mismatches"] == 1
    assert rung.first_mismatch is not None
    assert rung.first_mismatch.text() == (
        f"rung source<->float: layer '3' (out), neuron 2, timestep 7, batch 1: expected {int(spk[7, 1, 2])}, "
        f"got {1 - int(spk[7, 1, 2])}"
    )


def test_unknown_source_layer_is_an_input_error() -> None:
    data = np.load(CASE / "data.npz")
    graph = load(CASE / "model.nir", convention="snntorch").graph
    with pytest.raises(InputError, match=r"^source spikes 'spk_9': the graph has no node '9'$"):
        verify(graph, inputs=data["input"], source={"9": data["spk_1"]})


def test_broken_backend_fails_with_first_mismatch(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, inputs, _ = digits
    x = inputs[:, :4]
    qgraph = sc.quantize(graph, QuantSpec(), x)
    expected = int(run_plain(qgraph, x)["1"]["out"][3, 2, 5])
    flip_one_spike(monkeypatch, "1", t=3, b=2, n=5)
    report = verify(graph, inputs=x, calib=x)
    rung = report.rung("fixed<->bitsim")
    assert rung.status == "FAIL" and not report.passed
    assert rung.summary["mismatches"] == 1
    assert rung.first_mismatch is not None
    assert rung.first_mismatch.text() == (
        f"rung fixed<->bitsim: layer '1' (out), neuron 5, timestep 3, batch 2: expected {expected}, got {1 - expected}"
    )
    assert f"FAIL fixed<->bitsim: {rung.first_mismatch.text()}" in report.format_table()
    mismatch = json.loads(report.to_json())["rungs"][-1]["first_mismatch"]  # fixed<->bitsim: the last rung
    assert {k: mismatch[k] for k in ("rung", "layer", "trace", "neuron", "timestep", "batch")} == {
        "rung": "fixed<->bitsim", "layer": "1", "trace": "out", "neuron": 5, "timestep": 3, "batch": 2}


def test_first_mismatch_is_the_earliest_in_time() -> None:
    order = ["a", "b"]
    want = {"a": {"out": np.zeros((4, 1, 3), np.int64)}, "b": {"out": np.zeros((4, 1, 2)), "v": np.zeros((4, 1, 2))}}
    got = {"a": {"out": want["a"]["out"].copy()}, "b": {"out": want["b"]["out"].copy(), "v": want["b"]["v"].copy()}}
    got["a"]["out"][3, 0, 1] = 1  # earlier node, later step
    got["b"]["v"][1, 0, 0] = 7  # later node, earlier step: this one is first
    compared, mismatches, first, _ = ladder._compare("r", order, want, got)
    assert (compared, mismatches) == (12 + 8 + 8, 2)
    assert first.text() == "rung r: layer 'b' (v), neuron 0, timestep 1, batch 0: expected 0, got 7"


def test_missing_trace_fails_the_rung(digits, monkeypatch: pytest.MonkeyPatch) -> None:
    graph, inputs, _ = digits
    real = BitsimBackend.run

    def drops_v(self: BitsimBackend, artifact_dir, inputs=None):  # type: ignore[no-untyped-def]
        traces = real(self, artifact_dir, inputs)
        del traces["3"]["v"]
        return traces

    monkeypatch.setattr(BitsimBackend, "run", drops_v)
    rung = verify(graph, inputs=inputs[:, :2]).rung("fixed<->bitsim")
    assert rung.status == "FAIL"
    assert rung.message.endswith("; layer '3' trace 'v': missing")


def test_min_agreement_turns_the_fixed_rung_into_a_check(digits) -> None:
    graph, inputs, _ = digits
    x = inputs[:, :16]
    assert verify(graph, inputs=x, min_agreement=0.5).rung("float<->fixed").status == "PASS"
    failed = verify(graph, inputs=x, min_agreement=1.0, spec=QuantSpec(weight_bits=3))
    assert failed.rung("float<->fixed").status == "FAIL" and not failed.passed


def readout_graph() -> sc.Graph:
    """Input 6 -> Affine -> LIF 5 -> Affine -> LI 3 (non-spiking readout) -> Output."""
    rng = np.random.default_rng(0)
    nodes = {
        "in": Input(shape=(6,)),
        "fc1": Affine(weight=rng.normal(0, 0.8, (5, 6)), bias=np.full(5, 0.1)),
        "lif": LIF(shape=(5,), beta=np.full(5, 0.9), threshold=np.ones(5), semantics=sc.PRESETS["snntorch"]),
        "fc2": Affine(weight=rng.normal(0, 0.8, (3, 5)), bias=np.zeros(3)),
        "li": LI(shape=(3,), beta=np.full(3, 0.8)),
        "out": Output(),
    }
    edges = [("in", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "li"), ("li", "out")]
    return sc.Graph(nodes, edges, 1e-3)


def test_non_spiking_readout_reports_dequantised_error() -> None:
    graph = readout_graph()
    x = (np.random.default_rng(1).random((20, 4, 6)) < 0.3).astype(np.uint8)
    labels = np.array([0, 1, 2, 0])
    report = verify(graph, inputs=x, labels=labels)
    fixed = report.rung("float<->fixed")
    rows = {r["layer"]: r for r in fixed.layers}
    assert rows["lif"]["trace"] == "spikes" and rows["li"]["trace"] == "v" and rows["out"]["trace"] == "v"
    qgraph = report.qgraph
    fixed_v = run_plain(qgraph, x)["li"]["v"] / qgraph.nodes["li"].out_scale  # type: ignore
    float_v = sc.simulate(graph, x)["li"]["v"]
    assert rows["out"]["max_abs_error"] == pytest.approx(np.abs(fixed_v - float_v).max(), rel=1e-12)
    assert 0 < rows["out"]["max_abs_error"] < 0.3 * rows["out"]["max_abs_float"]
    assert "accuracy_float" in fixed.summary and report.rung("fixed<->bitsim").status == "PASS"
    assert f"output 'out' max abs error {rows['out']['max_abs_error']:.4g}" in fixed.message


def test_report_json_and_table(digits) -> None:
    graph, inputs, labels = digits
    report = verify(graph, inputs=inputs[:, :8], labels=labels[:8])
    data = json.loads(report.to_json())
    assert set(data) == {"passed", "info", "rungs"} and data["passed"] is True
    assert data["info"]["timesteps"] == 25 and data["info"]["batch"] == 8 and data["info"]["targets"] == ["bitsim"]
    for rung in data["rungs"]:
        assert set(rung) == {"name", "status", "message", "summary", "layers", "details", "first_mismatch"}
    assert data["rungs"][0]["details"]["calibration"] is not None
    table = report.format_table().splitlines()
    assert table[0].split() == ["rung", "status", "result"]
    assert table[1].startswith("float<->fixed") and " INFO " in table[1]
    assert table[2].startswith("overflow") and " INFO " in table[2]
    assert table[3].startswith("fixed<->bitsim") and " PASS " in table[3]
    assert table[-1] == "result: PASS"
