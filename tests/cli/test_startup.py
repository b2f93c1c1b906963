"""``snncompile --help`` and ``inspect`` start without importing torch (timings: benchmarks/cli_startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHILD = """
import contextlib, io, json, sys
from snncompile.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "heavy": sorted(m for m in sys.modules if m.split('.')[0] in
                  ('torch', 'matplotlib', 'onnx', 'onnxruntime', 'nirtorch', 'snntorch'))}))
"""


def modules_after(*argv: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("argv", [("--help",), ("inspect", "digits-mlp"), ("inspect", "digits-cnn", "--json"),
                                  ("export", "--help"), ("models",)])
def test_fast_commands_do_not_import_torch(argv: tuple[str, ...]) -> None:
    result = modules_after(*argv)
    assert result["code"] == 0
    assert result["heavy"] == []


def test_import_snncompile_does_not_import_torch() -> None:
    code = "import sys, snncompile as sc; sc.load('digits-mlp'); print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_the_public_functions_stay_functions_after_their_modules_load() -> None:
    code = ("import snncompile as sc, snncompile.export, snncompile.verify; from snncompile.verify import Report; "
            "print(callable(sc.export), callable(sc.verify), callable(sc.quantize), Report.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["True", "True", "True", "Report"], proc.stderr


def test_inspect_of_a_qgraph_file_does_not_import_torch(tmp_path: Path) -> None:
    import snncompile as sc
    from snncompile.quant.qnir import write_qgraph

    path = write_qgraph(sc.quantize(sc.load("digits-mlp"), sc.QuantSpec(), timesteps=4, batch=2), tmp_path / "q.nir")
    result = modules_after("inspect", str(path))
    assert result["code"] == 0 and result["heavy"] == []
