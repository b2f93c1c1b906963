"""The ladder's ``overflow`` rung: register saturation or wrap on the inputs, INFO/WARN or PASS/FAIL."""

from __future__ import annotations

import importlib
import json
import warnings

from integrator_case import integrator_graph, integrator_inputs

from snncompile.errors import OverflowRiskWarning, SaturationWarning
from snncompile.quant.clamps import ClampEvent
from snncompile.quant.spec import QuantSpec

ladder = importlib.import_module("snncompile.verify")  # the module; ``snncompile.verify`` is the function

SATURATED = ("node 'readout': register v saturated 295 times (first at step 5, sample 1, neuron 0) on the data run; "
             "int8 range [-127, 127] (saturate): use more state bits, or calibrate on data like this")


def run(state_bits: int, *, strict: bool = False, steps: int = 300) -> tuple[object, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = ladder.verify(integrator_graph(), inputs=integrator_inputs(steps), targets=("bitsim", "hls"),
                               spec=QuantSpec(state_bits=state_bits), strict=strict)
    return report, caught


def test_a_saturating_readout_warns_and_every_other_rung_passes() -> None:
    report, caught = run(8)
    rung = report.rung("overflow")
    assert rung.status == "WARN"
    assert rung.message == "1 register(s): 'readout' v saturated 295 times from step 5"
    assert rung.summary == {"registers": 1, "clamps": 295, "strict": False}
    assert rung.layers == [{"layer": "readout", "register": "v", "overflow": "saturate", "bits": 8, "count": 295,
                            "first_step": 5, "first_sample": 1, "first_neuron": 0}]
    assert [r.status for r in report.rungs] == ["INFO", "WARN", "PASS", "PASS"] and report.passed
    # calibration predicted it (OverflowRiskWarning); the run measured it (SaturationWarning), once per register
    assert [(w.category, str(w.message)) for w in caught if issubclass(w.category, SaturationWarning)] == [
        (SaturationWarning, SATURATED)]
    assert any(w.category is OverflowRiskWarning for w in caught)
    table = report.format_table()
    assert "overflow        WARN    1 register(s): 'readout' v saturated 295 times from step 5\n" in table
    assert "overflow per layer:\n  layer    register  overflow  bits  clamps  first step  first sample  " \
           "first neuron\n  readout  v         saturate  8     295     5           1             0\n" in table
    assert table.endswith("result: PASS\n")


def test_strict_fails_the_rung() -> None:
    report, _ = run(8, strict=True)
    rung = report.rung("overflow")
    assert (rung.status, rung.message) == ("FAIL", "1 register(s): 'readout' v saturated 295 times from step 5 "
                                                   "(--strict)")
    assert not report.passed and report.info["strict"] is True
    assert "\nFAIL overflow: 1 register(s): 'readout' v saturated 295 times from step 5 (--strict)\n" in \
        report.format_table()
    data = json.loads(report.to_json())
    saved = next(r for r in data["rungs"] if r["name"] == "overflow")
    assert saved["status"] == "FAIL" and saved["layers"][0]["count"] == 295 and saved["summary"]["clamps"] == 295
    assert saved["details"]["counted_by"].startswith("bitsim's plain executor on the inputs")


def test_no_overflow_is_info_or_pass_under_strict() -> None:
    for strict, status in ((False, "INFO"), (True, "PASS")):
        report, caught = run(16, strict=strict)
        rung = report.rung("overflow")
        assert (rung.status, rung.message, rung.layers) == (status, "no register saturated or wrapped on the inputs",
                                                            [])
        assert rung.summary == {"registers": 0, "clamps": 0, "strict": strict} and report.passed
        assert not [w for w in caught if issubclass(w.category, SaturationWarning)]


def test_message_names_three_registers_then_elides() -> None:
    events = [ClampEvent(f"n{k}", "v", "wrap", 8, k + 1, k, 0, 0) for k in range(4)]
    rung = ladder.overflow_rung(events)
    assert rung.message == ("4 register(s): 'n0' v wrapped 1 time from step 0, 'n1' v wrapped 2 times from step 1, "
                            "'n2' v wrapped 3 times from step 2, ...")
    assert rung.summary["clamps"] == 10 and len(rung.layers) == 4


def test_the_table_writes_a_tuple_neuron_as_mismatches_do() -> None:
    rung = ladder.overflow_rung([ClampEvent("c", "i", "saturate", 8, 2, 3, 1, (0, 1, 2))])
    assert rung.layers[0]["first_neuron"] == [0, 1, 2]
    assert ladder._layer_rows(rung.layers)[1][-1] == "(0, 1, 2)"
    assert type(rung.summary["clamps"]) is int  # JSON-able as it is
