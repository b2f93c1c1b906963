"""A training script without scikit-learn (or snnTorch) says what to install, in one line, instead of failing with
a ModuleNotFoundError traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snncompile import models

#: run a training script as if ``missing`` were not installed (find_spec says so; an import would fail too)
CHILD = """
import importlib.util, runpy, sys
missing, script = sys.argv[1], sys.argv[2]
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a, **k: None if name.split('.')[0] == missing else real(name, *a, **k)
sys.modules[missing] = None  # and an import of it raises
sys.argv = [script, "--out", sys.argv[3]]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(("model", "missing", "package", "why"), [
    ("digits-cnn", "sklearn", "scikit-learn", "the digits data set and its split"),
    ("digits-mlp", "snntorch", "snntorch==1.0.0", "the network is built from snnTorch layers"),
])
def test_a_missing_dependency_is_one_line_with_the_install_command(tmp_path: object, model: str, missing: str,
                                                                   package: str, why: str) -> None:
    script = str(models.ROOT / model / "train.py")
    proc = subprocess.run([sys.executable, "-c", CHILD, missing, script, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"this training script needs {package} ({why}): "
        f"pip install {package}, or install snncompile with its extras: pip install -e '.[dev,interop]'"]
