"""Run-time T up to an export-time maximum, the clock in run_hls.tcl, the honest README, --stimuli-samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import snncompile.models as sc_models
from hls_cases import build, hls_cache  # noqa: F401
from snncompile.backends.hls import BACKEND
from snncompile.backends.hls.binfmt import read_golden

from snncompile.cli import main
from snncompile.errors import InputError


def sh(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def test_one_build_runs_any_t_up_to_t_max(tmp_path: Path) -> None:
    graph, spikes = build("cuba", "snntorch", 8, seed=5)  # T=12 stimuli
    long = (np.random.default_rng(1).random((30, 2, *spikes.shape[2:])) < 0.3).astype(np.int64)
    too_long = (np.random.default_rng(2).random((41, 1, *spikes.shape[2:])) < 0.3).astype(np.int64)
    short, big, over = tmp_path / "short", tmp_path / "long", tmp_path / "over"
    BACKEND.emit(graph, short, spikes, t_max=40, clock_mhz=150.0)
    BACKEND.emit(graph, big, long, t_max=40, clock_mhz=150.0)
    BACKEND.emit(graph, over, too_long, t_max=41)
    assert (short / "snn.c").read_text() == (big / "snn.c").read_text()  # T is not in the design
    header = (short / "snn.h").read_text()
    assert "#define SNN_T_MAX 40 " in header
    n_in = int(np.prod(spikes.shape[2:]))
    src = (short / "snn.c").read_text()
    assert f"port=in offset=slave bundle=gmem0 depth={40 * n_in}" in src
    assert "for (t = 0; t < SNN_T_MAX; t++)" in src and "if (t >= T) break;" in src
    assert "create_clock -period 6.667 -name default" in (short / "run_hls.tcl").read_text()
    assert json.loads((short / "project.json").read_text())["options"]["t_max"] == 40
    assert sh(["make", "tb"], short).returncode == 0
    for folder, steps in ((short, 12), (big, 30)):  # the T=12 build runs the T=30 stimuli through snn_run
        proc = sh(["./tb", "--outputs-only", str(folder / "stimuli.bin"), str(folder / "golden.bin")], short)
        assert proc.returncode == 0 and f"x {steps} timesteps, outputs" in proc.stdout, proc.stdout + proc.stderr
    proc = sh(["./tb", "--outputs-only", str(over / "stimuli.bin"), str(over / "golden.bin")], short)
    assert proc.returncode == 2 and "more timesteps than SNN_T_MAX" in proc.stderr


def test_t_max_below_the_stimuli_is_refused(tmp_path: Path) -> None:
    graph, spikes = build("mlp", "nir", 8, seed=1)
    with pytest.raises(InputError, match="hls: t_max 5 is below the stimuli's 12 timesteps"):
        BACKEND.emit(graph, tmp_path / "p", spikes, t_max=5)
    with pytest.raises(InputError, match="t_max must be an int in 1..1048576, got 0"):
        BACKEND.emit(graph, tmp_path / "p", spikes, t_max=0)
    assert not (tmp_path / "p").exists()


def test_readme_says_what_was_and_was_not_checked(tmp_path: Path) -> None:
    graph, spikes = build("mlp", "nir", 8, seed=1)
    BACKEND.emit(graph, tmp_path / "p", spikes)
    readme = (tmp_path / "p" / "README.md").read_text()
    assert "the Vitis HLS flow (`make hls`: csim, csynth, cosim, IP export) has\n  **not** been run" in readme
    assert "without its C simulation" in readme  # emit() without csim says so


def test_cli_t_max_clock_and_stimuli_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    test = np.load(sc_models.ROOT / "digits-mlp" / "test.npz")
    data = tmp_path / "d.npz"
    np.savez(data, inputs=test["inputs"][:, :20], labels=test["labels"][:20])
    base = ["export", "digits-mlp", "--target", "hls", "--inputs", str(data)]
    assert main([*base, "-o", str(tmp_path / "a"), "--t-max", "64", "--clock-mhz", "250"]) == 0
    assert read_golden(tmp_path / "a" / "hls" / "golden.bin")[1].shape[0] == 8  # a few samples, not all 20
    assert "#define SNN_T_MAX 64 " in (tmp_path / "a" / "hls" / "snn.h").read_text()
    assert "create_clock -period 4 -name default" in (tmp_path / "a" / "hls" / "run_hls.tcl").read_text()
    assert main([*base, "-o", str(tmp_path / "b"), "--stimuli-samples", "0"]) == 0
    assert read_golden(tmp_path / "b" / "hls" / "golden.bin")[1].shape[0] == 20
    assert main([*base, "-o", str(tmp_path / "c"), "--t-max", "10"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "snncompile: error: hls: t_max 10 is below the stimuli's 25 timesteps; the testbench runs snn_run over "
        "all of them (give t_max >= 25 or fewer timesteps)")
