"""File system faults are one line ``snncompile: error: ...`` (exit 1 for I/O, 2 for a bad path), never a traceback,
and leave no staging folder or temporary file behind.

ENOSPC, EROFS, EFBIG, EACCES are injected by monkeypatching the write (root ignores chmod); the file size limit
(``ulimit -f``, where h5py used to segfault) is real, in a child process.
"""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from safety_helpers import error, export_argv, run, small_inputs

from snncompile import atomic, commands
from snncompile.errors import InputError

FAULTS = [errno.ENOSPC, errno.EROFS, errno.EFBIG, errno.EACCES]


def reason(code: int) -> str:
    return f"{os.strerror(code)} [{errno.errorcode[code]}]"


def failing_open(code: int, under: Path | None = None) -> Any:
    """``open`` for atomic.write_file that fails (as a failed write reports it: no file name) below ``under``."""
    def fake(file: Any, *args: Any, **kwargs: Any) -> Any:
        if under is None or str(file).startswith(str(under)):
            raise OSError(code, os.strerror(code))
        return open(file, *args, **kwargs)
    return fake


@pytest.mark.parametrize("code", FAULTS, ids=[errno.errorcode[c] for c in FAULTS])
@pytest.mark.parametrize("site", ["qgraph.nir", "manifest.json"])
def test_export_write_fault_is_one_line_and_leaves_nothing(code: int, site: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    if site == "qgraph.nir":  # the first file the bitsim target writes (atomic.write_file)
        monkeypatch.setattr(atomic, "open", failing_open(code), raising=False)
        where = out / "bitsim" / "qgraph.nir"
    else:
        real = Path.write_text

        def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
            if self.name == "manifest.json":
                raise OSError(code, os.strerror(code), str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", write_text)
        where = out / "manifest.json"
    code_, stdout, err = run(export_argv(out, inputs), capsys)
    assert (code_, stdout) == (1, "")
    assert err.splitlines()[-1] + "\n" == error(f"export to '{out}' failed, nothing written: cannot write "
                                                f"'{where}': {reason(code)}")
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_export_into_proc_is_an_io_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Read-only for the real /proc: the kernel refuses the staging folder; nothing else is attempted."""
    inputs = small_inputs(tmp_path)
    code, stdout, err = run(export_argv("/proc/x", inputs), capsys)
    assert (code, stdout) == (1, "")
    assert err.splitlines()[-1].startswith("snncompile: error: export to '/proc/x' failed, nothing written: cannot "
                                           "write '/proc/.x.*.tmp': ")
    assert not os.path.lexists("/proc/x")


def test_simulate_and_verify_write_faults(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    monkeypatch.setattr(atomic, "open", failing_open(errno.ENOSPC, tmp_path), raising=False)
    out = tmp_path / "s.npy"
    code, stdout, err = run(["simulate", "digits-mlp", "--inputs", str(inputs), "-o", str(out)], capsys)
    assert (code, stdout, err) == (1, "", error(f"-o '{out}': cannot write '{out}': {reason(errno.ENOSPC)}"))
    report = tmp_path / "r.json"
    code, _, err = run(["verify", "digits-mlp", "--inputs", str(inputs), "--report", str(report)], capsys)
    assert (code, err) == (1, error(f"--report '{report}': cannot write '{report}': {reason(errno.ENOSPC)}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def _folder(p: Path) -> None:
    p.mkdir()


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _below_a_file(p: Path) -> None:
    p.parent.write_text("a file")


@pytest.mark.parametrize(("make", "name", "message"), [
    (_folder, "o.npy", "{opt} '{p}' is a folder; give a file name"),
    (_fifo, "o.npy", "{opt} '{p}' is a named pipe (FIFO), not a regular file; refusing to replace it"),
    (_below_a_file, "f/o.npy", "{opt} '{p}': '{parent}' is a file, not a folder"),
], ids=["folder", "fifo", "below-a-file"])
@pytest.mark.parametrize("command", ["simulate", "verify"])
def test_an_output_file_that_cannot_be_one_is_bad_input(command: str, make: Any, name: str, message: str,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    p = tmp_path / (name if command == "simulate" else name.replace(".npy", ".json"))
    make(p)
    before = sorted(os.listdir(tmp_path))
    opt = "-o" if command == "simulate" else "--report"
    argv = [command, "digits-mlp", "--inputs", str(inputs), opt, str(p)]
    assert run(argv, capsys) == (2, "", error(message.format(opt=opt, p=p, parent=p.parent)))
    assert sorted(os.listdir(tmp_path)) == before


def test_write_file_refuses_to_replace_a_device_like_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match=r"'.*pipe' is a named pipe \(FIFO\), not a regular file; refusing"):
        atomic.write_file(tmp_path / "pipe", b"x")
    assert os.listdir(tmp_path) == ["pipe"]


def _file_size_limit(kib: int) -> Any:
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a shell would start it
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib << 10, kib << 10))
    return pre


@pytest.mark.parametrize("kib", [1, 16])
def test_file_size_limit_is_an_io_error_not_a_crash(kib: int, tmp_path: Path) -> None:
    """``ulimit -f``: h5py segfaulted writing qgraph.nir (exit -11); now the .nir is built in memory."""
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "snncompile", *export_argv(out, inputs)], capture_output=True,
                          text=True, preexec_fn=_file_size_limit(kib), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] + "\n" == error(f"export to '{out}' failed, nothing written: cannot write "
                                                        f"'{out}/bitsim/qgraph.nir': {reason(errno.EFBIG)}")
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def test_an_unexpected_os_error_is_still_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/x.npy")

    monkeypatch.setattr(commands, "load_data", unreadable)
    code, stdout, err = run(["verify", "digits-mlp"], capsys)
    assert (code, stdout, err) == (1, "", error(f"I/O error on '/data/x.npy': {reason(errno.EACCES)}"))
