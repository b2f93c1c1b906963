"""The xylo path's C kernel (``xylo.c``): built and cached like bitsim's other kernels (:mod:`.ckernel`), loaded
with ctypes. It computes exactly what :func:`.xylo.run_xylo`'s numpy paths compute; the tests hold every variant
(portable, AVX2, AVX-512BW; one or more threads; dense and sparse weight rows) to XyloSim.

A network's layout for the kernel (int16 weight rows over synapse-major target lanes, padded parameters, the
dense span or sparse list of each row) is built once per :class:`XyloNet` and kept while the net lives, so a
repeated call pays only for its inputs and records.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from snncompile.backends.xylo.spec import MAX_HIDDEN_SPIKES, MAX_INPUT_EVENTS, MAX_OUTPUT_SPIKES, XyloNet

from snncompile.errors import BackendError, InputError

from . import ckernel

SOURCE = Path(__file__).with_name("xylo.c")
RECORDS = ("spikes", "isyn", "isyn2", "vmem", "spikes_out", "isyn_out", "vmem_out")
#: record dtypes: every record fits int16 (the 16-bit states; spike counts <= 31)
RECORD_DTYPES = (np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))
#: lanes per block (xylo.c's LANES): populations and dense spans are padded to multiples of it
LANES = 32
#: blocks of LANES whose accumulators stay in registers over a step's sources (xylo.c, AVX-512: up to 8 zmm)
MAX_GROUP_BLOCKS = 8
#: a weight row is read densely (its aligned span of target lanes) when the span has at most this many lanes
#: per non-zero weight, else as a list of (lane, weight); a vector lane costs a fraction of a scattered add
DENSE_LANES_PER_WEIGHT = 32
#: xylo.c's variants; "best" is the best one this CPU has (:func:`isa`)
ISAS = {"portable": 0, "avx2": 1, "avx512": 2, "best": 1 << 30}
_THETA_PAD = (1 << 15) - 1  # padding lanes: no weights, bias 0, this threshold: they stay 0 and never fire
_LOADED: dict[Path, ctypes.CDLL] = {}
_BY_ENV: dict[str, ctypes.CDLL] = {}


def available() -> bool:
    """Whether the kernel can run: already loaded (no PATH lookup per call), or gcc is on PATH."""
    return bool(_LOADED) or ckernel.compiler_available()


def _library() -> ctypes.CDLL:
    env = os.environ.get("SNNCOMPILE_CACHE", "")  # the cache directory's key, without building a Path per call
    if env in _BY_ENV:
        return _BY_ENV[env]
    key = ckernel.cache_dir()
    if key not in _LOADED:
        lib = ctypes.CDLL(str(ckernel.build(source_file=SOURCE)))
        lib.xylo_run.restype = ctypes.c_int64
        lib.xylo_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
        lib.xylo_isa.restype = ctypes.c_int64
        lib.xylo_isa.argtypes = [ctypes.c_int64]
        _LOADED[key] = lib
    _BY_ENV[env] = _LOADED[key]
    return _LOADED[key]


def isa(request: str = "best") -> str:
    """The variant of xylo.c that runs for ``request`` (a key of :data:`ISAS`): the highest one at or below it
    that this build and CPU have."""
    if request not in ISAS:
        raise InputError(f"xylo C kernel: ISA {request!r} is not one of {', '.join(ISAS)}")
    got = int(_library().xylo_isa(ISAS[request]))
    return next(name for name, code in ISAS.items() if code == got)


def _pad(k: int, to: int = LANES) -> int:
    return max(to, -(-k // to) * to)


@dataclass(frozen=True, eq=False)
class Layout:
    """xylo.c's ``meta[]`` and ``ptr[]`` for one net (the arrays are kept alive with the pointers)."""

    meta: np.ndarray
    arrays: tuple[np.ndarray, ...]
    ptr: ctypes.Array[ctypes.c_void_p]


_LAYOUTS: weakref.WeakKeyDictionary[XyloNet, dict[int, Layout]] = weakref.WeakKeyDictionary()


def _rows(weights: np.ndarray, dense_lanes: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Per row of ``weights [R, lanes]`` (effective int16 values): the dense copy, the aligned span holding its
    non-zero lanes (empty where the row is kept sparse or has none), and the sparse (lanes, weights)."""
    spans = np.zeros((weights.shape[0], 2), np.int32)
    idx: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for r, row in enumerate(weights):
        nz = np.flatnonzero(row)
        lo, hi = (nz[0] // LANES * LANES, _pad(int(nz[-1]) + 1)) if nz.size else (0, 0)
        if hi - lo <= dense_lanes * nz.size:
            spans[r] = lo, hi
            nz = nz[:0]
        idx.append(nz.astype(np.int32))
        val.append(row[nz].astype(np.int16))
    return np.ascontiguousarray(weights, np.int16), spans, idx, val


def _groups(*spans: np.ndarray, max_blocks: int = MAX_GROUP_BLOCKS) -> np.ndarray:
    """The target-lane groups of one population, int32 ``[k, 2]`` (start, end): xylo.c adds a step's events group by
    group with the group's accumulators in registers, and a source visits each group its span meets. The groups
    are cut at the spans' ends (a source then covers whole groups, no lanes of its zeros), merged while adjacent
    and at most ``max_blocks`` blocks of LANES, longer pieces split; lanes no span covers are in no group."""
    live = np.concatenate(spans)
    live = live[live[:, 0] < live[:, 1]]
    cuts = np.unique(live)
    pieces = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
              if ((live[:, 0] <= a) & (live[:, 1] >= b)).any()]
    out: list[list[int]] = []
    for a, b in pieces:
        while a < b:
            end = min(b, a + max_blocks * LANES)
            if out and out[-1][1] == a and end - out[-1][0] <= max_blocks * LANES:
                out[-1][1] = end
            else:
                out.append([a, end])
            a = end
    return np.array(out, np.int32).reshape(-1, 2)


def _group_table(groups: np.ndarray, *segments: np.ndarray) -> np.ndarray:
    """xylo.c's group descriptors, int32 ``[k + 1, 6]``: each group's lanes, then per segment of sources (their
    spans) the index range [first, last + 1) of those whose span meets the group ((0, 0): none); a zero row ends
    the table (never empty)."""
    table = np.zeros((len(groups) + 1, 6), np.int32)
    for q, (a, b) in enumerate(groups):
        table[q, :2] = a, b
        for s, spans in enumerate(segments):
            meets = np.flatnonzero((spans[:, 0] < b) & (spans[:, 1] > a) & (spans[:, 0] < spans[:, 1]))
            if meets.size:
                table[q, 2 + 2 * s: 4 + 2 * s] = meets[0], meets[-1] + 1
    return table


def _reciprocals(theta: np.ndarray) -> np.ndarray:
    """xylo.c's fire_count operands: float32 1 / theta rounded up (never below the exact value), 1 for theta 0."""
    exact = 1.0 / np.maximum(theta, 1).astype(np.float64)
    r = exact.astype(np.float32)
    low = r.astype(np.float64) < exact
    r[low] = np.nextafter(r[low], np.float32(np.inf))
    return r


def _padded(values: np.ndarray, size: int, fill: int = 0, dtype: type = np.int16) -> np.ndarray:
    out: np.ndarray = np.full(size, fill, dtype)
    out[:values.size] = values
    return out


def layout(net: XyloNet) -> Layout:
    """The kernel's view of ``net``, built on the first call for a net (and :data:`DENSE_LANES_PER_WEIGHT`),
    then reused."""
    from .xylo import effective_weights

    per_net = _LAYOUTS.setdefault(net, {})
    if DENSE_LANES_PER_WEIGHT in per_net:
        return per_net[DENSE_LANES_PER_WEIGHT]
    w_in = effective_weights(net.weights_in, net.weight_shift_in)
    w_rec = effective_weights(net.weights_rec, net.weight_shift_rec)
    w_out = effective_weights(net.weights_out, net.weight_shift_out)
    n_in, n, n_out = net.n_in, net.n_hidden, net.n_out
    np_, nop = _pad(n), _pad(n_out)

    def hidden_rows(w: np.ndarray) -> np.ndarray:  # [S, N, 2] -> [S, 2 * NP], synapse-major
        out = np.zeros((w.shape[0], 2, np_), np.int64)
        out[:, :, :n] = w.transpose(0, 2, 1)
        return out.reshape(w.shape[0], 2 * np_)

    out_rows = np.zeros((n, nop), np.int64)
    out_rows[:, :n_out] = w_out
    parts = [_rows(w, DENSE_LANES_PER_WEIGHT) for w in (hidden_rows(w_in), hidden_rows(w_rec), out_rows)]
    spans = np.concatenate([p[1] for p in parts]).reshape(-1)
    idx = [a for p in parts for a in p[2]]
    sp_ptr = np.zeros(len(idx) + 1, np.int32)
    sp_ptr[1:] = np.cumsum([a.size for a in idx])
    sp_idx = np.concatenate([*idx, np.zeros(1, np.int32)])
    sp_w = np.concatenate([*(v for p in parts for v in p[3]), np.zeros(1, np.int16)])
    aptr = np.zeros(n + 1, np.int32)
    aptr[1:] = np.cumsum([len(a) for a in net.aliases])
    atgt = np.array([t for a in net.aliases for t in a] or [0], np.int32)
    groups_hid, groups_out = _groups(parts[0][1], parts[1][1]), _groups(parts[2][1])
    arrays: tuple[np.ndarray, ...] = (parts[0][0], parts[1][0], parts[2][0], spans, sp_ptr, sp_idx, sp_w,
              np.concatenate([_padded(net.dash_syn, np_, 0, np.int32), _padded(net.dash_syn_2, np_, 0, np.int32)]),
              _padded(net.dash_mem, np_, 0, np.int32), _padded(net.bias, np_), _padded(net.threshold, np_, _THETA_PAD),
              _padded(net.dash_syn_out, nop, 0, np.int32), _padded(net.dash_mem_out, nop, 0, np.int32),
              _padded(net.bias_out, nop), _padded(net.threshold_out, nop, _THETA_PAD), aptr, atgt,
              _group_table(groups_hid, parts[0][1], parts[1][1]), _group_table(groups_out, parts[2][1]),
              _reciprocals(_padded(net.threshold, np_, _THETA_PAD)),
              _reciprocals(_padded(net.threshold_out, nop, _THETA_PAD)))
    meta = np.array([n_in, n, n_out, np_, nop, MAX_INPUT_EVENTS, MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES,
                     int(any(net.aliases)), int(sp_ptr[-1] > 0), len(groups_hid), len(groups_out)], np.int64)
    ptr = (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))
    per_net[DENSE_LANES_PER_WEIGHT] = Layout(meta, arrays, ptr)
    return per_net[DENSE_LANES_PER_WEIGHT]


def run_c(net: XyloNet, counts: np.ndarray, record: tuple[str, ...] = RECORDS, *, threads: int | None = None,
          isa: str = "best", dtype: type = np.int64) -> dict[str, np.ndarray]:
    """Records ``[T, B, n]`` of ``net`` on checked input counts (int64 ``[T, B, Nin]``, >= 0; the kernel clamps
    them to 15); only those named in ``record`` are kept, as ``dtype`` (one of :data:`RECORD_DTYPES`).
    ``threads``: over the batch (default: by work, :func:`ckernel.threads_for`); ``isa``: a key of :data:`ISAS`."""
    if isa not in ISAS:
        raise InputError(f"xylo C kernel: ISA {isa!r} is not one of {', '.join(ISAS)}")
    width = np.dtype(dtype).itemsize
    if np.dtype(dtype) not in RECORD_DTYPES:
        raise InputError(f"xylo records: dtype {np.dtype(dtype)} is not one of "
                         f"{', '.join(str(d) for d in RECORD_DTYPES)}")
    lay = layout(net)
    x = np.ascontiguousarray(counts, np.int64)
    T, B, _ = x.shape
    n, n_out = net.n_hidden, net.n_out
    out = {k: np.empty((T, B, n_out if k.endswith("_out") else n), dtype) for k in RECORDS if k in record}
    recs = (ctypes.c_void_p * len(RECORDS))(*(out[k].ctypes.data if k in out else None for k in RECORDS))
    nthreads = ckernel.threads_for(T * B * (n + n_out)) if threads is None else threads
    rc = _library().xylo_run(lay.meta.ctypes.data, lay.ptr, T, B, x.ctypes.data, recs, width, nthreads, ISAS[isa])
    if rc != 0:
        raise BackendError(f"bitsim xylo C kernel: {'out of memory' if rc == -1 else 'bad layout'} "
                           f"(code {rc}) for {n} hidden neurons")
    return out
