"""What the hls backend pastes into its project: FPGA part names (shell/Tcl), clock values, and node names of any
length (C99 guarantees string literals of 4095 characters only; the testbench reads names of 255 bytes)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import trace_mismatch
from hls_cases import build, hls_cache  # noqa: F401
from snncompile.backends.bitsim import run_plain
from snncompile.backends.hls import BACKEND
from snncompile.backends.hls.backend import part_problem
from snncompile.backends.hls.lower import MAX_LABEL_BYTES, trace_labels

from snncompile.errors import InputError
from snncompile.quant.qnodes import QGraph

PART_RULE = "is not an FPGA part name (1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit)"


@pytest.mark.parametrize("part", ["xc7z020clg400-1", "xcvu9p-flga2104-2L-e", "xcu250_figd2104.2", "A" * 64])
def test_real_part_names_are_accepted(part: str) -> None:
    assert part_problem(part) is None


@pytest.mark.parametrize("part", ["x; touch pwned", "$(touch pwned)", "`id`", "x\nexec id", "a b", "-x", "", "A" * 65,
                                  "x[exec id]", "x\"", None])
def test_part_names_that_a_shell_or_tcl_would_interpret_are_refused(part: object, tmp_path: Path) -> None:
    graph, spikes = build("mlp", "nir", 4)
    with pytest.raises(InputError) as err:
        BACKEND.emit(graph, tmp_path / "p", spikes, part=part)  # type: ignore[arg-type]
    assert str(err.value) == f"hls: part {part!r} {PART_RULE}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("clock", [math.inf, -math.inf, math.nan, 0.0, -1.0, True, "200"])
def test_clock_must_be_a_finite_positive_number(clock: object, tmp_path: Path) -> None:
    graph, spikes = build("mlp", "nir", 4)
    for call in (lambda: BACKEND.emit(graph, tmp_path / "p", spikes, clock_mhz=clock),  # type: ignore[arg-type]
                 lambda: BACKEND.estimate(graph, clock_mhz=clock)):  # type: ignore[arg-type]
        with pytest.raises(InputError) as err:
            call()
        assert str(err.value) == f"hls: clock_mhz must be a finite number > 0, got {clock!r}"
    assert list(tmp_path.iterdir()) == []


def test_trace_labels_are_bounded_and_unique() -> None:
    long_a, long_b = "n" * 5000 + "a", "n" * 5000 + "b"
    short = "lif1"
    labels = trace_labels([short, long_a, long_b, "é" * 3000])
    assert labels[short] == short
    assert all(len(v.encode()) <= MAX_LABEL_BYTES for v in labels.values())
    assert len(set(labels.values())) == 4
    assert labels["é" * 3000].startswith("é" * 10)  # cut at a character boundary, still valid UTF-8
    collide = trace_labels([long_a, labels[long_a]])  # a short name equal to a long name's label
    assert len(set(collide.values())) == 2


def _renamed(graph: QGraph, names: dict[str, str]) -> QGraph:
    nodes = {names.get(k, k): (dataclasses.replace(v, name=names.get(k, k)) if hasattr(v, "name") else v)
             for k, v in graph.nodes.items()}
    return QGraph(nodes, [(names.get(a, a), names.get(b, b)) for a, b in graph.edges])


def test_5000_character_node_names_build_and_pass_csim(tmp_path: Path) -> None:
    """Used to fail inside gcc (-pedantic: string length 5000 > 4095) and be reported as a toolchain failure."""
    base, spikes = build("recurrent", "snntorch", 8, seed=3)
    long = {"lif1": "L" * 5000 + "-lif1", "input": "I" * 5000, "output": "L" * 5000 + "-out", "fc1": "f*/" * 1700}
    graph = _renamed(base, long)
    out = tmp_path / "proj"
    BACKEND.emit(graph, out, spikes)
    proc = subprocess.run(["make", "csim"], cwd=out, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "PASS: 3 samples x 12 timesteps, all traces" in proc.stdout
    want = run_plain(graph, spikes)
    assert trace_mismatch(want, BACKEND.run(graph, spikes)) == ""
    assert trace_mismatch(want, BACKEND.run(out, spikes)) == ""
    info = json.loads((out / "project.json").read_text())
    assert {t["node"] for t in info["traces"]} >= set(long.values())  # the full names
    assert info["inputs"] == [{"name": long["input"], "shape": [8]}]
    source = (out / "snn.c").read_text()
    assert f"/* node {long['lif1']}: QNeuron" in source  # the full name stays in a comment
    comments = [line for line in source.splitlines() if line.startswith(("/* node ", "/* trace label "))]
    assert all(line.count("*/") == 1 and line.endswith("*/") for line in comments)  # no name ends a comment early
    assert np.all([len(line) < 4095 for line in source.splitlines() if '"' in line and "/*" not in line])
