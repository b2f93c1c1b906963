"""The sweep's grid, configuration hashes, Pareto fronts, table and output folder (no Ray needed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import snncompile as sc
from snncompile.errors import InputError, QuantizationError, UnsupportedNodeError
from snncompile.sweep import folder as folders
from snncompile.sweep import pareto, table
from snncompile.sweep.space import Job, QuantPoint, Space, graph_digest, job_hash, parse_ints


@pytest.mark.parametrize(("text", "want"), [
    ("4", (4,)), ("2..5", (2, 3, 4, 5)), ("8,2,4", (2, 4, 8)), ("2..3,8,3", (2, 3, 8)),
])
def test_parse_ints(text: str, want: tuple[int, ...]) -> None:
    assert parse_ints(text, "--bits") == want


def test_parse_ints_auto_sorts_first() -> None:
    assert parse_ints("24,auto,16", "--state-bits", auto=True) == (None, 16, 24)


@pytest.mark.parametrize(("text", "message"), [
    ("x", "--bits 'x': 'x' is not an integer or a range LO..HI (use '4', '2..8', '2,4,8')"),
    ("8..2", "--bits '8..2': the range 8..2 is empty (LO..HI needs LO <= HI)"),
    ("auto", "--bits 'auto': 'auto' is not an integer or a range LO..HI (use '4', '2..8', '2,4,8')"),
    ("1..100", "--bits '1..100': the range 1..100 has 100 values, more than 65"),
])
def test_parse_ints_refuses(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_ints(text, "--bits")
    assert str(err.value) == message


def test_jobs_cross_bits_targets_and_axes() -> None:
    space = Space(bits=(3, 4), state_bits=(None, 16), targets=("hls", "rtl", "loihi"), unroll=(1, 4), lanes=(8,))
    jobs = space.jobs()
    # 4 generic points x (hls x 2 unroll + rtl x 1 lanes) + one Loihi point (Loihi fixes its own widths)
    assert len(jobs) == 4 * 3 + 1
    assert [j.label for j in jobs[:3]] == ["3b hls unroll=1", "3b hls unroll=4", "3b rtl lanes=8"]
    assert jobs[-1] == Job(QuantPoint("loihi", None, None), "loihi", ())
    assert len({(j.point, j.target, j.options) for j in jobs}) == len(jobs)


def test_validate_refuses_before_work() -> None:
    with pytest.raises(UnsupportedNodeError, match="unknown target 'fpga'; available targets: bitsim, hls"):
        Space(targets=("fpga",)).validate()
    with pytest.raises(QuantizationError, match="QuantSpec: weight_bits=1 is outside 2..16"):
        Space(bits=(1, 2)).validate()
    with pytest.raises(QuantizationError, match=r"state_bits=40 is outside 8..32"):
        Space(bits=(4,), state_bits=(40,)).validate()
    with pytest.raises(InputError, match="unroll must be one or more integers >= 1, got \\[0\\]"):
        Space(unroll=(0,)).validate()


def test_job_hash_names_everything_the_result_depends_on() -> None:
    g = sc.load("digits-mlp")
    base = sc.QuantSpec()
    job = Job(QuantPoint("generic", 4, None), "hls", (("unroll", 1),))
    args = {"model": graph_digest(g), "data": "d", "check_samples": 8, "base": base}
    h = job_hash(job, **args)
    assert h == job_hash(job, **args) and len(h) == 16
    variants = [
        job_hash(Job(QuantPoint("generic", 5, None), "hls", (("unroll", 1),)), **args),
        job_hash(Job(QuantPoint("generic", 4, 16), "hls", (("unroll", 1),)), **args),
        job_hash(Job(job.point, "hls", (("unroll", 2),)), **args),
        job_hash(Job(job.point, "rtl", (("unroll", 1),)), **args),
        job_hash(job, **{**args, "data": "e"}),
        job_hash(job, **{**args, "check_samples": 4}),
        job_hash(job, **{**args, "base": sc.QuantSpec(granularity="tensor")}),
        job_hash(job, **{**args, "model": graph_digest(sc.load("digits-cnn"))}),
    ]
    assert len({h, *variants}) == 1 + len(variants)


def test_graph_digest_sees_a_weight_change() -> None:
    g = sc.load("digits-mlp")
    node = g.nodes["0"]
    w = node.weight.copy()  # type: ignore[attr-defined]
    w[0, 0] += 1e-9
    changed = g.replace_node("0", type(node)(**{**node.params(), "weight": w}))
    assert graph_digest(g) == graph_digest(sc.load("digits-mlp"))
    assert graph_digest(changed) != graph_digest(g)


def _row(ident: str, acc: float, res: float, lat: float | None = None, target: str = "hls",
         status: str = "ok") -> dict[str, object]:
    return {"id": ident, "target": target, "accuracy": acc, "resource": res, "latency_us": lat, "status": status}


def test_front_is_the_non_dominated_set_per_target() -> None:
    rows = [_row("a", 0.90, 10), _row("b", 0.95, 20), _row("c", 0.93, 25), _row("d", 0.95, 20),
            _row("e", 0.99, 40), _row("f", 0.20, 5), _row("g", 0.99, 1, status="mismatch"),
            _row("h", 0.10, 100, target="rtl")]
    # c is dominated by b; d ties b exactly (both stay); g failed its rung; h is alone on its target's front
    assert pareto.front(rows, "resource") == {"a", "b", "d", "e", "f", "h"}
    assert pareto.front(rows, "latency_us") == set()


def test_csv_has_every_column_and_row() -> None:
    rows = [{"id": "x1", "label": "4b hls", "weight_bits": 4, "state_bits": None, "status": "ok", "accuracy": 0.5,
             "reused": False}]
    parsed = list(csv.DictReader(io.StringIO(table.to_csv(rows))))
    assert list(parsed[0]) == list(table.COLUMNS)
    assert parsed[0]["weight_bits"] == "4" and parsed[0]["state_bits"] == "" and parsed[0]["reused"] == "false"
    doc = json.loads(table.to_json(rows, {"model": "m"}))
    assert doc["rows"][0]["state_bits"] is None and doc["info"] == {"model": "m"}


def test_folder_new_then_resumed(tmp_path: Path) -> None:
    out = tmp_path / "a" / "sweep"
    f = folders.open_folder(out, {"model": "m"})
    assert not f.resumed and json.loads((out / "sweep.json").read_text())["kind"] == "snncompile sweep"
    f.store("abc", {"id": "abc", "status": "ok"})
    again = folders.open_folder(out, {"model": "m"})
    assert again.resumed and again.cached("abc") == {"id": "abc", "status": "ok"}
    assert again.cached("other") is None
    (out / "points" / "bad.json").write_text("{not json")
    assert again.cached("bad") is None


def test_folder_refuses_what_a_sweep_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "keep.txt").write_text("mine")
    export = tmp_path / "export"
    export.mkdir()
    (export / "manifest.json").write_text(json.dumps({"snncompile": "0.1.0", "targets": ["hls"], "files": []}))
    (tmp_path / "link").symlink_to(tmp_path / "plain")
    cases = {
        "file": "is a file, not a folder",
        "plain": "is not a sweep folder (it has no sweep.json)",
        "export": "is not a sweep folder (it has no sweep.json)",
        "link": "is a symbolic link",
        "file/sub": "is a file, not a folder",
    }
    for name, why in cases.items():
        with pytest.raises(InputError) as err:
            folders.open_folder(tmp_path / name, {})
        assert str(err.value).startswith(f"-o '{tmp_path / name}'"), str(err.value)
        assert why in str(err.value), str(err.value)
    assert (tmp_path / "plain" / "keep.txt").read_text() == "mine" and sorted(p.name for p in export.iterdir()) == [
        "manifest.json"]


def test_folder_refuses_one_holding_an_input(tmp_path: Path) -> None:
    out = tmp_path / "s"
    folders.open_folder(out, {})
    data = out / "data.npz"
    data.write_bytes(b"")
    with pytest.raises(InputError, match="holds the input file"):
        folders.open_folder(out, {}, protect=[data])


def test_a_core_spec_file_is_hashed_by_its_content(tmp_path: Path) -> None:
    spec = tmp_path / "chip.json"
    spec.write_text('{"name": "a"}')
    job = Job(QuantPoint("loihi", None, None), "loihi", (("core_spec", str(spec)),))
    args = {"model": "m", "data": "d", "check_samples": 8, "base": sc.QuantSpec()}
    before = job_hash(job, **args)
    spec.write_text('{"name": "b"}')
    assert job_hash(job, **args) != before


def test_table_is_written_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plot is optional: without matplotlib the table and sweep.json are written and a note says why."""
    import sys

    from snncompile.sweep.runner import _finish

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    where = folders.open_folder(tmp_path / "s", {})
    rows = [{"id": "a", "label": "4b hls", "target": "hls", "weight_bits": 4, "status": "ok", "accuracy_fixed": 0.9,
             "resource": 10, "latency_us": 1.0}]
    notes: list[str] = []
    _finish(where, rows, {"model": "m"}, "accuracy", notes.append)
    assert sorted(p.name for p in where.path.iterdir()) == ["sweep.json", "table.csv", "table.json"]
    assert notes == ["pareto.png not written: matplotlib is not installed (pip install 'snncompile[sweep]')"]
    assert rows[0]["accuracy"] == 0.9 and rows[0]["pareto_resource"] is True


class FakeRay:
    """Records how the sweep calls ray.init (the real one is exercised in test_ray_sweep.py)."""

    def __init__(self, initialized: bool = False) -> None:
        self.initialized, self.calls = initialized, []  # type: list[dict[str, object]]

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs: object) -> None:
        self.calls.append(kwargs)


def test_ray_address_is_honoured_and_the_embedded_ray_is_small(monkeypatch: pytest.MonkeyPatch) -> None:
    from snncompile.sweep.runner import LOCAL_OBJECT_STORE_BYTES, start

    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    fake = FakeRay()
    assert start(fake, None, None) == (True, "Ray cluster at 10.0.0.1:6379")
    assert fake.calls[0]["address"] == "10.0.0.1:6379" and "num_cpus" not in fake.calls[0]
    assert start(fake, "head:6379", None) == (True, "Ray cluster at head:6379")  # --address wins over the variable
    monkeypatch.delenv("RAY_ADDRESS")
    fake = FakeRay()
    assert start(fake, None, 3) == (True, "embedded local Ray (3 CPUs)")
    assert {k: fake.calls[0][k] for k in ("num_cpus", "include_dashboard", "object_store_memory", "log_to_driver")} \
        == {"num_cpus": 3, "include_dashboard": False, "object_store_memory": LOCAL_OBJECT_STORE_BYTES,
            "log_to_driver": False}
    assert "address" not in fake.calls[0]
    owned = FakeRay(initialized=True)
    assert start(owned, "head:6379", 2) == (False, "the caller's Ray session") and owned.calls == []
