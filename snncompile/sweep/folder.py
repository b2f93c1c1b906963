"""The sweep folder OUT: where a sweep may write, and its per-configuration cache (docs/sweep.md "Output").

OUT must not exist (it is created, with ``sweep.json`` first), or be a sweep folder an earlier sweep wrote (it
holds a ``sweep.json`` whose ``"kind"`` is ``"snncompile sweep"``): the sweep then resumes in it. Anything
else -- a file, a symbolic link, a folder without that marker (an ``export`` folder included), the root, the
current folder or a parent of it, a mount point, a folder holding one of the command's input files -- is
refused with one line (InputError, exit 2) and left untouched, with or without ``--force``. ``--force`` makes
the sweep recompute every configuration instead of reusing the cached ones; it never removes anything.

Every file is written atomically (:func:`snncompile.atomic.write_file`): ``points/<hash>.json`` as each
configuration finishes -- so a sweep killed at any moment leaves only complete results, which the next run
reuses -- and ``table.csv``, ``table.json``, ``pareto.png`` and the updated ``sweep.json`` at the end.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import describe_os_error, file_kind, write_file
from ..errors import InputError, OutputError
from ..outdir import absolute, check_parents, check_reusable

SWEEP_FILE = "sweep.json"
KIND = "snncompile sweep"
POINTS = "points"
NOT_A_SWEEP = "a sweep writes only into a new folder or one an earlier sweep wrote; choose another -o"


@dataclass(frozen=True)
class SweepFolder:
    """OUT, checked (``path`` absolute, ``shown`` as given); ``resumed``: it existed already."""

    path: Path
    shown: str
    resumed: bool

    def cached(self, key: str) -> dict[str, Any] | None:
        """The cached row of configuration ``key``, or None (missing, unreadable or not this key's)."""
        try:
            row = json.loads((self.path / POINTS / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        return row if isinstance(row, dict) and row.get("id") == key else None

    def store(self, key: str, row: dict[str, Any]) -> None:
        self.write(f"{POINTS}/{key}.json", (json.dumps(row, indent=1, allow_nan=False) + "\n").encode())

    def write(self, name: str, data: bytes) -> Path:
        """Write OUT/``name`` atomically; an I/O failure is one OutputError line (exit 1)."""
        try:
            return write_file(self.path / name, data)
        except OSError as exc:
            raise OutputError(f"sweep: {describe_os_error(exc)}") from None


def check_folder(out: str | Path, *, protect: Sequence[str | Path] = ()) -> bool:
    """Check OUT (module docstring) without writing anything: True when it is a sweep folder to resume."""
    shown, path = str(out), absolute(out)
    label = f"-o '{shown}'"
    check_parents(path, label)
    if not os.path.lexists(path):
        return False
    check_reusable(path, label, protect, not_ours=NOT_A_SWEEP, refusing=NOT_A_SWEEP)
    problem = _marker_problem(path / SWEEP_FILE)
    if problem is not None:
        raise InputError(f"{label} is not a sweep folder ({problem}); {NOT_A_SWEEP}")
    return True


def open_folder(out: str | Path, header: dict[str, Any], *, protect: Sequence[str | Path] = ()) -> SweepFolder:
    """Check OUT (:func:`check_folder`) and create it when new; ``header`` goes into a new folder's ``sweep.json``."""
    shown, path = str(out), absolute(out)
    if check_folder(out, protect=protect):
        return SweepFolder(path, shown, resumed=True)
    folder = SweepFolder(path, shown, resumed=False)
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise InputError(f"-o '{shown}' appeared while the sweep started; run it again") from None
    except OSError as exc:
        raise OutputError(f"sweep: cannot create '{shown}': {describe_os_error(exc)}") from None
    write_header(folder, {**header, "status": "running"})
    return folder


def _marker_problem(path: Path) -> str | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return f"it has no {SWEEP_FILE}"
    if not stat.S_ISREG(st.st_mode):
        return f"its {SWEEP_FILE} is a {file_kind(st.st_mode)}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"its {SWEEP_FILE} is not valid JSON"
    if not isinstance(data, dict) or data.get("kind") != KIND:
        return f"its {SWEEP_FILE} has no \"kind\": \"{KIND}\""
    return None


def write_header(folder: SweepFolder, header: dict[str, Any]) -> None:
    data = {"kind": KIND, "snncompile": __version__, **header}
    folder.write(SWEEP_FILE, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
