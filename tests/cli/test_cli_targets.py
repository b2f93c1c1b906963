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
