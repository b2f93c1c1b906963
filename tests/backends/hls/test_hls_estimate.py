"""The analytic estimate: a dense layer against a hand count, the table, JSON-ability, the memory model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from snncompile.backends.hls import BACKEND, format_table
from snncompile.backends.hls.estimate import PIPELINE_DEPTH, bram18, dsp_per_product

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron


def dense_graph(n_in: int = 64, n_out: int = 10, weight_bits: int = 8) -> QGraph:
    rng = np.random.default_rng(0)
    lim = (1 << (weight_bits - 1)) - 1
    w = rng.integers(-lim, lim + 1, size=(n_out, n_in))
    w[0, 0] = -lim  # the int8 range is used, so weights are stored as int8_t
    nodes = {
        "input": Input(shape=(n_in,)),
        "fc": QDense(name="fc", weight=w, bias=rng.integers(-100, 100, size=n_out), w_bits=weight_bits),
        "lif": QNeuron(name="lif", kind="LIF", shape=(n_out,), beta=3686, threshold=200, v_bits=16, i_bits=16),
        "output": Output(),
    }
    return QGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_dense_layer_equals_hand_count() -> None:
    est = BACKEND.estimate(dense_graph(), sparse=False, unroll=4, clock_mhz=100.0, timesteps=25)
    fc = next(r for r in est["layers"] if r["node"] == "fc")
    # 64 inputs x 10 outputs; the inputs are 0/1 spikes, so these are accumulates, not multiplies
    assert (fc["ops_per_step"], fc["op"], fc["form"]) == (640, "acc", "dense")
    assert fc["weight_bits"] == 640 * 8  # int8_t weights
    assert fc["param_bits"] == 10 * 8  # bias in [-100, 100): int8_t
    # state: y_fc (int16_t, |acc| <= 64*127+100 < 2^15) -> 10 x 16 bits; the dense form has no acc/event arrays
    assert fc["state_bits"] == 10 * 16
    assert fc["cycles_per_step"] == 640 // 4 + PIPELINE_DEPTH == 164
    assert fc["dsp"] == 0  # a 1-bit operand needs no multiplier
    # W: 4 cyclic partitions of 160 x 8 bits = 1280 bits (> 1024: BRAM), 1 BRAM18 each in the 2048 x 9 shape
    assert fc["bram18"] == 4
    lif = next(r for r in est["layers"] if r["node"] == "lif")
    assert lif["cycles_per_step"] == 10 // 4 + 1 + PIPELINE_DEPTH  # ceil(10 / 4) lanes-steps + fill
    assert lif["dsp"] == 4 * 1 * 1  # 4 lanes x one decay product (16 x 13 bits: one DSP48E2)
    total = est["total"]
    assert total["cycles_per_step"] == sum(r["cycles_per_step"] for r in est["layers"])
    assert est["latency"] == {"timesteps": 25, "cycles": 25 * total["cycles_per_step"],
                              "us": 25 * total["cycles_per_step"] / 100.0}
    assert json.loads(json.dumps(est)) == est


def test_sparse_form_scales_with_activity() -> None:
    busy = BACKEND.estimate(dense_graph(), sparse=True, unroll=1, activity=1.0)
    quiet = BACKEND.estimate(dense_graph(), sparse=True, unroll=1, activity=0.1)
    fc_busy, fc_quiet = (next(r for r in e["layers"] if r["node"] == "fc") for e in (busy, quiet))
    assert fc_busy["form"] == "sparse"
    assert fc_busy["cycles_per_step"] == 640 + 64 + PIPELINE_DEPTH  # every column + the event scan
    assert fc_quiet["cycles_per_step"] == 64 + 64 + PIPELINE_DEPTH


@pytest.mark.parametrize(("a", "b", "dsp"), [(1, 16, 0), (8, 8, 1), (27, 18, 1), (28, 18, 2), (32, 17, 2)])
def test_dsp_per_product(a: int, b: int, dsp: int) -> None:
    assert dsp_per_product(a, b) == dsp


@pytest.mark.parametrize(("depth", "width", "blocks"), [(512, 36, 1), (1024, 18, 1), (2048, 8, 1), (4096, 8, 2),
                                                       (100, 64, 2), (16384, 1, 1)])
def test_bram18_shapes(depth: int, width: int, blocks: int) -> None:
    assert bram18(depth, width) == blocks


def test_table_lists_every_layer_and_the_latency() -> None:
    est = BACKEND.estimate(dense_graph(), unroll=2, clock_mhz=200.0, timesteps=10)
    table = format_table(est)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["node", "type", "form", "op"]
    assert [ln.split()[0] for ln in lines[2:7]] == ["input", "fc", "lif", "output", "total"]
    assert lines[-1].startswith(f"unroll 2, sparse loops, activity 1: {est['total']['cycles_per_step']} cycles/step")
    assert lines[-1].endswith("at 200 MHz")
