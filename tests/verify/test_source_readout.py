"""verify's source<->float rung: spikes compared with ==, a framework's non-spiking readout within the stated
float tolerance (frameworks record float32, the reference runs float64)."""

from __future__ import annotations

import numpy as np

import snncompile as sc
from snncompile import nodes as ir
from snncompile.readout_match import READOUT_ATOL, tolerance_text
from snncompile.semantics import Semantics
from snncompile.verify import Report


def _graph() -> sc.Graph:
    rng = np.random.default_rng(0)
    return sc.Graph({
        "input": ir.Input(shape=(6,)), "fc": ir.Affine(weight=rng.normal(0.3, 1, (5, 6)), bias=np.zeros(5)),
        "lif": ir.LIF(shape=(5,), beta=np.full(5, 0.8), threshold=np.ones(5), semantics=Semantics(reset="subtract")),
        "ro_w": ir.Linear(weight=rng.normal(0, 1, (3, 5))), "ro": ir.LI(shape=(3,), beta=np.full(3, 0.9)),
        "output": ir.Output(),
    }, [("input", "fc"), ("fc", "lif"), ("lif", "ro_w"), ("ro_w", "ro"), ("ro", "output")])


def _run(readout_error: float) -> Report:
    graph = _graph()
    x = (np.random.default_rng(1).random((20, 2, 6)) < 0.5).astype(np.float64)
    ref = sc.simulate(graph, x)
    ro = ref["ro"]["out"].astype(np.float32).astype(np.float64)  # what a float32 framework records
    ro[7, 1, 2] += readout_error
    return sc.verify(graph, inputs=x, source={"lif": ref["lif"]["out"], "ro": ro})


def test_float32_readout_passes_within_the_stated_tolerance() -> None:
    rung = _run(0.0).rung("source<->float")
    assert rung.status == "PASS", rung.message
    assert tolerance_text() in rung.message and "1 readout(s), 0 of 120 values outside" in rung.message
    assert rung.summary["readout_tolerance"] == tolerance_text()
    row = next(r for r in rung.layers if r["layer"] == "ro")
    assert 0 < row["max_abs_error"] < READOUT_ATOL  # float32 rounding measured, not zero


def test_readout_beyond_tolerance_fails_at_its_first_entry() -> None:
    rung = _run(10 * READOUT_ATOL).rung("source<->float")
    assert rung.status == "FAIL"
    assert "1 of 120 values outside" in rung.message
    first = rung.first_mismatch
    assert first is not None and (first.layer, first.timestep, first.batch, first.neuron) == ("ro", 7, 1, 2)


def test_spikes_are_still_exact() -> None:
    graph = _graph()
    x = (np.random.default_rng(1).random((20, 2, 6)) < 0.5).astype(np.float64)
    spk = sc.simulate(graph, x)["lif"]["out"].copy()
    spk[3, 0, 1] = 1 - spk[3, 0, 1]
    rung = sc.verify(graph, inputs=x, source={"lif": spk}).rung("source<->float")
    assert rung.status == "FAIL" and "1 of 200 spike entries differ" in rung.message
