"""Atomic outputs: build in a staging folder beside the target, rename into place, leave nothing half-written.

Whether the target exists is decided by the kernel at rename time, not by an earlier look:
:func:`rename_noreplace` uses Linux ``renameat2(RENAME_NOREPLACE)`` (glibc, through ctypes) and
otherwise claims the name with ``mkdir`` (which fails when it exists) before renaming onto that
empty placeholder -- a plain ``rename`` would silently replace an empty folder or a file. A folder
that is replaced is renamed aside first (into a ``.<name>.<random>.old`` staging folder), may be
checked there, and is removed only after the new one is in place; on any failure it is put back.

Staging folders carry an owner marker (:mod:`.staging`), so a run killed midway leaves nothing a
later run cannot recognise and remove. Files and folders get the usual permissions (0666/0777 less
the umask), not mkstemp's 0600 / mkdtemp's 0700.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import sys
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from . import staging
from .errors import InputError

#: what a file of write_dir holds: text (UTF-8) or bytes-like
FileContent = str | bytes | bytearray

RENAME_NOREPLACE = 1
AT_FDCWD = -100
#: renameat2 errors that mean "not supported here" (old kernel, file system without the flag): use the fallback
_UNSUPPORTED = (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@cache
def _renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` only if nothing is at ``dst``; FileExistsError otherwise, decided atomically."""
    fn = _renameat2()
    if fn is not None:
        if fn(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in _UNSUPPORTED:
            raise OSError(err, os.strerror(err), str(src), None, str(dst))
    if src.is_dir() and not src.is_symlink():
        os.mkdir(dst)  # the atomic claim: FileExistsError when anything is there
        try:
            os.rename(src, dst)  # onto our own empty placeholder
        except OSError as exc:
            try:
                os.rmdir(dst)  # only while still empty: never anyone else's content
            except OSError:
                pass
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise FileExistsError(errno.EEXIST, "appeared meanwhile", str(dst)) from exc
            raise
    else:
        os.link(src, dst, follow_symlinks=False)  # FileExistsError when anything is there
        os.unlink(src)


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "folder"), (stat.S_ISREG, "file"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def protected_reason(path: Path) -> str | None:
    """Why the folder ``path`` must never be replaced or removed (root, cwd or a parent, mount point), or None."""
    real = Path(os.path.realpath(path))
    if real.parent == real:
        return "is the root folder"
    cwd = Path(os.path.realpath(Path.cwd()))
    if real == cwd or real in cwd.parents:
        return "is the current folder or one of its parents"
    if os.path.ismount(real):
        return "is a mount point"
    return None


def os_reason(exc: OSError) -> str:
    """The operating system's reason of ``exc`` with its errno name: ``No space left on device [ENOSPC]``."""
    name = errno.errorcode.get(exc.errno or 0, "")
    return (exc.strerror or " ".join(str(exc).split())) + (f" [{name}]" if name else "")


def describe_os_error(exc: OSError) -> str:
    """``cannot write 'path': reason [ENAME]`` -- one line for any OSError raised while writing."""
    where = f" '{exc.filename}'" if exc.filename else ""
    return f"cannot write{where}: {os_reason(exc)}"


def _retarget(exc: OSError, staged: Path, final: Path) -> OSError:
    """The same error, naming ``final`` instead of the staging path it happened at (or no path at all)."""
    name = str(exc.filename) if exc.filename is not None else str(staged)
    if name.startswith(str(staged)):
        return OSError(exc.errno, exc.strerror or " ".join(str(exc).split()), str(final) + name[len(str(staged)):])
    return exc


def write_file(path: str | Path, data: bytes) -> Path:
    """Write ``data`` as the file ``path``, atomically (an existing regular file or symlink is replaced)."""
    out = Path(os.path.realpath(Path(path).parent)) / Path(path).name
    try:
        mode = out.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise InputError(f"'{path}' is a {file_kind(mode)}, not a regular file; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    root = staging.make(out.parent, f".{out.name}.", ".tmp", target=out.name)
    try:
        tmp = root / staging.CONTENT
        try:
            with open(tmp, "xb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~umask())
        except OSError as exc:
            raise _retarget(exc, tmp, out) from None
        os.replace(tmp, out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def appeared(shown: str) -> InputError:
    return InputError(f"'{shown}' appeared meanwhile (another process created it while this one was writing); "
                      "nothing written")


def _put_back(old: Path, out: Path, aside: Path, shown: str) -> None:
    try:
        rename_noreplace(old, out)
    except FileExistsError:
        staging.set_state(aside, "kept")
        raise InputError(f"'{shown}' was taken meanwhile by another process; nothing written; the folder it was to "
                         f"replace is kept at '{old}'") from None


def swap_in(new: Path, out: Path, *, shown: str, check: Callable[[Path], str | None] | None = None) -> None:
    """Replace the existing ``out`` with the finished folder ``new``.

    ``out`` is renamed aside into a staging folder, ``check(aside_path)`` may refuse it (a reason:
    it is put back, InputError), ``new`` is renamed in (InputError when ``out`` was taken meanwhile),
    then the old folder is removed.
    """
    aside = staging.make(out.parent, f".{out.name}.", ".old", target=out.name)
    old = aside / staging.ASIDE
    try:
        staging.set_state(aside, "aside")
        try:
            os.rename(out, old)
        except FileNotFoundError:
            raise InputError(f"'{shown}' disappeared meanwhile (removed or renamed by another process); "
                             "nothing written") from None
        reason = check(old) if check is not None else None
        if reason is not None:
            _put_back(old, out, aside, shown)
            raise InputError(f"'{shown}' changed meanwhile (it is no longer the export that was checked: {reason}); "
                             "left as it is, nothing written")
        try:
            rename_noreplace(new, out)
        except FileExistsError:
            staging.set_state(aside, "kept")
            raise InputError(f"'{shown}' appeared meanwhile (another process created it while this one was "
                             f"writing); nothing written; the folder it was to replace is kept at '{old}'") from None
        staging.set_state(aside, "replaced")
    except BaseException:
        if os.path.lexists(old) and (staging.read_marker(aside) or {}).get("state") == "aside":
            _put_back(old, out, aside, shown)
        if not os.path.lexists(old):
            shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def write_dir(out_dir: str | Path, files: Mapping[str, FileContent]) -> list[Path]:
    """Write ``files`` (name -> text or bytes) as the whole content of ``out_dir``, atomically.

    An existing ``out_dir`` is replaced -- unless it is not a folder (a file, device, symlink), the
    root, the current folder or a parent of it, or a mount point (InputError, nothing touched).
    """
    out = Path(os.path.realpath(Path(out_dir).parent)) / Path(out_dir).name
    if Path(out_dir).name in ("", ".", ".."):
        out = Path(os.path.realpath(out_dir))
    exists = os.path.lexists(out)
    if exists:
        mode = out.lstat().st_mode
        reason = (f"is a {file_kind(mode)}, not a folder" if not stat.S_ISDIR(mode) else protected_reason(out))
        if reason is not None:
            raise InputError(f"'{out_dir}' {reason}; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    root = staging.make(out.parent, f".{out.name}.", ".tmp", target=out.name)
    try:
        tmp = root / staging.CONTENT
        tmp.mkdir()
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                if isinstance(content, str):
                    target.write_text(content)
                else:  # bytes-like (bytes, bytearray)
                    target.write_bytes(content)
            except OSError as exc:
                raise _retarget(exc, target, out / name) from None
        os.chmod(tmp, 0o777 & ~umask())
        if not exists:
            try:
                rename_noreplace(tmp, out)
            except FileExistsError:
                raise appeared(str(out_dir)) from None
        else:
            swap_in(tmp, out, shown=str(out_dir))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [out / name for name in files]
