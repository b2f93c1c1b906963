"""The loihi preset in bitsim reproduces Lava's own bit-accurate traces exactly (u, v, spikes, every step)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, first_mismatch
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron

LAVA = SHARED / "lava_loihi"
CASES = sorted(p.stem for p in LAVA.glob("p*.npz")) if LAVA.is_dir() else []


def lava_qgraph(d: np.lib.npyio.NpzFile) -> QGraph:
    """Dense -> LIF (-> Dense -> LIF) exactly as Lava ran it, in snncompile's integer IR."""
    n_in = d["input_spikes"].shape[1]
    nodes: dict = {"input": Input(shape=(n_in,))}
    edges = []
    prev = "input"
    for k in range(1, int(d["n_layers"]) + 1):
        dense, lif = f"dense{k}", f"lif{k}"
        nodes[dense] = QDense(name=dense, weight=d[f"dense{k}_weights_lava"], w_bits=9,
                              shift=int(d[f"dense{k}_weight_exp"]))
        n = nodes[dense].weight.shape[0]
        nodes[lif] = QNeuron(
            name=lif, kind="CubaLIF", shape=(n,), semantics=sc.PRESETS["loihi"],
            alpha=4095 - int(d[f"lif{k}_du"]), beta=4096 - int(d[f"lif{k}_dv"]),
            threshold=int(d[f"lif{k}_vth"]) << 6,
            bias=d[f"lif{k}_bias_mant"].astype(np.int64) << d[f"lif{k}_bias_exp"].astype(np.int64),
            v_init=d[f"lif{k}_v0"], i_init=d[f"lif{k}_u0"],
            input_shift=6, frac_bits=12, i_bits=24, v_bits=24,
        )
        edges += [(prev, dense), (dense, lif)]
        prev = lif
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return QGraph(nodes, edges)


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
