"""Shared by the export safety tests: a quick export command line, a finished export to copy, a tree snapshot."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from snncompile.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def error(message: str) -> str:
    """stderr of a refused command: exactly one line."""
    return f"snncompile: error: {message}\n"


def small_inputs(folder: Path) -> Path:
    """Spikes [T=4, B=2, 64] for digits-mlp: an export in about a second."""
    path = folder / "x.npy"
    np.save(path, (np.random.default_rng(0).random((4, 2, 64)) < 0.2).astype(np.uint8))
    return path


def export_argv(out: Path | str, inputs: Path, *extra: str) -> list[str]:
    return ["export", "digits-mlp", "--target", "bitsim", "-o", str(out), "--inputs", str(inputs), *extra]


def make_export(out: Path, inputs: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    code, _, err = run(export_argv(out, inputs), capsys)
    assert code == 0, err
    return out


def copy_export(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def tree(root: Path) -> dict[str, tuple[str, ...]]:
    """Every entry below ``root`` (hidden ones too): kind and content hash / link target, for 'nothing touched'."""
    out: dict[str, tuple[str, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(mode):
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISDIR(mode):
                out[rel] = ("dir",)
            else:
                out[rel] = ("special", str(stat.S_IFMT(mode)))
    return out


def staging_left(folder: Path) -> list[str]:
    """Hidden staging folders or files beside OUT (none may stay after a command)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))
