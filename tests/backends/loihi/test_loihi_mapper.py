"""Mapper properties (hypothesis), checked on mapping.json itself: every neuron placed once, every synapse stored
once, routes consistent, no core over any capacity, the same input gives the same mapping."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loihi_cases import KINDS, loihi_neuron, random_loihi_qgraph, tiny_spec
from snncompile.backends.loihi import BACKEND, CoreSpec
from snncompile.backends.loihi.netlist import lower
from snncompile.backends.loihi.tables import mapping_tables

from snncompile.errors import ResourceError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tables(graph: QGraph, spec: CoreSpec) -> dict[str, Any]:
    return mapping_tables(BACKEND.map(graph, core_spec=spec))


def _compartment_owner(core: dict[str, Any]) -> list[tuple[str, int]]:
    owner: list[tuple[str, int]] = []
    for g in core["compartments"]:
        assert g["base"] == len(owner)
        owner += [(g["population"], n) for n in range(g["start"], g["stop"])]
    return owner


def placed_neurons(tables: dict[str, Any]) -> Counter:
    return Counter(n for core in tables["cores"] for n in _compartment_owner(core))


def stored_synapses(tables: dict[str, Any]) -> Counter:
    """(projection, source, lag, pre, target, post, weight) of every non-zero weight in every synapse list."""
    out: Counter = Counter()
    for core in tables["cores"]:
        owner = _compartment_owner(core)
        for lst in core["synapse_lists"]:
            proj = tables["projections"][lst["projection"]]
            source, lag, pre = core["input_axons"][lst["axon"]]
            comps = (lst["base"] + np.arange(len(lst["weights"])) if lst["encoding"] == "dense"
                     else np.asarray(lst["compartments"]))
            for comp, w in zip(comps.tolist(), lst["weights"], strict=True):
                if w != 0:
                    target, post = owner[comp]
                    assert target == proj["target"]
                    out[(proj["name"], source, lag, pre, target, post, w)] += 1
    return out


def expected_synapses(graph: QGraph) -> Counter:
    net = lower(graph)
    return Counter((p.name, t.source, t.lag, int(j), p.target, int(n), int(w))
                   for p in net.projections for t in p.taps for j, n, w in zip(p.pre, p.post, p.weight, strict=True))


def check_routes(tables: dict[str, Any]) -> None:
    """Each route ends on an axon carrying exactly its source neuron; every input axon is reached exactly once."""
    reached: Counter = Counter()
    for core in tables["cores"]:
        owner = _compartment_owner(core)
        for comp, dest, axon in core["output_axons"]:
            pop, n = owner[comp]
            assert tables["cores"][dest]["input_axons"][axon][0::2] == [pop, n]
            reached[(dest, axon)] += 1
    for pop, n, dest, axon in tables["host_routes"]:
        assert tables["cores"][dest]["input_axons"][axon][0::2] == [pop, n]
        reached[(dest, axon)] += 1
    every = Counter((c["core"], a) for c in tables["cores"] for a in range(len(c["input_axons"])))
    assert reached == every


def check_capacities(tables: dict[str, Any], spec: CoreSpec) -> None:
    for core in tables["cores"]:
        counted = {"neurons": len(_compartment_owner(core)), "input_axons": len(core["input_axons"]),
                   "output_axons": len(core["output_axons"]),
                   "synaptic_memory": sum(lst["bits"] for lst in core["synapse_lists"])}
        for resource, used in counted.items():
            assert core["usage"][resource] == used, (core["core"], resource)
            assert used <= spec.capacity(resource), (core["core"], resource, used)
        assert all(lst["bits"] % spec.word_bits == 0 for lst in core["synapse_lists"])
    assert len(tables["cores"]) <= spec.cores_per_chip * tables["summary"]["chips"]


@SETTINGS
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), spec_seed=st.integers(0, 10**6))
def test_mapping_properties(seed: int, kind: str, spec_seed: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    spec = tiny_spec(np.random.default_rng(spec_seed))
    while True:  # a tiny spec may be too small for one neuron's fan-in: that, and only that, may refuse it
        try:
            tables = _tables(graph, spec)
            break
        except ResourceError as err:
            found = re.search(r"fan-in (\d+) input axons > (\d+) input axons per core", str(err))
            assert found and int(found.group(1)) > spec.input_axons, err
            spec = dataclasses.replace(spec, input_axons=int(found.group(1)))
    net = lower(graph)
    assert placed_neurons(tables) == Counter((n, i) for n in net.layers for i in range(net.populations[n].size))
    assert stored_synapses(tables) == expected_synapses(graph)
    check_routes(tables)
    check_capacities(tables, spec)
    total = sum(net.populations[n].size for n in net.layers)
    assert len(tables["cores"]) >= -(-total // spec.neurons_per_core)
    again, _ = random_loihi_qgraph(seed, kind)  # an equal graph built again
    assert json.dumps(_tables(again, spec)) == json.dumps(tables)


@SETTINGS
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), per_core=st.integers(1, 12))
def test_neuron_bound_networks_use_the_fewest_cores(seed: int, kind: str, per_core: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    spec = CoreSpec(name="neurons", neurons_per_core=per_core, input_axons=10**6, output_axons=10**6,
                    synaptic_memory_bits=10**9, cores_per_chip=4)
    net = lower(graph)
    total = sum(net.populations[n].size for n in net.layers)
    m = BACKEND.map(graph, core_spec=spec)
    assert len(m.cores) == -(-total // per_core)
    assert m.chips == -(-len(m.cores) // 4)


def _chain(sizes: list[int]) -> QGraph:
    nodes: dict[str, Any] = {"input": Input(shape=(4,))}
    edges, prev, width = [], "input", 4
    for k, size in enumerate(sizes):
        nodes[f"w{k}"] = QDense(name=f"w{k}", weight=np.full((size, width), 2), w_bits=9)
        nodes[f"n{k}"] = loihi_neuron(f"n{k}", (size,), du=0, dv=0, vth=10)
        edges += [(prev, f"w{k}"), (f"w{k}", f"n{k}")]
        prev, width = f"n{k}", size
    nodes["output"] = Output()
    return QGraph(nodes, [*edges, (prev, "output")])


def test_same_cores_prefers_fewer_messages() -> None:
    """Layers 6, 6, 6, 2 on 8-neuron cores: both strategies need 3 cores; whole layers per core route less."""
    spec = CoreSpec(name="t", neurons_per_core=8, input_axons=10**6, output_axons=10**6, synaptic_memory_bits=10**9,
                    cores_per_chip=4)
    m = BACKEND.map(_chain([6, 6, 6, 2]), core_spec=spec)
    assert (len(m.cores), m.strategy) == (3, "layers")
    assert all(len(set(m.placement(layer).tolist())) == 1 for layer in m.netlist.layers)
    assert m.messages_per_step == 4 + 6 + 6 + 6  # every source neuron reaches exactly one core


def test_fill_wins_when_it_needs_fewer_cores() -> None:
    spec = CoreSpec(name="t", neurons_per_core=8, input_axons=10**6, output_axons=10**6, synaptic_memory_bits=10**9,
                    cores_per_chip=4)
    m = BACKEND.map(_chain([5, 5, 5, 1]), core_spec=spec)  # 16 neurons: 2 cores when layers may be cut
    assert (len(m.cores), m.strategy) == (2, "fill")


def test_rates_change_the_traffic_estimate_not_the_placement_constraints() -> None:
    graph, shape = random_loihi_qgraph(5, "recurrent")
    spec = CoreSpec(name="t", neurons_per_core=4, input_axons=200, output_axons=64, synaptic_memory_bits=40000,
                    cores_per_chip=4)
    worst = BACKEND.map(graph, core_spec=spec)
    silent = {n: np.zeros(p.size) for n, p in worst.netlist.populations.items()}
    quiet = BACKEND.map(graph, core_spec=spec, rates=silent)
    assert quiet.messages_per_step == 0.0 < worst.messages_per_step
    assert "upper bound" in worst.rates_note and quiet.rates_note == "measured spike rates"
