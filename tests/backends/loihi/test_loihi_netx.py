"""network.net without Lava: its netx layout, the netx rules (exit code 3, named), and the export wiring
(--target loihi: one warning line, its own QGraph, --bits refused beyond 8, unsupported layers exit 3)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from netx_cases import random_chain
from snncompile.backends.loihi import BACKEND
from snncompile.backends.loihi.netx import NETX_FILE, netx_bytes, netx_layers
from snncompile.backends.loihi.rules import LoihiRuleError

import snncompile as sc
from snncompile.cli import main
from snncompile.graph import Graph
from snncompile.nodes import LI, Input, Linear, Output
from snncompile.quant.qnodes import QGraph, QNeuron


def _replace(qgraph: QGraph, name: str, **changes: object) -> QGraph:
    nodes = dict(qgraph.nodes)
    nodes[name] = dataclasses.replace(nodes[name], **changes)  # type: ignore[type-var]
    return QGraph(nodes, qgraph.edges)


def test_network_net_has_netx_layout(tmp_path: Path) -> None:
    qgraph, x = random_chain(1)
    BACKEND.emit(qgraph, tmp_path / "o", x)
    n_in, layers = netx_layers(qgraph)
    with h5py.File(tmp_path / "o" / NETX_FILE, "r") as f:
        assert f["layer/0/type"][0] == b"input" and list(f["layer/0/shape"][()]) == [n_in]
        assert len(f["layer"]) == len(layers) + 1
        for k, layer in enumerate(layers, start=1):
            g = f[f"layer/{k}"]
            assert g["type"][0] == b"dense" and g["neuron/type"][0] == b"CUBA"
            node = qgraph.nodes[layer.name]
            assert isinstance(node, QNeuron)
            w = qgraph.nodes[layer.weights]
            eff = np.asarray(w.weight, np.int64) * 2.0 ** w.shift  # type: ignore[attr-defined]
            np.testing.assert_array_equal(g["weight"][()], eff)
            assert int(g["neuron/iDecay"][()]) == 4096 - int(np.asarray(node.alpha).reshape(-1)[0])  # du + 1
            assert int(g["neuron/vDecay"][()]) == 4096 - int(np.asarray(node.beta).reshape(-1)[0])
            assert int(g["neuron/vThMant"][()]) == int(np.asarray(node.threshold).reshape(-1)[0]) >> 6
            np.testing.assert_array_equal(g["bias"][()] << 6, np.broadcast_to(node.bias, node.shape))
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["netx"] == {"file": NETX_FILE, "layers": len(layers)}


@pytest.mark.parametrize(("change", "rule", "text"), [
    (dict(threshold=np.arange(1, 100) << 6), "netx_layer_registers", "vth 2 at neuron 1 differs from 1"),
    (dict(bias=np.full(1, 65)), "netx_bias", "bias 65 at neuron 0 is not bias_mant << 6"),
    (dict(v_init=np.full(1, 3)), "netx_initial_state", "v0 3 at neuron 0"),
])
def test_netx_register_rules(change: dict, rule: str, text: str) -> None:
    qgraph, _ = random_chain(2)
    n = qgraph.nodes["lif1"].shape[0]  # type: ignore[attr-defined]
    change = {k: (np.resize(v, n) if k != "threshold" else np.asarray(v)[:n]) for k, v in change.items()}
    bad = _replace(qgraph, "lif1", **change)
    with pytest.raises(LoihiRuleError, match=f"loihi rule {rule}: .*{text}") as info:
        netx_bytes(bad)
    assert info.value.exit_code == 3 and info.value.rule == rule


def test_netx_weight_rules() -> None:
    qgraph, _ = random_chain(3)
    w = np.asarray(qgraph.nodes["dense2"].weight)  # type: ignore[attr-defined]
    with pytest.raises(LoihiRuleError, match=r"netx_weights: .*effective weight .* outside netx's"):
        netx_bytes(_replace(qgraph, "dense2", shift=5))
    odd = np.where(w != 0, 2, 0) + 0 * w
    with pytest.raises(LoihiRuleError, match=r"netx_weights: .*not an integer multiple"):
        netx_bytes(_replace(qgraph, "dense2", weight=odd, shift=-3))
    with pytest.raises(LoihiRuleError, match=r"netx_weights: .*every weight is 0"):
        netx_bytes(_replace(qgraph, "dense2", weight=0 * w))


def test_emit_reports_why_network_net_is_missing(tmp_path: Path) -> None:
    qgraph, x = random_chain(2)
    bad = _replace(qgraph, "lif1", bias=np.resize(np.array([65]), qgraph.nodes["lif1"].shape[0]))  # type: ignore
    result = BACKEND.emit(bad, tmp_path / "o", x)
    assert not (tmp_path / "o" / NETX_FILE).exists()
    assert "netx_bias" in result["summary"]["netx"]["reason"] and "network.net not written" in result["table"]
    with pytest.raises(LoihiRuleError, match="netx_bias"):
        BACKEND.emit(bad, tmp_path / "p", x, netx="required")
    assert not (tmp_path / "p").exists()


def test_export_hls_next_to_loihi_gets_the_bits_qgraph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "digits-mlp", "--target", "hls", "--target", "loihi", "-o", str(tmp_path / "both")]) == 0
    err = capsys.readouterr().err
    assert sum("warning: --target loihi changes the network" in line for line in err.splitlines()) == 1
    assert main(["export", "digits-mlp", "--target", "hls", "-o", str(tmp_path / "hls")]) == 0
    assert "warning: --target loihi" not in capsys.readouterr().err
    both = json.loads((tmp_path / "both" / "manifest.json").read_text())
    alone = json.loads((tmp_path / "hls" / "manifest.json").read_text())
    assert both["qgraphs"]["hls"]["family"] == "spec" and both["qgraphs"]["loihi"]["family"] == "loihi"
    assert both["qgraphs"]["loihi"]["quant_spec"]["netx"] is True
    hls = {f["path"]: f["sha256"] for f in both["files"] if f["path"].startswith("hls/")}
    assert hls == {f["path"]: f["sha256"] for f in alone["files"]}  # the same hls project, byte for byte
    assert (tmp_path / "both" / "loihi" / NETX_FILE).is_file()


def _li_readout_model(path: Path) -> str:
    """A tiny model whose readout is a leaky integrator (no spikes): Loihi has no such neuron."""
    g = Graph({"input": Input(shape=(3,)), "fc": Linear(weight=np.ones((2, 3))),
               "li": LI(shape=(2,), beta=np.full(2, 0.9)), "output": Output()},
              [("input", "fc"), ("fc", "li"), ("li", "output")])
    sc.save(g, str(path))
    return str(path)


@pytest.mark.parametrize(("model", "argv", "text"), [
    ("digits-mlp", ["--bits", "9"], "loihi rule loihi_weight_bits: weight bits 9"),
    ("digits-mlp", ["--target", "hls", "--bits", "12"], "loihi rule loihi_weight_bits: weight bits 12"),
    ("li", [], "loihi rule loihi_layer_types: node 'li' (LI)"),
])
def test_export_loihi_refusals_exit_3_naming_the_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     model: str, argv: list[str], text: str) -> None:
    if model == "li":
        model = _li_readout_model(tmp_path / "li.nir")
    rc = main(["export", model, *argv, "--target", "loihi", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("snncompile: error: ")]
    assert rc == 3 and len(errors) == 1 and text in errors[0] and "Traceback" not in err
    assert not (tmp_path / "o").exists()
