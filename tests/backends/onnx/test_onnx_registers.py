"""Saturation, wrapping and negative decays under every rounding mode: bitsim shows them, onnxruntime agrees.

Each case drives an 8-bit membrane (and current) hard in both directions, then
checks that bitsim's traces really contain the effect under test before comparing
onnxruntime with bitsim on every trace.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_graphs import trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import Semantics

ROUNDINGS = ("toward_zero", "floor", "nearest")
POLICIES = ("saturate", "wrap", "wrap_loihi")


def driven(rounding: str, policy: str, kind: str) -> tuple[QGraph, np.ndarray]:
    """Two inputs push 4 neurons up and down by up to 200 per step; v, i are 8-bit registers."""
    weight = np.array([[200, -180], [-200, 190], [150, -150], [-101, 99]])
    sem = Semantics(rounding=rounding, overflow_v=policy, overflow_i=policy, reset="subtract")
    neuron = QNeuron(name="n", kind=kind, shape=(4,), semantics=sem, alpha=3000, beta=[4096, 3001, 2731, 4095],
                     threshold=120, bias=-3, frac_bits=12, v_bits=8, i_bits=8)
    graph = QGraph({"in": Input(shape=(2,)), "w": QDense(name="w", weight=weight, w_bits=9), "n": neuron,
                    "out": Output()}, [("in", "w"), ("w", "n"), ("n", "out")])
    pattern = np.array([[1, 0], [1, 0], [1, 1], [0, 1], [0, 1], [0, 1], [0, 0], [1, 0], [0, 1], [0, 0]] * 3)
    return graph, np.stack([pattern, pattern[::-1]], axis=1).astype(np.uint8)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("kind", ["LI", "CubaLIF"])
def test_registers_and_rounding(kind: str, rounding: str, policy: str) -> None:
    graph, spikes = driven(rounding, policy, kind)
    want = run_plain(graph, spikes)
    key = "i" if kind == "CubaLIF" else "v"
    reg = want["n"][key].astype(np.int64)  # traces come in their narrow proven type: widen before np.diff
    if policy == "saturate":
        assert reg.max() == 127 and reg.min() == -127, "the register never saturated"
    elif policy == "wrap":
        assert np.any(np.abs(np.diff(reg, axis=0)) > 128), "the register never wrapped"
    else:
        assert reg.max() <= 128 and reg.min() > -128 and np.any(np.abs(np.diff(reg, axis=0)) > 128)
    if kind == "LI":  # negative membranes decayed with a remainder: where the roundings differ
        beta = graph.nodes["n"].beta  # type: ignore[attr-defined]
        assert np.any((reg[:-1] < 0) & ((reg[:-1] * beta) % 4096 != 0))
    assert trace_mismatches(want, BACKEND.run(graph, spikes)) == []
