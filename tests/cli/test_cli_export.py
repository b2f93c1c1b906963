"""``snncompile export``: the files, the manifest, atomicity (no OUT after a failure), --force."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.backend import read_golden

import snncompile as sc
from snncompile.cli import main
from snncompile.quant.qnir import read_qgraph


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_bundled_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(["export", "digits-mlp", "--target", "bitsim", "-o", str(out_dir)], capsys)
    assert code == 0, err
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")) == [
        "bitsim", "bitsim/golden.npz", "bitsim/qgraph.nir", "bitsim/stimuli.npy", "manifest.json"]
    assert sorted(tmp_path.iterdir()) == [out_dir]  # no temp folders left beside OUT
    assert out.splitlines()[0] == f"wrote {out_dir}/"
    assert out.splitlines()[-1].startswith("check fixed<->bitsim: PASS (6 nodes, 8 traces, 0 of ")
    err_lines = err.splitlines()
    assert err_lines[0] == ("snncompile: stimuli: first 8 samples of bundled test set digits-mlp/test.npz "
                            "(T=25, B=360, with labels); no --inputs given")
    assert err_lines[1].startswith("snncompile: calibration data: bundled test set digits-mlp/test.npz")
    assert "snncompile: quantising (8-bit weights), calibrating on 360 samples x 25 steps" in err_lines

    m = json.loads((out_dir / "manifest.json").read_text())
    assert m["snncompile"] == sc.__version__
    assert set(m["versions"]) == {"python", "numpy", "torch", "nir", "h5py"}
    model = sc.models.ROOT / "digits-mlp" / "model.nir"
    assert m["model"]["argument"] == "digits-mlp" and m["model"]["sha256"] == sha(model)
    assert m["inputs"]["timesteps"] == 25 and m["inputs"]["batch"] == 8 and len(m["inputs"]["sha256"]) == 64
    assert m["quant_spec"] == sc.QuantSpec().to_dict()
    assert m["calibration"]["report"] is not None
    assert sorted(m["semantics"]) == ["1", "3"] and m["semantics"]["1"]["reset"] == "subtract"
    assert m["targets"] == ["bitsim"]
    assert [f["path"] for f in m["files"]] == ["bitsim/golden.npz", "bitsim/qgraph.nir", "bitsim/stimuli.npy"]
    for f in m["files"]:
        assert f["sha256"] == sha(out_dir / f["path"]) and f["bytes"] == (out_dir / f["path"]).stat().st_size
    assert [(c["name"], c["status"]) for c in m["checks"]] == [("fixed<->bitsim", "PASS")]

    qgraph = read_qgraph(out_dir / "bitsim" / "qgraph.nir")
    stimuli = np.load(out_dir / "bitsim" / "stimuli.npy")
    test = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")["inputs"]
    assert np.array_equal(stimuli, test[:, :8])
    golden = read_golden(out_dir / "bitsim" / "golden.npz")
    assert np.array_equal(golden["3"]["out"], run_plain(qgraph, stimuli)["3"]["out"])


def test_existing_out_needs_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An existing OUT is refused; --force replaces it only when an earlier export wrote it (test_export_safety)."""
    x = (np.random.default_rng(0).random((6, 3, 64)) < 0.2).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "old.txt").write_text("keep me")
    argv = ["export", "digits-mlp", "--target", "bitsim", "-o", str(out_dir), "--inputs", str(tmp_path / "x.npy")]
    assert run(argv, capsys) == (2, "", f"snncompile: error: '{out_dir}' already exists; pass --force to replace it\n")
    assert run([*argv, "--force"], capsys) == (2, "", f"snncompile: error: '{out_dir}' is not an snncompile export "
                                               "(it has no manifest.json); --force replaces only a folder written by "
                                               "snncompile export\n")
    assert (out_dir / "old.txt").read_text() == "keep me"
    (out_dir / "old.txt").unlink()
    out_dir.rmdir()
    assert run(argv, capsys)[0] == 0
    code, _, err = run([*argv, "--force", "--bits", "4"], capsys)
    assert code == 0, err
    assert (out_dir / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.npy"]
    m = json.loads((out_dir / "manifest.json").read_text())
    assert m["quant_spec"]["weight_bits"] == 4 and m["inputs"]["batch"] == 3
    assert m["calibration"]["note"] == f"{tmp_path / 'x.npy'} (T=6, B=3)"


def test_bits_1_leaves_no_out(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(["export", "digits-mlp", "--target", "bitsim", "-o", str(out_dir), "--bits", "1"], capsys)
    assert (code, out, err) == (2, "", "snncompile: error: QuantSpec: weight_bits=1 is outside 2..16\n")
    assert list(tmp_path.iterdir()) == []


def test_failed_check_leaves_no_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The bitsim target's check reads its golden.npz back (export's only bitsim run wrote it): a file that
    reads back wrong fails the check, and nothing is written."""
    from snncompile.backends.bitsim import backend as bitsim_backend

    real = bitsim_backend.read_golden

    def broken(path):  # type: ignore[no-untyped-def]
        traces = real(path)
        traces["1"]["v"] = traces["1"]["v"] + 1
        return traces

    monkeypatch.setattr(bitsim_backend, "read_golden", broken)
    out_dir = tmp_path / "out"
    code, out, err = run(["export", "digits-mlp", "--target", "bitsim", "-o", str(out_dir), "--timesteps", "5"],
                         capsys)
    assert (code, out) == (1, "")
    assert err.splitlines()[-1].startswith(
        "snncompile: error: export check failed, nothing written: rung fixed<->bitsim: layer '1' (v), neuron 0, "
        "timestep 0, batch 0: expected ")
    assert list(tmp_path.iterdir()) == []


def test_export_with_calib_and_seeded_stimuli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A model that is not bundled: seeded spikes (T from --timesteps, B=8) unless --inputs; --calib named."""
    model = tmp_path / "m.nir"
    sc.save(sc.load("digits-mlp"), str(model))
    calib = tmp_path / "calib.npy"
    np.save(calib, (np.random.default_rng(3).random((10, 4, 64)) < 0.3).astype(np.uint8))
    out_dir = tmp_path / "out"
    code, _, err = run(["export", str(model), "--target", "bitsim", "-o", str(out_dir), "--timesteps", "6",
                        "--calib", str(calib)], capsys)
    assert code == 0, err
    m = json.loads((out_dir / "manifest.json").read_text())
    assert m["inputs"]["note"] == "seeded random spikes (Bernoulli(0.2), T=6, B=8, seed=0); no --inputs given"
    assert m["calibration"]["note"] == f"--calib {calib} (T=10, B=4)"
    assert np.load(out_dir / "bitsim" / "stimuli.npy").shape == (6, 8, 64)
