"""fixed<->loihi: the core simulator equals bitsim's plain executor on every trace of every node, every step --
on the bundled model and on seeded random multi-layer, recurrent, convolutional and fan-in graphs, on one core
and split over many."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loihi_cases import KINDS, first_trace_mismatch, loihi_neuron, random_inputs, random_loihi_qgraph, tiny_spec
from snncompile.backends.bitsim import run_plain
from snncompile.backends.loihi import BACKEND, CoreSpec
from snncompile.backends.loihi.encode import quantize_for_loihi

import snncompile as sc
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph

DIGITS = Path(__file__).resolve().parents[3] / "models" / "digits-mlp" / "test.npz"
#: splits digits-mlp (64 + 10 neurons, fan-in 64) over many cores
DIGITS_SPLIT = CoreSpec(name="split", neurons_per_core=7, input_axons=64, output_axons=32,
                        synaptic_memory_bits=12000, cores_per_chip=4)


@pytest.fixture(scope="module")
def digits() -> tuple[sc.QGraph, np.ndarray, dict]:
    d = np.load(DIGITS)
    qgraph = quantize_for_loihi(sc.load("digits-mlp"), d["inputs"][:, :32])
    inputs = d["inputs"][:, 100:104]
    return qgraph, inputs, run_plain(qgraph, inputs)


@pytest.mark.parametrize("spec", ["loihi1", "loihi2", DIGITS_SPLIT], ids=["loihi1", "loihi2", "split"])
def test_digits_mlp_coresim_equals_bitsim(digits: tuple, spec: str | CoreSpec) -> None:
    qgraph, inputs, want = digits
    mapping = BACKEND.map(qgraph, core_spec=spec)
    assert len(mapping.cores) == (1 if isinstance(spec, str) else 12)
    got = BACKEND.run(qgraph, inputs, core_spec=spec)
    assert first_trace_mismatch(want, got) == ""
    assert want["3"]["out"].sum() > 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), spec_seed=st.integers(0, 10**6))
def test_random_graphs_coresim_equals_bitsim(seed: int, kind: str, spec_seed: int) -> None:
    graph, shape = random_loihi_qgraph(seed, kind)
    inputs = random_inputs(seed, shape)
    want = run_plain(graph, inputs)
    spec = tiny_spec(np.random.default_rng(spec_seed))
    assert len(BACKEND.map(graph, core_spec=spec).cores) > 1
    for core_spec in (spec, "loihi1"):
        assert first_trace_mismatch(want, BACKEND.run(graph, inputs, core_spec=core_spec)) == "", core_spec


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_spikes_and_matches_on_many_cores(kind: str) -> None:
    """One fixed seed per kind with activity in every layer (the hypothesis draws may be quieter)."""
    seed = {"chain": 1, "recurrent": 1, "conv": 1, "fanin": 1}[kind]
    graph, shape = random_loihi_qgraph(seed, kind)
    inputs = random_inputs(seed, shape, timesteps=16, batch=3)
    want = run_plain(graph, inputs)
    neurons = [n for n, node in graph.nodes.items() if type(node).__name__ == "QNeuron"]
    assert all(want[n]["out"].sum() > 0 for n in neurons)
    spec = CoreSpec(name="two", neurons_per_core=2, input_axons=100, output_axons=64, synaptic_memory_bits=20000,
                    cores_per_chip=8)
    assert len(BACKEND.map(graph, core_spec=spec).cores) >= 10
    assert first_trace_mismatch(want, BACKEND.run(graph, inputs, core_spec=spec)) == ""


def _self_recurrent_chain(seed: int) -> QGraph:
    """input(4) -> fc -> n(5) -> fc2 -> n2(3), each neuron layer also feeding itself (n -> r -> n, n2 -> r2 -> n2):
    on one core every layer is one block that sends to itself (no other block in its cycle)."""
    rng = np.random.default_rng(seed)

    def dense(name: str, n_out: int, n_in: int, scale: int) -> QDense:
        return QDense(name=name, weight=rng.integers(-scale, scale + 1, (n_out, n_in)) * 2, w_bits=9,
                      shift=int(rng.integers(-1, 2)))

    nodes = {"input": Input(shape=(4,)), "fc": dense("fc", 5, 4, 60),
             "n": loihi_neuron("n", (5,), du=rng.integers(0, 4096, 5), dv=300, vth=rng.integers(20, 200, 5)),
             "r": dense("r", 5, 5, 40), "fc2": dense("fc2", 3, 5, 60),
             "n2": loihi_neuron("n2", (3,), du=100, dv=rng.integers(0, 4096, 3), vth=50), "r2": dense("r2", 3, 3, 40),
             "output": Output()}
    edges = [("input", "fc"), ("fc", "n"), ("n", "r"), ("r", "n"), ("n", "fc2"), ("fc2", "n2"), ("n2", "r2"),
             ("r2", "n2"), ("n2", "output")]
    return QGraph(nodes, edges)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocks_feeding_themselves_step_with_their_own_messages(seed: int) -> None:
    graph = _self_recurrent_chain(seed)
    inputs = random_inputs(seed, (4,), timesteps=20, batch=3, p=0.5)
    want = run_plain(graph, inputs)
    assert want["n"]["out"].sum() > 0 and want["n2"]["out"].sum() > 0
    two = CoreSpec(name="two", neurons_per_core=2, input_axons=100, output_axons=64, synaptic_memory_bits=20000,
                   cores_per_chip=8)
    for spec in ("loihi1", two):
        assert first_trace_mismatch(want, BACKEND.run(graph, inputs, core_spec=spec)) == "", spec


@pytest.mark.parametrize("scale, dtype", [(255, np.float32), (1 << 23, np.float64), (1 << 51, np.int64)])
def test_synapse_products_pick_an_exact_type(scale: int, dtype: type) -> None:
    """float32 only while a column's absolute weight sum stays below 2^24, float64 below 2^52, else int64; each
    product equals the int64 one exactly."""
    from snncompile.backends.loihi.coresim import _exact_matrix, _Input

    rng = np.random.default_rng(0)
    rows, n = 6, 4
    w = rng.integers(-scale, scale + 1, rows * n, dtype=np.int64)
    m = _exact_matrix(np.arange(rows * n), w.astype(np.float64) if scale < (1 << 51) else w, (rows, n))
    assert m.dtype == dtype
    inp = _Input(0, 0, 1, np.zeros(rows, np.int64), np.arange(rows), np.zeros(rows, np.int64), m)
    x = rng.integers(0, 2, (50, rows))
    assert inp.product(x).tolist() == (x @ w.reshape(rows, n)).tolist()
