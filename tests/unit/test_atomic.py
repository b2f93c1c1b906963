"""snncompile.atomic: the no-replace rename (renameat2 and its fallback) and what write_dir may replace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from snncompile import atomic
from snncompile.errors import InputError


@pytest.fixture(params=["renameat2", "fallback"])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fallback":
        monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    elif atomic._renameat2() is None:
        pytest.skip("no renameat2 on this system")
    yield request.param


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("new")
    return src


def test_rename_noreplace_moves_onto_a_free_name(impl: str, tmp_path: Path) -> None:
    atomic.rename_noreplace(_src(tmp_path), tmp_path / "dst")
    assert (tmp_path / "dst" / "f").read_text() == "new" and not (tmp_path / "src").exists()
    (tmp_path / "file").write_text("x")
    atomic.rename_noreplace(tmp_path / "file", tmp_path / "file2")
    assert sorted(os.listdir(tmp_path)) == ["dst", "file2"]


@pytest.mark.parametrize("occupant", ["empty-folder", "folder", "file", "dangling-symlink"])
def test_rename_noreplace_never_replaces(occupant: str, impl: str, tmp_path: Path) -> None:
    """A plain os.rename would replace an empty folder or a file without a word."""
    src, dst = _src(tmp_path), tmp_path / "dst"
    if occupant == "empty-folder":
        dst.mkdir()
    elif occupant == "folder":
        dst.mkdir()
        (dst / "theirs").write_text("theirs")
    elif occupant == "file":
        dst.write_text("theirs")
    else:
        dst.symlink_to(tmp_path / "nowhere")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(FileExistsError):
        atomic.rename_noreplace(src, dst)
    assert sorted(os.listdir(tmp_path)) == before and (src / "f").read_text() == "new"
    if occupant == "empty-folder":
        assert list(dst.iterdir()) == []


def test_write_dir_replaces_a_folder_but_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale").write_text("old")
    atomic.write_dir(out, {"a.txt": "A", "sub/b.bin": b"B"})
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["a.txt", "sub", "sub/b.bin"]
    assert sorted(os.listdir(tmp_path)) == ["out"]
    (tmp_path / "file").write_text("mine")
    (tmp_path / "link").symlink_to(out)
    for path, what in ((tmp_path / "file", "is a file, not a folder"),
                       (tmp_path / "link", "is a symbolic link, not a folder")):
        with pytest.raises(InputError) as err:
            atomic.write_dir(path, {"x": "y"})
        assert str(err.value) == f"'{path}' {what}; refusing to replace it"
    monkeypatch.chdir(out / "sub")
    with pytest.raises(InputError) as err:
        atomic.write_dir("..", {"x": "y"})
    assert str(err.value) == "'..' is the current folder or one of its parents; refusing to replace it"
    assert (tmp_path / "file").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["file", "link", "out"]
    assert (out / "a.txt").read_text() == "A"


def test_swap_in_puts_a_refused_folder_back(impl: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("keep")
    new = _src(tmp_path)
    with pytest.raises(InputError) as err:
        atomic.swap_in(new, out, shown="out", check=lambda old: "it is not the one checked")
    assert str(err.value) == ("'out' changed meanwhile (it is no longer the export that was checked: it is not the one "
                              "checked); left as it is, nothing written")
    assert (out / "keep").read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["out", "src"]
