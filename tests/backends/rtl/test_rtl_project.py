"""The emitted RTL project as a user meets it: export, make sim, a corrupted golden, refusals, missing tools, fit.

One small synthesis (digits-mlp through yosys synth_ecp5 and synth_xilinx) and one place and route
(nextpnr-ecp5) run here so the flow cannot rot; the full table is benchmarks/rtl.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from snncompile.backends.rtl import BACKEND

import snncompile as sc
from snncompile.cli import main
from snncompile.errors import BackendError, ResourceError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QConv1d, QDense, QGraph, QNeuron

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rtl-export") / "out"
    inputs = tmp_path_factory.getbasetemp() / "digits-inputs.npy"
    np.save(inputs, np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:12, :3])
    assert main(["export", "digits-mlp", "--target", "rtl", "--simulator", "icarus", "--inputs", str(inputs),
                 "-o", str(out)]) == 0
    return out / "rtl"


def test_export_writes_the_project(exported: Path) -> None:
    for name in ("hdl/snn_layer.v", "hdl/snn_neuron.v", "hdl/snn_event_queue.v", "hdl/snn_ram.v", "snn_core.v",
                 "snn_top.v", "tb.v", "mem/l0_w.hex", "stimuli.txt", "golden.txt", "Makefile", "README.md",
                 "report.json", "qgraph.nir"):
        assert (exported / name).is_file(), name
    report = json.loads((exported / "report.json").read_text())
    assert report["measured"]["bit_exact"] is True
    assert report["measured"]["cycles_per_step"] > 0
    assert report["timesteps"] == 12 and report["samples"] == 3
    text = (exported / "snn_core.v").read_text()
    assert "logic" not in text.split() and "always_ff" not in text  # Verilog-2005, no SystemVerilog


def test_make_sim_passes_and_a_corrupted_golden_fails(exported: Path, tmp_path: Path) -> None:
    project = tmp_path / "rtl"
    shutil.copytree(exported, project)
    ok = subprocess.run(["make", "-s", "sim", "SIM=icarus"], cwd=project, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASS" in ok.stdout
    lines = (project / "golden.txt").read_text().splitlines()
    k = 150
    layer, n, s, v, i, x = lines[k].split()
    lines[k] = " ".join([layer, n, s, str(int(v) + 1), i, x])
    (project / "golden.txt").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(["make", "-s", "sim", "SIM=icarus"], cwd=project, capture_output=True, text=True)
    assert bad.returncode != 0
    neurons = 64
    sample, step = divmod(k // (neurons + 10), 12)
    assert (f"MISMATCH sample {sample} timestep {step} layer {layer} (1) neuron {n} v: expected {int(v) + 1} "
            f"got {v}") in bad.stdout


def test_verilator_testbench_fails_on_a_corrupted_golden(exported: Path, tmp_path: Path) -> None:
    project = tmp_path / "rtl"
    shutil.copytree(exported, project)
    lines = (project / "golden.txt").read_text().splitlines()
    layer, n, s, v, i, x = lines[0].split()
    lines[0] = " ".join([layer, n, str(1 - int(s)), v, i, x])
    (project / "golden.txt").write_text("\n".join(lines) + "\n")
    bad = subprocess.run(["make", "-s", "sim"], cwd=project, capture_output=True, text=True)
    assert bad.returncode != 0
    assert f"MISMATCH sample 0 timestep 0 layer 0 (1) neuron 0 spike: expected {1 - int(s)} got {s}" in bad.stdout


def test_run_on_the_exported_folder_equals_bitsim(exported: Path) -> None:
    from snncompile.backends.bitsim import run_plain

    from snncompile.quant.qnir import read_qgraph

    qgraph = read_qgraph(exported / "qgraph.nir")
    inputs = np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:6, 3:5]
    got = BACKEND.run(exported, inputs, simulator="icarus")
    want = run_plain(qgraph, inputs)
    for node, keys in want.items():
        for key, arr in keys.items():
            assert np.array_equal(got[node][key], arr), (node, key)


def _conv_graph() -> QGraph:
    nodes = {"input": Input(shape=(1, 4)), "c": QConv1d(name="c", weight=np.ones((2, 1, 2), np.int64), w_bits=4),
             "n": QNeuron(name="n", kind="LIF", shape=(2, 3), beta=3000, threshold=2), "output": Output()}
    return QGraph(nodes, [("input", "c"), ("c", "n"), ("n", "output")])


def test_unsupported_node_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedNodeError) as err:
        BACKEND.check(_conv_graph())
    assert str(err.value).startswith("rtl: node 'c' (QConv1d): not supported by the rtl target (it takes Input, ")
    assert not any(tmp_path.iterdir())


def test_missing_simulator_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    graph = sc.quantize(sc.load("digits-mlp"), sc.QuantSpec(weight_bits=4), calib=None)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SNNCOMPILE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackendError) as err:
        BACKEND.run(graph, np.zeros((2, 1, 64), np.int64))
    assert str(err.value) == (f"rtl: verilator is not installed (not on PATH or beside {sys.executable}); install it: "
                              "apt-get install verilator (Debian 12 ships 5.006)")


def test_design_larger_than_the_device_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    n_in, n = 1024, 1024
    nodes = {"input": Input(shape=(n_in,)),
             "fc": QDense(name="fc", weight=rng.integers(-30000, 30000, (n, n_in)), w_bits=16),
             "lif": QNeuron(name="lif", kind="LIF", shape=(n,), beta=4000, threshold=1000, v_bits=32),
             "output": Output()}
    graph = QGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with pytest.raises(ResourceError) as err:
        BACKEND.emit(graph, tmp_path / "rtl", np.zeros((2, 1, n_in), np.int64), device="12k")
    assert str(err.value) == ("rtl: device ECP5-12k: block RAM DP16KD needed >= 1024 for 16777216 weight bits, the "
                              "device has 56; choose a larger --device (12k, 25k, 45k, 85k) or fewer weight bits")
    assert err.value.exit_code == 3
    assert not (tmp_path / "rtl").exists()


def test_synthesis_and_place_and_route_of_digits_mlp(tmp_path: Path) -> None:
    graph = sc.quantize(sc.load("digits-mlp"), sc.QuantSpec(weight_bits=4), calib=None)
    inputs = np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:8, :2]
    emitted = BACKEND.emit(graph, tmp_path / "rtl", inputs, simulator="icarus", pnr=True)
    report = json.loads((tmp_path / "rtl" / "report.json").read_text())
    e, x = report["synthesis"]["ecp5"], report["synthesis"]["xilinx7"]
    assert e["LUT4"] > 100 and e["FF"] > 100 and x["LUT"] > 100
    assert report["pnr"]["fmax_mhz"] > 10
    assert "Fmax ECP5 (nextpnr)" in emitted["table"]
