"""bitsim's event-driven C path and traces on demand: the same integers as the plain definition.

Every comparison is ``==`` over whole traces (and the dtypes: each trace in its proven narrow type);
the clamp events must equal plain's too.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import trace_mismatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qgraph_strategies import chain_cases, qgraph_cases
from snncompile.backends.bitsim import event, run_plain_with_clamps, simulate, traces
from snncompile.backends.bitsim.fast import run_fast, run_fast_with_clamps

import snncompile as sc
from snncompile.errors import InputError, QuantizationError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.quant.ranges import trace_ranges

COVERED = {"event": 0, "fallback": 0}


pytestmark = pytest.mark.usefixtures("bitsim_cache")  # tests/conftest.py: kernels built in the session temp


def _subset(graph: QGraph, pick: list[bool]) -> dict[str, tuple[str, ...]]:
    keys = [(n, k) for n in graph.order for k in traces.trace_keys(graph.nodes[n])]
    want: dict[str, tuple[str, ...]] = {}
    for (n, k), take in zip(keys, pick * len(keys), strict=False):
        if take:
            want[n] = (*want.get(n, ()), k)
    return want


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chain_cases(), st.lists(st.booleans(), min_size=1, max_size=7))
def test_event_path_equals_plain(case: tuple[QGraph, np.ndarray], pick: list[bool]) -> None:
    graph, spikes = case
    try:
        expected, clamps = run_plain_with_clamps(graph, spikes)
    except QuantizationError:
        return  # the definition refuses an operand: the event path never takes such a graph (operand checks)
    COVERED["event" if event.unsupported(graph, spikes, False) is None else "fallback"] += 1
    for path in ("event", "gemm", "auto"):
        got, got_clamps = run_fast_with_clamps(graph, spikes, path=path)
        assert trace_mismatch(expected, got, same_dtype=True) == "", path
        assert got_clamps == clamps, path
        want = _subset(graph, pick)
        part = run_fast(graph, spikes, path=path, keep=want)
        assert list(part) == list(want) and all(tuple(part[n]) == want[n] for n in want)
        assert trace_mismatch({n: {k: expected[n][k] for k in ks} for n, ks in want.items()}, part,
                              same_dtype=True) == "", path


def test_event_path_ran_on_most_chains() -> None:
    """The property test above exercised the C chain kernel, not only its fallback (it ran first)."""
    if COVERED["event"] + COVERED["fallback"] == 0:
        pytest.skip("run together with test_event_path_equals_plain")
    assert COVERED["event"] >= 50, COVERED


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases(), st.lists(st.booleans(), min_size=1, max_size=5))
def test_keep_on_every_path(case: tuple[QGraph, np.ndarray], pick: list[bool]) -> None:
    """A trace request gives exactly the requested traces, equal to the full run's, on every path."""
    graph, spikes = case
    want = _subset(graph, pick)
    try:
        full = run_plain_with_clamps(graph, spikes)[0]
    except QuantizationError:
        return
    expected = {n: {k: full[n][k] for k in ks} for n, ks in want.items()}
    for path in ("plain", "layerwise", "c", "stepwise", "gemm", "auto"):
        got = simulate(graph, spikes, path=path, keep=want)
        assert trace_mismatch(expected, got, same_dtype=True) == "", path


def _mlp(b: int = 3) -> tuple[QGraph, np.ndarray]:
    rng = np.random.default_rng(1)
    nodes = {"input": Input(shape=(20,)),
             "fc": QDense(name="fc", weight=rng.integers(-100, 100, (16, 20)), w_bits=8),
             "lif": QNeuron(name="lif", kind="LIF", shape=(16,), semantics=sc.PRESETS["snntorch"], beta=3686,
                            threshold=150, frac_bits=12, i_bits=24, v_bits=24),
             "out": Output()}
    graph = QGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "out")])
    return graph, (rng.random((30, b, 20)) < 0.3).astype(np.uint8)


def test_dtypes_follow_the_range_proof() -> None:
    graph, spikes = _mlp()
    got = simulate(graph, spikes)
    assert event.unsupported(graph, spikes, False) is None
    assert got["input"]["out"].dtype == np.uint8 and got["lif"]["out"].dtype == np.uint8
    assert got["lif"]["v"].dtype == np.int32  # a 24-bit register
    assert got["fc"]["out"].dtype == np.int16  # |sum of 20 weights < 100| < 2^15
    lo, hi = trace_ranges(graph)["fc"]["out"]
    assert lo >= -(1 << 15) and hi < (1 << 15)
    wide = simulate(graph, spikes, narrow=False)
    assert all(a.dtype == np.int64 for rec in wide.values() for a in rec.values())
    assert trace_mismatch(wide, got) == ""
    counts = simulate(graph, spikes, allow_counts=True)  # counts: no proof applies, int64 throughout
    assert counts["lif"]["out"].dtype == np.int64


def test_outputs_only_and_errors() -> None:
    graph, spikes = _mlp()
    got = simulate(graph, spikes, keep="outputs")
    assert list(got) == ["out"] and list(got["out"]) == ["out"]
    assert np.array_equal(got["out"]["out"], simulate(graph, spikes, path="plain")["out"]["out"])
    assert list(simulate(graph, spikes, keep=["lif"])["lif"]) == ["out", "v"]
    assert list(simulate(graph, spikes, keep={"lif": "v"})["lif"]) == ["v"]
    with pytest.raises(InputError, match="no node 'nope'"):
        simulate(graph, spikes, keep=["nope"])
    with pytest.raises(InputError, match="node 'lif' records no trace 'i'"):
        simulate(graph, spikes, keep={"lif": ("v", "i")})


def test_thread_count_does_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    graph, spikes = _mlp(b=7)
    from snncompile.backends.bitsim import ckernel

    one = run_fast(graph, spikes, path="event")
    monkeypatch.setattr(ckernel, "THREADS", 3)
    monkeypatch.setattr(ckernel, "WORK_PER_THREAD", 1)
    assert trace_mismatch(one, run_fast(graph, spikes, path="event"), same_dtype=True) == ""


def test_prepared_weights_are_cached_per_graph() -> None:
    graph, _ = _mlp()
    found = event.chain(graph)
    assert not isinstance(found, str) and event.chain(graph) is found
    assert found.layers[0].wt.dtype == np.int8 and found.layers[0].wt.shape == (20, 16)  # |sums| < 2^15
    assert np.array_equal(found.layers[0].wt, graph.nodes["fc"].weight.T)


@pytest.mark.parametrize(("weight", "bias", "form"), [(100, 0, 2), (3000, 0, 1), (3000, 2**31 - 1, 0)])
def test_every_accumulator_width(weight: int, bias: int, form: int) -> None:
    """int8/int16, int16/int32 and int64/int64 accumulation, as the range proof picks them, equal plain."""
    rng = np.random.default_rng(2)
    w = rng.integers(-weight, weight + 1, (12, 30))
    nodes = {"input": Input(shape=(30,)),
             "fc": QDense(name="fc", weight=w, bias=np.full(12, bias), w_bits=16, b_bits=32),
             "lif": QNeuron(name="lif", kind="LIF", shape=(12,), semantics=sc.PRESETS["snntorch"], beta=3686,
                            threshold=2000, frac_bits=12, i_bits=32, v_bits=32),
             "out": Output()}
    graph = QGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "out")])
    spikes = (rng.random((20, 6, 30)) < 0.4).astype(np.uint8)
    found = event.chain(graph)
    assert not isinstance(found, str) and found.layers[0].narrow == form
    expected, clamps = run_plain_with_clamps(graph, spikes)
    got, got_clamps = run_fast_with_clamps(graph, spikes, path="event")
    assert trace_mismatch(expected, got, same_dtype=True) == "" and got_clamps == clamps
