"""``snncompile simulate``: the output trace of the float reference or of bitsim, shapes and dtypes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile.cli import main


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "x.npy"
    np.save(path, np.load(sc.models.ROOT / "digits-mlp" / "test.npz")["inputs"][:, :5])
    return path


def test_float_and_fixed(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Path) -> None:
    out = tmp_path / "f.npy"
    assert main(["simulate", "digits-mlp", "--inputs", str(inputs), "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}: output 'output' [25, 5, 10] float64 (float reference)\n"
    spikes = np.load(out)
    assert spikes.shape == (25, 5, 10) and set(np.unique(spikes)) <= {0.0, 1.0}
    assert np.array_equal(spikes, sc.simulate(sc.load("digits-mlp"), np.load(inputs))["output"]["out"])

    fixed = tmp_path / "q.npy"
    assert main(["simulate", "digits-mlp", "--inputs", str(inputs), "-o", str(fixed), "--fixed", "--bits", "6"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote {fixed}: output 'output' [25, 5, 10] int64 (bitsim)\n"
    assert captured.err.startswith("snncompile: quantising (6-bit weights")
    q = np.load(fixed)
    assert q.dtype == np.int64 and q.shape == (25, 5, 10) and 0.8 < (q == spikes).mean() <= 1.0


def test_npz_output(tmp_path: Path, inputs: Path) -> None:
    out = tmp_path / "o.npz"
    assert main(["simulate", "digits-mlp", "--inputs", str(inputs), "-o", str(out)]) == 0
    with np.load(out) as z:
        assert z.files == ["output"] and z["output"].shape == (25, 5, 10)


def test_fixed_needs_spikes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.full((3, 1, 64), 0.5))
    assert main(["simulate", "digits-mlp", "--inputs", str(path), "-o", str(tmp_path / "o.npy")]) == 0
    code = main(["simulate", "digits-mlp", "--inputs", str(path), "-o", str(tmp_path / "q.npy"), "--fixed"])
    assert code == 2
    assert capsys.readouterr().err == (
        f"snncompile: error: '{path}': value 0.5 at timestep 0, batch 0, index 0 is not a spike (0 or 1)\n")


def test_bad_output_suffix(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Path) -> None:
    assert main(["simulate", "digits-mlp", "--inputs", str(inputs), "-o", str(tmp_path / "o.txt")]) == 2
    assert capsys.readouterr().err == (
        f"snncompile: error: -o '{tmp_path / 'o.txt'}': the output must be a .npy or .npz file\n")
    assert list(tmp_path.iterdir()) == []


def test_two_outputs(capsys: pytest.CaptureFixture[str], tmp_path: Path, inputs: Path) -> None:
    """A graph with a spiking output and a readout: an .npz keyed by output name; .npy is refused."""
    from snncompile.nodes import LI, Output

    graph = sc.load("digits-mlp")
    nodes = {**graph.nodes, "li": LI(shape=(10,), beta=np.full(10, 0.5)), "readout": Output()}
    two = sc.Graph(nodes, [*graph.edges, ("2", "li"), ("li", "readout")], graph.dt)
    model = tmp_path / "two.nir"
    sc.save(two, str(model))
    out = tmp_path / "o.npz"
    for fixed in ([], ["--fixed"]):
        assert main(["simulate", str(model), "--inputs", str(inputs), "-o", str(out), *fixed]) == 0
        with np.load(out) as z:
            assert z.files == ["output", "readout"] and z["readout"].shape == (25, 5, 10)
    capsys.readouterr()
    assert main(["simulate", str(model), "--inputs", str(inputs), "-o", str(tmp_path / "o.npy")]) == 2
    assert capsys.readouterr().err == (
        "snncompile: error: the graph has 2 outputs (output, readout); -o must name an .npz file\n")
