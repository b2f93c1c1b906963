"""``snncompile verify`` as a user runs it: the table, the JSON report, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.backend import BitsimBackend

import snncompile as sc
from snncompile.cli import main

CASE = SHARED / "frameworks" / "snntorch_leaky_mlp_subtract"


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 16 test samples of digits-mlp, with labels, as an .npz DATA file."""
    test = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")
    path = tmp_path_factory.mktemp("data") / "digits16.npz"
    np.savez(path, inputs=test["inputs"][:, :16], labels=test["labels"][:16])
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_bundled_model_as_a_user(tmp_path: Path) -> None:
    """The real command in a subprocess, on the bundled test set (no --inputs)."""
    report = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "snncompile", "verify", "digits-mlp", "--report", str(report)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "model: digits-mlp (dt and semantics from snncompile metadata)"
    assert lines[1] == "inputs: bundled test set digits-mlp/test.npz (T=25, B=360, with labels); no --inputs given"
    assert lines[2] == "quantisation: 8-bit weights (channel, maxabs), state widths from calibration"
    assert any(line.startswith("fixed<->bitsim  PASS    6 nodes, 8 traces, 0 of ") for line in lines)
    assert lines[-1] == "result: PASS"
    assert proc.stderr == f"snncompile: wrote {report}\n"
    data = json.loads(report.read_text())
    assert data["passed"] is True and [r["status"] for r in data["rungs"]] == ["INFO", "INFO", "PASS"]
    assert data["info"]["model"].startswith("digits-mlp") and data["info"]["batch"] == 360


def test_verify_source_rung_from_snntorch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", str(CASE / "model.nir"), "--from", "snntorch", "--inputs",
                          str(CASE / "data.npz")], capsys)
    assert code == 0, err
    assert "source<->float  PASS    2 layer(s), 0 of 1680 spike entries differ" in out
    assert "source spikes of 2 layer(s)" in out


def test_verify_min_agreement(capsys: pytest.CaptureFixture[str], small_digits: Path) -> None:
    code, out, _ = run(["verify", "digits-mlp", "--inputs", str(small_digits), "--min-agreement", "1"], capsys)
    assert code == 1
    assert "float<->fixed   FAIL" in out and "< --min-agreement 1" in out and out.endswith("result: FAIL\n")
    code, out, _ = run(["verify", "digits-mlp", "--inputs", str(small_digits), "--min-agreement", "0.5"], capsys)
    assert code == 0 and "float<->fixed   PASS" in out


def test_broken_backend_exits_1_with_the_first_mismatch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, small_digits: Path, tmp_path: Path
) -> None:
    real = BitsimBackend.run

    def broken(self: BitsimBackend, artifact_dir, inputs=None):  # type: ignore[no-untyped-def]
        traces = real(self, artifact_dir, inputs)
        spikes = traces["3"]["out"].copy()
        spikes[4, 1, 6] = 1 - spikes[4, 1, 6]
        traces["3"]["out"] = spikes
        return traces

    x = np.load(small_digits)["inputs"]
    qgraph = sc.quantize(sc.load("digits-mlp"), sc.QuantSpec(), x)
    expected = int(run_plain(qgraph, x)["3"]["out"][4, 1, 6])
    monkeypatch.setattr(BitsimBackend, "run", broken)
    report = tmp_path / "r.json"
    code, out, err = run(["verify", "digits-mlp", "--inputs", str(small_digits), "--report", str(report)], capsys)
    assert code == 1
    text = (f"rung fixed<->bitsim: layer '3' (out), neuron 6, timestep 4, batch 1: "
            f"expected {expected}, got {1 - expected}")
    assert f"\nFAIL fixed<->bitsim: {text}\n" in out
    assert "fixed<->bitsim  FAIL    6 nodes, 8 traces, 1 of " in out
    rungs = {r["name"]: r for r in json.loads(report.read_text())["rungs"]}
    assert rungs["fixed<->bitsim"]["first_mismatch"]["text"] == text


@pytest.mark.parametrize("make, message", [
    ("wrong_shape", "snncompile: error: '{p}': shape (25, 2, 63) does not match [T, B, 64] of input 'input'"),
    ("non_binary", "snncompile: error: '{p}': value 0.5 at timestep 0, batch 1, index 3 is not a spike (0 or 1)"),
    ("missing_key", "snncompile: error: '{p}' has no 'inputs' (or 'input') array; its keys: spikes"),
])
def test_bad_inputs_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, make: str, message: str) -> None:
    x = np.zeros((25, 2, 64))
    path = tmp_path / ("d.npz" if make == "missing_key" else "d.npy")
    if make == "wrong_shape":
        np.save(path, x[..., :63])
    elif make == "non_binary":
        x[0, 1, 3] = 0.5
        np.save(path, x)
    else:
        np.savez(path, spikes=x)
    code, out, err = run(["verify", "digits-mlp", "--inputs", str(path)], capsys)
    assert (code, out, err) == (2, "", message.format(p=path) + "\n")


def test_bits_1_exits_2_with_the_quantspec_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["verify", "digits-mlp", "--bits", "1"], capsys) == (
        2, "", "snncompile: error: QuantSpec: weight_bits=1 is outside 2..16\n")


def test_unknown_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", "digits-mlp", "--target", "nope"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("snncompile: error: unknown target 'nope'; available targets: ")


def test_qgraph_file_is_refused_by_verify_and_shown_by_inspect(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    from snncompile.quant.qnir import write_qgraph

    graph = sc.load("digits-mlp")
    path = write_qgraph(sc.quantize(graph, sc.QuantSpec(), timesteps=4, batch=2), tmp_path / "q.nir")
    code, out, err = run(["verify", str(path)], capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"snncompile: error: '{path}' is a QGraph file (written by snncompile export)")
    code, out, err = run(["inspect", str(path)], capsys)
    assert (code, err) == (0, "")
    assert "source: QGraph (fixed point, written by snncompile export)" in out
    assert any(line.split()[:3] == ["1", "QNeuron(LIF)", "64"] for line in out.splitlines())


def test_verify_with_loihi_says_every_target_gets_its_encodings(small_digits: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """verify runs one QGraph for all its targets: with loihi among them, the warning and the header say so
    (export gives each family its own, tests/quant/test_layer_precision.py), and --bits Loihi cannot take is
    refused before any work (exit 3, the rule named)."""
    code, out, err = run(["verify", "digits-mlp", "--target", "loihi", "--target", "onnx", "--inputs",
                          str(small_digits)], capsys)
    assert code == 0, err
    assert "warning: --target loihi: every target of this run (onnx too) gets Loihi's encodings (reset to zero" in err
    assert "quantisation: Loihi's encodings (reset to zero, one step of synapse delay" in out
    assert "for every target" in out and "8-bit weights" not in out
    code, out, err = run(["verify", "digits-mlp", "--target", "loihi", "--bits", "12", "--inputs",
                          str(small_digits)], capsys)
    assert code == 3 and err.strip().splitlines()[-1].startswith("snncompile: error: loihi rule loihi_weight_bits:")
