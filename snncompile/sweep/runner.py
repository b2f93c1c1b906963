"""Run a sweep on Ray: cached configurations reused, the rest as Ray tasks, the table and plot written at the end.

Ray (``pip install 'snncompile[sweep]'``) runs one task per quantisation point (:func:`.tasks.quantise_point`)
and one per configuration (:func:`.tasks.measure_target`), which takes its point's task result by reference, so
a point is quantised once whatever its number of targets, and a slow configuration (synthesis) never holds
up the others. Without an address (and without ``RAY_ADDRESS``) the sweep starts an embedded local Ray
(``num_cpus=workers``, no dashboard, a small object store) and stops it at the end; with one it connects to
that cluster, whose workers must have snncompile (and the target tools) installed. A Ray session the caller
already started is used as it is and left running.

Each finished configuration's row is written to the sweep folder at once (:mod:`.folder`), so an interrupted
sweep resumes where it stopped; ``error`` rows (not a typed refusal) are not cached and run again next time.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DependencyError
from ..graph import Graph
from . import folder as folders
from . import pareto, table, tasks
from .space import Job, Space, data_digest, graph_digest, job_hash

INSTALL = "pip install 'snncompile[sweep]'"
#: object store of the embedded local Ray: the data and QGraphs of a sweep are megabytes, not gigabytes
LOCAL_OBJECT_STORE_BYTES = 256 << 20
CACHED = (tasks.OK, tasks.MISMATCH, tasks.REFUSED)
#: targets whose configurations take long (simulator builds, synthesis): submitted after the quick ones
SLOW = {"rtl": 1}


def _quiet(message: str) -> None:
    del message


@dataclass
class SweepResult:
    """The table (``rows``: one dict per configuration, columns in :data:`.table.COLUMNS`) and what was run."""

    rows: list[dict[str, Any]]
    out: Path | None
    computed: int
    reused: int
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != tasks.OK]

    def front(self, target: str, axis: str = "resource") -> list[dict[str, Any]]:
        """The Pareto front of ``target`` along ``axis`` ("resource" or "latency"), cheapest first."""
        flag, x = ("pareto_resource", "resource") if axis == "resource" else ("pareto_latency", "latency_us")
        return sorted((r for r in self.rows if r["target"] == target and r.get(flag)), key=lambda r: r[x])

    def to_csv(self) -> str:
        return table.to_csv(self.rows)


def require_ray() -> Any:
    """The ray module, or DependencyError with the install command (one line at the CLI)."""
    try:
        import ray
    except ImportError:
        raise DependencyError(f"sweep needs Ray, which is not installed: {INSTALL}") from None
    return ray


def run(graph: Graph, inputs: Mapping[str, np.ndarray], labels: np.ndarray | None, space: Space, *,
        out: str | Path | None = None, model: str = "model", data_note: str = "", force: bool = False,
        address: str | None = None, workers: int | None = None, check_samples: int = 8, progress: bool = True,
        protect: Sequence[str | Path] = (), notes: Callable[[str], None] = _quiet) -> SweepResult:
    """Sweep ``space`` over ``graph`` on ``inputs`` [T, B, ...] per Input (``labels`` [B] or None).

    ``out``: the sweep folder (cache, table, plot; None keeps everything in memory). ``force``: recompute
    cached configurations. ``check_samples``: samples of the bit-exact rung (0 = all). ``workers``: CPUs of
    the embedded local Ray (default: all).
    """
    ray = require_ray()
    space.validate()
    t_start = time.perf_counter()
    jobs = space.jobs()
    n = int(next(iter(inputs.values())).shape[1])
    check_samples = n if check_samples <= 0 else min(check_samples, n)
    model_key, data_key = graph_digest(graph), data_digest(inputs, labels)
    keys = [job_hash(j, model=model_key, data=data_key, check_samples=check_samples, base=space.base) for j in jobs]
    accuracy_name = "accuracy" if labels is not None else "prediction agreement"
    info: dict[str, Any] = {
        "model": model, "data": data_note, "samples": n, "check_samples": check_samples,
        "targets": list(space.targets), "bits": list(space.bits), "state_bits": list(space.state_bits),
        "unroll": list(space.unroll), "lanes": list(space.lanes), "options": {k: dict(v) for k, v in
                                                                             space.options.items()},
        "quant_base": space.base.to_dict(), "accuracy": accuracy_name, "configurations": len(jobs)}
    where = folders.open_folder(out, info, protect=protect) if out is not None else None
    rows: dict[str, dict[str, Any]] = {}
    if where is not None and not force:
        for key in keys:
            row = where.cached(key)
            if row is not None:
                rows[key] = {**row, "reused": True}
    if where is not None and where.resumed:
        notes(f"resuming in {where.shown}: {len(rows)} of {len(jobs)} configurations cached"
              + (" (--force: recomputing all)" if force else ""))
    todo = [(k, j) for k, j in zip(keys, jobs, strict=True) if k not in rows]
    computed = len(todo)
    try:
        if todo:
            _compute(ray, graph, inputs, labels, space, todo, rows, where, address=address, workers=workers,
                     check_samples=check_samples, progress=progress, total=len(jobs), notes=notes, info=info)
    except KeyboardInterrupt:
        if where is not None:
            done = [table.ordered(rows[k]) for k in keys if k in rows]
            _finish(where, done, info | {"status": "interrupted"}, accuracy_name, notes)
            kept = sum(1 for r in done if r["status"] in CACHED)
            notes(f"interrupted: {len(done)} of {len(jobs)} configurations finished, {kept} cached in {where.shown}; "
                  "run the same command again to resume")
        raise
    ordered = [table.ordered(rows[k]) for k in keys]  # every row has every column (None where it has no value)
    info["seconds"] = round(time.perf_counter() - t_start, 2)
    _finish(where, ordered, info | {"status": "complete"}, accuracy_name, notes)
    return SweepResult(ordered, None if where is None else where.path, computed, len(jobs) - computed, info)


def _finish(where: folders.SweepFolder | None, rows: list[dict[str, Any]], info: dict[str, Any],
            accuracy_name: str, notes: Callable[[str], None] = _quiet) -> None:
    for r in rows:
        r["accuracy"] = r.get("accuracy_fixed") if accuracy_name == "accuracy" else r.get("prediction_agreement")
    pareto.mark(rows)
    if where is None:
        return
    where.write("table.csv", table.to_csv(rows).encode())
    where.write("table.json", table.to_json(rows, info).encode())
    import tempfile

    try:
        import matplotlib  # noqa: F401 - in the 'sweep' extra; without it the table is still written
    except ImportError:
        notes(f"pareto.png not written: matplotlib is not installed ({INSTALL})")
        folders.write_header(where, {**info, "counts": _counts(rows)})
        return
    with tempfile.TemporaryDirectory(prefix="snncompile-sweep-plot-") as tmp:
        png = Path(tmp) / "pareto.png"
        title = f"{info['model']}: {accuracy_name} vs cost ({len(rows)} configurations)"
        if pareto.plot(rows, png, title=title, accuracy_name=accuracy_name):
            where.write("pareto.png", png.read_bytes())
    folders.write_header(where, {**info, "counts": _counts(rows)})


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def start(ray: Any, address: str | None, workers: int | None) -> tuple[bool, str]:
    """Connect to ``address`` / RAY_ADDRESS, or start an embedded local Ray; (started by us, description)."""
    if ray.is_initialized():
        return False, "the caller's Ray session"
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR, "configure_logging": True}
    target = address or os.environ.get("RAY_ADDRESS")
    if target:
        ray.init(address=target, **quiet)
        return True, f"Ray cluster at {target}"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # an embedded, private cluster: nothing to report
    cpus = workers or os.cpu_count() or 1
    ray.init(num_cpus=cpus, include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    return True, f"embedded local Ray ({cpus} CPU{'s' if cpus != 1 else ''})"


def _compute(ray: Any, graph: Graph, inputs: Mapping[str, np.ndarray], labels: np.ndarray | None, space: Space,
             todo: list[tuple[str, Job]], rows: dict[str, dict[str, Any]], where: folders.SweepFolder | None, *,
             address: str | None, workers: int | None, check_samples: int, progress: bool, total: int,
             notes: Callable[[str], None], info: dict[str, Any]) -> None:
    from ..reference import run as run_float

    floats = run_float(graph, dict(inputs))  # once, before Ray starts: a bad model or data fails here
    stimuli = {k: np.ascontiguousarray(v[:, :check_samples]) for k, v in inputs.items()}
    t0 = time.perf_counter()
    started, described = start(ray, address, workers)
    info["ray"] = described
    notes(f"{described} started in {time.perf_counter() - t0:.1f} s; {len(todo)} configuration(s) to run")
    try:
        quantise = ray.remote(num_cpus=1)(tasks.quantise_point)
        measure = ray.remote(num_cpus=1)(tasks.measure_target)
        graph_ref, inputs_ref, floats_ref = ray.put(graph), ray.put(dict(inputs)), ray.put(floats)
        stimuli_ref = ray.put(stimuli)
        points: dict[Any, Any] = {}
        pending: dict[Any, tuple[str, Job]] = {}
        for key, job in sorted(todo, key=lambda kj: SLOW.get(kj[1].target, 0)):  # quick results first
            if job.point not in points:
                points[job.point] = quantise.remote(graph_ref, inputs_ref, labels, floats_ref, job.point, space.base)
            pending[measure.remote(points[job.point], stimuli_ref, job)] = (key, job)
        with _Progress(total, total - len(todo), progress, notes) as bar, _cancel_on_interrupt(ray, pending):
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                key, job = pending.pop(ready[0])
                try:
                    result = ray.get(ready[0])
                except Exception as exc:  # noqa: BLE001 - a crashed worker is one failed configuration
                    result = tasks.failure("ray", exc)
                row = {"id": key, **identity(job), **result, "reused": False}
                rows[key] = row
                if where is not None and row["status"] in CACHED:
                    where.store(key, row)
                bar.done(row)
    finally:
        if started:
            ray.shutdown()


@contextmanager
def _cancel_on_interrupt(ray: Any, pending: Mapping[Any, Any]) -> Iterator[None]:
    """On Ctrl-C, cancel the tasks still pending (a session we started is shut down anyway; a cluster is not)."""
    try:
        yield
    except KeyboardInterrupt:
        for ref in list(pending):
            with suppress(Exception):
                ray.cancel(ref, recursive=True)
        raise


def identity(job: Job) -> dict[str, Any]:
    opts = dict(job.options)
    return {"label": job.label, "quantiser": job.point.quantiser, "weight_bits": job.point.weight_bits,
            "state_bits": job.point.state_bits, "target": job.target, "unroll": opts.get("unroll"),
            "lanes": opts.get("lanes")}


class _Progress:
    """A tqdm bar over configurations on a terminal; one line per finished configuration otherwise."""

    def __init__(self, total: int, initial: int, enabled: bool, notes: Callable[[str], None]) -> None:
        self.enabled, self.notes, self.total, self.count = enabled, notes, total, initial
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:  # the 'sweep' extra brings it; without it, the lines below
                return
            self.bar = tqdm(total=total, initial=initial, unit="config", desc="sweep", file=sys.stderr,
                            dynamic_ncols=True)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def done(self, row: Mapping[str, Any]) -> None:
        self.count += 1
        acc = row.get("accuracy_fixed")
        acc = row.get("prediction_agreement") if acc is None else acc
        text = f"{row['label']}: {row['status']}" + (f", accuracy {acc:.4f}" if isinstance(acc, float) else "")
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.enabled:
            self.notes(f"[{self.count}/{self.total}] {text} ({row.get('seconds', 0):.1f} s)")
