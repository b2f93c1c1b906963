"""Where ``export`` may write OUT, and the decision at rename time (docs/cli.md "export", docs/design-notes.md).

:func:`plan` checks OUT before any work: it must not exist, or -- with ``force`` -- be a folder
written by an earlier export (a ``manifest.json`` as :func:`snncompile.export.build_manifest`
writes it, and nothing at the top level but that manifest and its targets' folders). A file,
device, symlink, the root, the current folder or a parent of it, a mount point, or a folder that
holds one of the command's input files is refused with one line (InputError, exit 2), untouched.

:func:`staged` gives the folder to build in (a staging folder beside OUT, see :mod:`.staging`) and
turns an OSError into one OutputError line (exit 1), removing what it created. :func:`commit`
moves the result into place: with nothing at OUT, by a rename that fails if OUT appeared meanwhile;
with ``force``, by renaming the old export aside, checking that it is still exactly the export
:func:`plan` saw (same folder, same entries, same sizes and times), and only then renaming the new
one in. Whatever another process created is never removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import staging
from .atomic import appeared, describe_os_error, file_kind, protected_reason, rename_noreplace, swap_in, umask
from .errors import InputError, OutputError

MANIFEST = "manifest.json"
#: more entries than this and a folder is not an export (and the snapshot would cost too much)
MAX_ENTRIES = 100_000
MAX_MANIFEST_BYTES = 16 << 20
ONLY_EXPORTS = "--force replaces only a folder written by snncompile export"

Entry = tuple[str, int, int, int, int]  # (path relative to the folder, file type bits, inode, size, mtime ns)


@dataclass(frozen=True)
class Snapshot:
    """An export folder as :func:`plan` validated it: its identity and every entry below it."""

    dev: int
    ino: int
    manifest_sha256: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Destination:
    """OUT: ``path`` absolute (parents resolved, the last component as given), ``shown`` as the user wrote it."""

    path: Path
    shown: str
    replaces: Snapshot | None


def absolute(out: str | Path) -> Path:
    p = Path(out)
    if p.name in ("", ".", ".."):
        return Path(os.path.realpath(p))
    return Path(os.path.realpath(p.parent)) / p.name


def check_parents(path: Path, label: str) -> None:
    """The nearest existing ancestor of ``path`` must be a folder (``-o file/sub`` is refused)."""
    for parent in path.parents:
        if os.path.lexists(parent):
            if not parent.is_dir():
                raise InputError(f"{label}: '{parent}' is a {file_kind(parent.lstat().st_mode)}, not a folder")
            return


def clean_beside(out: str | Path) -> list[str]:
    """Remove the stale staging folders of killed runs beside OUT (:mod:`.staging`), first, so that an export a
    killed ``--force`` run had moved aside is back in place before OUT is looked at; one note per folder."""
    parent = absolute(out).parent
    return staging.clean_stale(parent) if parent.is_dir() else []


def plan(out: str | Path, *, force: bool, protect: Sequence[str | Path] = ()) -> Destination:
    """Check OUT before any work (see the module docstring); ``protect``: input files OUT must not hold."""
    shown, path = str(out), absolute(out)
    check_parents(path, f"-o '{shown}'")
    if not os.path.lexists(path):
        return Destination(path, shown, None)
    if not force:
        raise InputError(f"'{shown}' already exists; pass --force to replace it")
    return Destination(path, shown, check_export(path, shown, protect))


def check_reusable(path: Path, label: str, protect: Sequence[str | Path], *, not_ours: str, refusing: str) -> None:
    """What an existing folder snncompile writes into again (an export replaced with --force, a sweep resumed)
    must be: a real folder (no symbolic link, no file; ``not_ours`` says what is accepted), not a protected place
    (:func:`protected_reason`) and not holding an input file (``refusing`` ends those messages)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise InputError(f"{label} is a symbolic link; {not_ours}")
    if not stat.S_ISDIR(mode):
        raise InputError(f"{label} is a {file_kind(mode)}, not a folder; {not_ours}")
    reason = protected_reason(path)
    if reason is not None:
        raise InputError(f"{label} {reason}; {refusing}")
    for p in protect:
        if Path(os.path.realpath(path)) in Path(os.path.realpath(p)).parents:
            raise InputError(f"{label} holds the input file '{p}'; {refusing}")


def check_export(path: Path, shown: str, protect: Sequence[str | Path] = ()) -> Snapshot:
    """The snapshot of the export folder ``path``, or InputError saying why --force may not replace it."""
    check_reusable(path, f"'{shown}'", protect, not_ours=ONLY_EXPORTS, refusing="refusing to replace it")
    problem, targets = _manifest_problem(path / MANIFEST)
    if problem is not None:
        raise InputError(f"'{shown}' is not an snncompile export ({problem}); {ONLY_EXPORTS}")
    allowed = {MANIFEST, *targets}
    with os.scandir(path) as entries:
        extra = sorted(e.name for e in entries if e.name not in allowed)
    if extra:
        raise InputError(f"'{shown}' holds '{extra[0]}', which is not part of its export (targets: "
                         f"{', '.join(targets) or 'none'}); {ONLY_EXPORTS}")
    return _snapshot(path, shown)


def _manifest_problem(path: Path) -> tuple[str | None, list[str]]:
    """(None, targets) for a manifest written by build_manifest, else (what is wrong, [])."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return "it has no manifest.json", []
    if not stat.S_ISREG(st.st_mode):
        return f"its manifest.json is a {file_kind(st.st_mode)}", []
    if st.st_size > MAX_MANIFEST_BYTES:
        return f"its manifest.json has {st.st_size} bytes, more than any export writes", []
    try:
        m = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return "its manifest.json is not valid JSON", []
    if not isinstance(m, dict):
        return "its manifest.json is not a JSON object", []
    if not isinstance(m.get("snncompile"), str):
        return "its manifest.json has no \"snncompile\" version", []
    targets = m.get("targets")
    if not (isinstance(targets, list) and targets and all(
            isinstance(t, str) and t and "/" not in t and t not in (".", "..", MANIFEST) for t in targets)):
        return "its manifest.json has no \"targets\" list", []
    files = m.get("files")
    if not (isinstance(files, list) and all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in files)):
        return "its manifest.json has no \"files\" list", []
    return None, targets


def _snapshot(path: Path, shown: str) -> Snapshot:
    st = path.lstat()
    entries: list[Entry] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(path / rel if rel else path) as it:
            for e in it:
                s = e.stat(follow_symlinks=False)
                name = f"{rel}/{e.name}" if rel else e.name
                is_dir = stat.S_ISDIR(s.st_mode)
                entries.append((name, stat.S_IFMT(s.st_mode), s.st_ino, 0 if is_dir else s.st_size,
                                0 if is_dir else s.st_mtime_ns))
                if is_dir:
                    stack.append(name)
                if len(entries) > MAX_ENTRIES:
                    raise InputError(f"'{shown}' holds more than {MAX_ENTRIES} entries; {ONLY_EXPORTS}")
    digest = hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()
    return Snapshot(st.st_dev, st.st_ino, digest, tuple(sorted(entries)))


def difference(want: Snapshot, folder: Path) -> str | None:
    """What changed in ``folder`` since ``want`` was taken (None: nothing)."""
    try:
        st = folder.lstat()
        if (st.st_dev, st.st_ino) != (want.dev, want.ino) or not stat.S_ISDIR(st.st_mode):
            return "another folder or file took its place"
        now = _snapshot(folder, str(folder))
    except (OSError, InputError):
        return "it can no longer be read as the same folder"
    if now.manifest_sha256 != want.manifest_sha256:
        return "its manifest.json was rewritten"
    before, after = {e[0]: e for e in want.entries}, {e[0]: e for e in now.entries}
    for name in sorted(set(before) | set(after)):
        if name not in before:
            return f"'{name}' was added"
        if name not in after:
            return f"'{name}' was removed"
        if before[name] != after[name]:
            return f"'{name}' was modified"
    return None


@contextmanager
def staged(dest: Destination) -> Iterator[Path]:
    """The folder to build OUT in; an OSError inside becomes one OutputError line, and nothing is left behind."""
    created = [p for p in (dest.path, *dest.path.parents)[1:] if not os.path.lexists(p)]
    root: Path | None = None
    try:
        dest.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            root = staging.make(dest.path.parent, f".{dest.path.name}.", ".tmp", target=dest.path.name)
        except OSError as exc:
            exc.filename = f"{dest.path.parent}/.{dest.path.name}.*.tmp"  # the staging folder that could not be made
            raise
        work = root / staging.CONTENT
        work.mkdir()
        try:
            yield work
        except OSError as exc:
            shown = describe_os_error(exc).replace(str(work), str(dest.path).rstrip("/"))
            raise OutputError(f"export to '{dest.shown}' failed, nothing written: {shown}") from None
    except OSError as exc:
        raise OutputError(f"export to '{dest.shown}' failed, nothing written: {describe_os_error(exc)}") from None
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)
        if not os.path.lexists(dest.path):
            for p in created:  # innermost first; only folders this call made and that are still empty
                try:
                    os.rmdir(p)
                except OSError:
                    break


def commit(dest: Destination, work: Path) -> None:
    """Move the finished ``work`` folder to OUT (see the module docstring); InputError when OUT changed meanwhile."""
    os.chmod(work, 0o777 & ~umask())
    if dest.replaces is None:
        try:
            rename_noreplace(work, dest.path)
        except FileExistsError:
            raise appeared(dest.shown) from None
        return
    snap = dest.replaces
    swap_in(work, dest.path, shown=dest.shown, check=lambda old: difference(snap, old))


def check_output_file(path: str | Path, option: str) -> None:
    """A file the command will write (``simulate -o``, ``verify --report``): not a folder, device, or below a file."""
    shown, p = str(path), absolute(path)
    check_parents(p, f"{option} '{shown}'")
    try:
        mode = p.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise InputError(f"{option} '{shown}' is a folder; give a file name")
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise InputError(f"{option} '{shown}' is a {file_kind(mode)}, not a regular file; refusing to replace it")
