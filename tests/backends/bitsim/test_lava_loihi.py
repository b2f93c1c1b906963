"""The loihi preset in bitsim reproduces Lava's own bit-accurate traces exactly (u, v, spikes, every step)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import first_mismatch
from lava_cases import LAVA, LAVA_CASES, lava_qgraph
from snncompile.backends.bitsim import run_plain

CASES = LAVA_CASES


def test_cases_found() -> None:
    assert len(CASES) == 9


@pytest.mark.parametrize("case", CASES)
def test_bitsim_equals_lava(case: str) -> None:
    d = np.load(LAVA / f"{case}.npz")
    graph = lava_qgraph(d)
    traces = run_plain(graph, d["input_spikes"][:, None, :])
    for k in range(1, int(d["n_layers"]) + 1):
        lif = f"lif{k}"
        for ours, theirs in (("out", "s"), ("i", "u"), ("v", "v")):
            report = first_mismatch(d[f"{lif}_{theirs}"][:, None, :].astype(np.int64), traces[lif][ours])
            assert report == "", f"{case} layer '{lif}' {theirs}: {report}"
        assert traces[lif]["out"].sum() > 0 or case == "p06_bias_init_state"
