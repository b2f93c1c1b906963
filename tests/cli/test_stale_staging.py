"""``kill -9`` midway leaves staging folders; a later run removes exactly those whose owner is provably gone.

A child process runs a real export (or build) and blocks at the worst moment (its staging folder full,
or the old export moved aside under --force); the test kills it with SIGKILL and runs the next command.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_helpers import export_argv, make_export, run, small_inputs, staging_left
from snncompile.backends.bitsim import ckernel
from snncompile.backends.hls import runner

from snncompile import staging
from snncompile.errors import BackendError

#: the child: wrap ``snncompile.<module>.<function>`` to announce itself (touch READY) and block, then run main
CHILD = """
import sys, time
from pathlib import Path
import snncompile.{module} as m
ready, real = Path(sys.argv[1]), m.{function}
def blocked(*args, **kwargs):
    ready.write_text("now")
    time.sleep(600)
    return real(*args, **kwargs)
m.{function} = blocked
from snncompile.cli import main
sys.exit(main(sys.argv[2:]))
"""


def killed_midway(tmp_path: Path, module: str, function: str, argv: list[str]) -> int:
    """Run ``snncompile argv`` in a child that blocks in ``module.function``; SIGKILL it there; its pid."""
    ready = tmp_path / "ready"
    code = CHILD.format(module=module, function=function)
    proc = subprocess.Popen([sys.executable, "-c", code, str(ready), *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the child never reached {module}.{function}: {proc.communicate()[1]}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    ready.unlink()
    return proc.pid


def test_a_killed_export_is_cleaned_by_the_next_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    live = staging.make(tmp_path, ".out.", ".tmp", target="out")  # ours, but its owner (this process) runs
    pid = killed_midway(tmp_path, "outdir", "commit", export_argv(out, inputs))
    [left] = [name for name in staging_left(tmp_path) if name != live.name]
    assert left.startswith(".out.") and left.endswith(".tmp")
    assert (tmp_path / left / "out" / "bitsim" / "qgraph.nir").is_file()  # the whole export, never renamed
    foreign = tmp_path / ".out.someone-elses.tmp"  # same naming, no marker: not provably ours
    (foreign / "out").mkdir(parents=True)
    code, _, err = run(export_argv(out, inputs), capsys)
    assert code == 0, err
    assert f"snncompile: removed '{tmp_path / left}' (left by a killed run, pid {pid})" in err.splitlines()
    assert staging_left(tmp_path) == sorted([foreign.name, live.name])
    assert (out / "manifest.json").is_file()


def test_an_export_moved_aside_by_a_killed_force_run_is_restored(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    out = make_export(tmp_path / "out", inputs, capsys)
    manifest = (out / "manifest.json").read_text()
    killed_midway(tmp_path, "outdir", "difference", export_argv(out, inputs, "--force", "--bits", "4"))
    assert not out.exists()  # killed between moving the old export aside and renaming the new one in
    assert sorted(n.rsplit(".", 1)[1] for n in staging_left(tmp_path)) == ["old", "tmp"]
    code, _, err = run(export_argv(out, inputs), capsys)
    assert code == 2
    assert err.splitlines()[-1] == f"snncompile: error: '{out}' already exists; pass --force to replace it"
    assert any(line.startswith(f"snncompile: restored '{out}' (a killed run had moved it to ") for line in
               err.splitlines())
    assert (out / "manifest.json").read_text() == manifest and staging_left(tmp_path) == []


def test_a_killed_hls_build_is_cleaned_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNCOMPILE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "hls").mkdir(parents=True)
    child = ("import sys, os, signal; from pathlib import Path; from snncompile import staging; "
             "root = staging.make(Path(sys.argv[1]), '.build-'); (root / 'out').mkdir(); "
             "(root / 'out' / 'snn.c').write_text('half'); os.kill(os.getpid(), signal.SIGKILL)")
    for folder in (tmp_path / "cache" / "hls", tmp_path / "cache" / "bitsim"):
        folder.mkdir(parents=True, exist_ok=True)
        assert subprocess.run([sys.executable, "-c", child, str(folder)]).returncode == -signal.SIGKILL
        assert [p.name[:7] for p in folder.iterdir()] == [".build-"]
    with pytest.raises(BackendError):
        runner.build({"snn.c": "int broken(void) { return }\n", "snn_sim.c": ""})
    assert list((tmp_path / "cache" / "hls").iterdir()) == []
    with pytest.raises(BackendError):
        ckernel.build(tmp_path / "cache" / "bitsim", cc="false")  # fails to compile, after cleaning
    assert list((tmp_path / "cache" / "bitsim").iterdir()) == []


def _marker(folder: Path, **changes: object) -> Path:
    root = staging.make(folder, ".x.", ".tmp", target="x")
    marker = {**json.loads((root / staging.MARKER).read_text()), **changes}
    (root / staging.MARKER).write_text(json.dumps(marker))
    return root


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize(("changes", "stale"), [
    ({}, False),                                      # this process: alive
    ({"pid": "dead"}, True),                          # the pid exists no more
    ({"start": -1}, True),                            # the pid was reused by a process started at another time
    ({"boot": "another-boot"}, True),                 # the machine rebooted since
    ({"host": "another-" + socket.gethostname()}, False),  # cannot check another machine's processes
    ({"pid": "dead", "host": "elsewhere"}, False),
    ({"pid": "dead", "tool": "not-ours"}, False),     # not a marker snncompile wrote
    ({"pid": "dead", "state": "kept"}, False),        # an export kept for the user
])
def test_only_a_provably_dead_owner_makes_a_folder_stale(changes: dict[str, object], stale: bool,
                                                         tmp_path: Path) -> None:
    if changes.get("pid") == "dead":
        changes = {**changes, "pid": _dead_pid()}
    if "start" in changes and staging.owner()["start"] is None:
        pytest.skip("no /proc start times here")
    root = _marker(tmp_path, **changes)
    notes = staging.clean_stale(tmp_path)
    assert root.exists() is not stale
    assert len(notes) == int(stale)
