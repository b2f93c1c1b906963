"""OUT is decided at rename time: of two exports to one OUT exactly one wins, and nothing of anyone else is removed.

Each race is staged deterministically: ``outdir.commit`` is wrapped so that something happens to OUT after the
export checked it and before it renames its result into place. The races run with Linux ``renameat2``
and with the portable fallback (claim the name with mkdir, then rename onto that empty placeholder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from safety_helpers import error, export_argv, make_export, run, small_inputs, staging_left, tree

from snncompile import atomic, outdir, staging
from snncompile.cli import main


@pytest.fixture(params=["renameat2", "fallback"])
def rename_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "fallback":
        monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    elif atomic._renameat2() is None:
        pytest.skip("no renameat2 on this system")
    yield request.param


def before_commit(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], None]) -> None:
    """Run ``meanwhile`` once, just before the export moves its result to OUT."""
    real = outdir.commit
    done: list[bool] = []

    def commit(dest: outdir.Destination, work: Path) -> None:
        if not done:
            done.append(True)
            meanwhile()
        real(dest, work)

    monkeypatch.setattr(outdir, "commit", commit)


def appeared(out: Path) -> str:
    return error(f"'{out}' appeared meanwhile (another process created it while this one was writing); nothing "
                 "written")


def test_two_exports_to_one_out_exactly_one_wins(rename_impl: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    codes: list[int] = []

    def other_export() -> None:
        codes.append(main(export_argv(out, inputs, "--bits", "4")))
        capsys.readouterr()  # its output is not the one under test

    before_commit(monkeypatch, other_export)
    code, stdout, err = run(export_argv(out, inputs), capsys)
    assert codes == [0]  # the other export, which finished first
    assert (code, stdout, err.splitlines()[-1] + "\n") == (2, "", appeared(out))
    assert json.loads((out / "manifest.json").read_text())["quant_spec"]["weight_bits"] == 4  # the winner's
    assert staging_left(tmp_path) == []


def test_a_file_created_in_out_meanwhile_is_kept(rename_impl: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"

    def someone_writes() -> None:
        out.mkdir()
        (out / "theirs.txt").write_text("not yours")

    before_commit(monkeypatch, someone_writes)
    code, _, err = run(export_argv(out, inputs), capsys)
    assert (code, err.splitlines()[-1] + "\n") == (2, appeared(out))
    assert tree(out) == {"theirs.txt": tree(out)["theirs.txt"]} and (out / "theirs.txt").read_text() == "not yours"
    assert staging_left(tmp_path) == []


def test_an_empty_folder_created_meanwhile_is_not_replaced(rename_impl: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """os.rename onto an empty folder succeeds on Linux: the decision must not rely on it."""
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    before_commit(monkeypatch, out.mkdir)
    code, _, err = run(export_argv(out, inputs), capsys)
    assert (code, err.splitlines()[-1] + "\n") == (2, appeared(out))
    assert list(out.iterdir()) == [] and staging_left(tmp_path) == []


def changed(out: Path, reason: str) -> str:
    return error(f"'{out}' changed meanwhile (it is no longer the export that was checked: {reason}); left as it "
                 "is, nothing written")


@pytest.mark.parametrize(("what", "reason"), [
    ("add-file", "'bitsim/theirs.txt' was added"),
    ("edit-file", "'bitsim/stimuli.npy' was modified"),
    ("remove-file", "'bitsim/golden.npz' was removed"),
    ("other-export", "another folder or file took its place"),
])
def test_force_replaces_only_the_export_it_checked(what: str, reason: str, rename_impl: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = make_export(tmp_path / "out", inputs, capsys)
    other = make_export(tmp_path / "other", inputs, capsys)

    def meanwhile() -> None:
        if what == "add-file":
            (out / "bitsim" / "theirs.txt").write_text("not yours")
        elif what == "edit-file":
            with open(out / "bitsim" / "stimuli.npy", "ab") as f:
                f.write(b"more")
        elif what == "remove-file":
            (out / "bitsim" / "golden.npz").unlink()
        else:  # a second --force export finished first
            out.rename(tmp_path / "gone")
            other.rename(out)

    before_commit(monkeypatch, meanwhile)
    code, _, err = run(export_argv(out, inputs, "--force", "--bits", "4"), capsys)
    assert (code, err.splitlines()[-1] + "\n") == (2, changed(out, reason))
    assert json.loads((out / "manifest.json").read_text())["quant_spec"]["weight_bits"] == 8  # not replaced
    if what == "add-file":
        assert (out / "bitsim" / "theirs.txt").read_text() == "not yours"
    assert staging_left(tmp_path) == []


def test_force_when_out_disappeared_meanwhile(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = small_inputs(tmp_path)
    out = make_export(tmp_path / "out", inputs, capsys)
    before_commit(monkeypatch, lambda: out.rename(tmp_path / "moved"))
    code, _, err = run(export_argv(out, inputs, "--force"), capsys)
    assert (code, err.splitlines()[-1] + "\n") == (2, error(f"'{out}' disappeared meanwhile (removed or renamed by "
                                                            "another process); nothing written"))
    assert not os.path.lexists(out) and (tmp_path / "moved" / "manifest.json").is_file()
    assert staging_left(tmp_path) == []


def test_force_when_out_is_taken_after_the_old_export_was_moved_aside(rename_impl: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The old export cannot go back: it is kept (state 'kept', never cleaned) and the message says where."""
    inputs = small_inputs(tmp_path)
    out = make_export(tmp_path / "out", inputs, capsys)
    real = outdir.difference

    def difference(want: outdir.Snapshot, folder: Path) -> str | None:
        out.mkdir()
        (out / "theirs.txt").write_text("not yours")
        return real(want, folder)

    monkeypatch.setattr(outdir, "difference", difference)
    code, _, err = run(export_argv(out, inputs, "--force"), capsys)
    [aside] = [p for p in tmp_path.iterdir() if p.name.endswith(".old")]
    assert (code, err.splitlines()[-1] + "\n") == (2, error(
        f"'{out}' appeared meanwhile (another process created it while this one was writing); nothing written; the "
        f"folder it was to replace is kept at '{aside / 'old'}'"))
    assert sorted(p.name for p in out.iterdir()) == ["theirs.txt"]
    assert (aside / "old" / "manifest.json").is_file() and staging_left(tmp_path) == [aside.name]
    assert staging.read_marker(aside)["state"] == "kept"  # type: ignore[index]
    assert staging.clean_stale(tmp_path) == [] and (aside / "old" / "manifest.json").is_file()


def test_two_real_processes_racing(tmp_path: Path) -> None:
    """End to end: two export processes started together; one exits 0, the other 2, OUT is one whole export."""
    inputs = small_inputs(tmp_path)
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "snncompile", *export_argv(out, inputs, "--bits", str(bits))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for bits in (4, 6)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(err for code, err in results if code == 2).splitlines()[-1]
    assert loser in (appeared(out).strip(), error(f"'{out}' already exists; pass --force to replace it").strip())
    winner_bits = (4, 6)[[code for code, _ in results].index(0)]
    assert json.loads((out / "manifest.json").read_text())["quant_spec"]["weight_bits"] == winner_bits
    assert staging_left(tmp_path) == []
