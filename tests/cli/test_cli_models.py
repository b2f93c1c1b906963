"""``snncompile models``, MODEL as a folder or its model.nir (test.npz beside it), simulate --nodes and defaults."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_models_lists_every_bundled_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[1:] if line and not line.startswith(("folder", "use"))]
    assert names == sc.models.names()
    code, out, _ = run(["models", "--json"], capsys)
    cards = json.loads(out)
    assert [c["name"] for c in cards] == sc.models.names()
    assert all(Path(c["test_set"]).is_file() and c["card"]["test_samples"] == 360 for c in cards)


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    """A copy of the digits-mlp folder outside the package, with a 12-sample test set."""
    folder = tmp_path / "mine"
    folder.mkdir()
    shutil.copy(sc.models.ROOT / "digits-mlp" / "model.nir", folder / "model.nir")
    test = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")
    np.savez(folder / "test.npz", inputs=test["inputs"][:, :12], labels=test["labels"][:12])
    return folder


@pytest.mark.parametrize("how", ["folder", "file"])
def test_a_model_folder_or_its_model_nir_uses_the_test_set_beside_it(copied: Path, how: str,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    model = str(copied if how == "folder" else copied / "model.nir")
    code, out, _ = run(["verify", model], capsys)
    assert code == 0
    assert f"inputs: test set beside the model {copied / 'test.npz'} (T=25, B=12, with labels)" in out
    assert "accuracy float" in out
    code, out, _ = run(["inspect", model], capsys)
    assert code == 0 and "LIF" in out


def test_simulate_defaults_to_the_test_set_and_writes_requested_nodes(tmp_path: Path, copied: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "t.npz"
    code, out, err = run(["simulate", str(copied), "-o", str(out_file), "--nodes", "all", "--fixed"], capsys)
    assert code == 0, err
    assert f"snncompile: inputs: test set beside the model {copied / 'test.npz'}" in err
    traces = np.load(out_file)
    assert sorted(traces) == sorted(["input.out", "0.out", "1.out", "1.v", "2.out", "3.out", "3.v", "output.out"])
    graph = sc.load(str(copied))
    x = np.load(copied / "test.npz")["inputs"]
    qgraph = sc.quantize(graph, sc.QuantSpec(), x)
    want = sc.run(qgraph, x)
    for key in traces:
        node, trace = key.rsplit(".", 1)
        assert np.array_equal(traces[key], want[node][trace]), key
    code, out, err = run(["simulate", str(copied), "-o", str(out_file), "--nodes", "1", "-q"], capsys)
    assert code == 0 and err == ""
    floats = np.load(out_file)
    assert sorted(floats) == ["1.out", "1.v"] and floats["1.v"].dtype == np.float64
    code, _, err = run(["simulate", str(copied), "-o", str(tmp_path / "t.npy"), "--nodes", "1"], capsys)
    assert code == 2 and "--nodes writes several traces; -o must name an .npz file" in err
    code, _, err = run(["simulate", str(copied), "-o", str(out_file), "--nodes", "nope"], capsys)
    assert code == 2 and "--nodes: the graph has no node 'nope'" in err
