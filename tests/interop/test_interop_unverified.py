"""The Spyx and lava-dl conventions, checked against those frameworks' update equations written out in numpy.

Neither framework runs in the project's venv (lava-dl runs in the Lava side venv:
tests/backends/loihi/test_lava_dl_nir_real.py; spyx 1.0.0 needs jax/flax/grain/optax, which the interop extra does
not install: tests/interop/test_interop_spyx_real.py), so these tests are not fidelity tests against the frameworks:
each file is written the way the framework's exporter writes it (spyx/nir.py to_nir; lava/lib/dl/netx/nir.py
read_cuba_lif), and the reference must equal the framework's equations as its source states them:

* Spyx (spyx/nn.py LIF, IF): s[t] = H(V[t-1] - theta); V[t] = beta*V[t-1] + x[t] - s[t]*theta.
* lava-dl / Loihi CUBA: i[t] = (1 - iDecay/4096)*i[t-1] + a[t-1]; v[t] = (1 - vDecay/4096)*v[t-1] + i[t];
  s = v > vThMant; v -> 0 where s (a[t] the Dense output: one step of delay per Dense).
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
from conftest import assert_spikes_equal

from snncompile import nodes as ir
from snncompile.errors import UnsupportedNodeError
from snncompile.frontend.nir_read import load
from snncompile.reference import run

T, B = 40, 3


def _inp(n: int) -> nir.Input:
    return nir.Input(input_type={"input": np.array([n])})


def _out(n: int) -> nir.Output:
    return nir.Output(output_type={"output": np.array([n])})


def _spikes(seed: int, n: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, B, n)) < 0.3).astype(np.float32)


# -- Spyx ---------------------------------------------------------------------------------------------------------


def spyx_graph(rng: np.random.Generator, dt: float = 1.0) -> tuple[nir.NIRGraph, dict[str, np.ndarray]]:
    """Affine -> LIF -> Affine -> IF, as spyx.nir.to_nir writes nnx.Linear, spyx.nn.LIF and spyx.nn.IF."""
    w1, b1 = rng.normal(0.3, 0.6, (8, 10)), rng.normal(0, 0.1, 8)
    w2, b2 = rng.normal(0.3, 0.6, (4, 8)), rng.normal(0, 0.1, 4)
    beta, th1, th2 = rng.uniform(0.7, 0.95, 8), rng.uniform(0.8, 1.2, 8), rng.uniform(0.8, 1.5, 4)
    nodes = {
        "input": _inp(10), "layer_0": nir.Affine(weight=w1, bias=b1),
        "layer_1": nir.LIF(tau=dt / (1 - beta), v_threshold=th1, v_leak=np.zeros(8), r=beta),
        "layer_2": nir.Affine(weight=w2, bias=b2), "layer_3": nir.IF(r=np.ones(4), v_threshold=th2), "output": _out(4),
    }
    edges = [("input", "layer_0"), ("layer_0", "layer_1"), ("layer_1", "layer_2"), ("layer_2", "layer_3"),
             ("layer_3", "output")]
    params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2, "beta": beta, "th1": th1, "th2": th2}
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), params


def spyx_equations(x: np.ndarray, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """spyx/nn.py LIF then IF, float64, step by step."""
    v1, v2 = np.zeros((B, 8)), np.zeros((B, 4))
    s1_all, s2_all = [], []
    for t in range(T):
        s1 = (v1 - p["th1"] > 0).astype(np.float64)
        v1 = p["beta"] * v1 + (x[t] @ p["w1"].T + p["b1"]) - s1 * p["th1"]
        s2 = (v2 - p["th2"] > 0).astype(np.float64)
        v2 = v2 + (s1 @ p["w2"].T + p["b2"]) - s2 * p["th2"]
        s1_all.append(s1)
        s2_all.append(s2)
    return {"layer_1": np.stack(s1_all), "layer_3": np.stack(s2_all)}


@pytest.mark.parametrize("seed", range(3))
def test_spyx_convention_equals_spyx_equations(seed: int, tmp_path: Path) -> None:
    graph, params = spyx_graph(np.random.default_rng(seed))
    nir.write(tmp_path / "spyx.nir", graph)
    loaded = load(tmp_path / "spyx.nir", convention="spyx")
    x = _spikes(seed, 10)
    traces = run(loaded.graph, x)
    want = spyx_equations(x.astype(np.float64), params)
    for layer in ("layer_1", "layer_3"):
        # Spyx's spikes leave one step late: the layer's output is the inserted '<layer>.out_delay'
        assert_spikes_equal(f"spyx/{layer}", want[layer], traces[f"{layer}.out_delay"]["out"])
        assert 0 < want[layer].sum() < want[layer].size
    assert isinstance(loaded.graph.nodes["layer_1.out_delay"], ir.Delay)
    assert any("dt is not stored" in w for w in loaded.warnings)


def test_spyx_cubalif_and_recurrence_are_refused(tmp_path: Path) -> None:
    ones = np.ones(3)
    cuba = nir.CubaLIF(tau_syn=2 * ones, tau_mem=4 * ones, r=ones, v_leak=0 * ones, v_threshold=ones)
    g = nir.NIRGraph(nodes={"input": _inp(3), "layer_0": cuba, "output": _out(3)},
                     edges=[("input", "layer_0"), ("layer_0", "output")], type_check=False)
    nir.write(tmp_path / "cuba.nir", g)
    with pytest.raises(UnsupportedNodeError, match=r"node 'layer_0' \(CubaLIF\): not supported under --from spyx: "
                                                   r"Spyx's CuBaLIF \(1.0.0\) subtracts the reset once "):
        load(tmp_path / "cuba.nir", convention="spyx")
    lif = nir.LIF(tau=2 * ones, v_threshold=ones, v_leak=0 * ones, r=0.5 * ones)
    g = nir.NIRGraph(nodes={"input": _inp(3), "layer_0.w_rec": nir.Linear(weight=np.eye(3)), "layer_0.lif": lif,
                            "output": _out(3)},
                     edges=[("input", "layer_0.w_rec"), ("layer_0.w_rec", "layer_0.lif"),
                            ("layer_0.lif", "layer_0.w_rec"), ("layer_0.lif", "output")], type_check=False)
    nir.write(tmp_path / "rec.nir", g)
    with pytest.raises(UnsupportedNodeError, match=r"not supported under --from spyx: Spyx's to_nir routes"):
        load(tmp_path / "rec.nir", convention="spyx")


# -- lava-dl ------------------------------------------------------------------------------------------------------

def lava_graph(rng: np.random.Generator) -> tuple[nir.NIRGraph, dict[str, np.ndarray]]:
    """Linear -> CubaLIF -> Linear -> CubaLIF as netx/nir.py read_cuba_lif writes a netx dense layer (integer
    weights, 12-bit decays), with the parameters as arrays of the layer size."""
    w1 = rng.integers(-20, 60, (8, 10)).astype(np.float64)
    w2 = rng.integers(-20, 80, (4, 8)).astype(np.float64)
    p: dict[str, np.ndarray] = {"w1": w1, "w2": w2}
    nodes: dict[str, nir.NIRNode] = {"input": _inp(10), "0": nir.Linear(weight=w1), "2": nir.Linear(weight=w2),
                                     "output": _out(4)}
    for name, n in (("1", 8), ("3", 4)):
        idecay, vdecay = rng.integers(256, 2048, n), rng.integers(64, 1024, n)
        vth = rng.integers(60, 120, n).astype(np.float64)
        tau_syn, tau_mem = 1.0 / idecay, 1.0 / vdecay
        nodes[name] = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=np.ones(n), v_leak=np.zeros(n),
                                  v_threshold=vth, w_in=tau_syn)
        p |= {f"du{name}": idecay / 4096, f"dv{name}": vdecay / 4096, f"th{name}": vth}
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), p


def lava_equations(x: np.ndarray, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Loihi CUBA (float), one step of delay per Dense, reset to 0, current not reset."""
    out: dict[str, np.ndarray] = {}
    layer_in = x
    for w, name in (("w1", "1"), ("w2", "3")):
        a = layer_in @ p[w].T
        n = a.shape[-1]
        i, v, a_prev = np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n))
        spk = []
        for t in range(T):
            i = (1 - p[f"du{name}"]) * i + a_prev
            v = (1 - p[f"dv{name}"]) * v + i
            s = (v > p[f"th{name}"]).astype(np.float64)
            v = np.where(s > 0, 0.0, v)
            a_prev = a[t]
            spk.append(s)
        out[name] = layer_in = np.stack(spk)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_lava_dl_convention_equals_loihi_cuba_equations(seed: int, tmp_path: Path) -> None:
    graph, params = lava_graph(np.random.default_rng(10 + seed))
    nir.write(tmp_path / "lava.nir", graph)
    loaded = load(tmp_path / "lava.nir", convention="lava-dl")
    assert loaded.graph.dt == 2.0**-12
    np.testing.assert_allclose(loaded.graph.nodes["1"].alpha, 1 - params["du1"])  # type: ignore[attr-defined]
    assert set(loaded.graph.nodes) == {"input", "0", "1", "2", "3", "output"}, "unit input gain: nothing inserted"
    x = _spikes(20 + seed, 10)
    traces = run(loaded.graph, x)
    want = lava_equations(x.astype(np.float64), params)
    for layer in ("1", "3"):
        assert_spikes_equal(f"lava-dl/{layer}", want[layer], traces[layer]["out"])
        assert 0 < want[layer].sum() < want[layer].size


def test_lava_dl_affine_bias_is_the_neurons(tmp_path: Path) -> None:
    """netx/nir.py writes netx's neuron bias (added to v) as the Affine's bias: --from lava-dl moves it into the
    CubaLIF (the Affine becomes a Linear); the canonical nir reading keeps it in the current."""
    graph, _ = lava_graph(np.random.default_rng(7))
    bias = np.arange(8, dtype=np.float64) - 3
    graph.nodes["0"] = nir.Affine(weight=graph.nodes["0"].weight, bias=bias)
    nir.write(tmp_path / "bias.nir", graph)
    lava = load(tmp_path / "bias.nir", convention="lava-dl").graph
    assert isinstance(lava.nodes["0"], ir.Linear) and not isinstance(lava.nodes["0"], ir.Affine)
    np.testing.assert_array_equal(lava.nodes["1"].bias, bias)  # type: ignore[attr-defined]
    canonical = load(tmp_path / "bias.nir", convention="nir", dt=2.0**-12).graph
    assert isinstance(canonical.nodes["0"], ir.Affine)  # (scaled by NIR's input gain)
    assert np.count_nonzero(canonical.nodes["0"].bias) == 7 and not np.any(canonical.nodes["1"].bias)  # type: ignore
