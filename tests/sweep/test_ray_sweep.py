"""A small sweep on a real local Ray (digits-mlp, a few points): resume, refusals, table, plot, the command.

Marked ``ray``: CI installs the 'sweep' extra, so these run there (``pytest -m ray`` runs just them). The
command-in-its-own-process test comes last: a second driver takes over the workers, which the others then
would have to start again (each imports torch and snncompile).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import snncompile as sc
from snncompile.cli import main
from snncompile.sweep.runner import start

ray = pytest.importorskip("ray", reason="Ray is in the 'sweep' extra that CI installs")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray() -> Any:
    """One embedded local Ray for the module (started as the sweep starts it); each sweep reuses it."""
    started, described = start(ray, None, 2)
    assert started and described == "embedded local Ray (2 CPUs)"
    yield ray
    ray.shutdown()


def _points(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "points").iterdir()}


class Interrupt:
    """The progress callback that presses Ctrl-C after ``after`` finished configurations."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    def __call__(self, message: str) -> None:
        if message.startswith("["):
            self.seen += 1
            if self.seen >= self.after:
                raise KeyboardInterrupt


def test_interrupted_sweep_resumes_without_recomputing(local_ray: Any, tmp_path: Path) -> None:
    from snncompile.sweep.runner import run
    from snncompile.sweep.space import Space

    out = tmp_path / "sweep"
    graph = sc.load("digits-mlp")
    from snncompile.data import load_data
    from snncompile.frontend.nir_read import resolve

    data = load_data(None, graph, resolve("digits-mlp"))
    space = Space(bits=(3, 4, 5), targets=("hls",))
    with pytest.raises(KeyboardInterrupt):
        run(graph, data.inputs, data.labels, space, out=out, check_samples=4, notes=Interrupt(1))
    header = json.loads((out / "sweep.json").read_text())
    assert header["status"] == "interrupted"
    done = _points(out)
    assert 1 <= len(done) < 3
    partial = list(csv.DictReader((out / "table.csv").open()))
    assert len(partial) == len(done)

    result = run(graph, data.inputs, data.labels, space, out=out, check_samples=4, progress=False)
    assert (result.reused, result.computed) == (len(done), 3 - len(done))
    assert all(_points(out)[name] == mtime for name, mtime in done.items())  # cached rows were not rewritten
    assert sorted(r["label"] for r in result.rows if r["reused"]) == sorted(r["label"] for r in partial)
    assert json.loads((out / "sweep.json").read_text())["status"] == "complete"


def test_sweep_grows_the_grid_and_records_refusals(local_ray: Any, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    first = sc.sweep("digits-mlp", bits="3,4", targets=["hls"], out=out, check_samples=4, progress=False)
    assert (first.computed, first.reused) == (2, 0)
    before = _points(out)
    second = sc.sweep("digits-mlp", bits="3,4,8", state_bits="auto,8", targets=["hls", "loihi"], out=out,
                      check_samples=4, progress=False)
    rows = {r["label"]: r for r in second.rows}
    assert list(rows) == ["3b hls unroll=1", "3b/s8 hls unroll=1", "4b hls unroll=1", "4b/s8 hls unroll=1",
                          "8b hls unroll=1", "8b/s8 hls unroll=1", "loihi-enc loihi"]
    assert (second.computed, second.reused) == (5, 2)
    assert [label for label, r in rows.items() if r["reused"]] == ["3b hls unroll=1", "4b hls unroll=1"]
    assert all(_points(out)[name] == mtime for name, mtime in before.items())
    refused = rows["8b/s8 hls unroll=1"]
    assert (refused["status"], refused["stage"]) == ("refused", "quantise")
    assert refused["error"].startswith("QuantizationError: node '1': threshold ") and "int8" in refused["error"]
    ok = [r for r in second.rows if r["status"] == "ok"]
    assert len(ok) == 6 and all(r["rung"] == "PASS" and r["mismatches"] == 0 for r in ok)
    assert rows["loihi-enc loihi"]["resource_name"] == "cores (loihi1)" and rows["loihi-enc loihi"]["resource"] >= 1
    # accuracy is the ladder's, on the whole bundled test set
    report = sc.verify(sc.load("digits-mlp"), inputs=_test_set()[0], labels=_test_set()[1],
                       spec=sc.QuantSpec(weight_bits=4))
    assert rows["4b hls unroll=1"]["accuracy"] == report.rung("float<->fixed").summary["accuracy_fixed"]
    assert {r["label"] for r in second.front("hls")} <= {r["label"] for r in ok}
    assert second.front("loihi")[0]["label"] == "loihi-enc loihi"
    table = list(csv.DictReader((out / "table.csv").open()))
    assert [t["id"] for t in table] == [r["id"] for r in second.rows]
    assert json.loads((out / "table.json").read_text())["rows"][5]["status"] == "refused"
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "sweep.json").read_text())["counts"] == {"ok": 6, "refused": 1}
    # the refusal is cached too (it is the same on every run); --force recomputes
    third = sc.sweep("digits-mlp", bits="8", state_bits="8", targets=["hls"], out=out, check_samples=4,
                     progress=False, force=True)
    assert (third.computed, third.reused) == (1, 0) and third.rows[0]["status"] == "refused"


def _test_set() -> tuple[Any, Any]:
    from snncompile.data import load_data
    from snncompile.frontend.nir_read import resolve

    data = load_data(None, sc.load("digits-mlp"), resolve("digits-mlp"))
    return data.inputs, data.labels


@pytest.mark.parametrize(("args", "message"), [
    (["--bits", "2..x"], "--bits '2..x': '2..x' is not an integer or a range LO..HI"),
    (["--bits", "1..3"], "QuantSpec: weight_bits=1 is outside 2..16"),
    (["--target", "fpga"], "unknown target 'fpga'"),
    (["-o", "{plain}"], "is not a sweep folder (it has no sweep.json)"),
    (["-o", "{file}"], "is a file, not a folder"),
    (["--address", "127.0.0.1:1", "--workers", "2"], "--workers sets the CPUs of the embedded local Ray"),
])
def test_command_refuses_before_any_work(tmp_path: Path, args: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    plain, file = tmp_path / "plain", tmp_path / "file"
    plain.mkdir()
    file.write_text("mine")
    args = [a.replace("{plain}", str(plain)).replace("{file}", str(file)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out")]
    assert main(["sweep", "digits-mlp", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("snncompile: error: ") and message in err, err
    assert not (tmp_path / "out").exists() and list(plain.iterdir()) == [] and file.read_text() == "mine"


def test_sweep_in_memory_on_a_graph_without_labels(local_ray: Any, tmp_path: Path) -> None:
    """A Graph and an array in, nothing written: the table only; the accuracy column is the prediction agreement."""
    import numpy as np

    graph = sc.load("digits-mlp")
    spikes = (np.random.default_rng(0).random((12, 6, 64)) < 0.2).astype(np.int64)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = sc.sweep(graph, bits=[4, 2], targets="bitsim", inputs=spikes, progress=False)
    finally:
        os.chdir(cwd)
    assert result.out is None and list(tmp_path.iterdir()) == []
    assert [r["label"] for r in result.rows] == ["2b bitsim", "4b bitsim"]
    assert result.info["accuracy"] == "prediction agreement"
    for r in result.rows:
        assert r["status"] == "ok" and r["rung"] == "PASS" and r["accuracy_fixed"] is None
        assert r["accuracy"] == r["prediction_agreement"] and r["resource"] is None and r["pareto_resource"] is None


def test_command_runs_on_a_ray_cluster_then_resumes(local_ray: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """``--address``: the command, in its own process, connects to a running cluster (the module's local one)."""
    out = tmp_path / "out"
    address = local_ray.get_runtime_context().gcs_address
    args = ["sweep", "digits-mlp", "--bits", "3,4", "--target", "hls", "--check-samples", "2", "-o", str(out)]
    proc = subprocess.run([sys.executable, "-m", "snncompile", *args, "--address", address], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"Ray cluster at {address} started in" in proc.stderr
    assert "[2/2] " in proc.stderr and "Traceback" not in proc.stderr
    assert f"wrote {out}/: table.csv, table.json, pareto.png (2 computed, 0 reused)" in proc.stdout
    assert "3b hls unroll=1  ok" in proc.stdout
    assert main(args) == 0  # again: everything is cached, so no task runs
    again = capsys.readouterr()
    assert "(0 computed, 2 reused)" in again.out and "ok (cached)" in again.out
    assert "Ray" not in again.err
