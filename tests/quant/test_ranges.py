"""The one range analysis of a QGraph (snncompile/quant/ranges.py) and its int64 limits (limits.py).

Unit tests pin the interval rules and the refusals; the property tests run bitsim's plain
executor (the definition) on random QGraphs and check that every value it produces -- each
node's output, summed input and accumulator, each neuron's registers, and each recurrent
edge's value at t = 0 -- lies within the proven interval. The onnx, hls and rtl backends type
their storage from these intervals, so a value outside one is a wrong program, not a loose bound.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from snncompile.backends.bitsim.neuron import IntNeuronState
from snncompile.backends.bitsim.ops import conv_int
from snncompile.backends.bitsim.plain import initial_outputs, run_plain

from snncompile.errors import UnsupportedNodeError
from snncompile.nodes import Input, Output, SumPool2d
from snncompile.quant.limits import check_int64
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale
from snncompile.quant.ranges import (
    UNBOUNDED,
    Interval,
    accumulator_range,
    analyse,
    register_state,
    value_ranges,
    weight_output,
)
from snncompile.semantics import Semantics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backends" / "bitsim"))
from qgraph_strategies import neuron_cases, qgraph_cases  # noqa: E402


def _identity(iv: Interval) -> Interval:
    return iv


# -- interval rules ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "state"), [("saturate", (-127, 127)), ("wrap", (-128, 127)),
                                               ("wrap_loihi", (-127, 128))])
def test_register_holds_what_its_clamp_gives(policy: str, state: Interval) -> None:
    assert register_state((0, 0), 8, policy, _identity).state == state
    assert register_state((-5, 200), 8, policy, _identity).state == (min(state[0], -5), 200)  # a start beyond it


@pytest.mark.parametrize(("pre_hi", "drifts"), [(384, False), (385, True)])
def test_wrap_loihi_drifts_beyond_one_correction(pre_hi: int, drifts: bool) -> None:
    """8 bits: one correction by 2^8 brings back (-3*2^7, 3*2^7] = (-384, 384]."""
    reg = register_state((0, 0), 8, "wrap_loihi", lambda v: (v[0], pre_hi))
    assert reg.pre == (-127, pre_hi)
    assert (reg.state == UNBOUNDED) is drifts


def test_dense_accumulator_holds_every_partial_sum_and_product() -> None:
    node = QDense(name="fc", weight=np.array([[5, -3], [2, 2]]), bias=np.array([-10, 1]), w_bits=4, shift=-1)
    # row 0: subsets of {5x0, -3x1} over x in [0, 1] lie in [-3, 5]; with the bias -10 first: [-13, 5]
    # row 1: [0, 4] + [0, 1]
    assert accumulator_range(node, (0, 1)) == (-13, 5)
    acc, out = weight_output(node, (0, 1))
    assert acc == (-13, 5)
    assert out == ((-3 - 10) >> 1, (4 + 1) >> 1)  # the final sums W x + b, shifted: [-13, 5] -> [-7, 2]


def test_scale_accumulator_holds_the_product_and_the_sum() -> None:
    node = QScale(name="s", weight=np.array([3, -2]), bias=np.array([4, -1]), w_bits=4)
    # element 0: 3x in [3, 6], + 4 -> [3, 10]; element 1: -2x in [-4, -2], - 1 -> [-5, -2]
    assert accumulator_range(node, (1, 2)) == (-5, 10)


def test_value_ranges_name_every_stored_value() -> None:
    spiking = QNeuron(name="lif", kind="CubaLIF", shape=(2,), alpha=2048, beta=4000, threshold=50, v_bits=12,
                      i_bits=10)
    nodes = {"in": Input(shape=(3,)), "a": QDense(name="a", weight=np.full((2, 3), 7), w_bits=4),
             "b": QDense(name="b", weight=np.full((2, 3), -2), w_bits=4), "lif": spiking, "out": Output()}
    graph = QGraph(nodes, [("in", "a"), ("in", "b"), ("a", "lif"), ("b", "lif"), ("lif", "out")])
    r = value_ranges(graph)
    assert dict(r.out) == analyse(graph)
    assert "in" not in r.inp and r.inp["lif"] == (-6, 21)  # a in [0, 21] plus b in [-6, 0]
    assert all(lo <= 0 <= hi for lo, hi in r.out.values())  # the passes start from 0
    assert r.acc == {"a": (0, 21), "b": (-6, 0)}
    assert r.states == {"lif": {"i": (-511, 511), "v": (-2047, 2047)}}  # the saturating registers
    assert r.out["lif"] == (0, 1)


# -- int64 limits --------------------------------------------------------------------------------------------------

def _shifted_input(overflow_v: str) -> QGraph:
    """An LI readout (32-bit v) fed (2^31-1) << 16 every step, shifted by input_shift=16 to 2^63 - 2^32."""
    dense = QDense(name="c", weight=np.zeros((1, 1), np.int64), bias=np.array([(1 << 31) - 1]), w_bits=2, shift=16)
    li = QNeuron(name="li", kind="LI", shape=(1,), beta=4000, v_bits=32, input_shift=16,
                 semantics=Semantics(overflow_v=overflow_v))
    return QGraph({"in": Input(shape=(1,)), "c": dense, "li": li, "out": Output()},
                  [("in", "c"), ("c", "li"), ("li", "out")])


def test_membrane_update_counts_the_offset_of_wrap() -> None:
    """v + x reaches 2^63 - 2^31 - 1 (fits); wrap adds 2^31 before it masks, and v may be -2^31: 2^63."""
    saturating = _shifted_input("saturate")
    check_int64(saturating, analyse(saturating), "hls")
    wrapping = _shifted_input("wrap")
    with pytest.raises(UnsupportedNodeError) as err:
        check_int64(wrapping, analyse(wrapping), "hls")
    assert str(err.value) == (f"node 'li' (QNeuron): the membrane update can reach magnitude {1 << 63} (> 2^63-1); "
                              "backend 'hls' computes in int64 and cannot represent it exactly")


def test_a_drifting_current_register_is_refused_with_its_reach() -> None:
    neuron = QNeuron(name="n", kind="CubaLI", shape=(1,), alpha=4096, beta=4000, i_bits=6, v_bits=16,
                     semantics=Semantics(overflow_i="wrap_loihi"))
    graph = QGraph({"in": Input(shape=(2,)), "fc": QDense(name="fc", weight=np.full((1, 2), 60), w_bits=8),
                    "n": neuron, "out": Output()}, [("in", "fc"), ("fc", "n"), ("n", "out")])
    with pytest.raises(UnsupportedNodeError) as err:
        check_int64(graph, analyse(graph), "rtl")
    assert str(err.value) == (
        "node 'n' (QNeuron): overflow_i='wrap_loihi' corrects i once by 2^6, but its pre-clamp value can reach "
        "[-31, 152], beyond one correction's reach (-3*2^5, 3*2^5], so i drifts without bound (bitsim's int64 "
        "products eventually overflow); backend 'rtl' supports wrap_loihi only where one correction keeps the "
        "register in range (use saturate or wrap)")


# -- every value bitsim produces lies in its interval ----------------------------------------------------------------

def _outside(name: str, what: str, values: np.ndarray, iv: Interval) -> str:
    if values.size == 0 or (iv[0] <= int(values.min()) and int(values.max()) <= iv[1]):
        return ""
    return f"node '{name}' {what}: values [{int(values.min())}, {int(values.max())}] outside the proven {iv}"


def _accumulators(node: QDense | QConv1d | QConv2d | QScale, x: np.ndarray) -> list[np.ndarray]:
    """The values the accumulator holds: the final sums; for QDense and QScale also every partial sum / product."""
    if isinstance(node, QScale):
        prod = x * node.weight
        return [prod, prod + node.bias]
    if isinstance(node, QDense):
        terms = x[..., None, :] * node.weight  # [..., out, in]
        return [np.cumsum(terms, axis=-1) + node.bias[:, None], terms, x @ node.weight.T + node.bias]
    if isinstance(node, QConv1d):
        return [conv_int(x, node.weight, node.bias, (node.stride,), (node.padding,), (node.dilation,), node.groups)]
    return [conv_int(x, node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups)]


def proof_violations(graph: QGraph, spikes: np.ndarray) -> list[str]:
    """Every value of bitsim's run (and of its t = 0 recurrent values) outside the interval proven for it."""
    r = value_ranges(graph)
    traces = run_plain(graph, spikes)
    fresh = {n: IntNeuronState.fresh(nd, spikes.shape[1]) for n, nd in graph.nodes.items() if isinstance(nd, QNeuron)}
    initial = initial_outputs(graph, fresh, spikes.shape[1])
    bad = [_outside(n, "initial output", initial[n], r.out[n]) for n in graph.nodes]
    for name, node in graph.nodes.items():
        bad.append(_outside(name, "out", traces[name]["out"], r.out[name]))
        for key, iv in r.states.get(name, {}).items():
            bad.append(_outside(name, key, traces[name][key], iv))
        if isinstance(node, Input):
            continue
        parts = []
        for p in graph.predecessors(name):  # what bitsim sums: last step's value on a recurrent edge
            y = traces[p]["out"]
            parts.append(np.concatenate([initial[p][None], y[:-1]]) if (p, name) in graph.recurrent_edges else y)
        x = sum(parts[1:], parts[0])
        bad.append(_outside(name, "summed input", x, r.inp[name]))
        if isinstance(node, (QDense, QConv1d, QConv2d, QScale)):
            flat = x.reshape(-1, *x.shape[2:])
            bad += [_outside(name, "accumulator", a, r.acc[name]) for a in _accumulators(node, flat)]
        elif isinstance(node, SumPool2d):
            bad.append(_outside(name, "window sum", traces[name]["out"], r.acc[name]))
    return [b for b in bad if b]


def _accepted(graph: QGraph) -> bool:
    try:
        check_int64(graph, analyse(graph))
    except UnsupportedNodeError:
        return False
    return True


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(qgraph_cases(max_steps=8))
def test_random_graphs_stay_within_their_proven_ranges(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    if _accepted(graph):  # a refused graph has values without a bound; no backend stores them
        assert proof_violations(graph, spikes) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(neuron_cases(max_steps=16))
def test_narrow_registers_stay_within_their_proven_ranges(case: tuple[QGraph, np.ndarray]) -> None:
    graph, spikes = case
    if _accepted(graph):
        assert proof_violations(graph, spikes) == []


def test_row_reductions_in_blocks_equal_the_whole_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """by_rows keeps its temporaries to a block of rows; the values equal one call on the whole matrix."""
    from snncompile.backends.bitsim.cache import abs_row_sums

    from snncompile.quant import ranges

    rng = np.random.default_rng(3)
    for shape in ((37, 11), (5, 3, 4), (1, 200), (64, 1)):
        w = rng.integers(-128, 128, shape)
        flat = w.reshape(shape[0], -1)
        for block in (1, 7, 1 << 22):
            monkeypatch.setattr(ranges, "ROW_BLOCK_ELEMENTS", block)
            pos, neg = ranges.row_sums(w)
            assert np.array_equal(pos, np.where(flat > 0, flat, 0).sum(axis=1))
            assert np.array_equal(neg, np.where(flat < 0, flat, 0).sum(axis=1))
            assert np.array_equal(abs_row_sums(w.copy()), np.abs(flat).sum(axis=1))
        assert ranges.max_abs_weight(w) == int(np.abs(w).max())
    assert ranges.max_abs_weight(np.zeros((0, 3), np.int64)) == 0
