"""One fuzz case through write -> ``snncompile.load`` -> QuantSpec -> quantise -> every backend, and the tally of
many (tests/fuzz/test_fuzz.py runs a few dozen, benchmarks/fuzz.py thousands).

Per backend: bitsim, hls, onnx and loihi go through ``snncompile.verify.check_backend`` (emit into a temporary
folder, run the artifacts, compare every trace with bitsim's plain executor); rtl is simulated in Icarus
(``check_backend`` would emit with Verilator, 10 s a build) -- the QGraph directly, or for one case in four the
emitted project (whose testbench checks golden.txt) -- and compared with ``run_plain`` by ``==``.

What counts as a bug (:attr:`Outcome.bugs`): an exception that is not a ``SnnCompileError`` (or one with an
empty message), a FAIL rung, a BackendError (a toolchain refusing what a backend generated), a file written
outside the case's work folder. Refusals (any other ``SnnCompileError``) are recorded by stage and class.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fuzz_cases import FuzzCase
from snncompile.backends import available, get
from snncompile.backends.bitsim import run_plain

import snncompile
from snncompile.errors import SnnCompileError
from snncompile.quant.targets import quantize_for
from snncompile.verify import FAIL, check_backend

REPO = Path(__file__).resolve().parents[2]
BACKENDS = tuple(available())
#: not the project's files: the interpreter's byte code, tool caches, the venvs
IGNORED_DIRS = {".git", ".venv", ".venv-ci", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
                ".hypothesis", "snncompile.egg-info"}
#: what libraries write into TMPDIR on their own, once per process: onnxruntime's session id file
THIRD_PARTY_TMP = {".ses"}


@dataclass
class Outcome:
    """How far a case got and what each backend said."""

    stage: str = "write"  # the last stage reached: write, load, spec, quantise, backends
    refused: str = ""  # the SnnCompileError class that stopped the case before the backends
    message: str = ""
    backends: dict[str, str] = field(default_factory=dict)  # name -> PASS, FAIL or the refusal's class
    details: dict[str, str] = field(default_factory=dict)  # name -> the refusal's message or the first mismatch
    unexpected: list[str] = field(default_factory=list)  # "<stage>: <Class>: <message>" + traceback
    outside: list[str] = field(default_factory=list)  # files created or changed outside the work folder
    left: list[str] = field(default_factory=list)  # files left behind in TMPDIR or the working directory
    generator: str = ""  # nir.write refused the case (the generator's problem, not snncompile's)
    seconds: float = 0.0

    @property
    def bugs(self) -> list[str]:
        """Unexpected exceptions, FAIL rungs, toolchain failures (gcc, Icarus or the testbench refusing what a
        backend generated) and files written outside the work folder."""
        bad = (FAIL, "BackendError")
        fails = [f"{b}: {s} {self.details.get(b, '')}" for b, s in self.backends.items() if s in bad]
        return [*self.unexpected, *fails, *(f"written outside the work folder: {p}" for p in self.outside)]


class OutsideWatch:
    """What a case wrote outside its work folder, seen two ways:

    * every write from Python (open for writing, mkdir, rename, replace, remove, rmtree, copy, chmod, utime,
      tempfile) through ``sys.addaudithook`` -- installed once per process, idle between :meth:`start` and
      :meth:`stop`; exact, and blind to other processes on the machine (other engineers' runs in /tmp);
    * a before/after listing (mtime, size) of the repository and the default cache (~/.cache/snncompile), for what
      the audit hook cannot see: HDF5's C library (h5py), compilers and simulators run as subprocesses.

    The interpreter's own byte code (``__pycache__``) and /dev are not counted.
    """

    _active: OutsideWatch | None = None
    _installed = False

    def __init__(self) -> None:
        self.cache = Path.home() / ".cache" / "snncompile"
        self.allowed = ""
        self.seen: set[str] = set()
        self.before: dict[str, tuple[int, int]] = {}

    def start(self, work: Path) -> None:
        if not OutsideWatch._installed:
            sys.addaudithook(OutsideWatch._hook)
            OutsideWatch._installed = True
        self.allowed = os.path.realpath(work) + os.sep
        self.seen = set()
        self.before = self.snapshot()
        OutsideWatch._active = self

    def stop(self) -> list[str]:
        OutsideWatch._active = None
        after = self.snapshot()
        changed = {p for p, st in after.items() if self.before.get(p) != st}
        changed |= {p for p in self.before if p not in after}
        return sorted(self.seen | changed)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        for root in (REPO, self.cache):
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if d not in IGNORED_DIRS]
                for name in filenames:
                    with contextlib.suppress(OSError):
                        st = os.lstat(os.path.join(dirpath, name))
                        files[os.path.join(dirpath, name)] = (st.st_mtime_ns, st.st_size)
        return files

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        watch = OutsideWatch._active
        if watch is None or event not in _WRITE_EVENTS:
            return
        OutsideWatch._active = None  # the checks below call os functions that raise audit events themselves
        try:
            for path in _written_paths(event, args):
                real = os.path.realpath(os.path.abspath(os.fsdecode(path)))
                if not (real + os.sep).startswith(watch.allowed) and not _exempt(real):
                    watch.seen.add(f"{real} ({event})")
        finally:
            OutsideWatch._active = watch


#: audit event -> (indices of the arguments that are paths written, indices of their dir_fd arguments)
_WRITE_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "open": ((0,), ()), "os.mkdir": ((0,), (2,)), "os.rename": ((0, 1), (2, 3)), "os.replace": ((0, 1), (2, 3)),
    "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.symlink": ((1,), (2,)), "os.link": ((1,), (2, 3)),
    "os.truncate": ((0,), ()), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)), "os.utime": ((0,), (3,)),
    "shutil.rmtree": ((0,), ()), "shutil.copyfile": ((1,), ()), "shutil.copymode": ((1,), ()),
    "shutil.copystat": ((1,), ()), "shutil.move": ((0, 1), ()), "tempfile.mkstemp": ((0,), ()),
    "tempfile.mkdtemp": ((0,), ()),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _written_paths(event: str, args: tuple[Any, ...]) -> list[Any]:
    if event == "open":
        path, mode, flags = args
        writing = any(ch in mode for ch in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
        return [path] if writing and isinstance(path, (str, bytes, os.PathLike)) else []
    where, fds = _WRITE_EVENTS[event]
    paths = [args[i] for i in where if i < len(args) and isinstance(args[i], (str, bytes, os.PathLike))]
    # CPython passes dir_fd -1 when none is given; a path relative to a real one (shutil.rmtree's walk) was
    # reported by the call that opened the directory
    if any(i < len(args) and isinstance(args[i], int) and args[i] >= 0 for i in fds):
        paths = [p for p in paths if os.path.isabs(os.fsdecode(p))]
    return paths


def _exempt(path: str) -> bool:
    return path.startswith("/dev/") or f"{os.sep}__pycache__{os.sep}" in path


@contextlib.contextmanager
def sandbox(work: Path) -> Iterator[Path]:
    """TMPDIR (and tempfile's cached choice), SNNCOMPILE_CACHE and the working directory inside ``work``; the
    cache is shared by the cases of a run (bitsim's C kernels compile once)."""
    tmp, cache, cwd = work / "tmp", work / "cache", work / "cwd"
    for d in (tmp, cache, cwd):
        d.mkdir(parents=True, exist_ok=True)
    saved_env = {k: os.environ.get(k) for k in ("TMPDIR", "SNNCOMPILE_CACHE")}
    saved_tempdir, saved_cwd = tempfile.tempdir, os.getcwd()
    os.environ.update(TMPDIR=str(tmp), SNNCOMPILE_CACHE=str(cache))
    tempfile.tempdir = str(tmp)
    os.chdir(cwd)
    try:
        yield work
    finally:
        os.chdir(saved_cwd)
        tempfile.tempdir = saved_tempdir
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: FuzzCase, work: Path, watch: OutsideWatch, *, simulator: str = "icarus") -> Outcome:
    """Run ``case`` inside ``sandbox(work)`` (the caller's); the case's own files go to ``work/case``; ``watch``
    records what it writes outside ``work``."""
    out = Outcome()
    start = time.perf_counter()
    watch.start(work)
    folder = work / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        _pipeline(case, folder, out, simulator)
    finally:
        out.outside = watch.stop()
        for d in (work / "tmp", work / "cwd"):
            for p in sorted(d.iterdir()):
                if p.name not in THIRD_PARTY_TMP:
                    out.left.append(str(p.relative_to(work)))
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink()
        out.seconds = time.perf_counter() - start
    return out


def _pipeline(case: FuzzCase, folder: Path, out: Outcome, simulator: str) -> None:
    path = folder / "case.nir"
    try:
        case.write(path)
    except Exception as exc:  # noqa: BLE001 - nir.write or h5py refused what the generator made
        out.generator = f"{type(exc).__name__}: {exc}"
        return
    out.stage = "load"
    graph = _stage(out, "load", lambda: snncompile.load(str(path), **case.load))
    if graph is None:
        return
    out.stage = "spec"
    spec = _stage(out, "spec", lambda: snncompile.QuantSpec.from_dict(dict(case.spec)))
    if spec is None:
        return
    out.stage = "quantise"
    x = case.spikes(graph.inputs, graph.shapes)
    calib = x if case.calib == "inputs" else None
    targets = ["loihi"] if case.quantiser == "loihi" else []
    qgraph = _stage(out, "quantise", lambda: quantize_for(graph, spec, calib, targets))
    if qgraph is None:
        return
    out.stage = "backends"
    for name in BACKENDS:
        try:
            status, detail = _run_backend(name, qgraph, x, simulator, emit=case.spike_seed % 4 == 0)
        except SnnCompileError as exc:
            status, detail = type(exc).__name__, str(exc)
            if not detail.strip():
                out.unexpected.append(f"{name}: {type(exc).__name__} with an empty message")
        except Exception as exc:  # noqa: BLE001 - the fuzzer's finding
            status, detail = "unexpected", f"{type(exc).__name__}: {exc}"
            out.unexpected.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        out.backends[name], out.details[name] = status, detail


def _stage(out: Outcome, stage: str, fn: Any) -> Any:
    """``fn()``; None (and the refusal or the unexpected exception recorded) when it raises."""
    try:
        return fn()
    except SnnCompileError as exc:
        out.refused, out.message = type(exc).__name__, str(exc)
        if not out.message.strip():
            out.unexpected.append(f"{stage}: {type(exc).__name__} with an empty message")
    except Exception as exc:  # noqa: BLE001 - the fuzzer's finding
        out.refused, out.message = "unexpected", f"{type(exc).__name__}: {exc}"
        out.unexpected.append(f"{stage}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    return None


def _run_backend(name: str, qgraph: Any, x: dict[str, np.ndarray], simulator: str, emit: bool) -> tuple[str, str]:
    if name != "rtl":
        rung = check_backend(qgraph, name, x)
        text = rung.first_mismatch.text() if rung.first_mismatch else rung.message
        return rung.status, text
    backend = get(name)
    backend.check(qgraph)
    if emit:  # the exported project: its testbench checks golden.txt itself, then run() reads the project back
        with tempfile.TemporaryDirectory(prefix="snncompile-fuzz-rtl-") as tmp:
            backend.emit(qgraph, Path(tmp) / "rtl", x, simulator=simulator)  # type: ignore[call-arg]
            got = backend.run(Path(tmp) / "rtl", x)
    else:
        got = backend.run(qgraph, x, simulator=simulator)  # type: ignore[call-arg]
    problem = trace_difference(run_plain(qgraph, x), got)
    return ("FAIL", problem) if problem else ("PASS", "")


def trace_difference(want: Mapping[str, Mapping[str, np.ndarray]], got: Mapping[str, Mapping[str, np.ndarray]]
                     ) -> str:
    """'' when every trace of ``want`` is in ``got`` with the same shape and values, else the first difference."""
    for node, keys in want.items():
        for key, w in keys.items():
            g = got.get(node, {}).get(key)
            if g is None or np.shape(g) != np.shape(w):
                return f"node '{node}' {key}: {'missing' if g is None else f'shape {np.shape(g)}'} != {np.shape(w)}"
            diff = np.argwhere(np.asarray(g) != np.asarray(w))
            if diff.size:
                idx = tuple(int(i) for i in diff[0])
                return (f"node '{node}' {key}: {len(diff)} mismatches, first at (t, b, neuron) {idx}: "
                        f"expected {w[idx]}, got {g[idx]}")
    return ""


# -- the tally --------------------------------------------------------------------------------------------------------

@dataclass
class Tally:
    cases: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    bugs: list[tuple[str, list[str]]] = field(default_factory=list)  # (case id, findings)
    mutations: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    seconds: float = 0.0

    def add(self, case_id: str, case: FuzzCase, out: Outcome) -> None:
        c = self.counts
        self.cases += 1
        self.seconds += out.seconds
        kind = "mutated" if case.mutation else "valid"
        c[f"cases {kind}"] += 1
        if out.generator:
            c["generator: nir.write refused"] += 1
        elif out.stage == "timeout":
            c["timed out"] += 1
        elif out.stage == "load" and out.refused:
            c[f"refused at load ({kind}): {out.refused}"] += 1
        else:
            c[f"loaded OK ({kind})"] += 1
        if out.stage == "spec" and out.refused:
            c[f"refused at QuantSpec ({kind}): {out.refused}"] += 1
        if out.stage == "quantise" and out.refused:
            c[f"refused at quantise ({kind}): {out.refused}"] += 1
        if out.stage == "backends":
            c[f"quantised ({kind})"] += 1
            for b, status in out.backends.items():
                c[f"backend {b}: {status}"] += 1
        if case.mutation:
            reached = "backends" if out.stage == "backends" else f"refused at {out.stage}" if out.refused else out.stage
            self.mutations[case.mutation.split(":")[0]][reached] += 1
        c["unexpected exceptions"] += len(out.unexpected)
        c["files outside tmp"] += len(out.outside)
        c["files left in TMPDIR / cwd"] += len(out.left)
        if out.bugs:
            self.bugs.append((case_id, out.bugs))

    def table(self) -> str:
        rows = [("cases", str(self.cases))]
        for prefix in ("cases ", "generator", "timed out", "loaded OK", "refused at load", "refused at QuantSpec",
                       "refused at quantise", "quantised"):
            rows += [(k, str(v)) for k, v in sorted(self.counts.items()) if k.startswith(prefix)]
        for b in BACKENDS:
            cells = {k.split(": ", 1)[1]: v for k, v in self.counts.items() if k.startswith(f"backend {b}: ")}
            order = ["PASS", "FAIL", *sorted(s for s in cells if s not in ("PASS", "FAIL"))]
            rows.append((f"backend {b}", ", ".join(f"{s} {cells.get(s, 0)}" for s in order)))
        for k in ("unexpected exceptions", "files outside tmp", "files left in TMPDIR / cwd"):
            rows.append((k, str(self.counts.get(k, 0))))
        rows.append(("seconds (sum over cases)", f"{self.seconds:.0f}"))
        width = max(len(k) for k, _ in rows)
        return "".join(f"{k.ljust(width)}  {v}\n" for k, v in rows)

    def mutation_table(self) -> str:
        """Per mutation kind: how many cases, and where they stopped (a mutated case may still be valid: a zero
        bias, a float16 weight)."""
        stops = ["refused at load", "refused at spec", "refused at quantise", "backends"]
        stops += sorted({k for m in self.mutations.values() for k in m} - set(stops))
        rows = [["mutation", "cases", *stops]]
        for name in sorted(self.mutations):
            m = self.mutations[name]
            rows.append([name, str(sum(m.values())), *(str(m.get(k, 0)) for k in stops)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() + "\n"
                       for r in rows)
