"""Atomic output folders: build beside the target, rename into place, leave nothing half-written.

A failed write removes its temporary folder and leaves an existing target untouched;
a successful one replaces the target (the old folder is renamed aside, then removed).
Folders get the usual permissions (0777 less the umask), not mkdtemp's 0700.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fresh_sibling(out: Path) -> Path:
    """A new empty temporary folder next to ``out`` (``.<name>.<random>.tmp``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def replace_dir(new: Path, out: Path) -> None:
    """Rename the finished folder ``new`` to ``out``; an existing ``out`` is renamed aside first and removed after."""
    os.chmod(new, 0o777 & ~umask())
    if not (out.exists() or out.is_symlink()):
        os.rename(new, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    old = aside / "old"
    os.rename(out, old)
    try:
        os.rename(new, out)
    except BaseException:
        os.rename(old, out)  # put the previous folder back
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def write_dir(out_dir: str | Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write ``files`` (name -> text or bytes) as the whole content of ``out_dir``, atomically."""
    out = Path(out_dir).resolve()
    tmp = fresh_sibling(out)
    try:
        for name, content in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / name for name in files]
