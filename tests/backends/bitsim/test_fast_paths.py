"""bitsim's fast paths equal the plain executor on every integer of every trace."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from conftest import trace_mismatch
from hypothesis import HealthCheck, given, settings
from qgraph_strategies import neuron_cases, qgraph_cases
from snncompile.backends.bitsim import accumulate, ckernel, run_plain, run_plain_with_clamps
from snncompile.backends.bitsim.fast import PATHS, run_fast, run_fast_with_clamps

from snncompile.errors import BackendError, QuantizationError, SnnCompileError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.clamps import ClampEvent
from snncompile.quant.qnodes import QDense, QGraph, QNeuron, QScale
from snncompile.semantics import Semantics

pytestmark = pytest.mark.usefixtures("bitsim_cache")  # tests/conftest.py: kernels built in the session temp


def assert_paths_equal_plain(graph: QGraph, inputs: Any, allow_counts: bool = False,
                             what: str = "") -> tuple[ClampEvent, ...]:
    """Every path gives plain's traces and register clamp events, or, where plain refuses an operand, the same
    QuantizationError. Returns plain's clamp events (none after a refusal)."""
    try:
        expected, clamps = run_plain_with_clamps(graph, inputs, allow_counts=allow_counts)
    except QuantizationError as err:
        for path in (*PATHS, "auto"):
            with pytest.raises(QuantizationError) as got:
                run_fast(graph, inputs, path=path, allow_counts=allow_counts)
            assert str(got.value) == str(err), f"{what} path '{path}'"
        return ()
    for path in (*PATHS, "auto"):
        traces, got_clamps = run_fast_with_clamps(graph, inputs, path=path, allow_counts=allow_counts)
        report = trace_mismatch(expected, traces, same_dtype=True)
        assert report == "", f"{what} path '{path}': {report}"
        assert got_clamps == clamps, f"{what} path '{path}': clamp events {got_clamps} != plain's {clamps}"
    return clamps


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases())
def test_every_path_equals_plain(case: tuple[QGraph, np.ndarray]) -> None:
    assert_paths_equal_plain(*case)


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(neuron_cases())
def test_narrow_registers_every_path_equals_plain(case: tuple[QGraph, np.ndarray]) -> None:
    assert_paths_equal_plain(*case)


def _rail_graph(kind: str, sem: Semantics, rng: np.random.Generator) -> QGraph:
    """Input -> QDense -> QNeuron (+ recurrent QDense), 3..6-bit registers, every value drawn over its full range."""
    n_in, n = 4, 5
    v_bits, i_bits, d = int(rng.integers(3, 7)), int(rng.integers(3, 7)), int(rng.integers(1, 5))
    hi_v, hi_i = (1 << (v_bits - 1)) - 1, (1 << (i_bits - 1)) - 1
    nodes = {
        "input": Input(shape=(n_in,)),
        "w": QDense(name="w", weight=rng.integers(-4, 4, (n, n_in)), w_bits=3, shift=int(rng.integers(0, 3))),
        "n": QNeuron(
            name="n", kind=kind, shape=(n,), semantics=sem, alpha=rng.integers(0, (1 << d) + 1, n),
            beta=rng.integers(0, (1 << d) + 1, n), threshold=rng.integers(1, hi_v + 1, n),
            v_reset=rng.integers(-hi_v - 1, hi_v + 1, n), bias=rng.integers(-2, 3, n),
            v_init=rng.integers(-hi_v - 1, hi_v + 1, n), i_init=rng.integers(-hi_i - 1, hi_i + 1, n),
            input_shift=int(rng.integers(0, 2)), frac_bits=d, i_bits=i_bits, v_bits=v_bits,
        ),
        "r": QDense(name="r", weight=rng.integers(-4, 4, (n, n)), w_bits=3),
        "output": Output(),
    }
    edges = [("input", "w"), ("w", "n"), ("n", "r"), ("r", "n"), ("n", "output")]
    return QGraph(nodes, edges)


def test_option_grid_at_the_rails() -> None:
    """Every combination of the reset/timing/overflow/spike options, with narrow registers near their rails.

    The rails are really hit: every register clamps under every overflow policy somewhere in the grid."""
    rng = np.random.default_rng(20240611)
    clamped: set[tuple[str, str]] = set()
    grid = itertools.product(("immediate", "delayed", "snntorch_immediate"), ("zero", "subtract", "none"),
                             ("state", "total"), ("saturate", "wrap", "wrap_loihi"), ("gt", "ge"), ("binary", "multi"))
    for timing, reset, delayed_zero, overflow_v, compare, spikes in grid:
        sem = Semantics(timing=timing, reset=reset, delayed_zero=delayed_zero, overflow_v=overflow_v, compare=compare,
                        spikes=spikes, spike_cap=3, overflow_i=str(rng.choice(["saturate", "wrap", "wrap_loihi"])),
                        rounding=str(rng.choice(["toward_zero", "floor", "nearest"])),
                        synapse_delay=int(rng.integers(0, 2)),
                        synapse_order=str(rng.choice(["decay_then_add", "add_then_decay"])))
        kind = str(rng.choice(["IF", "LIF", "CubaLIF", "CubaLI"]))
        graph = _rail_graph(kind, sem, rng)
        spikes_in = (rng.random((16, 2, 4)) < 0.6).astype(np.int64)
        events = assert_paths_equal_plain(graph, spikes_in, what=f"{kind} {sem.describe()}")
        clamped |= {(e.register, e.policy) for e in events}
    assert clamped == set(itertools.product(("i", "v"), ("saturate", "wrap", "wrap_loihi")))


def _dense_graph(weight: np.ndarray, w_bits: int, pre_scale: int = 1, pre_shift: int = 0) -> QGraph:
    """Input -> QScale (pre_scale << pre_shift) -> QDense(weight) -> Output."""
    n_in = weight.shape[1]
    nodes = {
        "input": Input(shape=(n_in,)),
        "scale": QScale(name="scale", weight=np.full(n_in, pre_scale), w_bits=16, shift=pre_shift),
        "dense": QDense(name="dense", weight=weight, w_bits=w_bits),
        "output": Output(),
    }
    return QGraph(nodes, [("input", "scale"), ("scale", "dense"), ("dense", "output")])


def test_float_gemm_falls_back_to_float64_when_float32_is_not_exact() -> None:
    # 1023 odd weights of magnitude 16001..32767: odd sums above 2^24, which float32 cannot hold
    weight = np.random.default_rng(5).integers(16001, 32768, (3, 1023)) | 1
    weight[1] *= -1
    assert accumulate.exact_float_type(weight, np.zeros(3), 1) is np.float64
    assert accumulate.exact_float_type(weight[:, :8], np.zeros(3), 1) is np.float32
    spikes = np.ones((2, 1, 1023), np.int64)
    exact = spikes[0] @ weight.T
    in_float32 = (spikes[0].astype(np.float32) @ weight.T.astype(np.float32)).astype(np.int64)
    assert not np.array_equal(exact, in_float32)  # the bound matters: a float32 GEMM would be wrong here
    graph = _dense_graph(weight, 16)
    expected = run_plain(graph, spikes)
    for path in ("float_gemm", "auto", "stepwise"):
        assert trace_mismatch(expected, run_fast(graph, spikes, path=path)) == ""
    assert expected["dense"]["out"][0, 0, 0] == exact[0, 0]


def test_float_gemm_falls_back_to_int64_beyond_2_pow_53() -> None:
    # inputs scaled to 32767 << 31 (~2^46) into 256 weights of 32767: sums ~2^69 wrap in int64, as in plain
    weight = np.full((2, 256), 32767)
    weight[1, ::3] = -32768
    assert accumulate.exact_float_type(weight, np.zeros(2), 32767 << 31) is None
    graph = _dense_graph(weight, 16, pre_scale=32767, pre_shift=31)
    spikes = (np.random.default_rng(3).random((3, 2, 256)) < 0.7).astype(np.int64)
    assert_paths_equal_plain(graph, spikes)


def test_unknown_path_is_a_value_error() -> None:
    graph = _dense_graph(np.ones((1, 2), np.int64), 2)
    with pytest.raises(ValueError, match="unknown bitsim path 'gpu'; known: layerwise, float_gemm"):
        run_fast(graph, np.zeros((1, 1, 2)), path="gpu")


def test_inputs_are_checked_as_plain_checks_them() -> None:
    graph = _dense_graph(np.ones((1, 2), np.int64), 2)
    for bad in (np.full((2, 1, 2), 2), np.full((2, 1, 2), 0.5), np.zeros((2, 1, 3), np.int8), -np.ones((1, 1, 2))):
        with pytest.raises(SnnCompileError) as plain_err:
            run_plain(graph, bad)
        with pytest.raises(SnnCompileError) as fast_err:
            run_fast(graph, bad)
        assert str(fast_err.value) == str(plain_err.value)
    assert_paths_equal_plain(graph, np.array([[[3, 0]], [[1, 7]]], np.uint16), allow_counts=True)
    bools = np.array([[[True, False]]])
    assert trace_mismatch(run_plain(graph, bools), run_fast(graph, bools)) == ""


def test_c_path_without_gcc_is_a_backend_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    with pytest.raises(BackendError, match=r"compiler `no-such-cc` not found on PATH \(command: no-such-cc -O2"):
        ckernel.build(tmp_path, cc="no-such-cc")
    graph = _dense_graph(np.ones((1, 2), np.int64), 2)
    spikes = np.ones((2, 1, 2), np.int64)
    monkeypatch.setenv("SNNCOMPILE_CACHE", str(tmp_path / "fresh"))  # nothing built or loaded for this directory
    monkeypatch.setattr(ckernel.shutil, "which", lambda name: None)
    with pytest.raises(BackendError, match="compiler `gcc` not found"):
        run_fast(graph, spikes, path="c")
    assert trace_mismatch(run_plain(graph, spikes), run_fast(graph, spikes, path="auto")) == ""


def test_c_kernels_are_built_once_per_source(tmp_path) -> None:
    first = ckernel.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert ckernel.build(tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert first.parent == tmp_path and first.name.startswith("kernels-")


def test_two_inputs_and_a_recurrent_pair() -> None:
    """Two Input nodes (a dict of arrays), a cycle through two neurons, an Output straight from an Input."""
    rng = np.random.default_rng(11)
    sem = Semantics(reset="subtract", timing="delayed")
    nodes = {
        "a": Input(shape=(3,)), "b": Input(shape=(2,)),
        "wa": QDense(name="wa", weight=rng.integers(-8, 8, (4, 3)), w_bits=4),
        "wb": QDense(name="wb", weight=rng.integers(-8, 8, (4, 2)), w_bits=4),
        "n1": QNeuron(name="n1", kind="LIF", shape=(4,), semantics=sem, beta=3000, threshold=5),
        "w12": QDense(name="w12", weight=rng.integers(-8, 8, (4, 4)), w_bits=4),
        "n2": QNeuron(name="n2", kind="CubaLI", shape=(4,), alpha=2000, beta=3500, v_init=[1, -2, 3, 40]),
        "w21": QDense(name="w21", weight=rng.integers(-8, 8, (4, 4)), w_bits=4, shift=-1),
        "out": Output(), "tap": Output(),
    }
    edges = [("a", "wa"), ("b", "wb"), ("wa", "n1"), ("wb", "n1"), ("n1", "w12"), ("w12", "n2"), ("n2", "w21"),
             ("w21", "n1"), ("n2", "out"), ("b", "tap")]
    graph = QGraph(nodes, edges)
    assert graph.recurrent_edges == {("w21", "n1")}
    for steps in (1, 9):
        inputs = {"a": (rng.random((steps, 2, 3)) < 0.5).astype(np.int8), "b": rng.random((steps, 2, 2)) < 0.5}
        assert_paths_equal_plain(graph, inputs)


def test_empty_batch_and_no_steps() -> None:
    graph = _dense_graph(np.ones((3, 2), np.int64), 2)
    empty_batch = np.zeros((4, 0, 2), np.int64)
    expected = run_plain(graph, empty_batch)
    for path in (*PATHS, "auto"):
        assert trace_mismatch(expected, run_fast(graph, empty_batch, path=path), same_dtype=True) == "", path
        no_steps = run_fast(graph, np.zeros((0, 2, 2), np.int64), path=path)
        dense = no_steps["dense"]["out"]
        assert dense.shape == (0, 2, 3) and dense.dtype == expected["dense"]["out"].dtype


def _refusing_pair(recurrent_b: bool) -> QGraph:
    """Two neurons whose inputs exceed 2^60 (so the definition refuses them) when input channel 0 / 1 spikes."""
    big = dict(w_bits=16, shift=31)
    nodes = {
        "input": Input(shape=(2,)),
        "sa": QScale(name="sa", weight=[32767, 0], **big), "sb": QScale(name="sb", weight=[0, 32767], **big),
        "na": QNeuron(name="na", kind="LIF", shape=(2,), beta=100, threshold=9, input_shift=16),
        "nb": QNeuron(name="nb", kind="CubaLIF", shape=(2,), alpha=9, beta=100, threshold=9, input_shift=16),
        "out": Output(),
    }
    edges = [("input", "sa"), ("input", "sb"), ("sa", "na"), ("sb", "nb"), ("na", "out")]
    if recurrent_b:
        nodes["rb"] = QDense(name="rb", weight=np.eye(2, dtype=np.int64), w_bits=2)
        edges += [("nb", "rb"), ("rb", "nb")]
    return QGraph(nodes, edges)


def test_the_first_refusal_in_plain_order_is_raised() -> None:
    """Plain raises at the earliest step, and within a step at the first node in graph order; so do the fast paths."""
    for recurrent_b in (False, True):
        graph = _refusing_pair(recurrent_b)
        for t_a, t_b in ((5, 2), (2, 5), (3, 3), (4, None), (None, 1)):
            spikes = np.zeros((7, 2, 2), np.int64)
            if t_a is not None:
                spikes[t_a, 1, 0] = 1
            if t_b is not None:
                spikes[t_b, 0, 1] = 1
            with pytest.raises(QuantizationError, match=f"node '{'nb' if t_a is None or (t_b or 9) < t_a else 'na'}'"):
                run_plain(graph, spikes)
            assert_paths_equal_plain(graph, spikes, what=f"recurrent={recurrent_b} t_a={t_a} t_b={t_b}")


def test_c_kernel_refuses_exactly_what_the_definition_refuses() -> None:
    """At the limits of neuron.py's operand check (input, v, i or i + input), one below and at the limit.

    wrap_loihi registers (the only ones that can leave their range) and an unknown input bound keep every check on.
    """
    kernels = ckernel.load()
    for kind, order, decay in itertools.product(("LIF", "CubaLIF"), ("decay_then_add", "add_then_decay"), (4096, 3, 0)):
        sem = Semantics(synapse_order=order, overflow_i="wrap_loihi", overflow_v="wrap_loihi")
        node = QNeuron(name="n", kind=kind, shape=(2,), semantics=sem, alpha=decay, beta=decay, threshold=5,
                       frac_bits=12)
        lim_x, lim_v, lim_i = ckernel.safe_limits(node)
        reachable = (("x", lim_x), ("v", lim_v), ("i", lim_i)) if kind == "CubaLIF" else (("x", lim_x), ("v", lim_v))
        for quantity, limit in reachable:  # an LIF's i stays at i_init: a larger one is no reachable state
            for value in (limit - 1, limit, -limit, 1 - limit):
                state = ckernel.CNeuronState.fresh(node, 1)
                x = np.array([[0, 1]], np.int64)
                if quantity == "x":
                    x[0, 0] = value
                elif quantity == "v":
                    state.v[0] = value
                else:
                    state.i[0] = value
                definition = state.as_numpy()
                try:
                    definition.step(x)
                    refused = False
                except QuantizationError:
                    refused = True
                _, stop = kernels.neuron_run(state, x[None], threads=1)
                assert (stop == 0) == refused, f"{kind} {order} decay={decay} {quantity}={value}"


def test_c_kernel_skips_checks_only_where_registers_bound_the_operands() -> None:
    lif = QNeuron(name="n", kind="CubaLIF", shape=(1,), alpha=4000, beta=4000, threshold=5, input_shift=3,
                  semantics=Semantics(synapse_order="add_then_decay"))
    assert ckernel.operand_checks(lif, 1 << 20)[0] == 0  # saturating registers, bounded input: no checks
    assert ckernel.operand_checks(lif, None)[0] == 1  # unknown input
    assert ckernel.operand_checks(lif, 1 << 58)[0] == 1  # input << 3 reaches 2^60
    loihi = QNeuron(name="n", kind="CubaLIF", shape=(1,), alpha=4000, beta=4000, threshold=5,
                    semantics=Semantics(overflow_i="wrap_loihi"))
    assert ckernel.operand_checks(loihi, 1)[0] == 1  # Lava's single correction can leave the register


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases())
def test_c_kernels_split_over_threads_equal_plain(case: tuple[QGraph, np.ndarray]) -> None:
    """Three threads on every call, so the neuron ranges start mid-sample and the dense rows are split."""
    graph, spikes = case
    try:
        expected, clamps = run_plain_with_clamps(graph, spikes)
    except QuantizationError:
        return  # refusals are covered above; here: the split of the work
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ckernel, "THREADS", 3)
        mp.setattr(ckernel, "WORK_PER_THREAD", 1)
        for path in ("c", "auto"):
            traces, got_clamps = run_fast_with_clamps(graph, spikes, path=path)
            assert trace_mismatch(expected, traces, same_dtype=True) == "", path
            assert got_clamps == clamps, path


def test_c_path_falls_back_to_the_numpy_neuron_for_an_unknown_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ckernel._KNOWN, "rounding", ("toward_zero", "nearest"))  # as if "floor" were new
    sem = Semantics(rounding="floor", reset="subtract")
    graph = QGraph({
        "input": Input(shape=(3,)), "w": QDense(name="w", weight=[[3, -2, 5], [-4, 4, 1]], w_bits=4),
        "n": QNeuron(name="n", kind="CubaLIF", shape=(2,), semantics=sem, alpha=3001, beta=2999, threshold=4),
        "out": Output(),
    }, [("input", "w"), ("w", "n"), ("n", "out")])
    assert ckernel.unsupported(graph.nodes["n"]) == "bitsim C kernel has no rule for rounding='floor'"
    with pytest.raises(UnsupportedNodeError, match="node 'n': bitsim C kernel has no rule for rounding='floor'"):
        ckernel.neuron_options(graph.nodes["n"])
    spikes = (np.random.default_rng(2).random((12, 2, 3)) < 0.5).astype(np.int64)
    assert trace_mismatch(run_plain(graph, spikes), run_fast(graph, spikes, path="c")) == ""


def test_kernel_cache_key_covers_included_parts(tmp_path: Any) -> None:
    """kernels.c includes its parts with quotes; editing a part must rebuild, never reuse a stale library."""
    part = tmp_path / "part.h"
    main = tmp_path / "main.c"
    main.write_text('#include "part.h"\nint answer(void) { return ANSWER; }\n')
    part.write_text("#define ANSWER 41\n")
    first = ckernel.build(tmp_path / "cache", source_file=main)
    part.write_text("#define ANSWER 42\n")
    second = ckernel.build(tmp_path / "cache", source_file=main)
    assert first != second and first.exists() and second.exists()
    import ctypes

    assert ctypes.CDLL(str(second)).answer() == 42
    assert "int64_t bs_layered_run(" in ckernel._source_text(ckernel.SOURCE)  # the GEMM part is hashed too
