"""Build the generated C once per content hash and run it in-process (ctypes) as a fast simulator.

The shared library holds snn.c and the batch driver snn_sim.c, compiled with the
same warning flags as the project's Makefile (plus -fPIC). Builds live in
``$SNNCOMPILE_CACHE/hls/<hash>`` (default ``~/.cache/snncompile/hls/<hash>``) and
are reused across processes; a build is written to an owner-marked staging folder
(``.build-*``, :mod:`snncompile.staging`) and renamed; staging folders of killed builds are
removed by the next build.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from snncompile import staging
from snncompile.atomic import FileContent, rename_noreplace
from snncompile.errors import BackendError

from .binfmt import TraceSpec
from .project import CFLAGS

LIB_NAME = "libsnn.so"
LIB_SOURCES = ("snn.c", "snn_sim.c")
BLOB_SOURCE = "weights_bin.S"
_loaded: dict[Path, ctypes.CDLL] = {}


class _TraceEntry(ctypes.Structure):
    _fields_ = [("node", ctypes.c_char_p), ("key", ctypes.c_char_p), ("shape", ctypes.c_char_p),
                ("data", ctypes.c_void_p), ("type", ctypes.c_int), ("size", ctypes.c_uint32)]


def cache_root() -> Path:
    base = os.environ.get("SNNCOMPILE_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "snncompile") / "hls"


def compiler() -> str:
    return os.environ.get("CC", "gcc")


def run_checked(cmd: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    """Run a toolchain command; BackendError with the command and the stderr tail when it fails."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackendError(f"hls: {what}: cannot run {' '.join(cmd)}: {exc}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise BackendError(f"hls: {what} failed (exit {proc.returncode}): {' '.join(cmd)} (in {cwd})\n{tail}")
    return proc


def build(files: Mapping[str, FileContent]) -> Path:
    """The shared library built from ``files`` (name -> C text, or bytes), from the cache when already built.

    With weights_bin.S among them, the large arrays come from weights.bin (``-DSNN_WEIGHTS_BIN``)."""
    blobs = ["-DSNN_WEIGHTS_BIN", BLOB_SOURCE] if BLOB_SOURCE in files else []
    cmd = [compiler(), *CFLAGS.split(), "-fPIC", "-shared", "-o", LIB_NAME, *LIB_SOURCES, *blobs]
    digest = hashlib.sha256(" ".join(cmd).encode())
    for name in sorted(files):
        data = files[name]
        digest.update(name.encode() + b"\0")
        digest.update(data.encode() if isinstance(data, str) else data)  # bytes-like: hashed where it lies
        digest.update(b"\0")
    final = cache_root() / digest.hexdigest()[:24]
    if (final / LIB_NAME).is_file():
        return final / LIB_NAME
    final.parent.mkdir(parents=True, exist_ok=True)
    root = staging.make(final.parent, ".build-")  # owner-marked: a killed build's folder is removed by a later one
    try:
        tmp = root / staging.CONTENT
        tmp.mkdir()
        for name, data in files.items():
            if isinstance(data, str):
                (tmp / name).write_text(data)
            else:
                (tmp / name).write_bytes(data)
        run_checked(cmd, tmp, "gcc build of the simulator library")
        try:
            rename_noreplace(tmp, final)
        except FileExistsError:  # built concurrently by another process: keep theirs
            if not (final / LIB_NAME).is_file():
                raise BackendError(f"hls: the cache entry {final} exists but holds no {LIB_NAME}; "
                                   "remove it to rebuild") from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return final / LIB_NAME


def load(lib_path: Path) -> ctypes.CDLL:
    if lib_path not in _loaded:
        lib = ctypes.CDLL(str(lib_path))
        lib.snn_sim_batch.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
        lib.snn_sim_batch.restype = ctypes.c_int
        lib.snn_sim_n_traces.restype = ctypes.c_uint32
        lib.snn_sim_trace.argtypes = [ctypes.c_uint32]
        lib.snn_sim_trace.restype = ctypes.POINTER(_TraceEntry)
        _loaded[lib_path] = lib
    return _loaded[lib_path]


def library_layout(lib: ctypes.CDLL) -> list[TraceSpec]:
    """The trace table compiled into the library, as golden.bin's layout."""
    out = []
    for k in range(lib.snn_sim_n_traces()):
        e = lib.snn_sim_trace(k).contents
        shape = tuple(int(s) for s in e.shape.decode().split(",") if s)
        out.append(TraceSpec(e.node.decode("utf-8"), e.key.decode(), shape))
    return out


def simulate(lib_path: Path, stimuli: np.ndarray,
             names: Mapping[str, str] | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Run uint8 stimuli [B, T, n_in] through the library; bitsim's traces {node: {key: [T, B, ...]}}.

    The library writes one time-major block per trace (see snn_sim.c); each trace is a view of its block.
    ``names`` maps the trace table's labels back to node names (a long name is cut in the C).
    """
    lib = load(lib_path)
    layout = library_layout(lib)
    B, T, _ = stimuli.shape
    flat = np.empty(T * B * sum(t.size for t in layout), dtype=np.int64)
    data = np.ascontiguousarray(stimuli, dtype=np.uint8)
    lib.snn_sim_batch(B, T, data.ctypes.data, flat.ctypes.data)
    out: dict[str, dict[str, np.ndarray]] = {}
    start = 0
    for spec in layout:
        node = spec.node if names is None else names.get(spec.node, spec.node)
        out.setdefault(node, {})[spec.key] = flat[start:start + T * B * spec.size].reshape(T, B, *spec.shape)
        start += T * B * spec.size
    return out
