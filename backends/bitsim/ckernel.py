"""bitsim's C kernels (``kernels.c``): compiled once with gcc, cached by content hash, loaded with ctypes.

The library is built into ``$SNNCOMPILE_CACHE`` (default ``~/.cache/snncompile``)
under ``bitsim/`` as ``kernels-<hash>.so``; the hash covers the C source, the
compiler command and the compiler's version, so a changed source or toolchain
gets a new file. The build writes into an owner-marked staging folder (``.build-*``,
:mod:`snncompile.staging`) and renames the library out of it, so two processes
building at once cannot load a half-written library, and a build killed midway
leaves a folder the next build recognises and removes.

Every option of :class:`~snncompile.semantics.Semantics` that the numpy neuron
(:mod:`.neuron`) reads is encoded here and implemented in C; ``neuron_options``
raises ``UnsupportedNodeError`` for anything it does not know (:func:`unsupported`;
the fast paths then use the numpy neuron), so a new option cannot silently run
with the wrong rule. The definition's operand check (it
refuses a step whose input or decay operand could overflow int64) is mirrored:
the kernel stops at the first refused step and the caller lets the numpy
definition raise its own error there (:func:`safe_limits`, :func:`operand_checks`).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from snncompile import staging
from snncompile.errors import BackendError, UnsupportedNodeError
from snncompile.quant.clamps import ClampCounter
from snncompile.quant.qnodes import CUBA_KINDS, QNeuron
from snncompile.semantics import Semantics

from .neuron import IntNeuronState

SOURCE = Path(__file__).with_name("kernels.c")
#: -fwrapv: signed overflow wraps modulo 2^64 as numpy's int64 does (the kernels rely on it)
CFLAGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fwrapv", "-fvect-cost-model=dynamic",
          "-pthread", "-fPIC", "-shared")
ABI_VERSION = 8
#: threads for large calls (the CPUs this process may run on); results never depend on it
THREADS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1), 64)
#: elements of work (neuron-steps, or inputs scanned + outputs written) per extra thread
WORK_PER_THREAD = 1 << 16

_LOADED: dict[tuple[Path, str], CKernels] = {}

_RESET = {"zero": 0, "subtract": 1, "none": 2}
_TIMING = {"immediate": 0, "delayed": 1, "snntorch_immediate": 2}
_ROUNDING = {"toward_zero": 0, "floor": 1, "nearest": 2, "shift_subtract": 3}
_OVERFLOW = {"saturate": 0, "wrap": 1, "wrap_loihi": 2}
_KNOWN = {
    "compare": ("gt", "ge"), "reset": tuple(_RESET), "timing": tuple(_TIMING), "delayed_zero": ("state", "total"),
    "synapse_delay": (0, 1), "spikes": ("binary", "multi"), "initial_v": ("zero", "v_init"),
    "synapse_order": ("decay_then_add", "add_then_decay"), "rounding": tuple(_ROUNDING),
    "overflow_i": tuple(_OVERFLOW), "overflow_v": tuple(_OVERFLOW),
}


def cache_dir() -> Path:
    """Where compiled kernels live: ``$SNNCOMPILE_CACHE`` or ``~/.cache/snncompile``."""
    root = os.environ.get("SNNCOMPILE_CACHE") or str(Path.home() / ".cache" / "snncompile")
    return Path(root) / "bitsim"


def compiler_available(cc: str = "gcc") -> bool:
    return shutil.which(cc) is not None


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendError(f"bitsim C kernels: cannot run `{' '.join(cmd)}`: {exc}") from exc


_LOCAL_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def _source_text(source_file: Path, seen: frozenset[Path] = frozenset()) -> str:
    """``source_file`` with every file it includes with quotes (its own parts: kernels.c includes
    kernels_chain.h and kernels_gemm.h), recursively: what the library's hash must cover."""
    text = source_file.read_text()
    parts = [text]
    for name in _LOCAL_INCLUDE.findall(text):
        part = (source_file.parent / name).resolve()
        if part not in seen:
            parts.append(_source_text(part, seen | {part}))
    return "\0".join(parts)


def build(directory: Path | None = None, cc: str = "gcc", source_file: Path = SOURCE) -> Path:
    """Compile ``kernels.c`` (or another C file of bitsim's, e.g. ``xylo.c``) unless a library with the same hash
    exists, and return the library path."""
    if shutil.which(cc) is None:
        raise BackendError(f"bitsim C kernels: compiler `{cc}` not found on PATH (command: {cc} {' '.join(CFLAGS)} "
                           f"{SOURCE.name} -o kernels.so); use another bitsim path, e.g. path='float_gemm'")
    source = _source_text(source_file)
    version = _run([cc, "--version"]).stdout.splitlines()[:1]
    digest = hashlib.sha256("\0".join([source, cc, *CFLAGS, *version]).encode()).hexdigest()[:16]
    directory = directory or cache_dir()
    lib = directory / f"{source_file.stem}-{digest}.so"
    if lib.exists():
        return lib
    try:
        directory.mkdir(parents=True, exist_ok=True)
        root = staging.make(directory, ".build-")  # owner-marked: a killed build's folder is removed by a later one
    except OSError as exc:
        raise BackendError(f"bitsim C kernels: cannot write to cache directory {directory}: {exc} "
                           "(set SNNCOMPILE_CACHE to a writable directory)") from exc
    try:
        tmp = root / staging.CONTENT
        cmd = [cc, *CFLAGS, str(source_file), "-o", str(tmp)]
        proc = _run(cmd)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
            raise BackendError(f"bitsim C kernels: `{' '.join(cmd)}` failed with exit code {proc.returncode}:\n{tail}")
        os.replace(tmp, lib)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return lib


def load(directory: Path | None = None, cc: str = "gcc") -> CKernels:
    """The compiled kernels, built on first use and loaded once per process (per cache directory and compiler)."""
    key = (directory or cache_dir(), cc)
    if key not in _LOADED:
        _LOADED[key] = CKernels(ctypes.CDLL(str(build(*key))))
    return _LOADED[key]


def available(cc: str = "gcc") -> CKernels | None:
    """The kernels when they can be had: already loaded for the cache directory (no lookup: a small run pays
    no fixed cost), else built and loaded when ``cc`` is on PATH, else None."""
    key = (cache_dir(), cc)
    if key in _LOADED:
        return _LOADED[key]
    return load(cc=cc) if compiler_available(cc) else None


def safe_limits(node: QNeuron) -> tuple[int, int, int]:
    """The magnitudes of input (after input_shift), v and i at which the definition (neuron.py) refuses a step.

    Mirrors ``neuron._check_safe``: the input at 2^60, a decay operand y at 2^62 // max(decay multiplier).
    """
    return (1 << 60, (1 << 62) // max(1, int(np.max(node.beta))), (1 << 62) // max(1, int(np.max(node.alpha))))


def operand_checks(node: QNeuron, input_bound: int | None) -> tuple[int, int, int, int]:
    """(any check, limit x, limit v, limit i) for kernels.c; a limit of 2^63-1 where a static bound shows
    that the definition's check cannot fire.

    v and i stay inside their registers (|value| <= 2^(bits-1) <= 2^31 < every limit) under saturate and
    wrap, whatever the reset; only Lava's single-correction wrap_loihi can leave them. The input (and
    i + input for add_then_decay) is bounded by ``input_bound`` (max |x| before input_shift) when known.
    """
    sem, never = node.semantics, (1 << 63) - 1
    lim_x, lim_v, lim_i = safe_limits(node)
    shifted = None if input_bound is None else int(input_bound) << node.input_shift
    i_reg = sem.overflow_i != "wrap_loihi" or node.kind not in CUBA_KINDS
    x_ok = shifted is not None and shifted < lim_x
    v_ok = sem.overflow_v != "wrap_loihi"
    i_ok = node.kind not in CUBA_KINDS or (i_reg and (
        sem.synapse_order == "decay_then_add" or (shifted is not None and (1 << (node.i_bits - 1)) + shifted < lim_i)))
    limits = (never if x_ok else lim_x, never if v_ok else lim_v, never if i_ok else lim_i)
    return (int(not (x_ok and v_ok and i_ok)), *limits)


def unsupported(node: QNeuron) -> str | None:
    """Why the C kernel cannot run this neuron (None when it can): an option value or Semantics field it
    does not know (a field left at its default is fine), or a stateless Threshold."""
    if node.kind == "Threshold":
        return "a Threshold neuron is stateless; it has no C time loop"
    sem, default = node.semantics, Semantics()
    for f in fields(sem):
        value = getattr(sem, f.name)
        if f.name in _KNOWN and value not in _KNOWN[f.name]:
            return f"bitsim C kernel has no rule for {f.name}={value!r}"
        if f.name not in _KNOWN and f.name != "spike_cap" and value != getattr(default, f.name):
            return f"bitsim C kernel does not know the Semantics field {f.name} (= {value!r})"
    return None


def neuron_options(node: QNeuron, input_bound: int | None = None) -> np.ndarray:
    """The ``opt[]`` array of kernels.c for a (non-Threshold) QNeuron whose input stays within ``input_bound``."""
    sem, why = node.semantics, unsupported(node)
    if why is not None:
        raise UnsupportedNodeError(f"node '{node.name}': {why}")
    return np.array([
        int(np.prod(node.shape, dtype=np.int64)), node.kind in CUBA_KINDS, node.SPIKING, sem.compare == "ge",
        _RESET[sem.reset], _TIMING[sem.timing], sem.delayed_zero == "total", sem.synapse_delay,
        sem.spikes == "multi", sem.spike_cap, sem.synapse_order == "add_then_decay", _ROUNDING[sem.rounding],
        _OVERFLOW[sem.overflow_i], _OVERFLOW[sem.overflow_v], node.input_shift, node.frac_bits, node.i_bits,
        node.v_bits, *operand_checks(node, input_bound),
    ], dtype=np.int64)


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


@dataclass
class CNeuronState:
    """The C neuron's state over a batch, flat int64 ``[B*n]`` arrays (updated in place by each call).

    ``clamp_count`` / ``clamp_first``: ``[2, B*n]`` per neuron, register i (row 0) and v (row 1), the number
    of clamp events and the step of the first; ``t``: the steps taken (see :attr:`clamps`).
    """

    node: QNeuron
    opt: np.ndarray
    params: list[np.ndarray]
    v: np.ndarray
    i: np.ndarray
    s: np.ndarray
    x_prev: np.ndarray
    clamp_count: np.ndarray
    clamp_first: np.ndarray
    t: int = 0

    @classmethod
    def fresh(cls, node: QNeuron, batch: int, input_bound: int | None = None, *,
              opt: np.ndarray | None = None) -> CNeuronState:
        """The initial state; ``input_bound``: max |summed input| when known (lets the kernel skip checks);
        ``opt``: the node's ``neuron_options`` when already built."""
        shape = (batch, *node.shape)
        flat = [np.ascontiguousarray(getattr(node, p), dtype=np.int64).reshape(-1)
                for p in ("alpha", "beta", "threshold", "v_reset", "bias")]
        no_clamp = np.full(flat[2].shape, np.iinfo(np.int64).min, np.int64)  # max(v, INT64_MIN) = v
        flat.append(no_clamp if node.v_min is None else np.ascontiguousarray(node.v_min, np.int64).reshape(-1))
        v = np.broadcast_to(node.v_init, shape).astype(np.int64).reshape(-1)
        i = np.broadcast_to(node.i_init, shape).astype(np.int64).reshape(-1)
        zeros = np.zeros(v.size, np.int64)
        return cls(node, neuron_options(node, input_bound) if opt is None else opt, flat, v, i, zeros, zeros.copy(),
                   np.zeros((2, v.size), np.int64), np.zeros((2, v.size), np.int64))

    @property
    def clamps(self) -> dict[str, ClampCounter]:
        """The clamp events so far per register, as the numpy neuron counts them (``IntNeuronState.clamps``)."""
        counters = {reg: ClampCounter.from_per_neuron(self.clamp_count[r], self.clamp_first[r])
                    for r, reg in enumerate(("i", "v"))}
        return {reg: c for reg, c in counters.items() if c.count}

    def as_numpy(self) -> IntNeuronState:
        """The same state as the definition's :class:`.neuron.IntNeuronState` (copies)."""
        shape = (self.v.size // max(1, int(self.opt[0])), *self.node.shape)
        v, i, s, x_prev = (a.reshape(shape).copy() for a in (self.v, self.i, self.s, self.x_prev))
        return IntNeuronState(self.node, v, i, s, x_prev, t=self.t, clamps=self.clamps)


class CKernels:
    """Typed wrappers around the loaded library."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        if lib.bs_abi_version() != ABI_VERSION:
            raise BackendError(f"bitsim C kernels: library ABI {lib.bs_abi_version()} != expected {ABI_VERSION}")
        self.lib = lib
        vp, i64 = ctypes.c_void_p, ctypes.c_int64
        lib.bs_neuron_run.restype = ctypes.c_int64
        lib.bs_neuron_run.argtypes = [vp, vp, i64, i64, vp, vp, vp, vp, vp, vp, vp, vp, vp, vp, i64, ctypes.c_int]
        lib.bs_chain_run.restype = ctypes.c_int64
        lib.bs_chain_run.argtypes = [i64, i64, i64, i64, vp, vp, vp, ctypes.c_int]
        lib.bs_layered_run.restype = ctypes.c_int64
        lib.bs_layered_run.argtypes = [i64, i64, i64, i64, vp, vp, vp, i64, ctypes.c_int, ctypes.c_int]
        lib.bs_gemm_vnni_available.restype = ctypes.c_int
        #: the CPU runs the AVX-512 VNNI GEMM of the layered path (else it uses the portable one)
        self.vnni = bool(lib.bs_gemm_vnni_available())
        lib.bs_dense_sparse.restype = ctypes.c_int64
        lib.bs_dense_sparse.argtypes = [i64, i64, i64, vp, vp, vp, vp, ctypes.c_int, ctypes.c_int]

    def neuron_run(self, state: CNeuronState, x: np.ndarray, threads: int | None = None,
                   keys: tuple[str, ...] = ("out", "i", "v")) -> tuple[dict[str, np.ndarray], int | None]:
        """Advance ``state`` over x int64 ``[T, B, *shape]``; returns the traces "out", "v" (and "i") and None,
        ("out" always; "v" and "i" only when in ``keys``),

        or, when an operand leaves the range the definition accepts at step t, the traces (valid before t) and t.
        With one thread the state is then left exactly as before step t; with several, undefined.
        """
        x = np.ascontiguousarray(x, dtype=np.int64)
        T, B = int(x.shape[0]), int(x.shape[1])
        if state.v.size != B * int(state.opt[0]):
            raise ValueError(f"node '{state.node.name}': input {x.shape} does not match the state's batch")
        out = np.empty_like(x)
        v_out = np.empty_like(x) if "v" in keys else None
        i_out = np.empty_like(x) if state.node.kind in CUBA_KINDS and "i" in keys else None
        par = (ctypes.c_void_p * 6)(*(p.ctypes.data for p in state.params))
        rc = self.lib.bs_neuron_run(
            _ptr(state.opt), par, T, B, _ptr(x), _ptr(state.v), _ptr(state.i), _ptr(state.s), _ptr(state.x_prev),
            _ptr(out), None if v_out is None else _ptr(v_out), None if i_out is None else _ptr(i_out),
            _ptr(state.clamp_count),
            _ptr(state.clamp_first), state.t, _threads(x.size) if threads is None else threads,
        )
        if rc < 0:
            raise BackendError(f"node '{state.node.name}': bitsim C neuron kernel rejected its options {state.opt}")
        if rc == 0:
            state.t += T
        traces = {"out": out}
        for key, arr in (("v", v_out), ("i", i_out)):
            if arr is not None:
                traces[key] = arr
        return traces, (int(rc) - 1 if rc > 0 else None)

    def dense_sparse(self, x: np.ndarray, w_t: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``x @ w_t + bias`` for x int64 ``[rows, k]``, skipping zero inputs; w_t int16 or int64 ``[k, m]``.

        int64 weights: exact always (wrapping like numpy). int16 weights (int32 accumulators): the
        caller guarantees sum_j |w_t[j, c]| * max|x| + |bias[c]| < 2^31.
        """
        x = np.ascontiguousarray(x, dtype=np.int64)
        rows, k = x.shape
        m = int(w_t.shape[1])
        narrow = w_t.dtype == np.int16
        w = np.ascontiguousarray(w_t, dtype=np.int16 if narrow else np.int64)
        b = np.ascontiguousarray(bias, dtype=np.int64)
        out = np.empty((rows, m), np.int64)
        rc = self.lib.bs_dense_sparse(rows, k, m, _ptr(x), _ptr(w), _ptr(b), _ptr(out), int(narrow),
                                      _threads(rows * (k + m)))
        if rc != 0:
            raise MemoryError(f"bitsim C dense kernel: no memory for scratch buffers (code {rc})")
        return out

    def chain_run(self, T: int, B: int, k0: int, layers: int, x: np.ndarray, meta: np.ndarray,
                  ptr: ctypes.Array[ctypes.c_void_p], threads: int) -> int:
        """``bs_chain_run`` (see kernels.c and :mod:`.event`): 0, or its error code."""
        if x.dtype != np.uint8 or not x.flags.c_contiguous or meta.dtype != np.int64 or not meta.flags.c_contiguous:
            raise ValueError("bitsim event kernel: x must be contiguous uint8, meta contiguous int64")
        return int(self.lib.bs_chain_run(T, B, k0, layers, _ptr(x), _ptr(meta), ptr, threads))


    def layered_run(self, T: int, B: int, k0: int, layers: int, x: np.ndarray, meta: np.ndarray,
                    ptr: ctypes.Array[ctypes.c_void_p], threads: int, *, block: int, vnni: bool) -> int:
        """``bs_layered_run`` (see kernels.c and :mod:`.gemm`): 0, or its error code."""
        if x.dtype != np.uint8 or not x.flags.c_contiguous or meta.dtype != np.int64 or not meta.flags.c_contiguous:
            raise ValueError("bitsim layered kernel: x must be contiguous uint8, meta contiguous int64")
        return int(self.lib.bs_layered_run(T, B, k0, layers, _ptr(x), _ptr(meta), ptr, block, int(vnni), threads))


def threads_for(work: int) -> int:
    """Threads for ``work`` elements of work (at least WORK_PER_THREAD each, at most THREADS)."""
    return max(1, min(THREADS, work // WORK_PER_THREAD))


_threads = threads_for
