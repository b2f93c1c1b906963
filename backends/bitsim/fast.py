"""bitsim's fast paths: the same integers as :func:`.plain.run_plain`, computed in bigger pieces.

The graph is cut into blocks: each strongly connected component (a cycle closed
by recurrent edges) is one *stepwise* block, every other node is a *layerwise*
block. Blocks run in topological order; a layerwise block sees all T steps of
its inputs at once (stateless layers on ``[T*B, ...]`` in one call, a neuron
looping over t, a Delay as a shift along T); a stepwise block steps its members
in graph order, reading recurrent edges from the previous step (at t=0 the
sources' initial-state outputs, :func:`.plain.initial_outputs`) and inputs from
outside the cycle from their precomputed traces.

Paths (``PATHS``; ``"auto"`` picks per layer) and why each is exact:

* ``layerwise``  -- the definitional integer ops (:func:`.ops.apply_int`, int64) and the numpy neuron
  (:class:`.neuron.IntNeuronState`, the definition itself, looping over t).
* ``float_gemm`` -- QDense/QConv accumulate ``W x`` in a float32 GEMM (numpy/OpenBLAS; conv as im2col
  + GEMM) when ``max_i sum_j |W_ij| * max|x| < 2^24``, else in float64 when below 2^53, else in int64
  (:func:`.accumulate.exact_float_type`). Under the bound every product and partial sum, in any order, is an
  integer the float type holds exactly. The bias is added and the shift applied in int64 afterwards.
  ``max|x|`` is known statically for spike inputs (1, or the spike cap), else measured.
* ``sparse``     -- QDense/QConv add the weight rows of the non-zero inputs only (numpy, int64: exact).
* ``c``          -- the neuron time loop and the spike-sparse dense accumulation in C (:mod:`.ckernel`):
  int16 weights into int32 accumulators when ``max_i sum_j |W_ij| * max|x| < 2^31``, else int64;
  conv as in ``float_gemm``. Large calls are split over threads by independent neurons / rows.
* ``stepwise``   -- the whole graph step by step (float-exact accumulation, numpy neuron).
* ``event``      -- a dense feed-forward chain stepped entirely in C (:mod:`.event`).
* ``gemm``       -- the same chain a layer at a time over blocks of steps, accumulating in an exact
  u8 x s8 -> int32 GEMM (:mod:`.gemm`); chains it refuses run on ``event``.
* ``auto``       -- ``gemm`` or ``event`` for such chains (:func:`.gemm.preferred` picks); otherwise C neurons
  when gcc is on PATH (else numpy) and per dense layer the spike-sparse C accumulation when under
  SPARSE_DENSITY of a sample of its input is non-zero, else ``float_gemm``'s.

int64 arithmetic wraps modulo 2^64 in numpy, in C (-fwrapv) and in plain alike, so even values that
overflow int64 agree (int64 accumulation is order-independent modulo 2^64).

Register clamp events (:mod:`snncompile.quant.clamps`) are counted where each neuron computes its clamp:
the numpy neuron per step as plain does, the C kernel per neuron inside its loop; so every path returns
plain's events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from snncompile.errors import BackendError, QuantizationError
from snncompile.nodes import Delay, Flatten, Input, Node, Output, SumPool2d
from snncompile.quant.clamps import ClampCounter, ClampEvent, clamp_events
from snncompile.quant.intops import fire
from snncompile.quant.qnodes import CUBA_KINDS, QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale

from . import ckernel
from .accumulate import MatMul, bias_shift, conv_matmul, matmul_c, matmul_float, matmul_int64, matmul_sparse, max_abs
from .cache import abs_row_sums
from .neuron import IntNeuronState
from .ops import apply_int
from .plain import Traces, check_inputs, initial_outputs
from .traces import Keep, narrowed, resolve_keep, trace_dtypes

PATHS = ("layerwise", "float_gemm", "sparse", "c", "stepwise", "event", "gemm")
#: input density below which "auto" prefers the spike-sparse C accumulation over a float GEMM
SPARSE_DENSITY = 0.3
#: static input bounds up to this (spikes, spike counts) are used as they are; larger ones are measured
TIGHT_BOUND = 1 << 16


@dataclass(frozen=True)
class _Plan:
    accumulate: str  # "int64" | "float" | "sparse" | "c" | "auto"
    neuron: str  # "numpy" | "c"
    all_stepwise: bool


def run_fast(
    qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto", allow_counts: bool = False,
    keep: Keep = None, narrow: bool = True,
) -> Traces:
    """Per-node traces ``[T, B, ...]`` identical to :func:`.plain.run_plain`'s (same ``keep``, same dtypes)."""
    return run_fast_with_clamps(qgraph, inputs, path=path, allow_counts=allow_counts, keep=keep, narrow=narrow)[0]


def run_fast_with_clamps(
    qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto", allow_counts: bool = False,
    keep: Keep = None, narrow: bool = True,
) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """:func:`run_fast`'s traces and the register clamp events, identical to plain's (every neuron counts them)."""
    from .xylo import run_xylo_graph_with_clamps, uses_xylo

    if uses_xylo(qgraph):  # per-event saturation: these kernels sum exactly, so the xylo path runs it instead
        return run_xylo_graph_with_clamps(qgraph, inputs, allow_counts=allow_counts)
    if path not in (*PATHS, "auto"):
        raise ValueError(f"unknown bitsim path {path!r}; known: {', '.join((*PATHS, 'auto'))}")
    want = resolve_keep(qgraph, keep)
    dtypes = trace_dtypes(qgraph, narrow=narrow, allow_counts=allow_counts)
    kernels = ckernel.load() if path in ("c", "event", "gemm") else ckernel.available() if path == "auto" else None
    if path in ("event", "gemm", "auto") and kernels is not None:
        from . import event, gemm

        x = None if isinstance(event.chain(qgraph), str) else event.spikes_of(qgraph, inputs)
        if x is not None:  # a chain the C kernels run, on spikes: the layered GEMM or the event path
            if path != "event" and not isinstance(gemm.prepared(qgraph), str) \
                    and (path == "gemm" or gemm.preferred(qgraph, x, kernels)):
                return gemm.run(qgraph, x, want, dtypes, kernels, spikes=x)
            return event.run(qgraph, x, want, dtypes, kernels, spikes=x)
    data = _checked_inputs(qgraph, inputs, allow_counts)
    plan = {
        "layerwise": _Plan("int64", "numpy", False), "float_gemm": _Plan("float", "numpy", False),
        "sparse": _Plan("sparse", "numpy", False), "c": _Plan("c", "c", False),
        "stepwise": _Plan("float", "numpy", True), "event": _Plan("c", "c", False), "gemm": _Plan("c", "c", False),
        "auto": _Plan("auto", "c" if kernels else "numpy", False),
    }[path]
    return _Executor(qgraph, data, plan, kernels, allow_counts, want, dtypes).run()


def _checked_inputs(graph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray],
                    allow_counts: bool) -> dict[str, np.ndarray]:
    """check_inputs' result, with a one-pass shortcut for integer/bool arrays that are valid.

    Anything else (floats, wrong shapes, invalid values) goes to :func:`.plain.check_inputs`,
    so acceptance and error messages are exactly plain's.
    """
    names = graph.inputs
    given = inputs if isinstance(inputs, Mapping) else ({names[0]: inputs} if len(names) == 1 else {})
    out: dict[str, np.ndarray] = {}
    steps = set()
    for name in names:
        arr = given.get(name)
        want = graph.nodes[name].shape  # type: ignore[attr-defined]
        if (not isinstance(arr, np.ndarray) or arr.dtype.kind not in "bui" or arr.size == 0
                or arr.shape[2:] != tuple(want) or arr.ndim != len(want) + 2):
            return check_inputs(graph, inputs, allow_counts=allow_counts)
        if arr.dtype.kind != "b":
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi > (1 << 62 if allow_counts else 1):
                return check_inputs(graph, inputs, allow_counts=allow_counts)
        steps.add(arr.shape[0])
        out[name] = arr.astype(np.int64)
    if len(steps) != 1:
        return check_inputs(graph, inputs, allow_counts=allow_counts)
    return out


class _DelayLine:
    """A Delay stepped one t at a time: y[t] = x[t - delay] per element (zeros before)."""

    def __init__(self, node: Delay, steps: int, shape: tuple[int, ...]) -> None:
        self.delay = node.delay.astype(np.int64).reshape(-1)
        self.hist = np.zeros((steps, shape[0], self.delay.size), np.int64)
        self.shape, self.t = shape, 0

    def step(self, x: np.ndarray) -> np.ndarray:
        self.hist[self.t] = x.reshape(self.hist.shape[1:])
        y = np.zeros(self.hist.shape[1:], np.int64)
        for d in np.unique(self.delay):
            if self.t - d >= 0:
                mask = self.delay == d
                y[:, mask] = self.hist[self.t - d][:, mask]
        self.t += 1
        return y.reshape(self.shape)


def delay_all(node: Delay, x: np.ndarray) -> np.ndarray:
    """A Delay over all T at once: a shift along the time axis per element."""
    T, B = x.shape[:2]
    d = node.delay.astype(np.int64).reshape(-1)
    flat = x.reshape(T, B, d.size)
    y = np.zeros_like(flat)
    for dv in np.unique(d):
        if dv < T:
            mask = d == dv
            y[dv:, :, mask] = flat[:T - dv, :, mask]
    return y.reshape(x.shape)


class _Executor:
    def __init__(self, graph: QGraph, data: dict[str, np.ndarray], plan: _Plan, kernels: ckernel.CKernels | None,
                 allow_counts: bool, want: dict[str, tuple[str, ...]], dtypes: dict[str, dict[str, np.dtype]]
                 ) -> None:
        self.graph, self.data, self.plan, self.kernels = graph, data, plan, kernels
        self.want, self.dtypes = want, dtypes
        self.result: Traces = {}
        first = next(iter(data.values()))
        self.T, self.B = int(first.shape[0]), int(first.shape[1])
        self.allow_counts = allow_counts
        self.traces: dict[str, dict[str, np.ndarray]] = {}
        #: steps still worth computing: the step of the earliest refused operand found so far (else T)
        self.limit = self.T
        self.failure: tuple[tuple[int, int], QuantizationError] | None = None
        self.position = {n: i for i, n in enumerate(graph.order)}
        self.bounds: dict[str, int | None] = {}
        self.clamps: dict[str, dict[str, ClampCounter]] = {}  # per neuron node, from its state after its run

    def refuse(self, t: int, name: str, err: QuantizationError) -> None:
        """Note the definition's error for node ``name`` at step t; plain raises the one first in (t, node order).

        Later nodes are then computed for steps < t only, so an error they hit earlier still wins.
        """
        key = (t, self.position[name])
        if self.failure is None or key < self.failure[0]:
            self.failure = (key, err)
        self.limit = min(self.limit, t)

    # -- planning ---------------------------------------------------------------
    def blocks(self) -> list[list[str]]:
        """Nodes grouped into strongly connected components, in topological order of the components."""
        g = self.graph
        if self.plan.all_stepwise:
            return [list(g.order)]
        succ = {n: g.successors(n) for n in g.nodes}
        reach: dict[str, set[str]] = {}
        for n in g.nodes:
            seen, stack = set(), list(succ[n])
            while stack:
                m = stack.pop()
                if m not in seen:
                    seen.add(m)
                    stack.extend(succ[m])
            reach[n] = seen
        comp = {n: frozenset([n, *(m for m in reach[n] if n in reach[m])]) for n in g.nodes}
        pos = {n: i for i, n in enumerate(g.order)}
        done: set[frozenset[str]] = set()
        out: list[list[str]] = []
        pending = sorted(set(comp.values()), key=lambda c: min(pos[n] for n in c))
        while pending:
            for c in pending:
                preds = {p for n in c for p in g.predecessors(n)} - c
                if all(comp[p] in done for p in preds):
                    break
            pending.remove(c)
            done.add(c)
            out.append(sorted(c, key=pos.__getitem__))
        return out

    def run(self) -> tuple[Traces, tuple[ClampEvent, ...]]:
        blocks = self.blocks()
        last_use = {n: i for i, block in enumerate(blocks) for n in block}  # a node is read by later blocks only
        for block in blocks:
            for n in block:
                for s in self.graph.successors(n):
                    last_use[n] = max(last_use[n], next(j for j, b in enumerate(blocks) if s in b))
        for i, block in enumerate(blocks):
            if len(block) == 1 and not any(b == block[0] for _, b in self.graph.recurrent_edges):
                self.layer(block[0])
            else:
                self.stepwise(block)
            for n in [n for n in self.traces if last_use[n] <= i]:
                self.release(n)
        if self.failure is not None:
            raise self.failure[1]
        return {n: self.result[n] for n in self.want}, clamp_events(self.graph, self.clamps)

    def release(self, name: str) -> None:
        """A node no later block reads: keep its requested traces (narrowed), free the rest."""
        rec = self.traces.pop(name)
        if name in self.want:
            self.result[name] = {k: narrowed(name, k, rec[k], self.dtypes[name][k], checked=False)
                                 for k in self.want[name]}

    # -- value bounds for the exactness checks --------------------------------
    def known_max(self, name: str) -> int | None:
        """A static bound on |output| of a node (None when unknown): spikes, registers, weight sums."""
        if name not in self.bounds:
            self.bounds[name] = None  # a cycle back to this node while computing: unknown
            self.bounds[name] = self._bound(name)
        return self.bounds[name]

    def input_bound(self, name: str) -> int | None:
        """A static bound on |summed input| of a node."""
        bounds = [self.known_max(p) for p in self.graph.predecessors(name)]
        return None if any(b is None for b in bounds) else sum(b for b in bounds if b is not None)

    def _bound(self, name: str) -> int | None:
        node = self.graph.nodes[name]
        if isinstance(node, Input):
            return None if self.allow_counts else 1
        if isinstance(node, QNeuron):
            sem = node.semantics
            if node.SPIKING:
                return sem.spike_cap if sem.spikes == "multi" else 1
            return None if sem.overflow_v == "wrap_loihi" else 1 << (node.v_bits - 1)
        x = self.input_bound(name)
        if x is None or isinstance(node, (Delay, Flatten, Output)):
            return x
        if isinstance(node, SumPool2d):
            return x * node.kernel_size[0] * node.kernel_size[1]
        if isinstance(node, (QDense, QConv1d, QConv2d, QScale)):
            w_max = int(np.abs(node.weight).max(initial=0)) if isinstance(node, QScale) \
                else int(abs_row_sums(node.weight).max(initial=0))  # cached per weight array
            acc = w_max * x + int(np.abs(node.bias).max(initial=0))
            return acc << node.shift if node.shift > 0 else acc  # |floor(y / 2^k)| <= |y|
        return None

    def matmul_for(self, x: np.ndarray) -> MatMul:
        acc = self.plan.accumulate
        if acc == "auto":
            sample = x[:: max(1, x.shape[0] // 64)]
            sparse = self.kernels is not None and np.count_nonzero(sample) < SPARSE_DENSITY * sample.size
            acc = "c" if sparse else "float"
        if acc == "c" and self.kernels is not None:
            return matmul_c(self.kernels)
        return {"int64": matmul_int64, "float": matmul_float, "sparse": matmul_sparse}[acc]

    def stateless(self, name: str, node: Node, x: np.ndarray) -> np.ndarray:
        """One stateless node on int64 x ``[N, *in_shape]``."""
        if not isinstance(node, (QDense, QConv1d, QConv2d)) or self.plan.accumulate == "int64":
            return apply_int(node, x)
        known = self.input_bound(name)
        x_max = known if known is not None and known <= TIGHT_BOUND else max_abs(x)
        x2 = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
        if isinstance(node, QDense):
            return bias_shift(self.matmul_for(x2)(x2, node.weight, x_max), node.bias, node.shift)
        return conv_matmul(node, x, self.matmul_for(x2), x_max)

    # -- layerwise ----------------------------------------------------------------
    def summed_input(self, name: str) -> np.ndarray:
        preds = self.graph.predecessors(name)
        x = self.traces[preds[0]]["out"][: self.limit]
        for p in preds[1:]:
            x = x + self.traces[p]["out"][: self.limit]
        return x

    def layer(self, name: str) -> None:
        node, B = self.graph.nodes[name], self.B
        if isinstance(node, Input):
            self.traces[name] = {"out": self.data[name]}
            return
        x = self.summed_input(name)
        T = int(x.shape[0])
        if isinstance(node, QNeuron) and node.kind != "Threshold":
            self.traces[name] = self.neuron_all(name, node, x)
            return
        if isinstance(node, QNeuron):
            y = fire(x, node.threshold, node.semantics.compare, node.semantics.spikes, node.semantics.spike_cap)
        elif isinstance(node, Delay):
            y = delay_all(node, x)
        else:
            flat = self.stateless(name, node, x.reshape(T * B, *x.shape[2:]))
            y = flat.reshape(T, B, *flat.shape[1:])
        if np.may_share_memory(y, x):
            y = y.copy()
        self.traces[name] = {"out": y}

    def neuron_all(self, name: str, node: QNeuron, x: np.ndarray) -> dict[str, np.ndarray]:
        """A neuron over all steps of x; on an operand the definition refuses, the traces before that step."""
        if self.plan.neuron == "c" and self.kernels is not None and ckernel.unsupported(node) is None:
            state = ckernel.CNeuronState.fresh(node, self.B, self.input_bound(name))
            traces, stop = self.kernels.neuron_run(state, x, keys=self.want.get(name, ()))  # v, i if asked
            if stop is None:
                self.clamps[name] = state.clamps
                return {k: traces[k] for k in ("out", "i", "v") if k in traces}
            rec = self.neuron_numpy(name, node, x[: stop + 1])  # the definition refuses `stop`, with its message
            if rec["out"].shape[0] != stop:
                raise BackendError(f"node '{name}': the C kernel refused step {stop}, the definition did not")
            return rec
        return self.neuron_numpy(name, node, x)

    def neuron_numpy(self, name: str, node: QNeuron, x: np.ndarray) -> dict[str, np.ndarray]:
        state = IntNeuronState.fresh(node, self.B)
        keys = ("out", "i", "v") if node.kind in CUBA_KINDS else ("out", "v")
        rec = {k: np.empty(x.shape, np.int64) for k in keys}
        for t in range(x.shape[0]):
            try:
                y, extra = state.step(x[t])
            except QuantizationError as err:
                self.refuse(t, name, err)
                return {k: v[:t] for k, v in rec.items()}
            rec["out"][t] = y
            for k, val in extra.items():
                rec[k][t] = val
        self.clamps[name] = state.clamps
        return rec

    # -- stepwise -------------------------------------------------------------------
    def neuron_step(self, name: str, state: IntNeuronState | ckernel.CNeuronState, x: np.ndarray,
                    t: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        """One step of a neuron in a stepwise block; None when the definition refuses it (noted by ``refuse``)."""
        if isinstance(state, ckernel.CNeuronState):
            if self.kernels is None:
                raise BackendError(f"node '{name}': a C neuron state without the C kernels")
            traces, stop = self.kernels.neuron_run(state, x[None], threads=1)
            if stop is None:
                extra = {k: v[0] for k, v in traces.items()}
                return extra.pop("out"), extra
            definition = state.as_numpy()  # unchanged by the refused step: the definition raises its error
        else:
            definition = state
        try:
            stepped = definition.step(x)
        except QuantizationError as err:
            self.refuse(t, name, err)
            return None
        if definition is not state:
            raise BackendError(f"node '{name}': the C kernel refused step {t}, the definition did not")
        return stepped

    def stepwise(self, block: list[str]) -> None:
        g, T, B = self.graph, self.limit, self.B
        members = set(block)
        fresh = {n: IntNeuronState.fresh(nd, B) for n, nd in g.nodes.items() if isinstance(nd, QNeuron)}
        prev = initial_outputs(g, fresh, B)
        use_c = self.plan.neuron == "c" and self.kernels is not None
        states: dict[str, object] = {}
        rec: dict[str, dict[str, np.ndarray]] = {}
        for n in block:
            node = g.nodes[n]
            keys = ["out"]
            if isinstance(node, QNeuron) and node.kind != "Threshold":
                keys = ["out", "i", "v"] if node.kind in CUBA_KINDS else ["out", "v"]
                states[n] = (ckernel.CNeuronState.fresh(node, B, self.input_bound(n))
                             if use_c and ckernel.unsupported(node) is None else IntNeuronState.fresh(node, B))
            elif isinstance(node, Delay):
                states[n] = _DelayLine(node, T, (B, *g.shapes[n]))
            rec[n] = {k: np.empty((T, B, *g.shapes[n]), np.int64) for k in keys}
        for t in range(T):
            cur: dict[str, np.ndarray] = {}
            if self.limit <= t:
                break
            for n in block:
                node = g.nodes[n]
                if isinstance(node, Input):
                    cur[n] = self.data[n][t]
                    rec[n]["out"][t] = cur[n]
                    continue
                parts = [prev[p] if (p, n) in g.recurrent_edges else cur[p] if p in members
                         else self.traces[p]["out"][t] for p in g.predecessors(n)]
                x = parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])
                state = states.get(n)
                if isinstance(state, (IntNeuronState, ckernel.CNeuronState)):
                    stepped = self.neuron_step(n, state, x, t)
                    if stepped is None:
                        break
                    y, extra = stepped
                elif isinstance(state, _DelayLine):
                    y, extra = state.step(x), {}
                elif isinstance(node, QNeuron):
                    sem = node.semantics
                    y, extra = fire(x, node.threshold, sem.compare, sem.spikes, sem.spike_cap), {}
                else:
                    y, extra = self.stateless(n, node, x), {}
                cur[n] = y
                rec[n]["out"][t] = y
                for k, val in extra.items():
                    rec[n][k][t] = val
            prev = cur
        self.clamps.update({n: st.clamps for n, st in states.items()
                            if isinstance(st, (IntNeuronState, ckernel.CNeuronState))})
        self.traces.update({n: {k: v[: self.limit] for k, v in r.items()} for n, r in rec.items()})
