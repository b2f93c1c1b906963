"""What the exporters write, structurally: nested and flattened recurrent subgraphs, Scale, Delay, Flatten dims,
batch dims, 0-d neuron parameters; the conventions registry; warnings and the options that state lost facts."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from snncompile.errors import GraphError, InputError
from snncompile.frontend import discretize
from snncompile.frontend.conventions import CONVENTIONS, FLAGS
from snncompile.frontend.nir_read import load
from snncompile.reference import run

RNG = np.random.default_rng(5)
W1, W_REC, W2 = RNG.normal(0.3, 0.5, (6, 4)), RNG.normal(0, 0.3, (6, 6)), RNG.normal(0.3, 0.5, (3, 6))
ONES6, ONES3 = np.ones(6), np.ones(3)


def _lif(n: int, beta: float = 0.9) -> nir.LIF:
    tau = np.full(n, 1e-4 / (1 - beta))
    return nir.LIF(tau=tau, r=tau / 1e-4, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))


def _io(nodes: dict, edges: list, n_in: int = 4, n_out: int = 3) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}), **nodes,
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def flat_recurrent() -> nir.NIRGraph:
    nodes = {"fc1": nir.Linear(weight=W1), "lif1.lif": _lif(6), "lif1.w_rec": nir.Linear(weight=W_REC),
             "fc2": nir.Linear(weight=W2), "lif2": _lif(3)}
    edges = [("input", "fc1"), ("fc1", "lif1.lif"), ("lif1.lif", "lif1.w_rec"), ("lif1.w_rec", "lif1.lif"),
             ("lif1.lif", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return _io(nodes, edges)


def nested_recurrent(ports: bool) -> nir.NIRGraph:
    """The same network with the recurrent layer as a nested NIRGraph; outer edges name the subgraph ('lif1') or
    its ports ('lif1.input' / 'lif1.output', the NIR paper's *_subgraph form)."""
    inner = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([6])}), "lif": _lif(6),
               "w_rec": nir.Linear(weight=W_REC), "output": nir.Output(output_type={"output": np.array([6])})},
        edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    into, out_of = ("lif1.input", "lif1.output") if ports else ("lif1", "lif1")
    nodes = {"fc1": nir.Linear(weight=W1), "lif1": inner, "fc2": nir.Linear(weight=W2), "lif2": _lif(3)}
    edges = [("input", "fc1"), ("fc1", into), (out_of, "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return _io(nodes, edges)


@pytest.mark.parametrize("ports", [False, True])
def test_nested_recurrent_subgraph_equals_flattened(ports: bool, tmp_path: Path) -> None:
    nir.write(tmp_path / "flat.nir", flat_recurrent())
    nir.write(tmp_path / "nested.nir", nested_recurrent(ports))
    flat = load(tmp_path / "flat.nir", convention="snntorch").graph
    nested = load(tmp_path / "nested.nir", convention="snntorch").graph
    assert set(nested.nodes) == set(flat.nodes) and set(nested.edges) == set(flat.edges)
    assert nested.recurrent_edges == flat.recurrent_edges == {("lif1.w_rec", "lif1.lif")}
    x = (RNG.random((30, 2, 4)) < 0.5).astype(np.float32)
    a, b = run(flat, x), run(nested, x)
    assert a["lif1.lif"]["out"].sum() > 0
    for name in ("lif1.lif", "lif2"):
        assert np.array_equal(a[name]["out"], b[name]["out"])


def test_scale_delay_and_flatten_dims(tmp_path: Path) -> None:
    conv_w = RNG.normal(0, 1, (2, 1, 3, 3))
    nodes = {
        "conv": nir.Conv2d(input_shape=np.array([4, 4]), weight=conv_w, stride=1, padding=1, dilation=1, groups=1,
                           bias=np.zeros(2)),
        "rows": nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=1, end_dim=2),  # (2, 16)
        "all": nir.Flatten(input_type={"input": np.array([2, 16])}, start_dim=0, end_dim=-1),  # (32,)
        "scale": nir.Scale(scale=np.linspace(0.5, 2.0, 32)),
        "delay": nir.Delay(delay=np.repeat([0.0, 2e-3, 5e-3, 1e-3], 8)),
    }
    edges = [("input", "conv"), ("conv", "rows"), ("rows", "all"), ("all", "scale"), ("scale", "delay"),
             ("delay", "output")]
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1, 4, 4])}), **nodes,
                            "output": nir.Output(output_type={"output": np.array([32])})}, edges=edges,
                     type_check=False)
    nir.write(tmp_path / "m.nir", g)
    graph = load(tmp_path / "m.nir", dt=1e-3).graph
    assert graph.shapes["rows"] == (2, 16) and graph.shapes["all"] == (32,)
    steps = graph.nodes["delay"].delay  # type: ignore[attr-defined]
    assert steps.dtype == np.int64 and list(np.unique(steps)) == [0, 1, 2, 5]
    x = RNG.normal(0, 1, (8, 2, 1, 4, 4))
    traces = run(graph, x)
    flat = traces["conv"]["out"].reshape(8, 2, 32) * np.linspace(0.5, 2.0, 32)
    want = np.zeros_like(flat)
    for j, d in enumerate(steps):
        want[d:, :, j] = flat[: 8 - d, :, j]
    np.testing.assert_allclose(traces["output"]["out"], want, atol=1e-12)


def test_batch_dims_are_dropped_only_when_unambiguous(tmp_path: Path) -> None:
    lif = _lif(3)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1, 4])}),
                            "fc": nir.Linear(weight=W2[:, :4]), "lif": lif,
                            "output": nir.Output(output_type={"output": np.array([1, 3])})},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    nir.write(tmp_path / "batched.nir", g)
    loaded = load(tmp_path / "batched.nir", convention="snntorch")
    assert loaded.graph.shapes["input"] == (4,) and loaded.graph.shapes["output"] == (3,)
    assert sum("leading batch dim" in w for w in loaded.warnings) == 2
    # a Flatten accepts [1, 4] as it is: nothing to drop, and the shape flows on
    g.nodes["fc"] = nir.Flatten(input_type={"input": np.array([1, 4])}, start_dim=0, end_dim=-1)
    g.nodes["lif"] = _lif(4)
    g.nodes["output"] = nir.Output(output_type={"output": np.array([4])})
    nir.write(tmp_path / "flatten.nir", g)
    kept = load(tmp_path / "flatten.nir", convention="snntorch")
    assert kept.graph.shapes["input"] == (1, 4) and not any("batch dim" in w for w in kept.warnings)
    # an Output whose written shape is not the inferred one, batch dim or not, is an error
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}), "fc": nir.Linear(weight=W1),
                            "output": nir.Output(output_type={"output": np.array([1, 5])})},
                     edges=[("input", "fc"), ("fc", "output")], type_check=False)
    nir.write(tmp_path / "bad.nir", g)
    with pytest.raises(GraphError, match=r"node 'output' \(Output\): input shape \(6,\) from 'fc' does not match "
                                         r"expected \(1, 5\)"):
        load(tmp_path / "bad.nir")


def _write_raw(path: Path, nodes: dict[str, dict[str, object]], edges: list[tuple[str, str]]) -> None:
    """A NIR file written with h5py directly: nir.write cannot store 0-d parameters (lava-dl's netx writes them)."""
    with h5py.File(path, "w") as f:
        f["version"] = "1.0.8"
        root = f.create_group("node")
        root["type"] = "NIRGraph"
        root["edges"] = np.array(edges, dtype="S")
        group = root.create_group("nodes")
        for name, fields in nodes.items():
            node = group.create_group(name)
            for key, value in fields.items():
                node[key] = value


def test_neuron_with_0d_parameters_takes_its_input_shape(tmp_path: Path) -> None:
    w = np.arange(12.0).reshape(3, 4) / 10
    cuba = {"type": "CubaLIF", "tau_syn": np.float64(1 / 1024), "tau_mem": np.float64(1 / 128), "r": np.float64(1),
            "v_leak": np.float64(0), "v_threshold": np.float64(2), "w_in": np.float64(1 / 1024)}
    _write_raw(tmp_path / "scalar.nir", {"input": {"type": "Input", "shape": np.array([4])},
                                         "fc": {"type": "Linear", "weight": w}, "lif": cuba,
                                         "output": {"type": "Output"}},
               [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    graph = load(tmp_path / "scalar.nir", convention="lava-dl").graph
    assert graph.nodes["lif"].shape == (3,) and graph.shapes["output"] == (3,)  # type: ignore[attr-defined]
    np.testing.assert_allclose(graph.nodes["lif"].alpha, np.full(3, 1 - 1024 / 4096))  # type: ignore[attr-defined]


def test_every_convention_is_documented_and_consistent() -> None:
    for name, conv in CONVENTIONS.items():
        assert conv.name == name and conv.source and conv.verified, name
        for kind, rule in conv.rules.items():
            group = "integrator" if kind in ("I", "IF") else "leaky" if kind in ("LI", "LIF") else "cuba"
            assert group in discretize.GAIN_RULES[rule.gain], (name, kind, rule.gain)
            assert rule.decay in (None, "euler", "exact") and rule.tau_unit in ("s", "dt")
        for lost in conv.lost:
            assert set(lost.stated_by) <= set(FLAGS), (name, lost.stated_by)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "interop.md").read_text()
    for name in CONVENTIONS:
        assert f"`{name}`" in doc, f"docs/interop.md does not describe convention {name!r}"


def test_warnings_and_stated_facts(tmp_path: Path) -> None:
    nir.write(tmp_path / "m.nir", flat_recurrent())
    plain = load(tmp_path / "m.nir")
    assert plain.warnings[0].startswith("no --from given: read under the canonical 'nir' convention")
    assert any("dt is not stored in NIR" in w for w in plain.warnings)
    default = load(tmp_path / "m.nir", convention="snntorch")
    assert any("reset mechanism is not stored" in w and "(state it with --reset)" in w for w in default.warnings)
    assert any("reset delay is not stored" in w and "--no-reset-delay" in w for w in default.warnings)
    half = load(tmp_path / "m.nir", convention="snntorch", reset="zero")
    assert [w for w in half.warnings if "reset" in w] == [w for w in default.warnings if "reset delay" in w]
    stated = load(tmp_path / "m.nir", convention="snntorch", reset="zero", reset_delay=False)
    assert not any("reset" in w for w in stated.warnings)
    sem = stated.graph.nodes["lif2"].semantics  # type: ignore[attr-defined]
    assert (sem.reset, sem.timing, sem.delayed_zero) == ("zero", "snntorch_immediate", "state")
    rec = stated.graph.nodes["lif1.lif"].semantics  # type: ignore[attr-defined]
    assert rec.delayed_zero == "total"
    with pytest.raises(InputError, match=r"--from snntorch: semantics: reset='reset' is not one of"):
        load(tmp_path / "m.nir", convention="snntorch", reset="reset")


def test_rockpool_dt_must_agree_across_neurons(tmp_path: Path) -> None:
    tau = np.array([0.01, 0.02])
    r = tau * np.exp(-np.array([1e-3, 2e-3]) / tau) / np.array([1e-3, 2e-3])  # two different dt
    g = _io({"lif": nir.LIF(tau=tau, r=r, v_leak=np.zeros(2), v_threshold=np.ones(2))},
            [("input", "lif"), ("lif", "output")], 2, 2)
    nir.write(tmp_path / "m.nir", g)
    with pytest.raises(GraphError, match=r"--from rockpool: the neurons' r = tau\*exp\(-dt/tau\)/dt imply different"):
        load(tmp_path / "m.nir", convention="rockpool")
    loaded = load(tmp_path / "m.nir", convention="rockpool", dt=1e-3, discretization="euler")
    assert any("imply different dt" in w and "--dt 0.001 used" in w for w in loaded.warnings)
    assert any("--discretization euler differs from rockpool's own exact" in w for w in loaded.warnings)


def test_rockpool_dt_given_against_the_recovered_one(tmp_path: Path) -> None:
    tau = np.array([0.01, 0.03])
    g = _io({"lif": nir.LIF(tau=tau, r=tau * np.exp(-1e-3 / tau) / 1e-3, v_leak=np.zeros(2), v_threshold=np.ones(2))},
            [("input", "lif"), ("lif", "output")], 2, 2)
    nir.write(tmp_path / "m.nir", g)
    assert load(tmp_path / "m.nir", convention="rockpool").graph.dt == 1e-3
    assert not any("differs" in w for w in load(tmp_path / "m.nir", convention="rockpool", dt=1e-3).warnings)
    other = load(tmp_path / "m.nir", convention="rockpool", dt=2e-3)
    assert other.graph.dt == 2e-3
    assert any("--dt 0.002 differs from the dt=0.001 s that Rockpool's r" in w for w in other.warnings)
