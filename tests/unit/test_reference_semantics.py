"""The float reference executor against hand-computed sequences and snnTorch's own probes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import SHARED

import snncompile as sc
from snncompile import ir
from snncompile.reference import run
from snncompile.semantics import Semantics


def single(node: ir.Node, xs: list[float], *, width: int = 1) -> dict[str, np.ndarray]:
    """Drive one neuron node directly with the current sequence ``xs``; traces as [T] lists."""
    g = sc.Graph({"x": ir.Input(shape=(width,)), "n": node, "y": ir.Output()}, [("x", "n"), ("n", "y")])
    inputs = np.asarray(xs, np.float64).reshape(len(xs), 1, 1).repeat(width, axis=2)
    tr = run(g, inputs)["n"]
    return {k: v[:, 0, 0] for k, v in tr.items()}


def lif(sem: Semantics, beta: float = 1.0, **kw: float) -> ir.LIF:
    return ir.LIF(shape=(1,), beta=beta, threshold=kw.pop("threshold", 1.0), semantics=sem, **kw)


# --- snnTorch's single-neuron probes (tests/data/frameworks/conventions.json) ---------------------------
def _probe_cases() -> list[tuple[str, str, list[float], float, dict]]:
    path = SHARED / "frameworks" / "conventions.json"
    if not path.is_file():
        return []
    probes = json.loads(path.read_text())["snntorch"]
    out = []
    for group, entries in probes.items():
        m = re.fullmatch(r"Leaky reset=(\w+) reset_delay=(True|False)", group)
        if not m:
            continue
        for label, rec in entries.items():
            xs = [float(v) for v in re.search(r"x=\[([^\]]*)\]", label).group(1).split(",")]  # type: ignore[union-attr]
            beta = float(re.search(r"beta=([\d.]+)", label).group(1))  # type: ignore[union-attr]
            out.append((m.group(1), m.group(2), xs, beta, rec))
    return out


PROBES = _probe_cases()


def test_probes_exist() -> None:
    assert len(PROBES) >= 12


@pytest.mark.parametrize(("reset", "delay", "xs", "beta", "rec"), PROBES)
def test_snntorch_leaky_probe(reset: str, delay: str, xs: list[float], beta: float, rec: dict) -> None:
    timing = "delayed" if delay == "True" else "snntorch_immediate"
    sem = Semantics(compare="gt", reset=reset, timing=timing, delayed_zero="state")
    tr = single(lif(sem, beta), xs)
    assert tr["out"].tolist() == rec["spk"]
    np.testing.assert_allclose(tr["v"], rec["mem_returned"], atol=1e-12)


def test_snntorch_synaptic_probe() -> None:
    sem = sc.PRESETS["snntorch"]
    node = ir.CubaLIF(shape=(1,), alpha=0.5, beta=0.5, threshold=10.0, semantics=sem)
    tr = single(node, [1.0, 0.0, 0.0])
    assert np.stack([tr["i"], tr["v"]], axis=1).tolist() == [[1.0, 1.0], [0.5, 1.0], [0.25, 0.75]]


# --- canonical conventions, computed by hand -------------------------------------------------------------
def test_nir_preset_strict_compare_and_zero_reset() -> None:
    tr = single(lif(sc.PRESETS["nir"], 0.5), [1.0, 0.6, 0.8, 0.0, 2.0])
    assert tr["out"].tolist() == [0, 1, 0, 0, 1]
    np.testing.assert_allclose(tr["v"], [1.0, 0.0, 0.8, 0.4, 0.0])


def test_ge_compare_fires_on_equality() -> None:
    tr = single(lif(sc.PRESETS["nir"].with_(compare="ge"), 0.5), [1.0, 0.6, 0.8, 0.0, 2.0])
    assert tr["out"].tolist() == [1, 0, 1, 0, 1]


def test_zero_reset_uses_v_reset() -> None:
    tr = single(lif(sc.PRESETS["nir"], 1.0, v_reset=-0.5), [1.5, 0.0, 0.25])
    np.testing.assert_allclose(tr["v"], [-0.5, -0.5, -0.25])


def test_immediate_subtract_and_none() -> None:
    sub = single(lif(Semantics(reset="subtract"), 1.0), [2.5, 0, 0, 0])
    assert sub["out"].tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(sub["v"], [1.5, 0.5, 0.5, 0.5])
    none = single(lif(Semantics(reset="none"), 1.0), [2.5, 0, -2, 0])
    assert none["out"].tolist() == [1, 1, 0, 0]


def test_delayed_zero_state_vs_total() -> None:
    xs = [1.5, 0.25, 0.25, 0.0]
    state = single(lif(sc.PRESETS["snntorch"].with_(reset="zero", delayed_zero="state"), 0.5), xs)
    total = single(lif(sc.PRESETS["snntorch"].with_(reset="zero", delayed_zero="total"), 0.5), xs)
    np.testing.assert_allclose(state["v"], [1.5, 0.25, 0.375, 0.1875])  # new input kept (snnTorch Leaky)
    np.testing.assert_allclose(total["v"], [1.5, 0.0, 0.25, 0.125])  # whole new value dropped (Synaptic)


def test_synapse_delay_one_step() -> None:
    tr = single(lif(sc.PRESETS["loihi"], 1.0), [2.0, 0.0, 0.0])
    assert tr["out"].tolist() == [0, 1, 0]


def test_multi_spike_counts_and_cap() -> None:
    sem = Semantics(compare="ge", reset="subtract", spikes="multi", spike_cap=2)
    tr = single(lif(sem, 1.0), [3.5, 0.0, 1.0])
    assert tr["out"].tolist() == [2, 1, 1]  # 3.5 -> capped at 2, 1.5 left; 1.5 -> 1; 0.5 + 1.0 -> 1
    np.testing.assert_allclose(tr["v"], [1.5, 0.5, 0.5])


def test_initial_v_from_v_init() -> None:
    sem = Semantics(initial_v="v_init")
    tr = single(ir.LI(shape=(1,), beta=0.5, v_init=0.8, semantics=sem), [0.0, 0.0])
    np.testing.assert_allclose(tr["v"], [0.4, 0.2])


def test_synapse_order_add_then_decay() -> None:
    sem = Semantics(synapse_order="add_then_decay")
    tr = single(ir.CubaLI(shape=(1,), alpha=0.5, beta=0.0, semantics=sem), [1.0, 0.0])
    np.testing.assert_allclose(tr["i"], [0.5, 0.25])


def test_bias_integrator_threshold_nodes() -> None:
    np.testing.assert_allclose(single(ir.I(shape=(1,), bias=0.5), [1.0, 1.0])["out"], [1.5, 3.0])
    assert single(ir.IF(shape=(1,), threshold=1.0), [0.6, 0.6, 0.6])["out"].tolist() == [0, 1, 0]
    assert single(ir.Threshold(shape=(1,), threshold=0.5), [0.5, 0.7])["out"].tolist() == [0, 1]


def test_recurrent_edge_carries_previous_step() -> None:
    # A neuron that fires at t=0 excites itself through a recurrent weight of 2 at t=1 only.
    sem = sc.PRESETS["nir"]
    g = sc.Graph(
        {"x": ir.Input(shape=(1,)), "n": ir.LIF(shape=(1,), beta=0.0, threshold=1.0, semantics=sem),
         "w": ir.Linear(weight=np.array([[2.0]])), "y": ir.Output()},
        [("x", "n"), ("n", "w"), ("w", "n"), ("n", "y")],
    )
    tr = run(g, np.array([2.0, 0.0, 0.0, 0.0]).reshape(4, 1, 1))
    assert tr["n"]["out"][:, 0, 0].tolist() == [1, 1, 1, 1]
    g2 = g.replace_node("w", ir.Linear(weight=np.array([[0.5]])))
    assert run(g2, np.array([2.0, 0.0, 0.0, 0.0]).reshape(4, 1, 1))["n"]["out"][:, 0, 0].tolist() == [1, 0, 0, 0]


def test_delay_node_shifts_per_element() -> None:
    g = sc.Graph({"x": ir.Input(shape=(3,)), "d": ir.Delay(delay=np.array([0, 1, 3])), "y": ir.Output()},
                 [("x", "d"), ("d", "y")])
    x = np.arange(1, 6, dtype=np.float64).reshape(5, 1, 1).repeat(3, axis=2)
    out = run(g, x)["d"]["out"][:, 0, :]
    assert out.T.tolist() == [[1, 2, 3, 4, 5], [0, 1, 2, 3, 4], [0, 0, 0, 1, 2]]


def test_layerwise_and_stepwise_orders_agree() -> None:
    rng = np.random.default_rng(3)
    sem = sc.PRESETS["snntorch"]
    nodes = {
        "x": ir.Input(shape=(6,)),
        "fc": ir.Affine(weight=rng.normal(size=(5, 6)), bias=rng.normal(size=5) * 0.1),
        "d": ir.Delay(delay=np.array([0, 1, 2, 0, 1])),
        "n": ir.CubaLIF(shape=(5,), alpha=0.6, beta=0.8, threshold=0.7, semantics=sem),
        "y": ir.Output(),
    }
    ff = sc.Graph(nodes, [("x", "fc"), ("fc", "d"), ("d", "n"), ("n", "y")])
    # Same graph plus a zero recurrent weight: forces the step-by-step executor.
    rec = sc.Graph({**nodes, "w": ir.Linear(weight=np.zeros((5, 5)))},
                   [("x", "fc"), ("fc", "d"), ("d", "n"), ("n", "w"), ("w", "n"), ("n", "y")])
    x = (rng.random((20, 3, 6)) < 0.5).astype(np.float32)
    a, b = run(ff, x), run(rec, x)
    assert a["n"]["out"].sum() > 0
    for key in ("out", "v", "i"):
        assert np.array_equal(a["n"][key], b["n"][key])
    assert np.array_equal(a["d"]["out"], b["d"]["out"])


@pytest.mark.parametrize("recurrent", [False, True])
def test_neuron_steps_run_on_one_thread_and_the_count_is_restored(recurrent: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps run single-threaded (same values on any thread count; a spinning second thread cost 35x on a busy
    machine), the weight layers on torch's setting, which is restored afterwards -- also when a step raises."""
    import torch

    from snncompile import reference

    seen: list[int] = []
    real = reference.NeuronState.step

    def step(self: reference.NeuronState, x: torch.Tensor) -> object:
        seen.append(torch.get_num_threads())
        return real(self, x)

    nodes = {"x": ir.Input(shape=(3,)), "fc": ir.Linear(weight=np.eye(3)),
             "n": ir.LIF(shape=(3,), beta=0.9, threshold=1.0, semantics=sc.PRESETS["snntorch"]), "y": ir.Output()}
    edges = [("x", "fc"), ("fc", "n"), ("n", "y")] + ([("n", "fc")] if recurrent else [])
    g = sc.Graph(nodes, edges)
    assert bool(g.recurrent_edges) == recurrent
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(reference.NeuronState, "step", step)
        want = run(g, np.ones((4, 2, 3)))
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2

        def fail(self: reference.NeuronState, x: torch.Tensor) -> object:
            raise RuntimeError("step failed")

        monkeypatch.setattr(reference.NeuronState, "step", fail)
        with pytest.raises(RuntimeError, match="step failed"):
            run(g, np.ones((4, 2, 3)))
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(reference.NeuronState, "step", real)
        torch.set_num_threads(1)
        assert all(np.array_equal(want[n][k], v) for n, tr in run(g, np.ones((4, 2, 3))).items() for k, v in tr.items())
    finally:
        torch.set_num_threads(before)
