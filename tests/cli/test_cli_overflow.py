"""Register overflow on the data run, as a user sees it: one ``snncompile: warning:`` line per register from
``simulate --fixed``, ``verify`` and ``export``; verify's ``overflow`` rung, FAIL under ``--strict``;
calibration's OverflowRiskWarning as one such line too, never a raw Python warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from integrator_case import integrator_graph, integrator_inputs

import snncompile as sc
from snncompile.cli import main

RISK = "snncompile: warning: node 'readout': calibration shows v reaching {v}, beyond int8 [-127, 127]; " \
       "saturation will clip it"
SATURATED = ("snncompile: warning: node 'readout': register v saturated {n} times (first at step 5, sample 1, "
             "neuron 0) on the data run; int8 range [-127, 127] (saturate): use more state bits, or calibrate on "
             "data like this")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """integrator.nir (saved with snncompile.save) and x.npy: 300 steps, sample 1 saturates from step 5."""
    folder = tmp_path_factory.mktemp("integrator")
    sc.save(integrator_graph(), str(folder / "integrator.nir"))
    np.save(folder / "x.npy", integrator_inputs(300))
    return folder / "integrator.nir", folder / "x.npy"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_warns_and_strict_fails(model: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    nir, x = model
    code, out, err = run(["verify", str(nir), "--inputs", str(x), "--state-bits", "8"], capsys)
    assert code == 0
    assert err.splitlines() == [RISK.format(v=6478), SATURATED.format(n=295)]
    assert "overflow        WARN    1 register(s): 'readout' v saturated 295 times from step 5\n" in out
    assert "fixed<->bitsim  PASS    " in out and out.endswith("result: PASS\n")

    report = tmp_path / "r.json"
    code, out, err = run(["verify", str(nir), "--inputs", str(x), "--state-bits", "8", "--strict",
                          "--report", str(report)], capsys)
    assert code == 1
    assert "overflow        FAIL    1 register(s): 'readout' v saturated 295 times from step 5 (--strict)\n" in out
    assert out.endswith("FAIL overflow: 1 register(s): 'readout' v saturated 295 times from step 5 "
                        "(--strict)\n\nresult: FAIL\n")
    assert err.splitlines() == [RISK.format(v=6478), SATURATED.format(n=295), f"snncompile: wrote {report}"]
    rung = next(r for r in json.loads(report.read_text())["rungs"] if r["name"] == "overflow")
    assert rung["status"] == "FAIL" and rung["summary"] == {"registers": 1, "clamps": 295, "strict": True}
    assert rung["layers"] == [{"layer": "readout", "register": "v", "overflow": "saturate", "bits": 8, "count": 295,
                               "first_step": 5, "first_sample": 1, "first_neuron": 0}]


def test_wide_enough_registers_are_quiet_and_strict_passes(model: tuple[Path, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    nir, x = model
    code, out, err = run(["verify", str(nir), "--inputs", str(x), "--state-bits", "16", "--strict"], capsys)
    assert (code, err) == (0, "")
    assert "overflow        PASS    no register saturated or wrapped on the inputs\n" in out


def test_simulate_fixed_warns(model: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    nir, x = model
    out_file = tmp_path / "v.npy"
    code, out, err = run(["simulate", str(nir), "--inputs", str(x), "--state-bits", "8", "--fixed",
                          "-o", str(out_file)], capsys)
    assert code == 0 and out == f"wrote {out_file}: output 'output' [300, 2, 1] int64 (bitsim)\n"
    assert err.splitlines()[1:] == [RISK.format(v=6478), SATURATED.format(n=295)]
    assert np.load(out_file)[:, 1, 0].tolist() == [22, 44, 66, 88, 110] + [127] * 295


def test_export_warns_and_records_the_events(model: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """Calibrated on the first 50 steps (v reaches 1080 in integer units: predicted), checked on all 300 (measured)."""
    nir, x = model
    calib = tmp_path / "calib.npy"
    np.save(calib, np.load(x)[:50])
    out_dir = tmp_path / "out"
    code, out, err = run(["export", str(nir), "--target", "bitsim", "-o", str(out_dir), "--inputs", str(x),
                          "--calib", str(calib), "--state-bits", "8"], capsys)
    assert code == 0, err
    assert [line for line in err.splitlines() if "warning" in line] == [RISK.format(v=1080), SATURATED.format(n=295)]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["overflow"] == [{"node": "readout", "register": "v", "overflow": "saturate", "bits": 8,
                                       "count": 295, "first_step": 5, "first_sample": 1, "first_neuron": 0}]


def test_export_without_overflow_records_none(model: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    nir, x = model
    code, _, err = run(["export", str(nir), "--target", "bitsim", "-o", str(tmp_path / "o"), "--inputs", str(x),
                        "--state-bits", "16"], capsys)
    assert code == 0 and "warning" not in err
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["overflow"] == []


def test_warnings_are_one_line_in_a_real_process(model: tuple[Path, Path], tmp_path: Path) -> None:
    """The installed command in a subprocess: exactly the two warning lines on stderr, no file:line noise."""
    nir, x = model
    proc = subprocess.run([sys.executable, "-m", "snncompile", "verify", str(nir), "--inputs", str(x),
                           "--state-bits", "8", "--strict"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [RISK.format(v=6478), SATURATED.format(n=295)]


def test_only_snncompile_warnings_become_lines(capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    from snncompile.cli import _warnings_as_lines
    from snncompile.errors import SaturationWarning

    with pytest.warns(UserWarning, match="^from another library$") as others, _warnings_as_lines():
        warnings.warn("node 'n': one\n  line", SaturationWarning, stacklevel=1)
        warnings.warn("from another library", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "snncompile: warning: node 'n': one line\n"
    assert [w.category for w in others] == [UserWarning]  # handed on to the usual display, untouched
