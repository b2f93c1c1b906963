"""``export`` runs no executor twice on the same inputs: bitsim once (the golden traces every target writes and is
checked against), then each target's own execution once (the check), never bitsim again inside an emit."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from snncompile.backends import bitsim
from snncompile.backends.bitsim import backend as bitsim_backend
from snncompile.backends.hls import backend as hls_backend
from snncompile.backends.loihi import backend as loihi_backend
from snncompile.backends.onnx import backend as onnx_backend
from snncompile.backends.rtl import backend as rtl_backend

from snncompile.cli import main


def _refuse(what: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"export ran {what} a second time")
    return call


def _counted(counts: Counter[str], what: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        counts[what] += 1
        return fn(*args, **kwargs)
    return call


@pytest.fixture()
def runs(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    monkeypatch.setattr(bitsim, "simulate_with_clamps", _counted(counts, "bitsim", bitsim.simulate_with_clamps))
    for module, name in ((bitsim, "run_plain"), (bitsim, "simulate"), (bitsim_backend, "run_plain"),
                         (bitsim_backend, "simulate"), (hls_backend, "run_plain"), (rtl_backend, "run_plain")):
        monkeypatch.setattr(module, name, _refuse(f"bitsim ({module.__name__}.{name})"))
    # hls: the project's testbench (make csim inside emit) is the C's one run; building and running it again as a
    # library for the check would be a second run
    monkeypatch.setattr(hls_backend, "simulate", _refuse("the hls C (runner.simulate)"))
    monkeypatch.setattr(hls_backend, "run_testbench", _counted(counts, "hls", hls_backend.run_testbench))
    monkeypatch.setattr(onnx_backend, "run_scan", _counted(counts, "onnx", onnx_backend.run_scan))
    monkeypatch.setattr(rtl_backend, "simulate_plan", _counted(counts, "rtl", rtl_backend.simulate_plan))
    monkeypatch.setattr(loihi_backend, "simulate", _counted(counts, "loihi", loihi_backend.simulate))
    return counts


@pytest.mark.parametrize("targets", [("bitsim", "hls", "onnx", "rtl"), ("loihi",)])
def test_each_executor_runs_once(targets: tuple[str, ...], runs: Counter[str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "digits-mlp", "-o", str(tmp_path / "out"), "--timesteps", "6", "--simulator", "icarus"]
    for t in targets:
        argv += ["--target", t]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count(": PASS") == len(targets), out
    expected = Counter({"bitsim": 1, **{t: 1 for t in targets if t != "bitsim"}})
    assert runs == expected


def _export_hls(tmp_path: Path) -> list[str]:
    return ["export", "digits-mlp", "-o", str(tmp_path / "out"), "--timesteps", "6", "--target", "hls"]


def test_hls_check_names_the_testbench_and_reads_golden_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    assert main(_export_hls(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "check fixed<->hls: PASS (" in out, out
    assert "make csim passed inside emit: 8 samples x 25 timesteps, all traces (" in out, out
    assert "golden.bin read back" in out


def test_hls_c_that_differs_from_bitsim_fails_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from snncompile.backends.hls import binfmt

    real = binfmt.golden_bytes

    def off_by_one(layout: Any, traces: Any) -> bytes:  # golden.bin one value off: the C no longer matches it
        data = bytearray(real(layout, traces))
        data[-8] ^= 1
        return bytes(data)

    monkeypatch.setattr(binfmt, "golden_bytes", off_by_one)
    assert main(_export_hls(tmp_path)) != 0
    assert "mismatch" in capsys.readouterr().err.lower()
    assert not (tmp_path / "out").exists()


def test_hls_golden_that_reads_back_different_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    real = hls_backend.read_golden_traces

    def flipped(folder: Any) -> Any:
        traces = real(folder)
        traces["output"]["out"] = traces["output"]["out"] + 1
        return traces

    monkeypatch.setattr(hls_backend, "read_golden_traces", flipped)
    assert main(_export_hls(tmp_path)) != 0
    err = capsys.readouterr().err
    assert "export check failed, nothing written" in err and "'output'" in err, err
    assert not (tmp_path / "out").exists()
