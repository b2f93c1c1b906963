"""``export --target hls`` with what a user may paste: very long node names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from safety_helpers import run

import snncompile as sc
from snncompile.graph import Graph


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
