"""What a neuron group costs on a core: compartments, input axons, output axons, synaptic memory bits.

Input axons: one per distinct (source population, lag, source neuron) with a synapse into the core; axons from
one source are shared by every projection that reads it. Output axons: one per distinct (source neuron, lag,
destination core) -- a spike is sent once to each core that holds one of its targets.

Synaptic memory (the CoreSpec cost model, after nengo-loihi's ``bits_per_axon``): each input axon holds one
synapse *list* per projection it feeds on the core, covering the list's targets inside one neuron group. A list
of n synapses whose targets span ``span`` compartments costs the cheaper of

    dense   block_bits(span, weight_bits + delay_bits)                     zeros inside the span stored
    sparse  block_bits(n, weight_bits + delay_bits + index_bits(span))      an index per synapse

    block_bits(n, b) = sum over blocks of at most block_synapses synapses of
                       ceil((n_block * b + block_header_bits) / word_bits) * word_bits

weight_bits = the smallest stored width >= the projection's num_weight_bits (Lava's, see registers);
delay_bits = bit length of the extra synaptic delay (delay - 1); index_bits = the smallest option holding an
offset in 0..span-1. Every quantity is an exact function of the groups, so the mapper and the rules agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .netlist import Netlist, Projection
from .rules import CoreUsage, check_weight_bits
from .spec import CoreSpec

RUN_LIMIT = 4096  # runs of targets on one core before _marked_rows marks per synapse
TABLE_LIMIT = 1 << 26  # entries of the boolean (pre, lag, core) table before distinct_rows sorts instead


def block_bits(n: np.ndarray, bits_per_synapse: np.ndarray | int, spec: CoreSpec) -> np.ndarray:
    """Memory bits of synapse lists of ``n`` synapses each (int64, elementwise; 0 for n = 0)."""
    n = np.asarray(n, np.int64)
    bps = np.asarray(bits_per_synapse, np.int64)
    per = spec.block_synapses
    words = spec.word_bits

    def rounded(k: np.ndarray) -> np.ndarray:
        return -(-(k * bps + spec.block_header_bits) // words) * words

    full, rem = n // per, n % per
    return full * rounded(np.full_like(n, per)) + np.where(rem > 0, rounded(rem), 0)


def index_bits(span: np.ndarray, spec: CoreSpec) -> np.ndarray:
    """Smallest index width option holding offsets 0..span-1; a huge value where none does."""
    need = np.maximum(1, np.ceil(np.log2(np.maximum(np.asarray(span, np.float64), 1.0)))).astype(np.int64)
    opts = np.asarray(spec.index_bits_options, np.int64)
    pos = np.searchsorted(opts, need)
    return np.where(pos < len(opts), opts[np.minimum(pos, len(opts) - 1)], 1 << 20)


def stored_weight_bits(projection: Projection, spec: CoreSpec) -> int:
    check_weight_bits(projection.name, projection.num_weight_bits, spec)
    return next(b for b in spec.weight_bits_options if b >= projection.num_weight_bits)


@dataclass(frozen=True)
class SynapseLists:
    """The lists of one (projection, tap) inside a neuron range: one row per source neuron with synapses."""

    pre: np.ndarray  # source neuron
    order: np.ndarray  # permutation of the range-sliced synapses grouping them by source (targets ascending)
    start: np.ndarray  # where each list starts in ``order``
    count: np.ndarray
    low: np.ndarray  # smallest target (population index)
    span: np.ndarray
    dense: np.ndarray  # bool: dense encoding chosen
    bits: np.ndarray


@dataclass(frozen=True)
class GroupCost:
    layer: str
    start: int
    stop: int
    synapses: int
    memory_bits: int
    axons: np.ndarray  # sorted unique global axon ids


class CostModel:
    """Precomputed per-netlist tables; every method is a pure function of its arguments."""

    def __init__(self, netlist: Netlist, spec: CoreSpec) -> None:
        self.netlist, self.spec = netlist, spec
        self.layers = netlist.layers
        self.offset: dict[str, int] = {}
        total = 0
        for name in self.layers:
            self.offset[name] = total
            total += netlist.populations[name].size
        self.total_neurons = total
        self.axon_base: dict[tuple[str, int], int] = {}
        base = 0
        for proj in netlist.projections:
            for tap in proj.taps:
                if (tap.source, tap.lag) not in self.axon_base:
                    self.axon_base[(tap.source, tap.lag)] = base
                    base += netlist.populations[tap.source].size
        self.into = {name: [p for p in netlist.projections if p.target == name] for name in self.layers}
        self.max_lag = max((t.lag for p in netlist.projections for t in p.taps), default=0)
        self.weight_bits = {p.name: stored_weight_bits(p, spec) for p in netlist.projections}
        self._by_pre = {p.name: self._pre_table(p) for p in netlist.projections}
        # the placement search asks for the same ranges again and again: both are pure functions of their keys
        self._groups: dict[tuple[str, int, int], GroupCost] = {}
        self._routes_for: np.ndarray | None = None  # the core assignment the cached route tables are for
        self._route_table: dict[str, np.ndarray] = {}
        self._out_prefix: dict[str, np.ndarray] = {}
        self._memory_floor = {name: self._floor_prefix(name) for name in self.layers}
        self._tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._longest: dict[tuple[str, int, tuple[tuple[str, int, int], ...]], int] = {}

    def _pre_table(self, proj: Projection) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(sorted keys pre * W + post, their posts, the distinct sources, W) of ``proj``: any neuron range's
        synapse lists are then two binary searches per source (:meth:`range_lists`), not a sort of the range.
        Keys, posts and sources share one integer type (int32 when the keys fit), so searches never convert."""
        width = int(proj.post.max(initial=-1)) + 2
        pre = np.asarray(proj.pre, np.int64)
        counts = np.bincount(pre) if pre.size else np.zeros(0, np.int64)
        pres = np.flatnonzero(counts)
        # synapses are sorted by (post, pre): a stable sort by pre alone sorts by (pre, post); as uint16 numpy
        # sorts it by radix in linear time
        order = np.argsort(pre.astype(np.uint16) if len(counts) <= (1 << 16) else pre, kind="stable")
        dtype = np.int32 if len(counts) * width < (1 << 31) else np.int64
        posts = np.asarray(proj.post)[order].astype(dtype)
        keys = np.repeat((pres * width).astype(dtype), counts[pres]) + posts
        return keys, posts, pres.astype(dtype), width

    def range_lists(self, proj: Projection, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sources, synapse counts, memory bits) of the lists of ``proj`` into neurons start..stop-1: the numbers
        :meth:`lists` gives, from binary searches in the per-projection table (the mapper asks for many ranges)."""
        keys, posts, pres, width = self._by_pre[proj.name]
        lo = np.searchsorted(keys, pres * width + min(start, width - 1), side="left")
        hi = np.searchsorted(keys, pres * width + min(stop, width - 1), side="left")
        count = hi - lo
        has = count > 0
        lo, hi, count = lo[has], hi[has], count[has]
        low = posts[lo]
        span = posts[hi - 1] - low + 1
        bits_syn = self.weight_bits[proj.name] + int(proj.delay - 1).bit_length()
        dense_bits = block_bits(span, bits_syn, self.spec)
        sparse_bits = block_bits(count, bits_syn + index_bits(span, self.spec), self.spec)
        return pres[has].astype(np.int64), count, np.minimum(dense_bits, sparse_bits)

    # -- synapse lists and memory -------------------------------------------------------------------------------------
    def sliced(self, proj: Projection, start: int, stop: int) -> slice:
        lo, hi = np.searchsorted(proj.post, [start, stop], side="left")
        return slice(int(lo), int(hi))

    def lists(self, proj: Projection, start: int, stop: int) -> SynapseLists:
        """The synapse lists of ``proj`` (one tap) into neurons start..stop-1."""
        sl = self.sliced(proj, start, stop)
        pre, post = proj.pre[sl], proj.post[sl]
        small = pre.size == 0 or int(pre.max()) < (1 << 16)  # radix sort as uint16; posts stay ascending per source
        order = np.argsort(pre.astype(np.uint16) if small else pre, kind="stable")
        uniq, first, count = _runs(pre[order])
        low = post[order][first]
        span = post[order][first + count - 1] - low + 1
        bits_syn = self.weight_bits[proj.name] + int(proj.delay - 1).bit_length()
        dense_bits = block_bits(span, bits_syn, self.spec)
        sparse_bits = block_bits(count, bits_syn + index_bits(span, self.spec), self.spec)
        dense = dense_bits <= sparse_bits
        return SynapseLists(uniq, order, first, count, low, span, dense, np.where(dense, dense_bits, sparse_bits))

    def group(self, layer: str, start: int, stop: int) -> GroupCost:
        """Synapses, memory and input axons of neurons start..stop-1 of ``layer`` alone on a core."""
        key = (layer, start, stop)
        if key not in self._groups:
            self._groups[key] = self._group(layer, start, stop)
        return self._groups[key]

    def _group(self, layer: str, start: int, stop: int) -> GroupCost:
        synapses = memory = 0
        axons = []
        for proj in self.into[layer]:
            pre, count, bits = self.range_lists(proj, start, stop)
            n_taps = len(proj.taps)
            synapses += n_taps * int(count.sum())
            memory += n_taps * int(bits.sum())
            axons += [self.axon_base[(t.source, t.lag)] + pre for t in proj.taps]
        ids = np.unique(np.concatenate(axons)) if axons else np.zeros(0, np.int64)
        return GroupCost(layer, start, stop, synapses, memory, ids)

    def fan_in(self, layer: str) -> np.ndarray:
        """Distinct input axons each neuron of ``layer`` needs (int64 per neuron)."""
        size = self.netlist.populations[layer].size
        by_axons: dict[int, list[Projection]] = {}  # projections by the input axons they read
        for p in self.into[layer]:
            for t in p.taps:
                by_axons.setdefault(self.axon_base[(t.source, t.lag)], []).append(p)
        n_axons = max([b + self.netlist.populations[s].size for (s, _), b in self.axon_base.items()] + [1])
        count = np.zeros(size, np.int64)
        keys = []
        for base, projs in by_axons.items():
            p = projs[0]
            if len(projs) == 1 and not np.any((p.post[1:] == p.post[:-1]) & (p.pre[1:] == p.pre[:-1])):
                count += np.bincount(p.post, minlength=size)  # (post, pre) distinct: each synapse is one axon
            else:  # axons shared by several projections (or repeated pairs): count distinct (neuron, axon) keys
                keys += [np.asarray(q.post, np.int64) * n_axons + (base + q.pre) for q in projs]
        if keys:
            count += np.bincount(np.unique(np.concatenate(keys)) // n_axons, minlength=size)
        return count

    # -- output axons and traffic ------------------------------------------------------------------------------------
    def _routes_table(self, source: str, core_of: np.ndarray) -> np.ndarray:
        """Distinct (pre, lag, destination core) rows of every neuron of ``source``, sorted, under ``core_of``
        (remembered while the same array object is passed; the mapper builds a new array for every new assignment
        and never changes one in place)."""
        if self._routes_for is not core_of:
            self._routes_for, self._route_table, self._out_prefix = core_of, {}, {}
        if source not in self._route_table:
            size = self.netlist.populations[source].size
            shape = (size, self.max_lag + 1, int(core_of.max(initial=-1)) + 1)
            taps = [(p, t.lag) for p in self.netlist.projections for t in p.taps if t.source == source]
            if int(np.prod(shape, dtype=np.int64)) <= TABLE_LIMIT:
                self._route_table[source] = self._marked_rows(taps, core_of, shape)
            else:
                pre, lag, core = [], [], []
                for proj, tap_lag in taps:
                    dest = core_of[self.offset[proj.target] + proj.post]
                    keep = dest >= 0
                    pre.append(np.asarray(proj.pre, np.int64)[keep])
                    lag.append(np.full(int(keep.sum()), tap_lag, np.int64))
                    core.append(dest[keep])
                self._route_table[source] = distinct_rows(pre, lag, core, shape)
        return self._route_table[source]

    def _marked_rows(self, taps: list[tuple[Projection, int]], core_of: np.ndarray, shape: tuple[int, int, int]
                     ) -> np.ndarray:
        """:func:`distinct_rows` by marking the boolean table one run of targets on one core at a time (synapses
        are sorted by target, so a run's sources are one slice: no per-synapse index arithmetic)."""
        seen = np.zeros(shape, bool)
        for proj, lag in taps:
            size = self.netlist.populations[proj.target].size
            dest = core_of[self.offset[proj.target]:self.offset[proj.target] + size]
            cuts = np.flatnonzero(np.diff(dest)) + 1
            if len(cuts) > RUN_LIMIT:  # scattered assignment: mark per synapse
                d = dest[proj.post]
                keep = d >= 0
                seen[proj.pre[keep], lag, d[keep]] = True
                continue
            bounds = np.searchsorted(proj.post, np.concatenate([[0], cuts, [size]]))
            for a, b, core in zip(bounds[:-1].tolist(), bounds[1:].tolist(), dest[np.concatenate([[0], cuts])].tolist(),
                                  strict=True):
                if core >= 0 and b > a:
                    seen[proj.pre[a:b], lag, core] = True
        return np.argwhere(seen).astype(np.int64)

    def routes(self, source: str, start: int, stop: int, core_of: np.ndarray) -> np.ndarray:
        """Distinct (pre, lag, destination core) rows for neurons start..stop-1 of ``source``, sorted.

        core_of: int64 [total_neurons], the core of every placed neuron (-1: not placed yet, ignored).
        """
        rows = self._routes_table(source, core_of)
        lo, hi = np.searchsorted(rows[:, 0], [start, stop], side="left")
        return rows[lo:hi]

    def out_prefix(self, layer: str, core_of: np.ndarray) -> np.ndarray:
        """int64 [size + 1]: output axons of neurons 0..n-1 of ``layer`` under ``core_of`` (a neuron's output
        axons are its distinct (lag, destination core) pairs, so a range's count is a difference of two)."""
        rows = self._routes_table(layer, core_of)
        if layer not in self._out_prefix:
            size = self.netlist.populations[layer].size
            self._out_prefix[layer] = np.concatenate([[0], np.cumsum(np.bincount(rows[:, 0], minlength=size))])
        return self._out_prefix[layer]

    def out_axons(self, layer: str, start: int, stop: int, core_of: np.ndarray) -> int:
        """Output axons of the range under the assignment ``core_of``."""
        prefix = self.out_prefix(layer, core_of)
        return int(prefix[stop] - prefix[start])

    # -- the longest range that fits (the placement search) -----------------------------------------------------------
    def _floor_prefix(self, layer: str) -> np.ndarray:
        """int64 [size + 1]: a lower bound of the synaptic memory of neurons 0..n-1 of ``layer`` (every synapse
        costs at least its weight and delay bits, dense or sparse, whatever the blocks), to bound the search."""
        size = self.netlist.populations[layer].size
        floor = np.zeros(size, np.int64)
        for proj in self.into[layer]:
            bits = self.weight_bits[proj.name] + int(proj.delay - 1).bit_length()
            floor += len(proj.taps) * bits * np.bincount(proj.post, minlength=size)
        return np.concatenate([[0], np.cumsum(floor)])

    def _list_cost_table(self, proj: Projection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A list's cost as tables over its span and count, both at most neurons_per_core inside one core: (dense
        [span], sparse [index width level, count], the level of every span) -- block_bits and index_bits once."""
        if proj.name not in self._tables:
            n = np.arange(self.spec.neurons_per_core + 1, dtype=np.int64)
            bits_syn = self.weight_bits[proj.name] + int(proj.delay - 1).bit_length()
            widths = np.unique(index_bits(n, self.spec))
            sparse = np.stack([block_bits(n, bits_syn + int(w), self.spec) for w in widths])
            level = np.searchsorted(widths, index_bits(n, self.spec))
            self._tables[proj.name] = (block_bits(n, bits_syn, self.spec), sparse, level)
        return self._tables[proj.name]

    def longest(self, layer: str, start: int, base: list[GroupCost], core_of: np.ndarray) -> int:
        """The largest c such that ``base`` plus neurons start..start+c-1 of ``layer`` fit one core (0 if none).

        Every resource only grows with the range, so this is the binary search over :meth:`usage` -- computed in
        one pass: per synapse list, the cost added by each synapse in target order (the list's cost is a function
        of its count and span), summed per target neuron and accumulated; input axons by the first target of each
        axon not on the core yet; output axons from :meth:`out_prefix`. The part without output axons does not
        depend on ``core_of`` and is remembered (the mapper's rounds ask again under a new assignment).
        """
        spec = self.spec
        base_out = sum(self.out_axons(g.layer, g.start, g.stop, core_of) for g in base)
        if base_out > spec.output_axons:
            return 0
        key = (layer, start, tuple((g.layer, g.start, g.stop) for g in base))
        if key not in self._longest:
            self._longest[key] = self._longest_in(layer, start, base)
        c = self._longest[key]
        prefix = self.out_prefix(layer, core_of)  # nondecreasing: the fitting c are a prefix
        return int(np.searchsorted(prefix[start + 1:start + c + 1], prefix[start] + spec.output_axons - base_out,
                                   side="right"))

    def _longest_in(self, layer: str, start: int, base: list[GroupCost]) -> int:
        """:meth:`longest` by neurons, input axons and synaptic memory alone."""
        spec = self.spec
        size = self.netlist.populations[layer].size
        base_mem = sum(g.memory_bits for g in base)
        floor = self._memory_floor[layer]
        room = min(size - start, spec.neurons_per_core - sum(g.stop - g.start for g in base))
        room = min(room, int(np.searchsorted(floor, floor[start] + spec.synaptic_memory_bits - base_mem,
                                             side="right")) - 1 - start)
        if room <= 0:
            return 0
        stop = start + room
        memory = np.zeros(room, np.float64)
        axon_ids, firsts = [], []
        for proj in self.into[layer]:
            keys, posts, pres, width = self._by_pre[proj.name]
            lo = np.searchsorted(keys, pres * width + min(start, width - 1), side="left")
            hi = np.searchsorted(keys, pres * width + min(stop, width - 1), side="left")
            count = hi - lo
            has = count > 0
            lo, count, pre = lo[has], count[has], pres[has].astype(np.int64)
            head = np.cumsum(count) - count  # where each list starts among the gathered synapses
            rank = np.arange(int(count.sum())) - np.repeat(head, count)
            post = posts[np.repeat(lo, count) + rank]  # the lists' synapses, by source, targets ascending
            span = post - np.repeat(posts[lo], count) + 1
            dense_tab, sparse_tab, level = self._list_cost_table(proj)
            cost = np.minimum(dense_tab[span], sparse_tab[level[span], rank + 1])
            added = cost - np.concatenate([[0], cost[:-1]])
            added[head] = cost[head]
            memory += len(proj.taps) * np.bincount(post - start, weights=added, minlength=room)
            for tap in proj.taps:
                axon_ids.append(self.axon_base[(tap.source, tap.lag)] + pre)
                firsts.append(posts[lo])
        fits = np.cumsum(memory) + base_mem <= spec.synaptic_memory_bits
        have = np.unique(np.concatenate([g.axons for g in base])) if base else np.zeros(0, np.int64)
        if axon_ids:
            ids, first = np.concatenate(axon_ids), np.concatenate(firsts)
            order = np.lexsort((first, ids))  # per axon its earliest target first
            ids, first = ids[order], first[order]
            new = np.concatenate([[True], ids[1:] != ids[:-1]]) & ~np.isin(ids, have)
            axons = len(have) + np.cumsum(np.bincount(first[new] - start, minlength=room))
            fits &= axons <= spec.input_axons
        elif len(have) > spec.input_axons:
            return 0
        return int(room if fits.all() else np.argmin(fits))

    def usage(self, core: int, groups: list[GroupCost], core_of: np.ndarray) -> CoreUsage:
        """The CoreUsage of ``groups`` together on one core (input axons shared, the rest summed)."""
        axons = np.unique(np.concatenate([g.axons for g in groups])) if groups else np.zeros(0)
        return CoreUsage(
            core=core, groups=tuple((g.layer, g.start, g.stop) for g in groups),
            neurons=sum(g.stop - g.start for g in groups), synapses=sum(g.synapses for g in groups),
            input_axons=int(len(axons)),
            output_axons=sum(self.out_axons(g.layer, g.start, g.stop, core_of) for g in groups),
            memory_bits=sum(g.memory_bits for g in groups),
        )

    def traffic(self, core_of: np.ndarray, rates: dict[str, np.ndarray]) -> tuple[float, float, float]:
        """Rate-weighted messages per step: (all routed, sent by the host, sent from one core to another)."""
        total = host = inter = 0.0
        for name, pop in self.netlist.populations.items():
            rows = self._routes_table(name, core_of)
            if not len(rows):
                continue
            r = rates[name][rows[:, 0]]
            total += float(r.sum())
            if pop.is_input:
                host += float(r.sum())
            else:
                own = core_of[self.offset[name] + rows[:, 0]]
                inter += float(r[rows[:, 2] != own].sum())
        return total, host, inter


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(ordered, return_index=True, return_counts=True)`` of an already sorted array, without sorting
    it again: (the distinct values, where each run starts, the run lengths), int64 positions."""
    if not len(ordered):
        return ordered.copy(), np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]])).astype(np.int64, copy=False)
    return ordered[first], first, np.diff(first, append=np.int64(len(ordered)))


def distinct_rows(pre: list[np.ndarray], lag: list[np.ndarray], core: list[np.ndarray], shape: tuple[int, int, int]
                  ) -> np.ndarray:
    """The distinct (pre, lag, core) rows of the concatenated columns, sorted, as int64 [k, 3]: by marking a
    boolean table of ``shape`` (no sort) when it is small, else by np.unique of one combined key."""
    if not pre:
        return np.zeros((0, 3), np.int64)
    p, lg, c = np.concatenate(pre), np.concatenate(lag), np.concatenate(core)
    if int(np.prod(shape, dtype=np.int64)) <= TABLE_LIMIT:
        seen = np.zeros(shape, bool)
        seen[p, lg, c] = True
        return np.argwhere(seen).astype(np.int64)
    n_lag, n_core = shape[1], shape[2]
    keys = np.unique((p * n_lag + lg) * n_core + c)
    return np.stack([keys // n_core // n_lag, keys // n_core % n_lag, keys % n_core], axis=1)
