"""bitsim's layered GEMM path: the event path's chain, one layer over a block of steps at once, in C.

A feed-forward layer's inputs are known for every step before its neurons run, so ``kernels.c``'s
``bs_layered_run`` computes a layer's accumulation for a whole block of (step, sample) rows as one integer
GEMM -- u8 inputs times s8 weights into int32, with AVX-512 VNNI (``vpdpbusd``) where the CPU has it, else
a portable C loop over the same packed weights -- and then steps the layer's neurons row by row with the
event path's C neuron code, their outputs (u8) being the next layer's GEMM input. Dense arithmetic, but
at 16 x 4 multiply-adds per instruction, with groups of inputs silent in a block's rows skipped, it beats
gathering the active rows wherever enough rows share each block (:func:`preferred`, the ``auto`` cost
model, weighs the weights it reads against the event path's).

It is exact because every int32 sum is bounded: it applies to a chain :func:`.event.chain` accepts whose
weights all fit int8, whose layer inputs are proven to lie in 0..255 (spikes, or spike counts up to 255),
and whose accumulation bound max_c sum_j |w[j, c]| * max x (:func:`snncompile.quant.ranges.accumulation_bound`)
is below 2^31, so no partial sum leaves int32 whatever the summation order (the bias is added in int64
afterwards). :func:`unsupported` says why not otherwise; ``auto`` then uses the event path.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from snncompile.quant.clamps import ClampEvent
from snncompile.quant.qnodes import QDense, QGraph
from snncompile.quant.ranges import accumulation_bound, value_ranges

from . import ckernel, event
from .cache import cached
from .plain import Traces

#: the packed weights' groups of inputs (one 32-bit lane) and outputs per padded row (one 512-bit vector)
GROUP, LANES = 4, 16
#: accumulator cells (int32) per thread and block of steps: the block's GEMM output stays in L2
BLOCK_CELLS = 1 << 18
#: the ``auto`` cost model (:func:`preferred`): expected reads of each weight row per block above which
#: the GEMM beats the event path (measured: 0.1 -> event 2x faster, 1.5 -> GEMM 1.8x faster)
GEMM_USES = 1.0
#: the int32 lanes' bound: every accumulation bound must stay below it
ACC_LIMIT = 1 << 31
#: use the portable GEMM even where the CPU has VNNI (tests exercise both; results are identical)
FORCE_PORTABLE = False


def _pack(w_t: np.ndarray) -> np.ndarray:
    """W^T [k, m] (values in int8) as kernels.c's wp [ceil(k/4), m rounded up to 16, 4] int8, zero-padded."""
    k, m = w_t.shape
    k4, mp = -(-k // GROUP), -(-m // LANES) * LANES
    padded = np.zeros((k4 * GROUP, mp), np.int8)
    padded[:k, :m] = w_t
    return np.ascontiguousarray(padded.reshape(k4, GROUP, mp).transpose(0, 2, 1))


def _prepare(graph: QGraph) -> tuple[np.ndarray, ...] | str:
    found = event.chain(graph)
    if isinstance(found, str):
        return found
    ranges = value_ranges(graph)
    tail = found.passthrough[-1] if found.passthrough else found.source
    packed = []
    for layer in found.layers:
        dense = graph.nodes[layer.dense]
        assert isinstance(dense, QDense)
        lo, hi = ranges.out[tail]
        if lo < 0 or hi > 255:
            return f"node '{layer.dense}': its inputs lie in [{lo}, {hi}], not in the GEMM's u8 0..255"
        w_lo, w_hi = int(dense.weight.min(initial=0)), int(dense.weight.max(initial=0))
        if w_lo < -128 or w_hi > 127:
            return f"node '{layer.dense}': its weights span [{w_lo}, {w_hi}], wider than the GEMM's int8"
        bound = accumulation_bound(dense.weight, (lo, hi))
        if bound >= ACC_LIMIT:
            return f"node '{layer.dense}': its accumulation bound {bound} does not fit the GEMM's int32 (< {ACC_LIMIT})"
        packed.append(_pack(dense.weight.T))
        tail = layer.neuron
    return tuple(packed)


def prepared(graph: QGraph) -> tuple[np.ndarray, ...] | str:
    """Per layer the packed int8 weights, or why the GEMM path cannot run the graph (once per QGraph)."""
    return cached(graph, "gemm_chain", lambda: _prepare(graph))


def unsupported(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray]) -> str | None:
    """Why the layered GEMM path cannot run this graph on these inputs (None when it can)."""
    found = prepared(graph)
    if isinstance(found, str):
        return found
    if event.spikes_of(graph, inputs) is None:
        return "the input is not one array of 0/1 spikes"
    return None


def _blocking(steps: int, batch: int, packed: tuple[np.ndarray, ...]) -> tuple[int, int, int]:
    """(threads, steps per block, samples per thread): a block's int32 GEMM output stays near BLOCK_CELLS."""
    widest = max(int(w.shape[1]) for w in packed)
    threads = ckernel.threads_for(steps * batch * sum(int(w.shape[1]) for w in packed))
    per_thread = -(-batch // max(1, min(threads, batch)))
    return threads, max(1, min(steps, BLOCK_CELLS // (per_thread * widest))), per_thread


def preferred(graph: QGraph, x: np.ndarray, kernels: ckernel.CKernels) -> bool:
    """``auto``'s choice between this path and the event path for input spikes x (:func:`.event.spikes_of`),
    on a graph both accept (docs/design-notes.md, "bitsim: the layered GEMM or the event path").

    Per block of rows the GEMM reads every weight once, however few inputs are active; the event path
    reads one weight row per active input and row. So the GEMM wins once a weight row would be read at
    least once per block anyway: rows per block x input activity >= GEMM_USES (the hidden layers are taken
    to be as active as the input, measured on a sample of the steps). Only where the CPU has VNNI: the
    portable GEMM is the fallback of a machine without it, not a rival of the event path.
    """
    packed = prepared(graph)
    if not kernels.vnni or FORCE_PORTABLE or isinstance(packed, str):
        return False
    sample = x[:: max(1, x.shape[0] // 16)]
    activity = np.count_nonzero(sample) / max(1, sample.size)
    _, block, per_thread = _blocking(int(x.shape[0]), int(x.shape[1]), packed)
    return bool(block * per_thread * activity >= GEMM_USES)


def run(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], want: dict[str, tuple[str, ...]],
        dtypes: dict[str, dict[str, np.dtype]], kernels: ckernel.CKernels, *,
        spikes: np.ndarray | None = None) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """The requested traces and clamp events of a graph :func:`unsupported` accepts (as :func:`.event.run`)."""
    packed = prepared(graph)
    x = event.spikes_of(graph, inputs) if spikes is None else spikes
    if isinstance(packed, str) or x is None:
        from snncompile.errors import BackendError

        raise BackendError(f"bitsim gemm path: {packed if isinstance(packed, str) else 'the input is not spikes'}")
    _, block, _ = _blocking(int(x.shape[0]), int(x.shape[1]), packed)
    kernel = partial(kernels.layered_run, block=block, vnni=kernels.vnni and not FORCE_PORTABLE)
    return event.run(graph, x, want, dtypes, kernels, weights=packed, kernel=kernel, spikes=x)
