"""--rounding on the command line: the shift-subtract leak end to end, and its refusal of other decays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.cli import main
from snncompile.nodes import Input, Output


def shift_model(path: Path) -> Path:
    """A 12-16-4 LIF chain whose decays are 1 - 2^-k (0.875, 0.9375): exact under shift_subtract."""
    rng = np.random.default_rng(3)
    graph = sc.Graph({"x": Input(shape=(12,)), "fc1": ir.Affine(weight=rng.normal(0, 0.6, (16, 12)), bias=np.zeros(16)),
                      "n1": ir.LIF(shape=(16,), beta=0.875, threshold=1.0),
                      "fc2": ir.Affine(weight=rng.normal(0, 0.6, (4, 16)), bias=np.zeros(4)),
                      "n2": ir.LIF(shape=(4,), beta=0.9375, threshold=1.0), "y": Output()},
                     [("x", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "y")])
    sc.save(graph, str(path))
    return path


def test_export_with_the_shift_subtract_leak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = shift_model(tmp_path / "shift.nir")
    out = tmp_path / "out"
    assert main(["export", str(model), "--rounding", "shift_subtract", "--target", "bitsim", "--target", "hls",
                 "--target", "onnx", "-o", str(out)]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quant_spec"]["rounding"] == "shift_subtract"
    assert {n: s["rounding"] for n, s in manifest["semantics"].items()} == {"n1": "shift_subtract",
                                                                            "n2": "shift_subtract"}
    assert [c["status"] for c in manifest["checks"]] == ["PASS", "PASS", "PASS"]


def test_shift_subtract_refuses_other_decays_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "digits-mlp", "--rounding", "shift_subtract"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("snncompile: error: node '1': beta 3686/4096 at index 0 (from 0.9) "
                                               "is not 1 - 2^-k")
    assert "nearest: 0.875 (k=3) or 0.9375 (k=4)" in err[0]
