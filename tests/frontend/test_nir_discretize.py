"""Continuous NIR neurons -> discrete parameters: Euler/exact, gain folding, source notes, dt errors."""

from __future__ import annotations

import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.errors import GraphError, InputError
from snncompile.frontend.nir_read import load

TAU = np.array([2e-3, 4e-3], np.float32)


def write_lif(path, *, r: np.ndarray, v_leak: np.ndarray, fan_out: bool = False, affine: bool = True) -> None:
    nodes = {"input": nir.Input(input_type={"input": np.array([3 if affine else 2])})}
    edges = [] if affine else [("input", "lif")]
    if affine:
        nodes["fc"] = nir.Affine(weight=np.arange(6, dtype=np.float32).reshape(2, 3) / 6,
                                 bias=np.array([0.1, -0.1], np.float32))
        edges += [("input", "fc"), ("fc", "lif")]
        if fan_out:
            nodes["tap"] = nir.Output(output_type={"output": np.array([2])})
            edges.append(("fc", "tap"))
    nodes["lif"] = nir.LIF(tau=TAU, r=r, v_leak=v_leak, v_threshold=np.ones(2, np.float32),
                           v_reset=np.zeros(2, np.float32))
    nodes["output"] = nir.Output(output_type={"output": np.array([2])})
    edges.append(("lif", "output"))
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def euler_lif(x: np.ndarray, dt: float, r: np.ndarray, v_leak: np.ndarray) -> np.ndarray:
    """Forward Euler of tau dv/dt = v_leak - v + r*x with reset to 0 at v > 1, spikes per step."""
    v = np.zeros_like(x[0])
    out = []
    for xt in x:
        v = v + dt / TAU.astype(np.float64) * (v_leak - v + r * xt)
        s = v > 1.0
        v = np.where(s, 0.0, v)
        out.append(s.astype(np.float64))
    return np.stack(out)


def test_euler_matches_the_ode_with_gain_folded(tmp_path) -> None:
    r = np.array([3.0, 5.0], np.float32)
    v_leak = np.array([0.2, -0.1], np.float32)
    write_lif(tmp_path / "m.nir", r=r, v_leak=v_leak)
    loaded = load(tmp_path / "m.nir", dt=1e-3)
    g = loaded.graph
    assert "dt=0.001 s (--dt)" in loaded.source and "convention 'nir'" in loaded.source
    assert set(g.nodes) == {"input", "fc", "lif", "output"}  # gain folded into fc, no Scale node
    np.testing.assert_allclose(g.nodes["lif"].beta, 1 - 1e-3 / TAU.astype(np.float64))
    x = (np.random.default_rng(0).random((40, 2, 3)) < 0.6).astype(np.float32)
    fc = np.arange(6).reshape(2, 3) / 6
    current = x @ fc.T.astype(np.float32) + np.array([0.1, -0.1], np.float32)
    expected = euler_lif(current.astype(np.float64), 1e-3, r.astype(np.float64), v_leak.astype(np.float64))
    got = sc.simulate(g, x)["lif"]["out"]
    assert expected.sum() > 0
    assert np.array_equal(got, expected)


def test_gain_kept_as_scale_when_not_foldable(tmp_path) -> None:
    write_lif(tmp_path / "m.nir", r=np.array([3.0, 5.0], np.float32), v_leak=np.zeros(2, np.float32), fan_out=True)
    g = load(tmp_path / "m.nir", dt=1e-3).graph
    assert isinstance(g.nodes["lif.gain"], ir.Scale)
    assert ("fc", "lif.gain") in g.edges and ("lif.gain", "lif") in g.edges and ("fc", "tap") in g.edges


def test_unit_gain_within_float32_rounding_is_exactly_one(tmp_path) -> None:
    r = (TAU / np.float32(1e-4)).astype(np.float32)  # snnTorch writes r = tau/dt in float32
    write_lif(tmp_path / "m.nir", r=r, v_leak=np.zeros(2, np.float32))
    g = load(tmp_path / "m.nir", convention="snntorch").graph
    assert np.array_equal(g.nodes["fc"].weight, (np.arange(6, dtype=np.float32).reshape(2, 3) / 6))


def test_exact_discretization_on_request(tmp_path) -> None:
    write_lif(tmp_path / "m.nir", r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32), affine=False)
    loaded = load(tmp_path / "m.nir", dt=1e-3, discretization="exact")
    assert "exact discretization" in loaded.source
    beta = np.exp(-1e-3 / TAU.astype(np.float64))
    np.testing.assert_allclose(loaded.graph.nodes["lif"].beta, beta)
    # Input -> lif has no weight layer: the implied identity carries the gain
    np.testing.assert_allclose(np.diag(loaded.graph.nodes["lif.identity"].weight), 1 - beta)


def test_dt_larger_than_tau_is_an_error(tmp_path) -> None:
    write_lif(tmp_path / "m.nir", r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32))
    with pytest.raises(GraphError, match=r"^node 'lif': dt 0.005 s > tau 0.002 s gives a negative forward-Euler"):
        load(tmp_path / "m.nir", dt=5e-3)


def test_unknown_convention_and_bad_dt(tmp_path) -> None:
    write_lif(tmp_path / "m.nir", r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32))
    known = "lava-dl, nir, norse, norse-seconds, rockpool, sinabs, snntorch, spyx"
    with pytest.raises(InputError, match=rf"unknown source convention 'lava'; known: {known}"):
        load(tmp_path / "m.nir", convention="lava")
    with pytest.raises(InputError, match=r"--dt must be a positive, finite number of seconds, got -1"):
        load(tmp_path / "m.nir", dt=-1)
    with pytest.raises(InputError, match=r"^--dt must be a positive, finite number of seconds, got inf$"):
        load(tmp_path / "m.nir", dt=float("inf"))


def test_default_source_note(tmp_path) -> None:
    write_lif(tmp_path / "m.nir", r=np.ones(2, np.float32), v_leak=np.zeros(2, np.float32))
    note = load(tmp_path / "m.nir").source
    assert note == (
        "convention 'nir' (default, no snncompile metadata and no --from), dt=0.001 s ('nir' default), "
        "euler discretization"
    )
