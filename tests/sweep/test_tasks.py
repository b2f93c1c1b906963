"""One sweep point and one configuration, run directly (what each Ray task runs), against the ladder and backends."""

from __future__ import annotations

from typing import Any

import pytest
from snncompile.backends import get
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile.data import load_data
from snncompile.frontend.nir_read import load
from snncompile.reference import run as run_float
from snncompile.sweep import tasks
from snncompile.sweep.space import Job, QuantPoint


@pytest.fixture(scope="module")
def mlp() -> dict[str, Any]:
    loaded = load("digits-mlp")
    data = load_data(None, loaded.graph, loaded.path)
    inputs = {k: v[:, :120] for k, v in data.inputs.items()}  # a third of the test set keeps the test fast
    labels = data.labels[:120]
    return {"graph": loaded.graph, "inputs": inputs, "labels": labels, "floats": run_float(loaded.graph, inputs)}


def _quantise(mlp: dict[str, Any], point: QuantPoint) -> tasks.Quantised:
    return tasks.quantise_point(mlp["graph"], mlp["inputs"], mlp["labels"], mlp["floats"], point, sc.QuantSpec())


def test_point_metrics_are_the_ladders(mlp: dict[str, Any]) -> None:
    q = _quantise(mlp, QuantPoint("generic", 4, None))
    assert q.failure is None and q.qgraph is not None
    report = sc.verify(mlp["graph"], inputs=mlp["inputs"], labels=mlp["labels"], spec=sc.QuantSpec(weight_bits=4))
    want = report.rung("float<->fixed").summary
    for key in ("accuracy_float", "accuracy_fixed", "prediction_agreement", "min_layer_agreement"):
        assert q.metrics[key] == want[key], key
    assert q.metrics["output_agreement"] == want["outputs"]["output"]["agreement"]


def test_hls_configuration_row(mlp: dict[str, Any]) -> None:
    q = _quantise(mlp, QuantPoint("generic", 4, None))
    stimuli = {k: v[:, :4] for k, v in mlp["inputs"].items()}
    row = tasks.measure_target(q, stimuli, Job(q.point, "hls", (("clock_mhz", 200.0), ("unroll", 2))))
    assert row["status"] == "ok" and row["rung"] == "PASS" and row["mismatches"] == 0, row
    est = get("hls").estimate(q.qgraph, unroll=2, clock_mhz=200.0, timesteps=25)  # type: ignore[attr-defined]
    assert row["memory_bits"] == row["resource"] == est["total"]["memory_bits"]
    assert (row["dsp"], row["bram18"]) == (est["total"]["dsp"], est["total"]["bram18"])
    assert row["cycles_per_sample"] == est["latency"]["cycles"]
    assert row["latency_us"] == pytest.approx(est["latency"]["us"], abs=1e-3)
    traces = run_plain(q.qgraph, stimuli)  # the rung compares every trace of every node on the stimuli
    assert row["compared"] == sum(a.size for t in traces.values() for a in t.values())
    assert row["accuracy_fixed"] == q.metrics["accuracy_fixed"]


def test_loihi_point_uses_loihis_encodings(mlp: dict[str, Any]) -> None:
    q = _quantise(mlp, QuantPoint("loihi", None, None))
    assert q.failure is None and q.qgraph is not None and q.qgraph.metadata["quant_target"] == "loihi"
    stimuli = {k: v[:, :2] for k, v in mlp["inputs"].items()}
    row = tasks.measure_target(q, stimuli, Job(q.point, "loihi", (("core_spec", "loihi1"),)))
    assert row["status"] == "ok" and row["rung"] == "PASS", row
    mapping = get("loihi").map(q.qgraph, core_spec="loihi1")  # type: ignore[attr-defined]
    assert row["loihi_cores"] == row["resource"] == len(mapping.cores)


def test_quantisation_refusal_is_a_row(mlp: dict[str, Any]) -> None:
    """8-bit weights need thresholds beyond an 8-bit state register: QuantSpec's refusal, recorded, not raised."""
    q = _quantise(mlp, QuantPoint("generic", 8, 8))
    assert q.qgraph is None and q.failure is not None
    assert q.failure["status"] == "refused" and q.failure["stage"] == "quantise"
    assert q.failure["error"].startswith("QuantizationError: node '1': threshold ")
    assert "does not fit int8 [-127, 127]" in q.failure["error"]
    row = tasks.measure_target(q, mlp["inputs"], Job(q.point, "hls", ()))
    assert (row["status"], row["stage"], row["error"]) == ("refused", "quantise", q.failure["error"])


def test_target_refusal_is_a_row() -> None:
    """The loihi target refuses a generic QGraph (a bias on a weight layer): refused at its check, not raised."""
    loaded = load("digits-mlp")
    data = load_data(None, loaded.graph, loaded.path)
    inputs = {k: v[:, :4] for k, v in data.inputs.items()}
    qgraph = sc.quantize(loaded.graph, sc.QuantSpec(weight_bits=4), inputs)
    q = tasks.Quantised(QuantPoint("generic", 4, None), qgraph, {"accuracy_fixed": 0.5}, None, 0.0)
    row = tasks.measure_target(q, inputs, Job(q.point, "loihi", ()))
    assert (row["status"], row["stage"]) == ("refused", "check"), row
    assert row["error"].startswith("LoihiRuleError: loihi rule check_weight_bias: node '0': weight-layer bias")
    assert row["accuracy_fixed"] == 0.5 and "rung" not in row


def test_unexpected_failure_is_an_error_row(mlp: dict[str, Any]) -> None:
    """Not a typed refusal: status 'error' (retried by the next run), still a row."""
    q = _quantise(mlp, QuantPoint("generic", 4, None))
    row = tasks.measure_target(q, mlp["inputs"], Job(q.point, "hls", (("no_such_option", 1),)))
    assert (row["status"], row["stage"]) == ("error", "emit"), row
    assert row["error"].startswith("TypeError: ") and "no_such_option" in row["error"]


def test_rtl_configuration_row(mlp: dict[str, Any]) -> None:
    """Simulated cycles and the analytic memory estimate of the emitted project (Icarus: the quicker build)."""
    q = _quantise(mlp, QuantPoint("generic", 3, None))
    stimuli = {k: v[:, :2] for k, v in mlp["inputs"].items()}
    opts = (("clock_mhz", 100.0), ("lanes", 8), ("simulator", "icarus"))
    row = tasks.measure_target(q, stimuli, Job(q.point, "rtl", opts))
    assert row["status"] == "ok" and row["rung"] == "PASS", row
    assert row["cycles_per_sample"] > 0 and row["latency_us"] == pytest.approx(row["cycles_per_sample"] / 100.0,
                                                                               abs=1e-3)
    assert row["resource"] == row["memory_bits"] > 0 and row["resource_name"] == "memory bits (RTL estimate)"
