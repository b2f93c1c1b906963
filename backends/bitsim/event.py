"""bitsim's event-driven path: a feed-forward chain of dense spiking layers stepped entirely in C.

``Input -> [Flatten] -> (QDense -> QNeuron)+ -> [Output]`` runs in ``kernels.c``'s ``bs_chain_run``: per
step, every layer adds the weight rows of its active inputs into accumulators as narrow as the range proof
allows (int8 weights into int16, int16 into int32, else int64), batch-major (a row read once per step for
a slice of samples), then steps its neurons with the same C step as :func:`.ckernel.CKernels.neuron_run`.
Nothing is kept between layers but one step's activations, so memory is the weights plus the traces asked
for, each in its proven width (:mod:`.traces`). Threads take slices of the batch.

It applies when the graph has that shape, every neuron is one the C kernel knows whose operands the
static bounds show the definition never refuses (:func:`.ckernel.operand_checks`), and the input is one
array of 0/1 spikes; :func:`unsupported` says why not otherwise, and the caller uses the other paths.
Prepared weights and the per-layer options are built once per QGraph (:mod:`.cache`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from snncompile.errors import BackendError
from snncompile.nodes import Flatten, Output
from snncompile.quant.clamps import ClampEvent, clamp_events
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.quant.ranges import magnitude, max_abs_weight, unbounded, value_ranges

from . import ckernel
from .cache import cached, transposed
from .plain import Traces

#: per-layer meta[] fields and ptr[] slots of kernels.c's bs_chain_run
L_META, Q_PTRS = 8, 14
#: meta[L_NARROW] -> the weights' type: 2 int8 (int16 accumulators), 1 int16 (int32), 0 int64 (int64)
_WEIGHT_TYPES: dict[int, type[np.integer]] = {2: np.int8, 1: np.int16, 0: np.int64}


def _width(acc: int, x: int, w: int) -> int:
    """The accumulation form (see _WEIGHT_TYPES) for proven |partial sums| <= acc, |inputs| <= x, |weights| <= w:
    the narrowest whose accumulator holds every partial sum and whose multiply operands hold x and w."""
    if acc < 1 << 15 and x < 1 << 15 and w < 1 << 7:
        return 2
    return 1 if acc < 1 << 31 and x < 1 << 31 else 0


@dataclass(frozen=True)
class _Layer:
    dense: str
    neuron: str
    node: QNeuron
    wt: np.ndarray  # W^T [k, m], int8, int16 or int64 (see _WEIGHT_TYPES)
    bias: np.ndarray  # int64 [m]
    narrow: int
    shift: int
    opt: np.ndarray  # kernels.c's opt[] of the neuron (ckernel.neuron_options), built once


@dataclass(frozen=True)
class _Chain:
    source: str  # the Input node
    passthrough: tuple[str, ...]  # Flatten nodes between the Input and the first QDense
    layers: tuple[_Layer, ...]
    outputs: tuple[str, ...]  # Output nodes after the last neuron


def _chain(graph: QGraph) -> _Chain | str:
    """The graph as a chain, or why it is not one."""
    if graph.recurrent_edges:
        return "the graph has recurrent edges"
    if len(graph.inputs) != 1:
        return "the graph has several Input nodes"
    name, passthrough = graph.inputs[0], []
    succ = graph.successors(name)
    while len(succ) == 1 and isinstance(graph.nodes[succ[0]], Flatten):
        passthrough.append(succ[0])
        succ = graph.successors(succ[0])
    ranges = value_ranges(graph)
    layers: list[_Layer] = []
    tail = passthrough[-1] if passthrough else name
    while len(succ) == 1 and isinstance(graph.nodes[succ[0]], QDense):
        dense = graph.nodes[succ[0]]
        after = graph.successors(succ[0])
        if len(graph.predecessors(succ[0])) != 1 or len(after) != 1:
            return f"node '{succ[0]}' is not in a chain"
        neuron = graph.nodes[after[0]]
        if not isinstance(neuron, QNeuron) or len(graph.predecessors(after[0])) != 1:
            return f"node '{after[0]}' is not a neuron fed by one QDense"
        why = ckernel.unsupported(neuron)
        if why is not None:
            return f"node '{after[0]}': {why}"
        x_in, acc, drive = ranges.out[tail], ranges.acc[succ[0]], ranges.inp[after[0]]
        if unbounded(x_in) or unbounded(acc) or unbounded(drive):
            return f"node '{succ[0]}': its values have no proven int64 bound"
        bound = magnitude(drive)
        if ckernel.operand_checks(neuron, bound)[0]:
            return f"node '{after[0]}': its operands need the definition's range checks"
        assert isinstance(dense, QDense)
        narrow = _width(magnitude(acc), magnitude(x_in), max_abs_weight(dense.weight))
        layers.append(_Layer(succ[0], after[0], neuron, transposed(dense.weight, _WEIGHT_TYPES[narrow]),
                             np.ascontiguousarray(np.broadcast_to(dense.bias, dense.weight.shape[:1]), np.int64),
                             narrow, int(dense.shift), ckernel.neuron_options(neuron, bound)))
        tail = after[0]
        succ = graph.successors(after[0])
    if not layers:
        return "the graph does not start with Input -> QDense -> neuron"
    outputs = tuple(succ)
    if not all(isinstance(graph.nodes[o], Output) and not graph.successors(o) for o in outputs) \
            or len(graph.nodes) != 1 + len(passthrough) + 2 * len(layers) + len(outputs):
        return "the graph does not end in Output nodes after its last neuron"
    return _Chain(name, tuple(passthrough), tuple(layers), outputs)


def chain(graph: QGraph) -> _Chain | str:
    """:func:`_chain`, once per QGraph."""
    return cached(graph, "event_chain", lambda: _chain(graph))


def spikes_of(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The single input as uint8 0/1 spikes ``[T, B, *shape]``, or None when it is anything else."""
    arr = inputs.get(graph.inputs[0]) if isinstance(inputs, Mapping) and len(inputs) == 1 else inputs
    want = graph.nodes[graph.inputs[0]].shape  # type: ignore[attr-defined]
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "bui" or arr.ndim != len(want) + 2 \
            or arr.shape[2:] != tuple(want) or arr.size == 0:
        return None
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    if (arr.dtype.kind == "i" and int(arr.min()) < 0) or int(arr.max()) > 1:
        return None
    return np.ascontiguousarray(arr, dtype=np.uint8)


def unsupported(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], allow_counts: bool) -> str | None:
    """Why the event path cannot run this graph on these inputs (None when it can)."""
    found = chain(graph)
    if isinstance(found, str):
        return found
    if spikes_of(graph, inputs) is None:
        return "the input is not one array of 0/1 spikes"
    return None


#: runs the chain's kernel: (T, B, k0, layers, x, meta, ptr, threads) -> 0 or its error code
ChainKernel = Callable[[int, int, int, int, np.ndarray, np.ndarray, "ctypes.Array[ctypes.c_void_p]", int], int]


def run(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], want: dict[str, tuple[str, ...]],
        dtypes: dict[str, dict[str, np.dtype]], kernels: ckernel.CKernels, *,
        weights: Sequence[np.ndarray] | None = None, kernel: ChainKernel | None = None,
        spikes: np.ndarray | None = None) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """The requested traces (``want``, in ``dtypes``) and the clamp events of a graph :func:`unsupported` accepts.

    ``weights`` and ``kernel``: per layer the weights another chain kernel reads and that kernel (the layered
    GEMM path, :mod:`.gemm`); by default the event kernel ``bs_chain_run`` and its W^T. ``spikes``: the
    input as :func:`spikes_of` gave it, when the caller has it (saves a pass over the input).
    """
    found, x = chain(graph), spikes_of(graph, inputs) if spikes is None else spikes
    if isinstance(found, str) or x is None:
        raise BackendError(f"bitsim event path: {found if isinstance(found, str) else 'the input is not spikes'}")
    run_kernel: ChainKernel = kernels.chain_run if kernel is None else kernel
    T, B = int(x.shape[0]), int(x.shape[1])
    last = found.layers[-1].neuron
    record = {n: set(keys) for n, keys in want.items()}
    if found.outputs:
        record.setdefault(last, set()).add("out")
    traces: dict[str, dict[str, np.ndarray]] = {}
    meta = np.zeros((len(found.layers), L_META), np.int64)
    ptr = (ctypes.c_void_p * (len(found.layers) * Q_PTRS))()
    keep_alive: list[object] = []
    states = {}
    for n, layer in enumerate(found.layers):
        m = int(layer.wt.shape[1])
        state = ckernel.CNeuronState.fresh(layer.node, B, opt=layer.opt)
        states[layer.neuron] = state
        par = (ctypes.c_void_p * 6)(*(p.ctypes.data for p in state.params))
        keep_alive.append(par)
        wt = layer.wt if weights is None else weights[n]
        slots: dict[int, int | None] = {0: wt.ctypes.data, 1: layer.bias.ctypes.data,
                                        2: state.opt.ctypes.data, 3: ctypes.addressof(par)}
        for q, arr in enumerate((state.v, state.i, state.s, state.x_prev, state.clamp_count, state.clamp_first)):
            slots[4 + q] = arr.ctypes.data
        for q, (node, key) in enumerate(((layer.dense, "out"), (layer.neuron, "out"), (layer.neuron, "v"),
                                         (layer.neuron, "i"))):
            if key in record.get(node, ()):
                arr = np.empty((T, B, m), dtypes[node][key])
                traces.setdefault(node, {})[key] = arr
                slots[10 + q] = arr.ctypes.data
                meta[n, 4 + q] = arr.itemsize
        for q, address in slots.items():
            ptr[n * Q_PTRS + q] = address
        meta[n, :4] = (int(layer.wt.shape[0]), m, int(layer.narrow), layer.shift)
    work = T * B * sum(int(la.wt.shape[1]) for la in found.layers)
    rc = run_kernel(T, B, int(np.prod(x.shape[2:])), len(found.layers), x, meta, ptr, ckernel.threads_for(work))
    if rc == -2:
        raise MemoryError("bitsim event kernel: no memory for its scratch buffers")
    if rc != 0:
        raise BackendError(f"bitsim event kernel: options rejected (code {rc})")
    out: Traces = {}
    for name in (found.source, *found.passthrough):
        if name in want:
            out[name] = {"out": x.reshape(T, B, *graph.shapes[name]).astype(dtypes[name]["out"])}
    for o in found.outputs:
        if o in want:
            out[o] = {"out": traces[last]["out"].astype(dtypes[o]["out"])}
    for name, rec in traces.items():
        if name in want:
            out[name] = {k: rec[k].reshape(T, B, *graph.shapes[name]) for k in want[name]}
    return {n: out[n] for n in want}, clamp_events(graph, {n: s.clamps for n, s in states.items()})
