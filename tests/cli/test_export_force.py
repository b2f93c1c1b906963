"""``export --force`` replaces only a folder an earlier export wrote; everything else is refused, untouched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from safety_helpers import copy_export, error, export_argv, make_export, run, small_inputs, staging_left, tree

import snncompile as sc
from snncompile import outdir
from snncompile.cli import main
from snncompile.errors import InputError

ONLY = "--force replaces only a folder written by snncompile export"


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished export (copied by each test that needs one)."""
    folder = tmp_path_factory.mktemp("earlier")
    code = main(export_argv(folder / "out", small_inputs(folder)))
    assert code == 0
    return folder / "out"


def _file(out: Path, earlier: Path) -> None:
    out.write_text("my notes")


def _fifo(out: Path, earlier: Path) -> None:
    os.mkfifo(out)  # stands in for /dev/null and other devices: not a folder


def _link_to_file(out: Path, earlier: Path) -> None:
    (out.parent / "target.txt").write_text("keep")
    out.symlink_to(out.parent / "target.txt")


def _link_to_export(out: Path, earlier: Path) -> None:
    copy_export(earlier, out.parent / "real")
    out.symlink_to(out.parent / "real")


def _unrelated(out: Path, earlier: Path) -> None:
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")


def _bad_json(out: Path, earlier: Path) -> None:
    out.mkdir()
    (out / "manifest.json").write_text("{not json")


def _other_tool(out: Path, earlier: Path) -> None:
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "my-app", "version": "1.0"}))


def _manifest_folder(out: Path, earlier: Path) -> None:
    (out / "manifest.json").mkdir(parents=True)


def _export_plus_notes(out: Path, earlier: Path) -> None:
    copy_export(earlier, out)
    (out / "notes.txt").write_text("added by the user")


CASES: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "file": (_file, "'{out}' is a file, not a folder; " + ONLY),
    "fifo": (_fifo, "'{out}' is a named pipe (FIFO), not a folder; " + ONLY),
    "symlink-to-file": (_link_to_file, "'{out}' is a symbolic link; " + ONLY),
    "symlink-to-export": (_link_to_export, "'{out}' is a symbolic link; " + ONLY),
    "unrelated-folder": (_unrelated, "'{out}' is not an snncompile export (it has no manifest.json); " + ONLY),
    "manifest-not-json": (_bad_json, "'{out}' is not an snncompile export (its manifest.json is not valid JSON); "
                          + ONLY),
    "manifest-of-another-tool": (_other_tool, "'{out}' is not an snncompile export (its manifest.json has no "
                                 "\"snncompile\" version); " + ONLY),
    "manifest-is-a-folder": (_manifest_folder, "'{out}' is not an snncompile export (its manifest.json is a "
                             "folder); " + ONLY),
    "export-plus-a-user-file": (_export_plus_notes, "'{out}' holds 'notes.txt', which is not part of its export "
                                "(targets: bitsim); " + ONLY),
}


@pytest.mark.parametrize("case", list(CASES))
def test_force_refuses_what_is_not_an_export(case: str, earlier: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    make, message = CASES[case]
    make(out, earlier)
    before = tree(tmp_path)
    assert run(export_argv(out, inputs, "--force"), capsys) == (2, "", error(message.format(out=out)))
    assert tree(tmp_path) == before  # nothing touched, no staging folder left


def test_force_refuses_a_folder_holding_the_model(earlier: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = copy_export(earlier, tmp_path / "out")
    model = out / "bitsim" / "model.nir"
    sc.save(sc.load("digits-mlp"), str(model))
    before = tree(tmp_path)
    argv = ["export", str(model), "--target", "bitsim", "-o", str(out), "--force", "--timesteps", "2"]
    assert run(argv, capsys) == (2, "", error(f"'{out}' holds the input file '{model}'; refusing to replace it"))
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("where", "arg"), [("export", "."), ("export/bitsim", ".."), ("export/bitsim", "../..")])
def test_force_refuses_the_current_folder_and_its_parents(where: str, arg: str, earlier: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """'-o .' used to end in an OSError EBUSY traceback and leave an empty '..XXXX.old' folder behind."""
    inputs = small_inputs(tmp_path)
    copy_export(earlier, tmp_path / "export")
    monkeypatch.chdir(tmp_path / where)
    before = tree(tmp_path)
    code, out, err = run(export_argv(arg, inputs, "--force"), capsys)
    assert (code, out, err) == (2, "", error(f"'{arg}' is the current folder or one of its parents; refusing to "
                                             "replace it"))
    assert tree(tmp_path) == before


def test_force_refuses_the_root_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Read-only check on the real '/': refused before anything is created there.

    The CLI runs only after the check itself is seen to refuse, so that a regression cannot write into '/'
    (the old code left an empty '/..XXXX.old' folder there).
    """
    with pytest.raises(InputError, match="is the root folder"):
        outdir.plan("/", force=True)
    inputs = small_inputs(tmp_path)
    before = sorted(os.listdir("/"))
    assert run(export_argv("/", inputs, "--force"), capsys) == (2, "", error("'/' is the root folder; refusing to "
                                                                             "replace it"))
    assert sorted(os.listdir("/")) == before


def test_a_parent_that_is_a_file_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = small_inputs(tmp_path)
    (tmp_path / "file").write_text("x")
    before = tree(tmp_path)
    out = tmp_path / "file" / "sub"
    assert run(export_argv(out, inputs), capsys) == (2, "", error(f"-o '{out}': '{tmp_path / 'file'}' is a file, "
                                                                   "not a folder"))
    assert tree(tmp_path) == before


def test_force_replaces_an_earlier_export(earlier: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files a user's tools made inside a target folder (make csim's tb, logs) go with the export they belong to."""
    inputs = small_inputs(tmp_path)
    out = copy_export(earlier, tmp_path / "out")
    (out / "bitsim" / "run.log").write_text("made inside the export")
    code, _, err = run(export_argv(out, inputs, "--force", "--bits", "4"), capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quant_spec"]["weight_bits"] == 4
    assert sorted(p.name for p in out.iterdir()) == ["bitsim", "manifest.json"]
    assert not (out / "bitsim" / "run.log").exists()
    assert staging_left(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.npy"]


def test_new_parent_folders_are_removed_again_on_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "a" / "b" / "out"
    from snncompile.backends.bitsim import backend as bitsim_backend

    real = bitsim_backend.read_golden

    def broken(path):  # type: ignore[no-untyped-def]  # the check reads the bitsim target's golden.npz back
        assert out.parent.is_dir()  # made for the staging folder
        traces = real(path)
        traces["1"]["v"] = traces["1"]["v"] + 1
        return traces

    monkeypatch.setattr(bitsim_backend, "read_golden", broken)
    code, _, err = run(export_argv(out, inputs), capsys)
    assert code == 1 and err.splitlines()[-1].startswith("snncompile: error: export check failed, nothing written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
    monkeypatch.undo()
    assert make_export(out, inputs, capsys).is_dir() and staging_left(out.parent) == []
