"""The core simulator: executes a mapping (mapping.json + mapping.npz) core by core, spikes travelling as messages
along its routes.

Each step t, in Lava's order (tests/data/lava_loihi/README.md):

1. every core updates its compartments from the dendritic input scheduled for t (Loihi arithmetic, below);
2. every spike leaves its core as one message per output axon ``(compartment, dest_core, dest_axon)``, and the
   host sends one per Input spike along the host routes; a message on an axon with lag L arrives at step t + L;
3. every core reads the messages that arrived for t: each axon's synapse lists add their weights into one
   accumulator per projection; ``acc << weight_exp`` (floor shift when negative) is scheduled as dendritic
   input for step t + delay.

Compartment update (rtz(p) = sign(p) * (|p| >> 12); written from Lava's PyLifModelBitAcc, not from bitsim)::

    u' = rtz(u * (4096 - (du + 1))) + (a_in << 6);  u = u' - 2^24 if u' > 2^23, u' + 2^24 if u' <= -2^23
    v  = clip(rtz(v * (4096 - dv)) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    s  = v > (vth << 6);  v = 0 where s

**Order of evaluation** (the same arithmetic, evaluated in an order the messages allow; docs/design-notes.md). The
unit is a *block*: one compartment group of one core. Messages only flow from a sender block to the blocks its
routes and synapse lists reach, and every hop takes at least one step (delay >= 1), so the blocks are simulated
one strongly connected component of that graph at a time, in topological order. A block none of whose senders
is in its own component (every feed-forward network) receives all its messages from blocks already simulated
for every step: its accumulators are computed for all T x B at once, as one product per projection of the arrived
messages [T*B, axons] and its synapse matrix (built from the lists), and then its compartments step through time.
Blocks in a cycle (recurrence) step together, their messages to each other delivered and accumulated per step.
The product runs in float32 (float64) only when every weight column's absolute sum is below 2^24 (2^53): messages
are 0/1, so every partial sum is an integer of at most that magnitude and the float result is exact; otherwise
in int64.

The traces are bitsim's: {node: {"out": int64 [T, B, *shape], "v", "i" (= u) for neurons}} for every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncompile.errors import InputError

from .coretraces import Traces, assemble, spike_inputs
from .mapfile import entry_compartments

_HALF = 1 << 23
_FULL = 1 << 24
NOBODY = -(1 << 40)  # the sender of an input axon no route reaches (it never receives a message)


def _rtz_decay(y: np.ndarray, factor: np.ndarray) -> np.ndarray:
    p = y * factor
    return np.sign(p) * (np.abs(p) >> 12)


def _shift(acc: np.ndarray, exp: int) -> np.ndarray:
    return acc << exp if exp >= 0 else acc >> (-exp)


@dataclass
class _Input:
    """One projection's synapses into a block: row r is an input axon fed by ``sender[r]`` (a block id, or
    -1 - population index for the host), its column ``column[r]``, arriving ``lag[r]`` steps later."""

    projection: int
    exp: int
    delay: int
    sender: np.ndarray
    column: np.ndarray
    lag: np.ndarray
    weights: np.ndarray  # [rows, n]: float32 / float64 when that is exact (see above), else int64

    def product(self, arrived: np.ndarray, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """int64 ``arrived @ weights[rows]`` for 0/1 messages ``arrived`` [R, len(rows)] (exact, see above)."""
        return (arrived.astype(self.weights.dtype) @ self.weights[rows]).astype(np.int64)


def _exact_matrix(flat: np.ndarray, weight: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The matrix summing ``weight`` at the flat indices ``flat``, in the narrowest exact product type: float32 when
    every column's absolute sum is below 2^24, float64 below 2^52 (then the float64 sums themselves are exact),
    else int64."""
    m = np.bincount(flat, weights=weight, minlength=shape[0] * shape[1]).reshape(shape)
    bound = float(np.abs(m).sum(axis=0).max(initial=0.0))
    if bound < (1 << 24):
        return m.astype(np.float32)
    if bound < (1 << 52):
        return m
    exact = np.zeros(shape[0] * shape[1], np.int64)
    np.add.at(exact, flat, np.asarray(weight, np.int64))
    return exact.reshape(shape)


@dataclass
class _Block:
    """Compartments base..base+n-1 of ``core``: neurons start..start+n-1 of ``population``."""

    core: int
    base: int
    population: str
    start: int
    regs: dict[str, np.ndarray]
    inputs: list[_Input] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.regs["du"])


def _blocks(index: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> list[_Block]:
    """The blocks of a mapping with their registers, senders and synapse matrices."""
    co, ao = np.asarray(arrays["compartment_offsets"]), np.asarray(arrays["axon_offsets"])
    regs = {f: np.asarray(arrays[f], np.int64) for f in ("du", "dv", "vth", "bias_mant", "bias_exp", "u0", "v0")}
    blocks: list[_Block] = []
    block_of = np.full(int(co[-1]), -1, np.int64)  # global compartment -> block
    for k, core in enumerate(index["cores"]):
        for g in core["compartments"]:
            a, n = int(co[k]) + int(g["base"]), int(g["stop"]) - int(g["start"])
            if int(g["base"]) < 0 or a + n > int(co[k + 1]) or n < 1 or np.any(block_of[a:a + n] >= 0):
                raise InputError(f"loihi mapping: core {k}: compartment group {g} does not fit its compartments")
            block_of[a:a + n] = len(blocks)
            blocks.append(_Block(k, int(g["base"]), str(g["population"]), int(g["start"]),
                                 {f: v[a:a + n] for f, v in regs.items()} | {"bias": regs["bias_mant"][a:a + n]
                                                                              << regs["bias_exp"][a:a + n]}))
    n_axons = int(ao[-1])
    sender, column = np.full(n_axons, NOBODY, np.int64), np.zeros(n_axons, np.int64)
    ro = np.asarray(arrays["route_offsets"])
    src_core = np.repeat(np.arange(len(index["cores"])), np.diff(ro))
    src = co[src_core] + np.asarray(arrays["route_compartment"], np.int64)
    dest = ao[np.asarray(arrays["route_dest_core"], np.int64)] + np.asarray(arrays["route_dest_axon"], np.int64)
    host_pop = np.asarray(arrays["host_population"], np.int64)
    host_dest = ao[np.asarray(arrays["host_dest_core"], np.int64)] + np.asarray(arrays["host_dest_axon"], np.int64)
    every = np.concatenate([dest, host_dest])
    if np.any(src >= len(block_of)) or np.any(block_of[src] < 0) or np.any(every >= n_axons):
        raise InputError("loihi mapping: a route starts or ends outside the cores' compartments and axons")
    reached = np.bincount(every, minlength=n_axons)
    if reached.max(initial=0) > 1:
        bad = int(np.argmax(reached > 1))
        core = int(np.searchsorted(ao, bad, side="right")) - 1
        raise InputError(f"loihi mapping: core {core}, axon {bad - int(ao[core])} receives {int(reached[bad])} "
                         "routes (an input axon carries one source neuron)")
    sender[dest] = block_of[src]
    column[dest] = src - co[src_core] - np.asarray([blocks[b].base for b in block_of[src].tolist()], np.int64)
    sender[host_dest] = -1 - host_pop
    column[host_dest] = np.asarray(arrays["host_index"], np.int64)
    lag = np.asarray(arrays["axon_lag"], np.int64)

    lo = np.asarray(arrays["list_offsets"])
    length = np.asarray(arrays["list_length"], np.int64)
    list_core = np.repeat(np.arange(len(index["cores"])), np.diff(lo))
    list_axon = np.asarray(arrays["list_axon"], np.int64)
    list_base = np.asarray(arrays["list_base"], np.int64)
    core_n = np.diff(co)
    if np.any(list_axon >= np.diff(ao)[list_core]) or np.any(list_base >= core_n[list_core]):
        raise InputError("loihi mapping: a synapse list names an axon or compartment its core does not have")
    list_block = block_of[co[list_core] + list_base]
    projections = index["projections"]
    key = list_block * (len(projections) + 1) + np.asarray(arrays["list_projection"], np.int64)
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    entry_start = np.cumsum(length) - length
    comp, weight = entry_compartments(arrays), np.asarray(arrays["weight"])
    for lists in np.split(order, cuts) if len(order) else []:
        b, p = int(list_block[lists[0]]), int(key[lists[0]] % (len(projections) + 1))
        if b < 0:
            raise InputError(f"loihi mapping: core {int(list_core[lists[0]])}: a synapse list starts outside every "
                             "compartment group")
        lens = length[lists]
        if lists[-1] - lists[0] + 1 == len(lists) and np.all(np.diff(lists) == 1):  # consecutive lists: one slice
            e = slice(int(entry_start[lists[0]]), int(entry_start[lists[-1]] + lens[-1]))
            local, w = comp[e] - blocks[b].base, weight[e]
        else:
            at = np.repeat(entry_start[lists] - (np.cumsum(lens) - lens), lens) + np.arange(int(lens.sum()))
            local, w = comp[at] - blocks[b].base, weight[at]
        n = blocks[b].n
        if np.any(local < 0) or np.any(local >= n):
            raise InputError(f"loihi mapping: core {int(list_core[lists[0]])}: a synapse list spans compartments of "
                             "two groups")
        rows, pos = np.unique(ao[list_core[lists]] + list_axon[lists], return_inverse=True)
        blocks[b].inputs.append(_Input(
            p, int(projections[p]["weight_exp"]), int(projections[p]["delay"]), sender[rows], column[rows], lag[rows],
            _exact_matrix(np.repeat(pos * n, lens) + local, w, (len(rows), n))))
    return blocks


def _components(blocks: list[_Block]) -> list[list[int]]:
    """Strongly connected components of the sender -> receiver graph, senders first (iterative Tarjan)."""
    succ: list[set[int]] = [set() for _ in blocks]
    for b, blk in enumerate(blocks):
        for inp in blk.inputs:
            for s in np.unique(inp.sender[inp.sender >= 0]).tolist():
                succ[s].add(b)
    order: list[list[int]] = []
    low, num, on, stack, counter = [0] * len(blocks), [-1] * len(blocks), [False] * len(blocks), [], [0]
    for root in range(len(blocks)):
        if num[root] >= 0:
            continue
        work = [(root, iter(sorted(succ[root])))]
        num[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on[root] = True
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == num[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on[x] = False
                        comp.append(x)
                        if x == v:
                            break
                    order.append(sorted(comp))
            elif num[w] < 0:
                num[w] = low[w] = counter[0]
                counter[0] += 1
                stack.append(w)
                on[w] = True
                work.append((w, iter(sorted(succ[w]))))
            elif on[w]:
                low[v] = min(low[v], num[w])
    return order[::-1]  # Tarjan emits sinks first


class _Run:
    """The state of one simulation: every block's spikes, u, v and per-projection accumulators over [T, B]."""

    def __init__(self, index: Mapping[str, Any], blocks: list[_Block], data: dict[str, np.ndarray]) -> None:
        self.blocks, self.T, self.B = blocks, *next(iter(data.values())).shape[:2]
        self.host = {-1 - i: data[p["name"]] for i, p in enumerate(index["populations"]) if p["kind"] == "host"}
        # every block's records are views into its population's traces, and its accumulators into its projection's
        # [T, B, target] array (one copy of each trace, not one per block and another for the result)
        sizes = {p["name"]: int(np.prod(p["shape"], dtype=np.int64)) for p in index["populations"]}
        self.population = {name: {k: np.zeros((self.T, self.B, sizes[name]), np.int64) for k in ("out", "i", "v")}
                           for name in {b.population for b in blocks}}
        targets = {i: p["target"] for i, p in enumerate(index["projections"])}
        self.projection = {i: np.zeros((self.T, self.B, sizes[targets[i]]), np.int64)
                           for i in sorted({inp.projection for b in blocks for inp in b.inputs})}
        cols = [slice(b.start, b.start + b.n) for b in blocks]
        self.spikes = [self.population[b.population]["out"][:, :, c] for b, c in zip(blocks, cols, strict=True)]
        self.u = [self.population[b.population]["i"][:, :, c] for b, c in zip(blocks, cols, strict=True)]
        self.v = [self.population[b.population]["v"][:, :, c] for b, c in zip(blocks, cols, strict=True)]
        self.acc = [[self.projection[inp.projection][:, :, c] for inp in b.inputs]
                    for b, c in zip(blocks, cols, strict=True)]
        self._sent: dict[tuple[int, str], np.ndarray] = {}

    def sent(self, sender: int) -> np.ndarray:
        return self.host[sender] if sender < 0 else self.spikes[sender]

    def sent_2d(self, sender: int, dtype: np.dtype) -> np.ndarray:
        """The spikes of ``sender`` (a simulated block or a host Input) as [T*B, n] of ``dtype``."""
        key = (sender, np.dtype(dtype).str)
        if key not in self._sent:
            x = self.sent(sender)
            self._sent[key] = x.astype(dtype, order="C").reshape(self.T * self.B, x.shape[2])
        return self._sent[key]

    def accumulate_all(self, inp: _Input, rows: np.ndarray, acc: np.ndarray) -> None:
        """acc[t] += the weights of the messages arriving at t on ``rows`` (senders all simulated), for every t:
        per (sender, lag), the sender's spikes [T*B, n_sender] times the rows' weights placed at their sender
        columns (one axon per source neuron and lag, so no two rows share a column)."""
        T, B = self.T, self.B
        weights = inp.weights
        dtype = weights.dtype
        sender, lag = inp.sender[rows], inp.lag[rows]
        for s in np.unique(sender).tolist():
            x = self.sent_2d(s, dtype)
            for lg in np.unique(lag[sender == s]).tolist():
                if lg >= T:
                    continue
                pick = rows[(sender == s) & (lag == lg)]
                placed = np.zeros((x.shape[1], weights.shape[1]), dtype)
                placed[inp.column[pick]] = weights[pick]
                acc[lg:] += (x[:(T - lg) * B] @ placed).astype(np.int64).reshape(T - lg, B, -1)

    def arrived(self, inp: _Input, rows: np.ndarray, t: int) -> np.ndarray:
        """0/1 messages on ``rows`` of ``inp`` arriving at step t: [B, len(rows)]."""
        out = np.zeros((self.B, len(rows)), np.float32)
        sender, column, lag = inp.sender[rows], inp.column[rows], inp.lag[rows]
        for s in np.unique(sender).tolist():
            for lg in np.unique(lag[sender == s]).tolist():
                pos = np.flatnonzero((sender == s) & (lag == lg))
                if t >= lg:
                    out[:, pos] = self.sent(s)[t - lg][:, column[pos]]
        return out

    def component(self, comp: list[int], wave: bool = False) -> None:
        """Simulate the blocks ``comp`` for every step: one strongly connected component, or (``wave``) blocks
        with no sender among them, whose compartments then step as one array."""
        inside = set() if wave else set(comp)
        internal: dict[tuple[int, int], np.ndarray] = {}
        for b in comp:
            for j, inp in enumerate(self.blocks[b].inputs):
                mine = np.isin(inp.sender, list(inside))
                ext = np.flatnonzero(~mine & (inp.sender != NOBODY))
                if len(ext):
                    self.accumulate_all(inp, ext, self.acc[b][j])
                if mine.any():
                    internal[(b, j)] = np.flatnonzero(mine)
        if not internal:  # every input known: the compartments of all blocks step together
            self._step([self.blocks[b] for b in comp], comp, np.concatenate([self._dendrite(b) for b in comp], 2))
            return
        for t in range(self.T):
            for b in comp:
                self._step([self.blocks[b]], [b], self._dendrite_at(b, t)[None], t)
            for (b, j), rows in internal.items():
                inp = self.blocks[b].inputs[j]
                self.acc[b][j][t] += inp.product(self.arrived(inp, rows, t), rows)

    def _step(self, blocks: list[_Block], ids: list[int], a_in: np.ndarray, t0: int = 0) -> None:
        """The compartment update of ``blocks`` (concatenated) for steps t0 .. t0 + len(a_in) - 1, from the state
        after step t0 - 1 (the initial u0, v0 at t0 = 0)."""
        r = {f: np.concatenate([blk.regs[f] for blk in blocks]) for f in ("du", "dv", "vth", "bias")}
        if t0 == 0:
            u = np.concatenate([blk.regs["u0"] for blk in blocks])[None].repeat(self.B, 0)
            v = np.concatenate([blk.regs["v0"] for blk in blocks])[None].repeat(self.B, 0)
        else:
            u = np.concatenate([self.u[b][t0 - 1] for b in ids], 1)
            v = np.concatenate([self.v[b][t0 - 1] for b in ids], 1)
        fu, fv, th = 4096 - (r["du"] + 1), 4096 - r["dv"], r["vth"] << 6
        rec = {k: np.zeros(a_in.shape, np.int64) for k in ("s", "u", "v")}
        for k in range(len(a_in)):
            u = _rtz_decay(u, fu) + (a_in[k] << 6)
            u = np.where(u > _HALF, u - _FULL, np.where(u <= -_HALF, u + _FULL, u))
            v = np.minimum(np.maximum(_rtz_decay(v, fv) + u + r["bias"], -(_HALF - 1)), _HALF - 1)
            s = v > th
            v = np.where(s, 0, v)
            rec["s"][k], rec["u"][k], rec["v"][k] = s, u, v
        steps, a = slice(t0, t0 + len(a_in)), 0
        for b, blk in zip(ids, blocks, strict=True):
            cols = slice(a, a + blk.n)
            self.spikes[b][steps], self.u[b][steps], self.v[b][steps] = (rec[k][:, :, cols] for k in "suv")
            a += blk.n

    def _dendrite(self, b: int) -> np.ndarray:
        """a_in of block b for every step, from its complete accumulators."""
        out = np.zeros((self.T, self.B, self.blocks[b].n), np.int64)
        for inp, acc in zip(self.blocks[b].inputs, self.acc[b], strict=True):
            if inp.delay < self.T:
                out[inp.delay:] += _shift(acc[:self.T - inp.delay], inp.exp)
        return out

    def _dendrite_at(self, b: int, t: int) -> np.ndarray:
        out = np.zeros((self.B, self.blocks[b].n), np.int64)
        for inp, acc in zip(self.blocks[b].inputs, self.acc[b], strict=True):
            if t >= inp.delay:
                out += _shift(acc[t - inp.delay], inp.exp)
        return out


def simulate(mapping: tuple[Mapping[str, Any], Mapping[str, np.ndarray]],
             inputs: np.ndarray | Mapping[str, np.ndarray]) -> Traces:
    """Run a mapping ((index, arrays) of :mod:`.mapfile`) on spike inputs ``[T, B, *shape]``; bitsim's traces."""
    index, arrays = mapping
    data = spike_inputs(index, inputs)
    blocks = _blocks(index, arrays)
    run = _Run(index, blocks, data)
    with _one_blas_thread():
        for comp, wave in _waves(blocks, _components(blocks)):
            run.component(comp, wave)
    return assemble(index, data, run.T, run.B, run.population, run.projection)


def _waves(blocks: list[_Block], components: list[list[int]]) -> list[tuple[list[int], bool]]:
    """The components in order, consecutive single blocks that neither feed each other nor themselves joined
    into one wave (``True``): a layer's blocks step as one array."""
    out: list[tuple[list[int], bool]] = []
    wave: list[int] = []
    for comp in components:
        senders = {int(s) for inp in blocks[comp[0]].inputs for s in np.unique(inp.sender[inp.sender >= 0])}
        simple = len(comp) == 1 and comp[0] not in senders
        if simple and not senders & set(wave):
            wave.append(comp[0])
            continue
        if wave:
            out.append((wave, True))
        wave = [comp[0]] if simple else []
        if not simple:
            out.append((comp, False))
    if wave:
        out.append((wave, True))
    return out


def _one_blas_thread() -> AbstractContextManager[Any]:
    """BLAS on one thread while simulating: its products are a few milliseconds each, and a second thread
    spinning beside them costs more CPU than it saves (measured: 2.6 s vs 0.6 s of CPU at 6.3 M synapses on a
    loaded 2-core machine). Results do not depend on it (exact either way)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; without it BLAS keeps its threads
        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
