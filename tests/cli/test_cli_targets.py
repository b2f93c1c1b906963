"""export/verify wire every registered backend: hls (make csim), onnx (float model too)."""

from __future__ import annotations

import json
import subprocess

from snncompile import backends
from snncompile.cli import main


def test_registry_lists_the_backends() -> None:
    assert {"bitsim", "hls", "onnx"} <= set(backends.available())
    for name in backends.available():
        assert backends.get(name).name == name


def test_export_hls_and_onnx_then_make_csim(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["export", "digits-mlp", "--target", "hls", "--target", "onnx", "-o", str(out), "--unroll", "4"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "check fixed<->hls: PASS" in text and "check fixed<->onnx: PASS" in text
    assert "hls estimate (--unroll 4, 200 MHz)" in text and "cycles/step" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["reports"]["hls"]["estimate"]["unroll"] == 4
    assert (out / "onnx" / "float" / "float_scan.onnx").is_file()
    csim = subprocess.run(["make", "-C", str(out / "hls"), "csim"], capture_output=True, text=True)
    assert csim.returncode == 0, csim.stdout + csim.stderr
    assert "PASS" in csim.stdout


def test_verify_with_hls_and_onnx_targets(capsys) -> None:
    rc = main(["verify", "digits-mlp", "--target", "hls", "--target", "onnx"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "fixed<->hls    PASS" in text and "fixed<->onnx   PASS" in text


def test_export_loihi_prints_the_core_table(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["export", "digits-mlp", "--target", "loihi", "-o", str(out), "--core-spec", "loihi2"]) == 0
    text = capsys.readouterr().out
    assert "check fixed<->loihi: PASS" in text and "loihi mapping:" in text and "binding resource" in text
    assert (out / "loihi" / "mapping.json").is_file() and (out / "loihi" / "cores.csv").is_file()


def test_export_loihi_that_does_not_fit_exits_3_and_writes_nothing(tmp_path, capsys) -> None:
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps({"base": "loihi1", "neurons_per_core": 16, "cores_per_chip": 2, "max_chips": 1}))
    out = tmp_path / "out"
    rc = main(["export", "digits-mlp", "--target", "loihi", "-o", str(out), "--core-spec", str(spec)])
    err = capsys.readouterr().err
    assert rc == 3
    errors = [line for line in err.splitlines() if line.startswith("snncompile: error: ")]
    assert errors == [err.splitlines()[-1]]  # progress lines, then exactly one error line, no traceback
    assert "need 3 chips > 1 chips" in errors[0] and "Traceback" not in err
    assert not out.exists()
