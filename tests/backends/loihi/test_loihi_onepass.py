"""The placement search's one-pass costs equal their definitions (hypothesis, random networks and tiny specs):

* ``CostModel.longest`` == the binary search over ``usage`` + ``core_fits`` (the definition: the largest range
  whose CoreUsage fits, with and without other groups already on the core), for every start and assignment;
* ``CostModel.routes`` / ``out_axons`` == the distinct (pre, lag, destination core) rows of every synapse, by
  ``np.unique`` of the rows (the definition), under random core assignments;
* ``distinct_rows`` gives the same rows through its boolean table and through its sort;
* ``num_weight_bits`` (one pass) == the smallest width whose ``lava_weights`` leaves the weights unchanged;
* ``weight_mantissa_error``'s reductions and the encoder's in-place ``_mantissas`` == their definitions.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loihi_cases import KINDS, random_loihi_qgraph
from snncompile.backends.loihi import CoreSpec
from snncompile.backends.loihi import cost as cost_module
from snncompile.backends.loihi.cost import CostModel, GroupCost, distinct_rows
from snncompile.backends.loihi.encode import _mantissas
from snncompile.backends.loihi.netlist import lower
from snncompile.backends.loihi.registers import lava_weights, num_weight_bits, sign_mode_of, weight_mantissa_error
from snncompile.backends.loihi.rules import core_fits

from snncompile.quant.scales import round_half_away

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def searched(cm: CostModel, layer: str, start: int, base: list[GroupCost], core_of: np.ndarray) -> int:
    """The definition: binary search of the largest fitting c over full CoreUsage evaluations."""
    size = cm.netlist.populations[layer].size
    room = cm.spec.neurons_per_core - sum(g.stop - g.start for g in base)
    lo, hi = 0, max(0, min(size - start, room))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if core_fits(cm.usage(0, [*base, cm.group(layer, start, start + mid)], core_of), cm.spec):
            lo = mid
        else:
            hi = mid - 1
    return lo


def unique_routes(cm: CostModel, source: str, start: int, stop: int, core_of: np.ndarray) -> np.ndarray:
    rows = [np.stack([p.pre, np.full(len(p.pre), t.lag), core_of[cm.offset[p.target] + p.post]], axis=1)
            for p in cm.netlist.projections for t in p.taps if t.source == source]
    if not rows:
        return np.zeros((0, 3), np.int64)
    r = np.concatenate(rows)
    r = r[(r[:, 2] >= 0) & (r[:, 0] >= start) & (r[:, 0] < stop)]
    return np.unique(r, axis=0).reshape(-1, 3)


def small_spec(rng: np.random.Generator) -> CoreSpec:
    """Capacities small enough that every resource binds somewhere (even one neuron may not fit)."""
    return CoreSpec(name="small", neurons_per_core=int(rng.integers(1, 13)), input_axons=int(rng.integers(1, 120)),
                    output_axons=int(rng.integers(1, 40)), synaptic_memory_bits=int(rng.integers(1, 48)) * 256,
                    cores_per_chip=4)


def random_assignment(cm: CostModel, rng: np.random.Generator) -> np.ndarray:
    core_of = rng.integers(-1, 4, cm.total_neurons)
    return core_of if rng.random() < 0.8 else np.full(cm.total_neurons, -1, np.int64)


@SETTINGS
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), spec_seed=st.integers(0, 10**6))
def test_longest_equals_the_binary_search(seed: int, kind: str, spec_seed: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    rng = np.random.default_rng(spec_seed)
    cm = CostModel(lower(graph), small_spec(rng))
    for core_of in (random_assignment(cm, rng), random_assignment(cm, rng)):  # the second reuses remembered parts
        check_longest(cm, core_of, rng)


def check_longest(cm: CostModel, core_of: np.ndarray, rng: np.random.Generator) -> None:
    for layer in cm.layers:
        size = cm.netlist.populations[layer].size
        others = [g for g in cm.layers if g != layer]
        for start in range(size):
            bases: list[list[GroupCost]] = [[]]
            if others:
                other = others[int(rng.integers(len(others)))]
                n = cm.netlist.populations[other].size
                a = int(rng.integers(n))
                bases.append([cm.group(other, a, int(rng.integers(a + 1, n + 1)))])
            if start > 0:  # the same layer's earlier neurons on the core (shared axons)
                bases.append([cm.group(layer, 0, int(rng.integers(1, start + 1)))])
            for base in bases:
                assert cm.longest(layer, start, base, core_of) == searched(cm, layer, start, base, core_of), \
                    (layer, start, [(g.layer, g.start, g.stop) for g in base])


@SETTINGS
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), spec_seed=st.integers(0, 10**6))
def test_routes_and_out_axons_equal_the_distinct_rows(seed: int, kind: str, spec_seed: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    rng = np.random.default_rng(spec_seed)
    cm = CostModel(lower(graph), small_spec(rng))
    for _ in range(3):
        core_of = random_assignment(cm, rng)
        for name, pop in cm.netlist.populations.items():
            a = int(rng.integers(pop.size + 1))
            b = int(rng.integers(a, pop.size + 1))
            for start, stop in ((0, pop.size), (a, b)):
                want = unique_routes(cm, name, start, stop, core_of)
                assert cm.routes(name, start, stop, core_of).tolist() == want.tolist(), (name, start, stop)
                if not pop.is_input:
                    assert cm.out_axons(name, start, stop, core_of) == len(want)


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2), st.integers(0, 5)), max_size=60))
def test_distinct_rows_table_and_sort_agree(rows: list[tuple[int, int, int]]) -> None:
    arr = np.asarray(rows, np.int64).reshape(-1, 3)
    cols = [[arr[:, 0]], [arr[:, 1]], [arr[:, 2]]]
    want = np.unique(arr, axis=0).reshape(-1, 3).tolist()
    assert distinct_rows(*cols, (10, 3, 6)).tolist() == want
    limit = cost_module.TABLE_LIMIT
    try:
        cost_module.TABLE_LIMIT = 0  # force the sort
        assert distinct_rows(*cols, (10, 3, 6)).tolist() == want
    finally:
        cost_module.TABLE_LIMIT = limit


def num_weight_bits_by_trial(w: np.ndarray) -> int:
    """The definition: the smallest width whose lava_weights leaves the weights unchanged, else 8."""
    mode = sign_mode_of(w)
    return next((b for b in range(1, 9) if np.array_equal(lava_weights(w, b, mode), w)), 8)


@given(st.lists(st.integers(-300, 300), min_size=0, max_size=12), st.integers(0, 8), st.sampled_from([1, -1, 0]))
def test_num_weight_bits_in_one_pass_equals_the_trials(values: list[int], shift: int, sign: int) -> None:
    w = np.asarray(values, np.int64) << shift
    w = np.abs(w) * sign if sign else w  # excitatory, inhibitory or as drawn
    assert num_weight_bits(w) == num_weight_bits_by_trial(w), w.tolist()


@given(st.lists(st.integers(-300, 300), min_size=1, max_size=12), st.sampled_from([1, -1, 0]))
def test_weight_mantissa_error_fast_path_equals_the_definition(values: list[int], sign: int) -> None:
    w = np.asarray(values, np.int64)
    w = np.abs(w) * sign if sign else w
    kept = bool(np.array_equal(lava_weights(w, 8, sign_mode_of(w)), w))
    assert (weight_mantissa_error(w) is None) == kept, w.tolist()


def mantissas_by_definition(w: np.ndarray, mode: str, bits: int) -> np.ndarray:
    """The definition: step * round_half_away(w / step), clipped to the mode's mantissa range (its int64 product
    wraps beyond |w| ~ 2^55; the encoder's scales keep |w| near 256, and _mantissas saturates there instead)."""
    step = 1 << (8 - bits + (1 if mode == "mixed" else 0))
    q = step * round_half_away(w / step)
    lo, hi = {"mixed": (-256, 256 - step), "excitatory": (0, 256 - step), "inhibitory": (-(256 - step), 0)}[mode]
    return np.clip(q, lo, hi)


@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.integers(-600, 600).map(lambda k: k / 2),
                          st.sampled_from([0.5, -0.5, 1.5, -2.5, 1e12, -1e12, 0.49999999999999994])),
                min_size=1, max_size=20),
       st.sampled_from(["mixed", "excitatory", "inhibitory"]), st.integers(1, 8), st.booleans())
def test_mantissas_in_place_equal_the_definition(values: list[float], mode: str, bits: int, single: bool) -> None:
    w = np.asarray(values, np.float32 if single else np.float64)
    assert _mantissas(w.copy(), mode, bits).tolist() == mantissas_by_definition(w, mode, bits).tolist()
