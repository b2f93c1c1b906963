"""The xylo path's C kernel (``xylo.c``): built and cached like bitsim's other kernels (:mod:`.ckernel`), loaded
with ctypes. It computes exactly what :func:`.xylo.run_xylo`'s numpy paths compute; the tests hold all three to
XyloSim."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
from snncompile.backends.xylo.spec import MAX_HIDDEN_SPIKES, MAX_INPUT_EVENTS, MAX_OUTPUT_SPIKES, XyloNet

from snncompile.errors import BackendError

from . import ckernel

SOURCE = Path(__file__).with_name("xylo.c")
_LOADED: dict[tuple[Path, str], ctypes.CDLL] = {}
_P = ctypes.POINTER(ctypes.c_int64)
RECORDS = ("spikes", "isyn", "isyn2", "vmem", "spikes_out", "isyn_out", "vmem_out")


def available() -> bool:
    return ckernel.compiler_available()


def _library() -> ctypes.CDLL:
    key = (ckernel.cache_dir(), "gcc")
    if key not in _LOADED:
        lib = ctypes.CDLL(str(ckernel.build(source_file=SOURCE)))
        lib.xylo_run.restype = ctypes.c_int64
        lib.xylo_run.argtypes = [ctypes.c_int64] * 5 + [_P] * 20 + [ctypes.c_int64] * 3 + [_P] * 7
        _LOADED[key] = lib
    return _LOADED[key]


def _csr(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per source (row of ``[S, targets...]``), the non-zero targets (flat, ascending) and their weights."""
    flat = weights.reshape(weights.shape[0], -1)
    rows, cols = np.nonzero(flat)
    ptr = np.zeros(flat.shape[0] + 1, np.int64)
    np.add.at(ptr, rows + 1, 1)
    return np.cumsum(ptr), cols.astype(np.int64), flat[rows, cols].astype(np.int64)


def _ptr(a: np.ndarray) -> ctypes._Pointer:  # type: ignore[type-arg]
    return a.ctypes.data_as(_P)


def run_c(net: XyloNet, counts: np.ndarray, w_in: np.ndarray, w_rec: np.ndarray, w_out: np.ndarray,
          record: tuple[str, ...] = RECORDS) -> dict[str, np.ndarray]:
    """Records ``[T, B, n]`` of ``net`` on (checked) input counts, with the effective (shifted, int16) weights;
    only those named in ``record`` are kept."""
    T, B, n_in = counts.shape
    n, n_out = net.n_hidden, net.n_out
    keep: list[np.ndarray] = []

    def arr(a: np.ndarray) -> ctypes._Pointer:  # type: ignore[type-arg]
        c = np.ascontiguousarray(a, np.int64)
        keep.append(c)
        return _ptr(c)

    csr = [arr(part) for w in (w_in, w_rec, w_out) for part in _csr(w)]
    aptr = np.zeros(n + 1, np.int64)
    aptr[1:] = np.cumsum([len(a) for a in net.aliases])
    atgt = np.array([t for a in net.aliases for t in a], np.int64)
    params = [np.stack([net.dash_syn, net.dash_syn_2], axis=1), net.dash_mem, net.bias, net.threshold,
              net.dash_syn_out, net.dash_mem_out, net.bias_out, net.threshold_out, aptr,
              atgt if atgt.size else np.zeros(1, np.int64)]
    out = {k: np.zeros((T, B, n_out if k.endswith("_out") else n), np.int64) for k in RECORDS if k in record}
    null = _P()  # a NULL pointer: the record is not kept
    records = [_ptr(out[k]) if k in out else null for k in RECORDS]
    rc = _library().xylo_run(T, B, n_in, n, n_out, arr(counts), *csr, *(arr(p) for p in params),
                             MAX_INPUT_EVENTS, MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES, *records)
    if rc != 0:
        raise BackendError(f"bitsim xylo C kernel: out of memory for {n} hidden neurons")
    return out
