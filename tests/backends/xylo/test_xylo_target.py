"""The xylo target: mapping, design rules (exit 3), the exported Rockpool specification run in XyloSim == bitsim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from snncompile.backends import get
from snncompile.backends.bitsim import run_plain, simulate
from snncompile.backends.xylo import rules
from snncompile.backends.xylo.lower import lower
from snncompile.backends.xylo.spec import XYLO_AUDIO2, XyloNet, load
from snncompile.backends.xylo.xylosim import rockpool_xylosim
from xylo_cases import random_qgraph

from snncompile.errors import GraphError, ResourceError
from snncompile.quant.qnodes import QGraph
from snncompile.semantics import PRESETS, Semantics
from snncompile.verify import PASS, check_backend

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("seed", range(6))
def test_exported_spec_in_xylosim_equals_bitsim(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    g = random_qgraph(rng, widths=((10,), (10, 8), (9, 7, 5))[seed % 3], recurrent=seed % 2 == 0)
    x = (rng.random((30, 3, 6)) < 0.5).astype(np.int64)
    rung = check_backend(g, "xylo", x)
    assert rung.status == PASS, rung.message
    assert rung.summary["compared"] > 0 and rung.summary["mismatches"] == 0
    plain, fast = run_plain(g, x), simulate(g, x)
    assert all(np.array_equal(plain[n][k], fast[n][k]) for n in plain for k in plain[n])
    assert sum(int(plain[n]["out"].max()) > 1 for n in ("lif1", "lif2") if n in plain) >= 1 or seed % 3 == 0


@pytest.mark.parametrize("seed", range(3))
def test_xylo_graph_traces_on_demand(seed: int) -> None:
    """keep= / narrow= on a xylo graph: only the asked traces, the same integers, registers int16, spikes uint8."""
    rng = np.random.default_rng(100 + seed)
    g = random_qgraph(rng, widths=((10,), (10, 8), (9, 7, 5))[seed], recurrent=seed != 1)
    x = (rng.random((25, 4, 6)) < 0.5).astype(np.int64)
    full = simulate(g, x, narrow=False)
    assert all(a.dtype == np.int64 for rec in full.values() for a in rec.values())
    outs = simulate(g, x, keep="outputs")
    assert set(outs) == set(g.outputs) and all(set(outs[n]) == {"out"} for n in outs)
    neuron = next(n for n in g.order if n.startswith("lif"))
    asked = simulate(g, x, keep={neuron: "v", g.outputs[0]: "out"})
    assert set(asked) == {neuron, g.outputs[0]} and set(asked[neuron]) == {"v"}
    assert asked[neuron]["v"].dtype == np.int16
    narrow = simulate(g, x)
    assert narrow[neuron]["out"].dtype == np.uint8
    for got in (outs, asked, narrow):
        for n, rec in got.items():
            for k, a in rec.items():
                assert np.array_equal(a.astype(np.int64), full[n][k]), (n, k)


def test_emitted_files_load_in_rockpool(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    g = random_qgraph(rng)
    x = (rng.random((20, 2, 6)) < 0.5).astype(np.int64)
    files = get("xylo").emit(g, tmp_path / "xylo", x)
    assert {"xylo_spec.json", "mapping.json", "summary.json", "golden.npz", "stimuli.npy", "README.md"} <= set(files)
    net = load(tmp_path / "xylo" / "xylo_spec.json")
    assert net.to_json() == lower(g).net.to_json()
    got = rockpool_xylosim(net, x)  # Rockpool's own XyloSim.from_specification on the exported specification
    golden = np.load(tmp_path / "xylo" / "golden.npz")
    assert np.array_equal(got.spikes_out, golden["lif3/out"])
    assert json.loads((tmp_path / "xylo" / "summary.json").read_text())["latency_steps"] == 2


def test_feed_forward_hops_cost_one_step_each() -> None:
    rng = np.random.default_rng(5)
    g = random_qgraph(rng, widths=(8, 8), recurrent=False)
    assert lower(g).latency == 2
    x = np.zeros((6, 1, 6), np.int64)
    x[0] = 1
    tr = run_plain(g, x)
    assert not tr["fc2"]["out"][0].any() and not tr["fc3"]["out"][:2].any()  # nothing has arrived yet


def _net(**over: object) -> XyloNet:
    n_in, n, n_out = over.pop("n_in", 2), over.pop("n", 3), over.pop("n_out", 1)  # type: ignore[misc]
    return XyloNet.build(np.ones((n_in, n), np.int64), np.ones((n, n_out), np.int64), **over)  # type: ignore[arg-type]


@pytest.mark.parametrize(("net", "message"), [
    (lambda: _net(n_in=17), "xylo: input channels 17 > 16 (xylo-audio2 (SYNS61201))"),
    (lambda: _net(n=1001), "xylo: hidden neurons 1001 > 1000 (xylo-audio2 (SYNS61201))"),
    (lambda: _net(n_out=9), "xylo: output neurons 9 > 8 (xylo-audio2 (SYNS61201))"),
    (lambda: XyloNet.build(np.ones((1, 70)), np.ones((70, 1)), np.ones((70, 70))),
     "xylo: fan-out of hidden neuron 71 > 64 (xylo-audio2 (SYNS61201)) (hidden neuron 0)"),
    (lambda: _net(aliases=((1, 2), (), ())), "xylo: aliases of hidden neuron 2 > 1 (xylo-audio2 (SYNS61201)) "
                                             "(hidden neuron 0)"),
])
def test_resource_rules_name_resource_limit_and_value(net: object, message: str) -> None:
    with pytest.raises(ResourceError) as err:
        rules.check_net(net(), XYLO_AUDIO2)  # type: ignore[operator]
    assert str(err.value) == message and err.value.exit_code == 3


def test_node_rules_refuse_what_a_xylo_neuron_does_not_compute() -> None:
    rng = np.random.default_rng(0)
    g = random_qgraph(rng, widths=(4,), recurrent=False)
    lif = g.nodes["lif1"]
    nodes = dict(g.nodes)
    nodes["lif1"] = type(lif)(**{**lif.params(), "name": "lif1", "semantics": PRESETS["xylo"].with_(spike_cap=7)})
    with pytest.raises(ResourceError, match=r"node 'lif1': spike_cap 7, a Xylo hidden neuron fires at most 31"):
        lower(QGraph(nodes=nodes, edges=g.edges))
    nodes["lif1"] = type(lif)(**{**lif.params(), "name": "lif1", "semantics": PRESETS["xylo"], "beta": 1000})
    with pytest.raises(ResourceError, match=r"node 'lif1': beta 1000/2\^16 at \[0\] is not a Xylo bit-shift decay"):
        lower(QGraph(nodes=nodes, edges=g.edges))


def test_semantics_preset_and_defaults() -> None:
    assert Semantics() == Semantics.from_dict({k: v for k, v in Semantics().to_dict().items()
                                               if k not in ("accumulate", "hop_delay")})
    assert Semantics().describe() == "compare=gt reset=zero timing=immediate synapse_delay=0 spikes=binary"
    xylo = PRESETS["xylo"]
    assert (xylo.compare, xylo.reset, xylo.spikes, xylo.spike_cap, xylo.accumulate, xylo.hop_delay) == \
        ("ge", "subtract", "multi", 31, "per_event", 1)
    with pytest.raises(GraphError, match="come together"):
        Semantics(accumulate="per_event")


def test_cli_exports_xylo_beside_another_target_each_with_its_own_qgraph(tmp_path: Path) -> None:
    model = REPO / "tests" / "data" / "nir_paper" / "braille_noDelay_noBias_subtract.nir"
    run = subprocess.run([sys.executable, "-m", "snncompile", "export", str(model), "--from", "snntorch",
                          "--target", "xylo", "--target", "hls", "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {t: q["family"] for t, q in manifest["qgraphs"].items()} == {"xylo": "xylo", "hls": "spec"}
    assert all(c["status"] == "PASS" for c in manifest["checks"]), manifest["checks"]


def test_verify_refuses_xylo_with_another_target() -> None:
    from snncompile.frontend.nir_read import load as load_nir
    from snncompile.quant.spec import QuantSpec
    from snncompile.quant.targets import quantize_for

    graph = load_nir(str(REPO / "tests" / "data" / "nir_paper" / "braille_noDelay_noBias_subtract.nir"),
                 convention="snntorch").graph
    with pytest.raises(ResourceError, match="target 'xylo' cannot share its QGraph with hls"):
        quantize_for(graph, QuantSpec(), None, ["xylo", "hls"])


def test_clamp_events_are_counted_on_xylo_graphs() -> None:
    from snncompile.backends.bitsim import run_plain_with_clamps, simulate_with_clamps

    rng = np.random.default_rng(2)
    loud = random_qgraph(rng, widths=(10,), recurrent=True)
    x = np.ones((20, 2, 6), np.int64)
    traces, events = run_plain_with_clamps(loud, x)
    assert events and {e.node for e in events} <= {"lif1", "lif2"}
    assert "saturated" in events[0].text() and "int16 range [-32768, 32767] (saturate_int)" in events[0].text()
    assert [e.to_dict() for e in simulate_with_clamps(loud, x)[1]] == [e.to_dict() for e in events]
    assert set(traces) == set(loud.nodes)
    quiet = random_qgraph(np.random.default_rng(2), widths=(10,), recurrent=False)
    nodes = dict(quiet.nodes)
    for name in ("fc1", "fc2"):
        nodes[name] = type(nodes[name])(name=name, weight=np.sign(nodes[name].weight), shift=0)  # type: ignore
    assert run_plain_with_clamps(QGraph(nodes=nodes, edges=quiet.edges), x)[1] == ()


def test_xylonet_holds_xylosims_c_types() -> None:
    from snncompile.errors import QuantizationError

    with pytest.raises(QuantizationError,
                       match=r"^xylo network: weights_in\[0, 1, 0\] = 128 is outside \[-128, 127\]$"):
        XyloNet.build(np.array([[0, 128]]), np.zeros((2, 1)))
    with pytest.raises(QuantizationError, match=r"threshold\[0\] = -1 is outside \[0, 32767\]"):
        XyloNet.build(np.zeros((1, 2)), np.zeros((2, 1)), threshold=np.array([-1, 0]))
    with pytest.raises(QuantizationError, match=r"alias of hidden neuron 1 targets 2, outside \[0, 1\]"):
        XyloNet.build(np.zeros((1, 2)), np.zeros((2, 1)), aliases=((), (2,)))
    with pytest.raises(QuantizationError, match=r"weight_shift_rec = 16 is not an int in \[0, 15\]"):
        XyloNet.build(np.zeros((1, 2)), np.zeros((2, 1)), weight_shift_rec=16)


@pytest.mark.parametrize("target", ["hls", "onnx", "rtl", "loihi"])
def test_other_targets_refuse_a_xylo_graph(target: str, tmp_path: Path) -> None:
    """Their printers sum a step's input exactly; none may emit an approximation of Xylo's per-event arithmetic
    (hls, onnx and rtl through the shared range proof; loihi through its own field rules)."""
    from snncompile.errors import SnnCompileError, UnsupportedNodeError

    rng = np.random.default_rng(4)
    g = random_qgraph(rng, widths=(4,), recurrent=False)
    x = (rng.random((5, 1, 6)) < 0.5).astype(np.int64)
    backend = get(target)
    with pytest.raises(SnnCompileError) as err:
        backend.check(g)
        backend.emit(g, tmp_path / target, x)
    if target != "loihi":
        assert isinstance(err.value, UnsupportedNodeError)
        assert str(err.value).startswith("node 'lif1': semantics accumulate='per_event' (the xylo preset)")


def test_v_min_is_refused_by_name() -> None:
    import dataclasses

    from snncompile.backends.xylo.lower import lower as lower_xylo

    rng = np.random.default_rng(5)
    qgraph = random_qgraph(rng, widths=(6,))
    name = next(n for n, nd in qgraph.nodes.items() if getattr(nd, "kind", None) == "CubaLIF")
    node = qgraph.nodes[name]
    clamped = dataclasses.replace(node, v_min=np.full(node.shape, -5))
    bad = QGraph({**qgraph.nodes, name: clamped}, qgraph.edges, dt=qgraph.dt, metadata=dict(qgraph.metadata))
    with pytest.raises(ResourceError, match=f"xylo: node '{name}': v_min .*min -5"):
        lower_xylo(bad)
