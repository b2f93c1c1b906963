"""The rtl readout head (hdl/snn_readout.v) in Verilator and Icarus: bit-exact with snncompile.readout on
bitsim's outputs, the tie rule, a corrupted readout.txt failing, the CLI option."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import snncompile.models as sc_models
from snncompile.backends.bitsim import run_plain
from snncompile.backends.rtl import BACKEND

from snncompile import readout
from snncompile.cli import main
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hls"))
from hls_cases import build  # noqa: E402


def tie_graph() -> QGraph:
    """Outputs 2 and 4 get the same drive (equal counts): the class is 2; output 0 never fires."""
    w = np.zeros((5, 6), np.int64)
    w[1], w[2], w[3], w[4] = 1, 7, 2, 7
    nodes = {
        "input": Input(shape=(6,)),
        "fc": QDense(name="fc", weight=w, w_bits=4),
        "n": QNeuron(name="n", kind="IF", shape=(5,), semantics=PRESETS["nir"], threshold=9, v_reset=0, bias=0,
                     frac_bits=12, i_bits=16, v_bits=16),
        "output": Output(),
    }
    return QGraph(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")])


def readout_file(path: Path) -> np.ndarray:
    lines = path.read_text().split("\n")
    B, W = map(int, lines[0].split())
    return np.array([[int(v) for v in ln.split()] for ln in lines[1:1 + B]], np.int64).reshape(B, W)


@pytest.mark.parametrize(("topology", "sem", "mode", "simulator"), [
    ("mlp", "mix", "argmax", "verilator"),
    ("cuba", "snntorch", "max-v", "icarus"),  # negative membranes: the zero-step rule of max-v matters
    ("mlp", "nir", "counts", "icarus"),
])
def test_readout_equals_bitsim(topology: str, sem: str, mode: str, simulator: str, tmp_path: Path) -> None:
    g, x = build(topology, sem, 8, seed=4)
    out = tmp_path / "p"
    result = BACKEND.emit(g, out, x, readout=mode, simulator=simulator)  # raises unless the simulation passes
    assert result["report"]["measured"]["readout_checked"] is True
    plan = readout.plan(g, mode, 12)
    want = readout.words(plan, readout.compute(plan, run_plain(g, x)["output"]["out"]))
    assert np.array_equal(readout_file(out / "readout.txt"), want)
    top = (out / "snn_top.v").read_text()
    assert f".MODE({ {'counts': 0, 'argmax': 1, 'max-v': 2}[mode] })" in top and "input  wire finish," in top
    assert "+readout=readout.txt" in (out / "Makefile").read_text()
    assert f"## Readout `{mode}`" in (out / "README.md").read_text()
    if mode == "max-v":
        assert (want[:, :plan.n] < 0).any()  # some score is negative, so 0-valued steps were handled


def test_tie_rule_and_a_corrupted_readout_fails(tmp_path: Path) -> None:
    g = tie_graph()
    x = (np.random.default_rng(0).random((9, 4, 6)) < 0.5).astype(np.int64)
    project = tmp_path / "p"
    BACKEND.emit(g, project, x, readout="argmax", simulator="icarus")
    words = readout_file(project / "readout.txt")
    assert words[:, -1].tolist() == [2, 2, 2, 2] and (words[:, 2] == words[:, 4]).all() and (words[:, 0] == 0).all()
    ok = subprocess.run(["make", "-s", "sim", "SIM=icarus"], cwd=project, capture_output=True, text=True)
    assert ok.returncode == 0 and "PASS" in ok.stdout, ok.stdout + ok.stderr
    bad = words.copy()
    bad[3, -1] = 4  # the other maximum: a hardware that broke the tie the other way would say this
    (project / "readout.txt").write_text(f"{bad.shape[0]} {bad.shape[1]}\n"
                                         + "".join(" ".join(map(str, r)) + "\n" for r in bad))
    fail = subprocess.run(["make", "-s", "sim", "SIM=icarus"], cwd=project, capture_output=True, text=True)
    assert fail.returncode != 0
    assert "MISMATCH sample 3 readout word 5: expected 4 got 2" in fail.stdout


def test_cli_readout_reaches_hls_and_rtl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = np.load(sc_models.ROOT / "digits-mlp" / "test.npz")
    data = tmp_path / "d.npy"
    np.save(data, test["inputs"][:, :3])
    out = tmp_path / "out"
    assert main(["export", "digits-mlp", "--target", "hls", "--target", "rtl", "--simulator", "icarus",
                 "--inputs", str(data), "--readout", "argmax", "-o", str(out)]) == 0
    assert readout_file(out / "rtl" / "readout.txt").shape == (3, 11)
    assert (out / "hls" / "readout.bin").is_file()
    assert "set_top snn_classify" in (out / "hls" / "run_hls.tcl").read_text()
    shutil.rmtree(out)
    assert main(["export", "digits-mlp", "--target", "rtl", "--inputs", str(data), "--readout", "max-v",
                 "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "snncompile: error: readout 'max-v': Output node 'output' carries spikes; max-v reads the membrane of a "
        "non-spiking readout (LI, CubaLI, I); use --readout counts or argmax")
