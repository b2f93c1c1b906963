"""``export --target hls`` with what a user may paste: --part (Makefile / run_hls.tcl), --clock-mhz, long node names."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from safety_helpers import error, run, small_inputs

import snncompile as sc
from snncompile.graph import Graph


def test_a_part_that_would_run_as_shell_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--part 'x; touch pwned'`` used to be pasted into the Makefile and run at ``make hls``."""
    inputs = small_inputs(tmp_path)
    argv = ["export", "digits-mlp", "--target", "hls", "-o", str(tmp_path / "out"), "--inputs", str(inputs),
            "--part", "x; touch pwned"]
    assert run(argv, capsys) == (2, "", error(
        "argument --part: part 'x; touch pwned' is not an FPGA part name (1 to 64 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit) (see 'snncompile export --help')"))
    assert os.listdir(tmp_path) == ["x.npy"]


def test_a_real_part_lands_in_the_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    argv = ["export", "digits-mlp", "--target", "hls", "-o", str(out), "--inputs", str(inputs),
            "--part", "xcvu9p-flga2104-2L-e"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert "set part xcvu9p-flga2104-2L-e\n" in (out / "hls" / "run_hls.tcl").read_text()
    assert "PART ?= xcvu9p-flga2104-2L-e\n" in (out / "hls" / "Makefile").read_text()


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-5"])
def test_clock_mhz_must_be_finite_and_positive(value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--clock-mhz inf`` used to crash after OUT was written."""
    inputs = small_inputs(tmp_path)
    argv = ["export", "digits-mlp", "--target", "hls", "-o", str(tmp_path / "out"), "--inputs", str(inputs),
            f"--clock-mhz={value}"]
    assert run(argv, capsys) == (2, "", error(f"argument --clock-mhz: '{value}' must be a finite number of MHz > 0 "
                                              "(see 'snncompile export --help')"))
    assert os.listdir(tmp_path) == ["x.npy"]


def _renamed(graph: Graph, names: dict[str, str]) -> Graph:
    nodes = {names.get(k, k): (dataclasses.replace(v, name=names.get(k, k)) if hasattr(v, "name") else v)
             for k, v in graph.nodes.items()}
    return Graph(nodes=nodes, edges=[(names.get(a, a), names.get(b, b)) for a, b in graph.edges], dt=graph.dt,
                 metadata=graph.metadata)


def test_a_5000_character_node_name_exports_to_hls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Used to fail inside gcc (overlength string literal) and be reported as a toolchain failure (exit 1)."""
    long = {"1": "lif-" + "n" * 5000, "input": "i" * 5000}
    model = tmp_path / "long.nir"
    sc.save(_renamed(sc.load("digits-mlp"), long), str(model))
    out = tmp_path / "out"
    code, stdout, err = run(["export", str(model), "--target", "hls", "-o", str(out), "--timesteps", "4"], capsys)
    assert code == 0, err[-3000:]
    assert "check fixed<->hls: PASS (" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert long["1"] in manifest["semantics"]  # the full name in the manifest
    project = json.loads((out / "hls" / "project.json").read_text())
    assert long["1"] in {t["node"] for t in project["traces"]} and project["inputs"][0]["name"] == long["input"]
