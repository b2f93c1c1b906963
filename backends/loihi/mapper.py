"""The mapper: a pure, deterministic function from a netlist (or QGraph) and a CoreSpec to a core mapping.

Objective: fewest cores first, then the fewest spike messages routed per step (rate-weighted; a message is one
(source neuron, destination core) pair per spike; rates default to 1 spike per neuron per step).

Before placing anything: every projection's synaptic delay and weight width (:mod:`.rules`) and every neuron's
fan-in (its distinct input axons must fit one core). Then two strategies build candidate mappings and the best by
(cores, messages) wins, ties to the first:

``layers``  each layer is cut into the fewest contiguous neuron groups that fit a core alone (greedy longest
            prefix -- optimal for a capacity that only grows with the range -- then evened out
            when the even cut fits), and the groups are packed first-fit into cores in graph order. Keeps a layer
            on few cores (few messages); small layers share cores.
``fill``    layers in graph order fill cores as a single neuron sequence, a core taking the longest prefix that
            fits. Cuts layers at core boundaries; needs the fewest cores of all contiguous cuts of that sequence.

Every core of a candidate must pass every core rule; a strategy that finds no such mapping drops out, and when
none is left the first strategy's error is raised.

Output axons depend on where the *targets* sit, so both strategies run in rounds: round 1 ignores them, each
later round estimates them from the previous round's placement, until every core fits exactly (at most
``MAX_ROUNDS``). A neuron that fits no core even alone raises the rule it breaks, naming that core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from snncompile.errors import ResourceError
from snncompile.quant.qnodes import QGraph

from .cost import CostModel, GroupCost
from .netlist import Netlist, lower
from .rules import CoreUsage, check_chips, check_core, check_fan_in, check_synaptic_delay, chips_needed, core_fits
from .spec import CAPACITY_FIELDS, CoreSpec

MAX_ROUNDS = 6


@dataclass(frozen=True)
class CoreAlloc:
    index: int
    chip: int
    usage: CoreUsage

    def utilisation(self, spec: CoreSpec) -> dict[str, float]:
        """Used / capacity per resource, in percent."""
        return {r: 100.0 * self.usage.used(r) / spec.capacity(r) for r in CAPACITY_FIELDS}

    def binding(self, spec: CoreSpec) -> str:
        """The resource closest to its capacity on this core (first of the ties in CAPACITY_FIELDS order)."""
        util = self.utilisation(spec)
        return max(util, key=lambda r: (util[r], -list(CAPACITY_FIELDS).index(r)))


@dataclass(frozen=True)
class LoihiMapping:
    """A placed network. core_of: int64 per placed neuron, indexed ``cost.offset[layer] + neuron``."""

    spec: CoreSpec
    netlist: Netlist
    cost: CostModel
    cores: tuple[CoreAlloc, ...]
    core_of: np.ndarray
    chips: int
    strategy: str
    messages_per_step: float
    host_messages_per_step: float
    inter_core_messages_per_step: float
    rates_note: str

    def placement(self, layer: str) -> np.ndarray:
        """The core of every neuron of ``layer``."""
        off = self.cost.offset[layer]
        return self.core_of[off:off + self.netlist.populations[layer].size]


Placement = list[list[GroupCost]]


def _fits(cm: CostModel, groups: list[GroupCost], estimate: np.ndarray) -> bool:
    spec = cm.spec  # neurons and memory first: they are sums, the axons a union
    if sum(g.stop - g.start for g in groups) > spec.neurons_per_core or \
            sum(g.memory_bits for g in groups) > spec.synaptic_memory_bits:
        return False
    return core_fits(cm.usage(0, groups, estimate), spec)


def _longest(cm: CostModel, layer: str, start: int, base: list[GroupCost], estimate: np.ndarray) -> int:
    """The largest c such that ``base`` plus neurons start..start+c-1 of ``layer`` fit one core (0 if none):
    the binary search over :func:`_fits` (every resource only grows with the range), in one pass
    (:meth:`.cost.CostModel.longest`)."""
    return cm.longest(layer, start, base, estimate)


def _alone_error(cm: CostModel, core: int, layer: str, start: int, estimate: np.ndarray) -> ResourceError:
    """The rule neuron ``start`` of ``layer`` breaks on an empty core."""
    try:
        check_core(cm.usage(core, [cm.group(layer, start, start + 1)], estimate), cm.spec)
    except ResourceError as exc:
        return exc
    return ResourceError(f"core {core}: layer '{layer}', neuron {start} does not fit")  # pragma: no cover


def split_layer(cm: CostModel, layer: str, estimate: np.ndarray, first_core: int = 0) -> list[GroupCost]:
    """The fewest contiguous groups of ``layer`` that each fit a core alone, evened out when possible."""
    size = cm.netlist.populations[layer].size
    bounds = [0]
    while bounds[-1] < size:
        c = _longest(cm, layer, bounds[-1], [], estimate)
        if c == 0:
            raise _alone_error(cm, first_core + len(bounds) - 1, layer, bounds[-1], estimate)
        bounds.append(bounds[-1] + c)
    k = len(bounds) - 1
    even = [size * i // k for i in range(k + 1)]
    if even != bounds:
        groups = [cm.group(layer, a, b) for a, b in zip(even, even[1:], strict=False)]
        if all(_fits(cm, [g], estimate) for g in groups):
            return groups
    return [cm.group(layer, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def place_by_layers(cm: CostModel, estimate: np.ndarray) -> Placement:
    """Strategy ``layers`` (module docstring)."""
    cores: Placement = []
    for layer in cm.layers:
        for group in split_layer(cm, layer, estimate, len(cores)):
            for core in cores:
                if _fits(cm, [*core, group], estimate):
                    core.append(group)
                    break
            else:
                cores.append([group])
    return cores


def place_in_order(cm: CostModel, estimate: np.ndarray) -> Placement:
    """Strategy ``fill`` (module docstring)."""
    cores: Placement = [[]]
    for layer in cm.layers:
        start, size = 0, cm.netlist.populations[layer].size
        while start < size:
            c = _longest(cm, layer, start, cores[-1], estimate)
            if c == 0:
                if not cores[-1]:
                    raise _alone_error(cm, len(cores) - 1, layer, start, estimate)
                cores.append([])
                continue
            cores[-1].append(cm.group(layer, start, start + c))
            start += c
    return [c for c in cores if c]


STRATEGIES: dict[str, Callable[[CostModel, np.ndarray], Placement]] = {
    "layers": place_by_layers, "fill": place_in_order,
}


def _core_of(cm: CostModel, cores: Placement) -> np.ndarray:
    out = np.full(cm.total_neurons, -1, np.int64)
    for k, groups in enumerate(cores):
        for g in groups:
            off = cm.offset[g.layer]
            out[off + g.start:off + g.stop] = k
    return out


def _rounds(cm: CostModel, strategy: Callable[[CostModel, np.ndarray], Placement]) -> tuple[Placement, np.ndarray]:
    estimate = np.full(cm.total_neurons, -1, np.int64)
    cores: Placement = []
    core_of = estimate
    for _ in range(MAX_ROUNDS):
        cores = strategy(cm, estimate)
        core_of = _core_of(cm, cores)
        if all(_fits(cm, groups, core_of) for groups in cores) or np.array_equal(core_of, estimate):
            break
        estimate = core_of
    return cores, core_of


def normalise_rates(netlist: Netlist, rates: Mapping[str, np.ndarray] | None) -> tuple[dict[str, np.ndarray], str]:
    """Per-population spike rates (spikes per neuron per step, flat) and a note on where they came from."""
    out: dict[str, np.ndarray] = {}
    for name, pop in netlist.populations.items():
        if rates is not None and name in rates:
            r = np.asarray(rates[name], np.float64).reshape(-1)
            if r.size not in (1, pop.size) or not np.all(np.isfinite(r)) or np.any(r < 0):
                raise ResourceError(f"rates for '{name}': expected {pop.size} non-negative numbers, got {r.size}")
            out[name] = np.broadcast_to(r, (pop.size,)).copy()
        else:
            out[name] = np.ones(pop.size)
    if rates is None:
        return out, "no rates given: every neuron counted at 1 spike per step (an upper bound)"
    missing = [n for n in netlist.populations if n not in rates]
    note = "measured spike rates" + (f" (none for {', '.join(missing)}: counted at 1)" if missing else "")
    return out, note


def map_network(netlist: Netlist, spec: CoreSpec, rates: Mapping[str, np.ndarray] | None = None) -> LoihiMapping:
    """Place ``netlist`` on cores of ``spec`` (module docstring); ResourceError when it does not fit."""
    cm = CostModel(netlist, spec)
    for proj in netlist.projections:
        check_synaptic_delay(proj.name, proj.delay, spec)
    for layer in cm.layers:
        fan_in = cm.fan_in(layer)
        if len(fan_in) and fan_in.max() > spec.input_axons:
            worst = int(np.argmax(fan_in > spec.input_axons))
            check_fan_in(layer, worst, int(fan_in[worst]), spec)
    rate, note = normalise_rates(netlist, rates)
    best: tuple[tuple[int, float, int], str, Placement, np.ndarray] | None = None
    errors: list[ResourceError] = []
    for rank, (name, strategy) in enumerate(STRATEGIES.items()):
        try:
            cores, core_of = _rounds(cm, strategy)
            for k, groups in enumerate(cores):
                check_core(cm.usage(k, groups, core_of), spec)
        except ResourceError as exc:  # this strategy found no mapping; another may
            errors.append(exc)
            continue
        key = (len(cores), round(cm.traffic(core_of, rate)[0], 9), rank)
        if best is None or key < best[0]:
            best = (key, name, cores, core_of)
    if best is None:
        raise errors[0]
    _, strategy_name, cores, core_of = best
    allocs = []
    for k, groups in enumerate(cores):
        usage = cm.usage(k, groups, core_of)
        check_core(usage, spec)
        allocs.append(CoreAlloc(k, k // spec.cores_per_chip, usage))
    check_chips(len(allocs), spec)
    total, host, inter = cm.traffic(core_of, rate)
    return LoihiMapping(spec, netlist, cm, tuple(allocs), core_of, chips_needed(len(allocs), spec), strategy_name,
                        total, host, inter, note)


def map_qgraph(qgraph: QGraph, spec: CoreSpec, rates: Mapping[str, np.ndarray] | None = None) -> LoihiMapping:
    """:func:`map_network` of the QGraph's netlist (the field rules run first, in :func:`.netlist.lower`)."""
    return map_network(lower(qgraph), spec, rates)
