"""bitsim's layered GEMM path (VNNI and portable GEMM): the same integers as the plain definition.

Every comparison is ``==`` over whole traces and dtypes, clamp events included, on both GEMMs (the
AVX-512 VNNI one where the CPU has it, and the portable C loop every machine runs), and on the
fallback when the range proof or the weights' width rule the GEMM out.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import trace_mismatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qgraph_strategies import chain_cases
from snncompile.backends.bitsim import ckernel, gemm, run_plain_with_clamps
from snncompile.backends.bitsim.fast import run_fast_with_clamps

import snncompile as sc
from snncompile.errors import QuantizationError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron

COVERED = {"gemm": 0, "fallback": 0}
GEMMS = [pytest.param(False, id="vnni"), pytest.param(True, id="portable")]


pytestmark = pytest.mark.usefixtures("bitsim_cache")  # tests/conftest.py: kernels built in the session temp


def _same_as_plain(graph: QGraph, spikes: np.ndarray, path: str = "gemm") -> None:
    expected, clamps = run_plain_with_clamps(graph, spikes)
    for portable in (False, True):
        gemm.FORCE_PORTABLE = portable
        try:
            got, got_clamps = run_fast_with_clamps(graph, spikes, path=path)
        finally:
            gemm.FORCE_PORTABLE = False
        assert trace_mismatch(expected, got, same_dtype=True) == "", (path, portable)
        assert got_clamps == clamps, (path, portable)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(chain_cases())
def test_gemm_path_equals_plain(case: tuple[QGraph, np.ndarray]) -> None:
    """Random chains: the gemm path where it applies, else its fallback, equal plain (both GEMMs)."""
    graph, spikes = case
    try:
        run_plain_with_clamps(graph, spikes)
    except QuantizationError:
        return  # the definition refuses an operand: the C chain paths never take such a graph
    COVERED["gemm" if gemm.unsupported(graph, spikes) is None else "fallback"] += 1
    _same_as_plain(graph, spikes)


def test_gemm_path_ran_on_many_chains() -> None:
    """The property test above ran the GEMM kernel itself, not only the fallback (it ran first)."""
    if COVERED["gemm"] + COVERED["fallback"] == 0:
        pytest.skip("run together with test_gemm_path_equals_plain")
    assert COVERED["gemm"] >= 30, COVERED


def _mlp(sizes: tuple[int, ...], *, w_lo: int = -128, w_hi: int = 127, bias: int = 0, shift: int = 0,
         semantics: str = "snntorch", seed: int = 0) -> QGraph:
    rng = np.random.default_rng(seed)
    nodes: dict[str, object] = {"input": Input(shape=(sizes[0],))}
    edges, prev = [], "input"
    for n, (k, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        nodes[f"fc{n}"] = QDense(name=f"fc{n}", weight=rng.integers(w_lo, w_hi + 1, (m, k)),
                                 bias=rng.integers(-bias, bias + 1, m), shift=shift, w_bits=16, b_bits=32)
        nodes[f"lif{n}"] = QNeuron(name=f"lif{n}", kind="LIF", shape=(m,), semantics=sc.PRESETS[semantics],
                                   beta=3686, threshold=int(rng.integers(50, 400)), frac_bits=12, i_bits=32,
                                   v_bits=32)
        edges += [(prev, f"fc{n}"), (f"fc{n}", f"lif{n}")]
        prev = f"lif{n}"
    nodes["out"] = Output()
    return QGraph(nodes, [*edges, (prev, "out")])  # type: ignore[arg-type]


@pytest.mark.parametrize("sizes", [(5, 70, 3), (37, 130, 17, 64), (130, 1, 65), (2050, 130, 2)])
@pytest.mark.parametrize(("steps", "batch"), [(1, 1), (5, 3), (9, 7)])
@pytest.mark.parametrize("one_step_blocks", [True, False])
def test_wide_layers_tails_blocks_and_threads(sizes: tuple[int, ...], steps: int, batch: int, one_step_blocks: bool,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs not a multiple of 4, outputs across several 64-wide tiles and a ragged last one, several column
    groups (2050 inputs: 128 outputs' weights fill the VNNI GEMM's L2 tile), full row blocks and tails,
    several blocks of steps and several threads: each equal to plain, on both GEMMs."""
    graph = _mlp(sizes, bias=50, shift=-1, seed=len(sizes) + steps)
    spikes = (np.random.default_rng(steps).random((steps, batch, sizes[0])) < 0.6).astype(np.uint8)
    assert gemm.unsupported(graph, spikes) is None
    if one_step_blocks:  # several blocks of steps, several threads, row blocks shorter than the kernel's 6
        monkeypatch.setattr(gemm, "BLOCK_CELLS", 1)
        monkeypatch.setattr(ckernel, "THREADS", 3)
        monkeypatch.setattr(ckernel, "WORK_PER_THREAD", 1)
    _same_as_plain(graph, spikes)


def test_extreme_sums_stay_exact() -> None:
    """Every input active and every weight at -128 or +127: the int32 sums at their largest, still exact."""
    graph = _mlp((300, 40, 10), seed=3)
    for w in (-128, 127):
        nodes = dict(graph.nodes)
        fc = nodes["fc0"]
        assert isinstance(fc, QDense)
        nodes["fc0"] = QDense(name="fc0", weight=np.full(fc.weight.shape, w), w_bits=8)
        extreme = QGraph(nodes, list(graph.edges))
        spikes = np.ones((4, 5, 300), np.uint8)
        assert gemm.unsupported(extreme, spikes) is None
        _same_as_plain(extreme, spikes)


def test_refusals_name_the_node_and_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights wider than int8, a bound at the int32 limit, inputs outside u8: the gemm path says why, and the
    run falls back (event path) with the same integers."""
    spikes = (np.random.default_rng(0).random((6, 2, 20)) < 0.5).astype(np.uint8)
    wide = _mlp((20, 8, 4), w_lo=-300, w_hi=300)
    why = gemm.unsupported(wide, spikes)
    assert why is not None and "node 'fc0'" in why and "wider than the GEMM's int8" in why
    _same_as_plain(wide, spikes)
    bounded = _mlp((20, 8, 4), w_lo=100, w_hi=100)  # fc0's bound: 20 * 100 = 2000
    monkeypatch.setattr(gemm, "ACC_LIMIT", 2000)  # as if 2000 were where int32 ends
    why = gemm.unsupported(bounded, spikes)
    assert why is not None and "node 'fc0'" in why and "accumulation bound 2000" in why and "< 2000" in why
    _same_as_plain(bounded, spikes)
    readout = _mlp((20, 8, 4))
    nodes = dict(readout.nodes)
    lif0 = nodes["lif0"]
    assert isinstance(lif0, QNeuron)
    nodes["lif0"] = dataclasses.replace(lif0, kind="LI")  # a hidden readout: its v feeds fc1
    hidden_v = QGraph(nodes, list(readout.edges))
    why = gemm.unsupported(hidden_v, spikes)
    assert why is not None and "node 'fc1'" in why and "not in the GEMM's u8 0..255" in why
    _same_as_plain(hidden_v, spikes)


def test_spike_counts_up_to_255_run_on_the_gemm() -> None:
    """Multi-spike neurons (counts up to spike_cap) feed the next GEMM as u8 counts; a cap of 256 cannot."""
    spikes = (np.random.default_rng(4).random((8, 3, 30)) < 0.5).astype(np.uint8)
    for cap, fits in ((255, True), (256, False)):
        sem = dataclasses.replace(sc.PRESETS["snntorch"], spikes="multi", spike_cap=cap)
        graph = _mlp((30, 12, 5), w_lo=-20, w_hi=60, seed=cap)
        nodes = {n: dataclasses.replace(v, semantics=sem, threshold=7) if isinstance(v, QNeuron) else v
                 for n, v in graph.nodes.items()}
        counts = QGraph(nodes, list(graph.edges))
        assert (gemm.unsupported(counts, spikes) is None) == fits
        _same_as_plain(counts, spikes)


@pytest.mark.parametrize(("steps", "density", "gemm_wins"), [(20, 0.3, True), (2, 0.05, False), (20, 0.0, False)])
def test_auto_weighs_weight_reads_against_activity(steps: int, density: float, gemm_wins: bool) -> None:
    """auto: the GEMM where a weight row is read at least once per block anyway (rows x activity >= 1), else
    the event path; either way the integers are plain's."""
    graph = _mlp((200, 30, 5))
    spikes = (np.random.default_rng(1).random((steps, 4, 200)) < density).astype(np.uint8)
    kernels = ckernel.load()
    assert gemm.preferred(graph, spikes, kernels) == (kernels.vnni and gemm_wins)
    _same_as_plain(graph, spikes, path="auto")


def test_a_cpu_without_vnni_gets_the_event_path_from_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without VNNI auto never takes the portable GEMM (the event path is faster); path="gemm" still runs it."""
    graph = _mlp((200, 30, 5))
    spikes = (np.random.default_rng(1).random((20, 4, 200)) < 0.3).astype(np.uint8)
    kernels = ckernel.load()
    monkeypatch.setattr(kernels, "vnni", False)
    assert not gemm.preferred(graph, spikes, kernels)
    expected = run_plain_with_clamps(graph, spikes)
    for path in ("auto", "gemm"):
        got = run_fast_with_clamps(graph, spikes, path=path)
        assert trace_mismatch(expected[0], got[0], same_dtype=True) == "" and got[1] == expected[1], path


@given(st.integers(1, 300), st.integers(1, 90), st.integers(1, 9))
@settings(max_examples=40, deadline=None, derandomize=True)
def test_packing_round_trips(k: int, m: int, seed: int) -> None:
    """The packed layout holds w[j, c] at [j // 4, c, j % 4] and zeros elsewhere."""
    w_t = np.random.default_rng(seed).integers(-128, 128, (k, m)).astype(np.int8)
    p = gemm._pack(w_t)
    assert p.shape == (-(-k // 4), -(-m // 16) * 16, 4) and p.dtype == np.int8 and p.flags.c_contiguous
    back = p.transpose(0, 2, 1).reshape(-1, p.shape[1])
    assert np.array_equal(back[:k, :m], w_t) and not back[k:].any() and not back[:, m:].any()
