"""The mapper's fast synapse-list costs (two binary searches per source in a per-projection table) equal the
reference sort of the range (``CostModel.lists``, which the synapse tables are written from), for every range."""

from __future__ import annotations

import numpy as np
import pytest
from loihi_cases import random_loihi_qgraph
from snncompile.backends.loihi.cost import CostModel
from snncompile.backends.loihi.netlist import lower
from snncompile.backends.loihi.spec import load_core_spec


@pytest.mark.parametrize("kind", ["chain", "recurrent", "conv", "fanin"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_range_lists_equal_the_sorted_lists(kind: str, seed: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    cm = CostModel(lower(graph), load_core_spec("loihi1"))
    rng = np.random.default_rng(seed)
    checked = 0
    for proj in cm.netlist.projections:
        size = cm.netlist.populations[proj.target].size
        ranges = [(0, size), (0, 1), (size - 1, size), (size, size + 3)]
        ranges += [tuple(sorted(int(v) for v in rng.integers(0, size + 1, 2))) for _ in range(20)]
        for start, stop in ranges:
            ref = cm.lists(proj, start, stop)
            pre, count, bits = cm.range_lists(proj, start, stop)
            assert pre.tolist() == ref.pre.tolist() and count.tolist() == ref.count.tolist()
            assert bits.tolist() == ref.bits.tolist(), (proj.name, start, stop)
            checked += int(count.sum() > 0)
    assert checked > 10


@pytest.mark.parametrize("kind", ["chain", "recurrent", "conv", "fanin"])
def test_fan_in_counts_distinct_axons(kind: str) -> None:
    graph, _ = random_loihi_qgraph(3, kind)
    cm = CostModel(lower(graph), load_core_spec("loihi1"))
    for layer in cm.layers:
        size = cm.netlist.populations[layer].size
        pairs = {(int(post), cm.axon_base[(t.source, t.lag)] + int(pre))
                 for p in cm.into[layer] for t in p.taps for post, pre in zip(p.post, p.pre, strict=True)}
        want = np.bincount(np.array([a for a, _ in pairs], np.int64), minlength=size) if pairs else np.zeros(size)
        assert cm.fan_in(layer).tolist() == want.tolist(), layer
