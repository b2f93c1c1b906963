"""Staging folders that name their owner, so that a later run can remove what a killed run left behind.

Every temporary folder snncompile builds in -- ``.OUT.<random>.tmp`` beside an export or an emitted
folder, ``.OUT.<random>.old`` holding a replaced folder until it is removed, ``.<file>.<random>.tmp``
for a single file, ``.build-<random>`` in the compile caches -- is made by :func:`make`: ``mkdtemp``
plus a marker file ``.snncompile-staging`` (JSON) naming the owner process (host, boot id, pid, the
pid's start time) and a state. The content is built in ``<folder>/out`` (:data:`CONTENT`) and renamed
out of it, so the marker never reaches a result.

A folder is *stale* when its marker is valid, was written on this host and its owner is gone: the
boot id differs (the machine rebooted), the pid does not exist, or the pid now belongs to a process
started at another time (pid reuse). Anything else -- no marker, an unreadable or foreign one,
another host, a live owner -- is never touched. :func:`clean_stale` removes stale folders, except a
replaced folder that was moved aside (state ``aside``): it is renamed back to its place when that
place is free, and kept otherwise; state ``kept`` is never removed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any

MARKER = ".snncompile-staging"
CONTENT = "out"
ASIDE = "old"
TOOL = "snncompile-staging"
STATES = ("building", "aside", "replaced", "kept")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks after boot (field 22 of /proc/<pid>/stat); None without /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        return int(raw[raw.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def owner() -> dict[str, Any]:
    """This process as a marker names it."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": _start_time(pid)}


def _write_marker(folder: Path, marker: dict[str, Any]) -> None:
    tmp = folder / (MARKER + ".new")
    tmp.write_text(json.dumps(marker) + "\n")
    os.replace(tmp, folder / MARKER)  # a marker is complete or absent, never half-written


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` when it is a valid one written by :func:`make`, else None."""
    path = folder / MARKER
    try:
        if not stat.S_ISREG(path.lstat().st_mode) or path.lstat().st_size > 4096:
            return None
        marker = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(marker, dict) and marker.get("tool") == TOOL and marker.get("state") in STATES
            and isinstance(marker.get("pid"), int) and not isinstance(marker.get("pid"), bool)):
        return None
    return marker


def make(parent: Path, prefix: str, suffix: str = "", *, target: str | None = None) -> Path:
    """A new staging folder in ``parent`` (after removing stale ones there); build in ``<it>/out``."""
    clean_stale(parent)
    root = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
    try:
        _write_marker(root, {"tool": TOOL, **owner(), "target": target, "state": "building"})
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def set_state(folder: Path, state: str) -> None:
    marker = read_marker(folder)
    if marker is None or state not in STATES:
        raise ValueError(f"staging folder {folder}: cannot set state {state!r}")
    _write_marker(folder, {**marker, "state": state})


def owner_gone(marker: dict[str, Any]) -> bool:
    """True only when the marker's owner provably no longer runs (see the module docstring)."""
    if marker.get("host") != socket.gethostname():
        return False  # another machine sharing the folder: its processes cannot be checked from here
    boot = _boot_id()
    if boot is not None and marker.get("boot") not in (None, boot):
        return True
    pid = int(marker["pid"])
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, owned by another user
    except OSError:
        return False
    start, recorded = _start_time(pid), marker.get("start")
    return start is not None and isinstance(recorded, int) and start != recorded


def _candidates(parent: Path) -> list[Path]:
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    out = []
    for e in entries:
        name = e.name
        if name.startswith(".") and (name.endswith((".tmp", ".old")) or name.startswith(".build-")):
            try:
                if e.is_dir(follow_symlinks=False):
                    out.append(Path(e.path))
            except OSError:
                continue
    return sorted(out)


def _restore(folder: Path, marker: dict[str, Any]) -> str:
    """A replaced folder moved aside by a killed run: back to its place if free, else kept for the user."""
    from .atomic import rename_noreplace

    old, target = folder / ASIDE, marker.get("target")
    if not os.path.lexists(old):
        shutil.rmtree(folder, ignore_errors=True)
        return f"removed '{folder}' (left by a killed run, pid {marker['pid']})"
    if isinstance(target, str) and target and "/" not in target and target not in (".", ".."):
        try:
            rename_noreplace(old, folder.parent / target)
        except OSError:
            pass
        else:
            shutil.rmtree(folder, ignore_errors=True)
            return f"restored '{folder.parent / target}' (a killed run had moved it to '{folder}')"
    set_state(folder, "kept")
    return f"kept '{old}': a killed run had moved it aside and its place is taken"


def clean_stale(parent: Path) -> list[str]:
    """Remove (or restore) the stale staging folders in ``parent``; one sentence per folder handled."""
    notes = []
    for folder in _candidates(parent):
        marker = read_marker(folder)
        if marker is None or marker["state"] == "kept" or not owner_gone(marker):
            continue
        try:
            if marker["state"] == "aside":
                notes.append(_restore(folder, marker))
            else:
                shutil.rmtree(folder)
                notes.append(f"removed '{folder}' (left by a killed run, pid {marker['pid']})")
        except (OSError, ValueError):
            continue  # not ours to fight over: leave it for a later run
    return notes
