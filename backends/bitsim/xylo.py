"""bitsim's xylo path: a :class:`~snncompile.backends.xylo.spec.XyloNet` stepped with Xylo's integer arithmetic.

Equal to XyloSim 0.1.3 (SynSense's C++ simulator, ``xylosim.v2.XyloLayer``) on every spike and state at every
step. The rules, read from XyloSim's source (facts, not code), per step t:

1. Deliver events. Input counts are clamped to 15 per channel, hidden spike counts (of step t-1) to 31. Events
   arrive one at a time -- input channels in ascending order, then hidden neurons in ascending order, each
   source's count repeated -- and every event adds its weight ``wrap16(w << shift)`` (int8 weight, per-matrix
   left shift, taken as int16) to the target synapse with 16-bit saturation *per event*. Hidden neurons get
   input and recurrent events; readout neurons get the hidden spikes of step t-1 through ``weights_out``.
2. Evolve hidden neurons, then readout neurons (readout: one synapse, at most one spike):
       i_s  <- i_s - dec(i_s, dash_syn_s)                     for each synapse s (add-then-decay)
       dv    = sat16( wrap16(-dec(v, dash_mem)) + sum_s i_s )  (the sum of the synapses is exact)
       dv    = sat16(dv + bias)
       v     = sat16(v + dv)
       while v >= threshold and n < cap: n += 1; v -= threshold   (n starts at the alias count)
   with ``dec(y, d) = y >> d`` (arithmetic), or sign(y) where that is 0: a non-zero value always decays by >= 1.
3. Aliases: hidden neurons are evolved in index order; after neuron j fires ``n_j`` (its total, including what
   aliases gave it), each alias target k gets ``min(count_k + n_j, 31)``. A target evolved later starts from
   that count (it eats into its cap); one evolved earlier only passes the extra spikes on.

So an input reaches the hidden neurons in the same step; every hidden->hidden and hidden->readout hop costs one
step. ``path="plain"`` delivers event by event (the definition); ``"fast"`` sums the events of a step exactly
(one matrix product per population) wherever no per-event saturation can occur -- the running sum of a
synapse can only leave int16 if its start value plus all positive (or all negative) contributions does -- and
for the batch rows where it could, adds source by source in event order (one saturating add of count x weight
per source: repeated events of one weight saturate at one end only). ``"c"`` runs the same rules compiled
(:mod:`.xylo_c`, gcc): each event a saturating int16 add across the target neurons (vector registers), the neuron
update vectorised, threads over the batch. ``"auto"`` is ``"c"`` where gcc exists, else ``"fast"``. All give
identical integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from snncompile.backends.xylo.spec import MAX_HIDDEN_SPIKES, MAX_INPUT_EVENTS, MAX_OUTPUT_SPIKES, XyloNet

from snncompile.errors import InputError
from snncompile.quant.clamps import ClampCounter, ClampEvent, clamp_events
from snncompile.quant.qnodes import QGraph, QNeuron

from . import xylo_c
from .cache import cached
from .traces import Keep, resolve_keep
from .xylo_c import RECORD_DTYPES, RECORDS

if TYPE_CHECKING:
    from snncompile.backends.xylo.lower import XyloMapping

LO, HI = -(1 << 15), (1 << 15) - 1
PATHS = ("auto", "c", "fast", "plain")


@dataclass(frozen=True)
class XyloTraces:
    """Per-step records ``[T, B, n]`` as XyloSim records them (after the step's decay and spikes), int64 unless
    ``run_xylo(dtype=...)`` asked for int16/int32; a record not asked for (``run_xylo(record=...)``) is None."""

    spikes: np.ndarray  # hidden spike counts (incl. alias spikes): what is delivered at t+1
    isyn: np.ndarray
    isyn2: np.ndarray
    vmem: np.ndarray
    spikes_out: np.ndarray
    isyn_out: np.ndarray
    vmem_out: np.ndarray

    def items(self) -> list[tuple[str, np.ndarray]]:
        """The kept records, in a fixed order."""
        return [(k, getattr(self, k)) for k in RECORDS if getattr(self, k) is not None]


def wrap16(x: np.ndarray) -> np.ndarray:
    return ((x - LO) & 0xFFFF) + LO


def sat16(x: np.ndarray) -> np.ndarray:
    return np.clip(x, LO, HI)


def shift_decay(y: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """Xylo's decrement: ``y >> dash``, or sign(y) where that is 0 (only for 0 < y < 2^dash)."""
    dv = y >> dash
    return np.where((dv == 0) & (y > 0), 1, dv)


def effective_weights(w: np.ndarray, shift: int) -> np.ndarray:
    """``w << shift`` as XyloSim hands it to the 16-bit state: the int promotion shifted, then taken as int16."""
    return wrap16(w.astype(np.int64) << shift)


def check_counts(net: XyloNet, inputs: np.ndarray) -> np.ndarray:
    """Input event counts as int64 ``[T, B, Nin]`` (XyloSim takes uint8 counts; it clamps them to 15)."""
    arr = np.asarray(inputs)
    if arr.ndim != 3 or arr.shape[2] != net.n_in:
        raise InputError(f"xylo inputs: shape {arr.shape} does not match [T, B, {net.n_in}]")
    as_int = arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and np.any(as_int != arr):
        raise InputError("xylo inputs: event counts must be integers")
    lo, hi = (int(as_int.min()), int(as_int.max())) if as_int.size else (0, 0)
    if lo < 0 or hi > 255:
        raise InputError(f"xylo inputs: event count {lo if lo < 0 else hi} is outside [0, 255] (Xylo's input "
                         "interface takes 8-bit counts, clamped to 15)")
    return as_int


def deliver_events(state: np.ndarray, counts: np.ndarray, weights: np.ndarray,
                   clamped: np.ndarray | None = None) -> None:
    """Event order, in place: ``state [B, n, syn]`` += each source's weight ``weights [S, n, syn]``, source by
    source (ascending), ``counts [B, S]`` times, saturating at every event. ``clamped [B, n]`` (bool) is set where
    a saturation changed a sum."""
    for src in np.flatnonzero(counts.max(axis=0, initial=0)):
        row = weights[src]
        if not row.any():
            continue
        for rep in range(int(counts[:, src].max())):
            hit = counts[:, src] > rep
            raw = state[hit] + row
            state[hit] = sat16(raw)
            if clamped is not None:
                clamped[hit] |= (state[hit] != raw).any(axis=-1)


def deliver_by_source(state: np.ndarray, counts: np.ndarray, weights: np.ndarray) -> None:
    """:func:`deliver_events`' result with one saturating add per source: ``c`` events of the same weight ``w``
    from a state inside int16 can only saturate at the end ``w`` points to, so they equal
    ``sat16(state + c*w)``; sources still go one by one, in ascending order."""
    for src in np.flatnonzero(counts.max(axis=0, initial=0)):
        row = weights[src]
        if row.any():
            state[...] = sat16(state + counts[:, src].reshape((-1,) + (1,) * row.ndim) * row)


def deliver_fast(state: np.ndarray, counts: np.ndarray, weights: np.ndarray, pos: np.ndarray,
                 neg: np.ndarray) -> None:
    """:func:`deliver_events`' result by exact sums wherever no running sum can leave int16, source by source
    (:func:`deliver_by_source`) elsewhere. ``pos``/``neg``: the positive/negative parts of ``weights`` flattened
    to ``[S, targets]`` as float64 (sums of at most 31 x 32767 x 1016 < 2^53 are exact)."""
    if not counts.any():
        return
    b = state.shape[0]
    c = counts.astype(np.float64)
    flat = state.reshape(b, -1)
    up = c @ pos
    down = c @ neg
    safe = ((flat + up) <= HI).all(axis=1) & ((flat + down) >= LO).all(axis=1)
    flat[safe] += (up[safe] + down[safe]).astype(np.int64)
    if not safe.all():
        rows = np.flatnonzero(~safe)
        sub = state[rows]
        deliver_by_source(sub, counts[rows], weights)
        state[rows] = sub


def _fire(v: np.ndarray, theta: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Spikes of the ``while v >= theta and n < cap`` loop: ``room`` = cap - n already counted (>= 0)."""
    safe_theta = np.maximum(theta, 1)
    n = np.where(theta > 0, v // safe_theta, room)
    return np.where(v >= theta, np.minimum(n, room), 0)


@dataclass
class _Pop:
    """Neuron states of one population: isyn [B, n, syns], v [B, n]."""

    isyn: np.ndarray
    v: np.ndarray


def _evolve_states(pop: _Pop, dash_syn: np.ndarray, dash_mem: np.ndarray, bias: np.ndarray,
                   clamped: np.ndarray | None = None) -> None:
    """The decays and the membrane update; ``clamped [B, n]`` (bool) is set where one of its saturations bit."""
    pop.isyn -= shift_decay(pop.isyn, dash_syn)
    raw1 = wrap16(-shift_decay(pop.v, dash_mem)) + pop.isyn.sum(axis=2)
    dv1 = sat16(raw1)
    raw2 = dv1 + bias
    dv = sat16(raw2)
    raw3 = pop.v + dv
    pop.v = sat16(raw3)
    if clamped is not None:
        clamped |= (dv1 != raw1) | (dv != raw2) | (pop.v != raw3)


class _AliasPlan:
    """Which hidden neurons start from an alias count (sources with a lower index) and which pass spikes on
    after they fired (sources with an index >= theirs); see the module docstring."""

    def __init__(self, aliases: tuple[tuple[int, ...], ...]) -> None:
        self.before: dict[int, list[int]] = {}
        self.after: dict[int, list[int]] = {}
        for src, targets in enumerate(aliases):
            for tgt in targets:
                (self.before if src < tgt else self.after).setdefault(tgt, []).append(src)
        self.ordered = sorted(self.before)
        self.any = bool(self.before or self.after)


def _fire_hidden(pop: _Pop, theta: np.ndarray, plan: _AliasPlan) -> np.ndarray:
    """Hidden spike counts after aliases; subtracts the fired spikes from v."""
    cap = MAX_HIDDEN_SPIKES
    total = _fire(pop.v, theta, np.full_like(pop.v, cap))
    fired = total.copy()
    for tgt in plan.ordered:  # ascending: a target's sources below it are final when it is evolved
        start = np.minimum(sum(total[:, s] for s in plan.before[tgt]), cap)
        fired[:, tgt] = _fire(pop.v[:, tgt], theta[tgt], cap - start)
        total[:, tgt] = start + fired[:, tgt]
    pop.v = pop.v - fired * theta
    out = total.copy()
    for tgt, sources in plan.after.items():
        out[:, tgt] = np.minimum(total[:, tgt] + sum(total[:, s] for s in sources), cap)
    return out


def run_xylo(net: XyloNet, inputs: np.ndarray, *, path: str = "auto",
             record: tuple[str, ...] = RECORDS, clamps: dict[str, np.ndarray] | None = None,
             threads: int | None = None, dtype: type = np.int64) -> XyloTraces:
    """Step ``net`` over input event counts ``[T, B, Nin]`` from the reset state (zeros); keep the ``record`` ed
    fields (all by default; the others are None). ``clamps``: a dict that the (plain) run fills with bool
    ``[T, B, n]`` arrays "i", "v", "i_out", "v_out": where a saturation changed a synapse (any event of the
    step) or the membrane update. ``threads``: the C path's threads over the batch (default: by the amount of
    work); the result never depends on it. ``dtype``: of the records, int64 or -- a quarter of the memory, every
    record fits -- int16 (or int32)."""
    if path not in PATHS:
        raise InputError(f"xylo path {path!r} is not one of {', '.join(PATHS)}")
    if clamps is not None and path != "plain":
        raise InputError("xylo: clamp events are counted on the plain path only")
    unknown = sorted(set(record) - set(RECORDS))
    if unknown:
        raise InputError(f"xylo records {', '.join(unknown)} unknown; known: {', '.join(RECORDS)}")
    if np.dtype(dtype) not in RECORD_DTYPES:
        raise InputError(f"xylo records: dtype {np.dtype(dtype)} is not one of "
                         f"{', '.join(str(d) for d in RECORD_DTYPES)}")
    if path == "c" or (path == "auto" and xylo_c.available()):
        kept = xylo_c.run_c(net, check_counts(net, inputs), tuple(record), threads=threads, dtype=dtype)
        return XyloTraces(**{k: kept.get(k) for k in RECORDS})  # type: ignore[arg-type]
    counts = np.minimum(check_counts(net, inputs), MAX_INPUT_EVENTS)
    T, B = counts.shape[:2]
    n, n_out = net.n_hidden, net.n_out
    w_in = effective_weights(net.weights_in, net.weight_shift_in)
    w_rec = effective_weights(net.weights_rec, net.weight_shift_rec)
    w_out = effective_weights(net.weights_out, net.weight_shift_out)[:, :, None]
    parts = {k: (np.maximum(w, 0).reshape(w.shape[0], -1).astype(np.float64),
                 np.minimum(w, 0).reshape(w.shape[0], -1).astype(np.float64))
             for k, w in (("in", w_in), ("rec", w_rec), ("out", w_out))} if path != "plain" else {}
    dash_syn = np.stack([net.dash_syn, net.dash_syn_2], axis=1)
    dash_out = net.dash_syn_out[:, None]
    plan = _AliasPlan(net.aliases)
    hid = _Pop(np.zeros((B, n, 2), np.int64), np.zeros((B, n), np.int64))
    out = _Pop(np.zeros((B, n_out, 1), np.int64), np.zeros((B, n_out), np.int64))
    prev = np.zeros((B, n), np.int64)
    rec = {k: np.zeros((T, B, n), np.int64) for k in ("spikes", "isyn", "isyn2", "vmem")}
    rec.update({k: np.zeros((T, B, n_out), np.int64) for k in ("spikes_out", "isyn_out", "vmem_out")})
    if clamps is not None:
        clamps.update({k: np.zeros((T, B, n_out if k.endswith("_out") else n), bool)
                       for k in ("i", "v", "i_out", "v_out")})
    for t in range(T):
        hidden_counts = np.minimum(prev, MAX_HIDDEN_SPIKES)
        hit = {k: v[t] for k, v in clamps.items()} if clamps is not None else {}
        for state, cnt, w, key in ((hid.isyn, counts[t], w_in, "in"), (hid.isyn, hidden_counts, w_rec, "rec"),
                                   (out.isyn, hidden_counts, w_out, "out")):
            if path == "plain":
                deliver_events(state, cnt, w, hit.get("i_out" if key == "out" else "i"))
            else:
                deliver_fast(state, cnt, w, *parts[key])
        _evolve_states(hid, dash_syn, net.dash_mem, net.bias, hit.get("v"))
        prev = _fire_hidden(hid, net.threshold, plan)
        _evolve_states(out, dash_out, net.dash_mem_out, net.bias_out, hit.get("v_out"))
        spikes_out = _fire(out.v, net.threshold_out, np.full_like(out.v, MAX_OUTPUT_SPIKES))
        out.v = out.v - spikes_out * net.threshold_out
        for key, value in (("spikes", prev), ("isyn", hid.isyn[:, :, 0]), ("isyn2", hid.isyn[:, :, 1]),
                           ("vmem", hid.v), ("spikes_out", spikes_out), ("isyn_out", out.isyn[:, :, 0]),
                           ("vmem_out", out.v)):
            rec[key][t] = value
    return XyloTraces(**{k: rec[k].astype(dtype, copy=False) if k in record else None  # type: ignore[arg-type]
                         for k in RECORDS})


def uses_xylo(qgraph: QGraph) -> bool:
    """Whether any neuron of ``qgraph`` is under Xylo's arithmetic (``accumulate="per_event"``, the xylo preset)."""
    return any(isinstance(nd, QNeuron) and nd.semantics.accumulate == "per_event" for nd in qgraph.nodes.values())


def run_xylo_graph(qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto",
                   allow_counts: bool = False, keep: Keep = None,
                   narrow: bool = True) -> dict[str, dict[str, np.ndarray]]:
    """bitsim's traces of a QGraph under the xylo preset: the graph mapped onto Xylo
    (:func:`snncompile.backends.xylo.lower.lower`, which refuses what Xylo cannot compute) and stepped by
    :func:`run_xylo`. The generic executors hand such graphs here: their exact accumulation would differ.
    ``keep`` as :func:`snncompile.backends.bitsim.simulate` (only the records the asked traces need are kept);
    ``narrow``: Xylo's records in int16 (every register is 16 bits) and spike counts uint8 (at most 31),
    else int64; a weight layer's "out" stays int64."""
    from snncompile.backends.xylo.lower import records_for, traces_by_node

    from .plain import check_inputs

    data = check_inputs(qgraph, inputs, allow_counts=allow_counts)
    x = next(iter(data.values()))
    mapping = cached(qgraph, "xylo_mapping", lambda: _lower(qgraph))
    want = None if keep is None else resolve_keep(qgraph, keep)
    record = records_for(mapping, want)
    xt = run_xylo(mapping.net, x, path=path, record=record, dtype=np.int16 if narrow else np.int64)
    traces = traces_by_node(mapping, x, dict(xt.items()), want)
    if narrow:
        for name in (*mapping.hidden, *mapping.readout):
            if "out" in traces.get(name, {}):
                traces[name]["out"] = traces[name]["out"].astype(np.uint8)
    return traces


def _lower(qgraph: QGraph) -> XyloMapping:
    from snncompile.backends.xylo.lower import lower

    return lower(qgraph)


def run_xylo_graph_with_clamps(qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *,
                               allow_counts: bool = False) -> tuple[dict[str, dict[str, np.ndarray]],
                                                                    tuple[ClampEvent, ...]]:
    """:func:`run_xylo_graph` on the plain path, with the register clamp events (a neuron-step counts once per
    register: ``i`` when any event saturated one of its synapses, ``v`` when the membrane update saturated)."""
    from snncompile.backends.xylo.lower import lower, traces_by_node

    from .plain import check_inputs

    data = check_inputs(qgraph, inputs, allow_counts=allow_counts)
    x = next(iter(data.values()))
    mapping = lower(qgraph)
    hits: dict[str, np.ndarray] = {}
    traces = traces_by_node(mapping, x, dict(run_xylo(mapping.net, x, path="plain", clamps=hits).items()))
    counters: dict[str, dict[str, ClampCounter]] = {}
    for ranges, suffix in ((mapping.hidden, ""), (mapping.readout, "_out")):
        for name, (a, b) in ranges.items():
            for register in ("i", "v"):
                counter = ClampCounter()
                for t, hit in enumerate(hits[register + suffix][:, :, a:b]):
                    counter.add(t, hit)
                counters.setdefault(name, {})[register] = counter
    return traces, clamp_events(qgraph, counters)
