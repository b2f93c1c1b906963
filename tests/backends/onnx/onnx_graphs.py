"""Seeded random QGraphs and float Graphs for the onnx backend tests (every node type and Semantics option).

Each builder takes a numpy Generator and returns a graph; parameters are drawn so
that registers saturate or wrap often (narrow widths, large weights) and values go
negative under every rounding mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from snncompile.errors import UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import (
    IF,
    LI,
    LIF,
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Delay,
    Flatten,
    I,
    Input,
    Linear,
    Output,
    Scale,
    SumPool2d,
    Threshold,
)
from snncompile.quant.limits import check_int64
from snncompile.quant.qnodes import QKINDS, QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, min_threshold
from snncompile.quant.ranges import analyse, neuron_states, summed_input, unbounded
from snncompile.quant.shiftleak import legal_multipliers
from snncompile.semantics import Semantics

OPTIONS: dict[str, tuple[Any, ...]] = {
    "compare": ("gt", "ge"), "reset": ("zero", "subtract", "none"),
    "timing": ("immediate", "delayed", "snntorch_immediate"), "delayed_zero": ("state", "total"),
    "synapse_delay": (0, 1), "spikes": ("binary", "multi"), "initial_v": ("zero", "v_init"),
    "synapse_order": ("decay_then_add", "add_then_decay"),
    "rounding": ("toward_zero", "floor", "nearest", "shift_subtract"),
    "overflow_i": ("saturate", "wrap", "wrap_loihi"), "overflow_v": ("saturate", "wrap", "wrap_loihi"),
}


def pick(rng: np.random.Generator, seq: tuple[Any, ...] | list[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def semantics(rng: np.random.Generator) -> Semantics:
    fields = {k: pick(rng, v) for k, v in OPTIONS.items()}
    return Semantics(**fields, spike_cap=int(rng.integers(1, 5)))


def ints(rng: np.random.Generator, lo: int, hi: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform integers in [lo, hi] with the extremes and zero mixed in."""
    vals = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    edges = np.array([lo, hi, 0, min(lo + 1, hi), max(hi - 1, lo)], np.int64)
    mask = rng.random(shape) < 0.25
    return np.where(mask, rng.choice(np.clip(edges, lo, hi), size=shape), vals)


def qneuron(rng: np.random.Generator, name: str, shape: tuple[int, ...], kind: str | None = None,
            sem: Semantics | None = None, v_bits: int | None = None) -> QNeuron:
    kind = kind or pick(rng, QKINDS)
    v_bits = v_bits or int(pick(rng, [4, 6, 8, 12, 16, 24, 32]))
    i_bits = int(pick(rng, [4, 6, 8, 12, 16, 24, 32]))
    d = int(rng.integers(1, 17))
    vmax, imax = 2 ** (v_bits - 1) - 1, 2 ** (i_bits - 1) - 1
    sem = sem or semantics(rng)
    if sem.rounding == "shift_subtract":
        alpha, beta = rng.choice(legal_multipliers(d), size=shape), rng.choice(legal_multipliers(d), size=shape)
    else:
        alpha, beta = ints(rng, 0, 2**d, shape), ints(rng, 0, 2**d, shape)
    lowest = min_threshold(sem)
    return QNeuron(
        name=name, kind=kind, shape=shape, semantics=sem, alpha=alpha, beta=beta,
        threshold=(ints(rng, lowest, max(lowest, vmax // 4), shape) if kind != "Threshold"
                   else ints(rng, -vmax, vmax, shape)),
        v_reset=ints(rng, -vmax, vmax, shape), bias=ints(rng, -(vmax // 8), vmax // 8, shape),
        v_init=ints(rng, -vmax, vmax, shape), i_init=ints(rng, -imax, imax, shape),
        input_shift=int(rng.integers(0, 4)), frac_bits=d, i_bits=i_bits, v_bits=v_bits,
    )


def qdense(rng: np.random.Generator, name: str, n_out: int, n_in: int, w_bits: int | None = None,
           shift: int | None = None) -> QDense:
    w_bits = w_bits or int(pick(rng, [2, 4, 8, 9, 12, 16]))
    wmax = 2 ** (w_bits - 1) - 1
    return QDense(name=name, weight=ints(rng, -wmax, wmax, (n_out, n_in)), w_bits=w_bits,
                  bias=ints(rng, -4 * wmax, 4 * wmax, (n_out,)),
                  shift=int(rng.integers(-3, 6)) if shift is None else shift)


def spikes(rng: np.random.Generator, steps: int, batch: int, shape: tuple[int, ...], p: float = 0.4) -> np.ndarray:
    return (rng.random((steps, batch, *shape)) < p).astype(np.uint8)


def supported(graph: QGraph) -> bool:
    try:
        check_int64(graph, analyse(graph))
    except UnsupportedNodeError:
        return False
    return True


def without_drift(graph: QGraph) -> QGraph:
    """Switch every wrap_loihi register that would drift (input beyond one correction) to plain wrap."""
    for _ in range(2 * len(graph.nodes)):
        ranges = analyse(graph)
        for name in graph.order:
            node = graph.nodes[name]
            if not isinstance(node, QNeuron) or node.kind == "Threshold":
                continue
            states = neuron_states(node, summed_input(graph, name, ranges))
            drifting = {f"overflow_{k}": "wrap" for k, iv in states.items() if unbounded(iv)}
            if drifting:
                graph = graph.replace_node(name, replace(node, semantics=node.semantics.with_(**drifting)))
                break
        else:
            return graph
    return graph


def neuron_graph(rng: np.random.Generator) -> QGraph:
    """Input -> QDense (wide range, negatives) -> QNeuron of any kind and options -> Output.

    The dense layer's shift starts high (inputs far beyond the registers) and comes down
    until the backend accepts the graph (a wrap_loihi register must not drift), so
    wrap_loihi sees the largest inputs one correction still brings back; failing that,
    the drifting register wraps instead.
    """
    n_in, n = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    neuron = qneuron(rng, "q", (n,))
    dense = qdense(rng, "w", n, n_in, w_bits=16, shift=int(rng.integers(neuron.v_bits - 18, neuron.v_bits - 12)))
    first = None
    for _ in range(8):
        nodes = {"in": Input(shape=(n_in,)), "w": dense, "q": neuron, "out": Output()}
        graph = QGraph(nodes, [("in", "w"), ("w", "q"), ("q", "out")])
        first = first or graph
        if supported(graph):
            return graph
        dense = replace(dense, shift=max(dense.shift - 1, -31))
    return without_drift(first)


def conv2d_graph(rng: np.random.Generator) -> QGraph:
    """QConv2d (groups, stride, padding, dilation) -> neuron -> SumPool2d -> Flatten -> QDense -> neuron."""
    groups = int(pick(rng, [1, 2]))
    c_in, c_out = 2 * groups, 2 * groups
    conv = QConv2d(name="conv", weight=ints(rng, -127, 127, (c_out, c_in // groups, 3, 2)), w_bits=8,
                   bias=ints(rng, -50, 50, (c_out,)), stride=(int(rng.integers(1, 3)), 1),
                   padding=(1, int(rng.integers(0, 2))), dilation=(1, int(rng.integers(1, 3))), groups=groups,
                   shift=int(rng.integers(-2, 2)))
    g0 = QGraph({"in": Input(shape=(c_in, 7, 6)), "conv": conv, "out": Output()}, [("in", "conv"), ("conv", "out")])
    shape = g0.shapes["conv"]
    pool = SumPool2d(kernel_size=(2, 2), stride=(1, 2), padding=(int(rng.integers(0, 2)), 0))
    nodes: dict[str, Any] = {"in": Input(shape=(c_in, 7, 6)), "conv": conv, "lif": qneuron(rng, "lif", shape),
                             "pool": pool, "flat": Flatten()}
    g1 = QGraph({**nodes, "out": Output()}, [("in", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"),
                                             ("flat", "out")])
    n_flat = g1.shapes["flat"][0]
    nodes.update(dense=qdense(rng, "dense", 3, n_flat), cuba=qneuron(rng, "cuba", (3,)), out=Output())
    edges = [("in", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "flat"), ("flat", "dense"),
             ("dense", "cuba"), ("cuba", "out")]
    return without_drift(QGraph(nodes, edges))


def conv1d_graph(rng: np.random.Generator) -> QGraph:
    """Two inputs summed into a Delay; QConv1d on spikes (ConvInteger) and on a readout (windows + MatMul); QScale."""
    stride, dilation = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    length = (8 + 2 - dilation * 2 - 1) // stride + 1
    nodes: dict[str, Any] = {
        "a": Input(shape=(2, 8)), "b": Input(shape=(2, 8)), "delay": Delay(delay=rng.integers(0, 4, size=(2, 8))),
        "c1": QConv1d(name="c1", weight=ints(rng, -100, 100, (4, 2, 3)), w_bits=8, stride=stride, padding=1,
                      dilation=dilation, bias=ints(rng, -20, 20, (4,)), shift=0),
        "n1": qneuron(rng, "n1", (4, length)), "flat": Flatten(),
        "sa": QScale(name="sa", weight=ints(rng, -9, 9, (2, 8)), bias=ints(rng, -5, 5, (8,)), w_bits=6,
                     shift=int(rng.integers(-1, 3))),
        "ro": qneuron(rng, "ro", (2, 8), kind=pick(rng, ["I", "LI", "CubaLI"])),
        "c2": QConv1d(name="c2", weight=ints(rng, -2000, 2000, (4, 1, 2)), w_bits=12, groups=2, padding=1,
                      shift=-1),
        "out1": Output(), "out2": Output(),
    }
    edges = [("a", "delay"), ("b", "delay"), ("delay", "c1"), ("c1", "n1"), ("n1", "flat"), ("flat", "out1"),
             ("b", "sa"), ("sa", "ro"), ("ro", "c2"), ("c2", "out2")]
    return without_drift(QGraph(nodes, edges))


def recurrent_graph(rng: np.random.Generator) -> QGraph:
    """Recurrent QDense into a spiking layer, a Threshold node, a recurrent Delay loop and a wide readout chain."""
    n = 4
    sem = semantics(rng).with_(overflow_v=pick(rng, ("saturate", "wrap")))  # a drifting readout has no bound
    readout = qneuron(rng, "ro", (n,), kind="LI", v_bits=32, sem=sem)
    nodes: dict[str, Any] = {
        "in": Input(shape=(3,)), "w_in": qdense(rng, "w_in", n, 3),
        "lif": qneuron(rng, "lif", (n,), kind=pick(rng, ["IF", "LIF", "CubaLIF"])),
        "w_rec": qdense(rng, "w_rec", n, n), "thr": qneuron(rng, "thr", (n,), kind="Threshold"),
        "loop": Delay(delay=np.array([1, 2, 1, 3])), "ro": readout,
        "wide": qdense(rng, "wide", 2, n, w_bits=12, shift=int(rng.integers(-2, 1))),
        "acc": qneuron(rng, "acc", (2,), kind=pick(rng, ["I", "CubaLI", "LIF"])), "out": Output(), "out2": Output(),
    }
    edges = [("in", "w_in"), ("w_in", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "thr"),
             ("thr", "loop"), ("loop", "ro"), ("ro", "wide"), ("wide", "acc"), ("acc", "out"), ("lif", "out2"),
             ("ro", "loop")]
    return without_drift(QGraph(nodes, edges))


TEMPLATES: dict[str, Callable[[np.random.Generator], QGraph]] = {
    "neuron": neuron_graph, "conv2d": conv2d_graph, "conv1d": conv1d_graph, "recurrent": recurrent_graph,
}


def random_inputs(rng: np.random.Generator, graph: Graph, steps: int, batch: int) -> dict[str, np.ndarray]:
    return {n: spikes(rng, steps, batch, graph.nodes[n].shape, float(rng.uniform(0.2, 0.8)))  # type: ignore
            for n in graph.inputs}


# -- float graphs --------------------------------------------------------------------------------------------------

def float_neuron(rng: np.random.Generator, kind: type, shape: tuple[int, ...]) -> Any:
    sem = semantics(rng)
    p: dict[str, Any] = {"shape": shape, "semantics": sem, "v_init": rng.uniform(-0.5, 0.5, shape)}
    if kind is Threshold:
        low = 0.05 if sem.spikes == "multi" else -0.2  # a multi-spike threshold must be > 0 (floor(v/threshold))
        return Threshold(**p, threshold=rng.uniform(low, 0.8, shape))
    p["bias"] = rng.uniform(-0.1, 0.1, shape)
    if kind in (LI, LIF, CubaLI, CubaLIF):
        p["beta"] = rng.uniform(0.5, 1.0, shape)
    if kind in (CubaLI, CubaLIF):
        p["alpha"] = rng.uniform(0.3, 0.95, shape)
    if kind in (IF, LIF, CubaLIF):
        p.update(threshold=rng.uniform(0.5, 1.5, shape), v_reset=rng.uniform(-0.2, 0.2, shape))
    return kind(**p)


def float_graph(rng: np.random.Generator) -> Graph:
    """Every float node type: Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Delay, neurons."""
    kinds = [IF, LIF, CubaLIF]
    nodes: dict[str, Any] = {
        "img": Input(shape=(2, 6, 6)),
        "c2": Conv2d(weight=rng.normal(0, 0.6, (4, 1, 3, 3)), bias=rng.normal(0, 0.1, 4), padding=(1, 1),
                     stride=(1, 2), groups=2),
        "n2": float_neuron(rng, pick(rng, kinds), (4, 6, 3)),
        "avg": AvgPool2d(kernel_size=(2, 2), stride=(2, 1), padding=(0, 1)),
        "sum": SumPool2d(kernel_size=(3, 2), stride=(3, 2)),
        "flat": Flatten(), "seq": Input(shape=(3, 7)),
        "c1": Conv1d(weight=rng.normal(0, 0.7, (2, 3, 3)), bias=rng.normal(0, 0.1, 2), dilation=2, padding=1),
        "n1": float_neuron(rng, pick(rng, kinds), (2, 5)), "flat1": Flatten(), "delay": Delay(delay=np.arange(10) % 3),
        "aff": Affine(weight=rng.normal(0, 0.6, (5, 8)), bias=rng.normal(0, 0.1, 5)),
        "lin": Linear(weight=rng.normal(0, 0.5, (5, 10))), "scale": Scale(scale=rng.uniform(0.5, 1.5, 5)),
        "h": float_neuron(rng, pick(rng, kinds), (5,)), "rec": Linear(weight=rng.normal(0, 0.5, (5, 5))),
        "thr": float_neuron(rng, Threshold, (5,)), "ro": float_neuron(rng, pick(rng, [I, LI, CubaLI]), (5,)),
        "o1": Output(), "o2": Output(),
    }
    edges = [("img", "c2"), ("c2", "n2"), ("n2", "avg"), ("avg", "sum"), ("sum", "flat"), ("flat", "aff"),
             ("seq", "c1"), ("c1", "n1"), ("n1", "flat1"), ("flat1", "delay"), ("delay", "lin"), ("aff", "h"),
             ("lin", "scale"), ("scale", "h"), ("h", "rec"), ("rec", "h"), ("h", "thr"), ("thr", "o1"),
             ("h", "ro"), ("ro", "o2")]
    return Graph(nodes, edges)


def trace_mismatches(expected: dict[str, dict[str, np.ndarray]], got: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """One line per trace (node, key) that differs: shape, dtype kind, or the first differing entry."""
    problems = []
    for node, rec in expected.items():
        for key, want in rec.items():
            have = got.get(node, {}).get(key)
            if have is None:
                problems.append(f"{node}.{key}: missing")
            elif have.shape != want.shape:
                problems.append(f"{node}.{key}: shape {have.shape} != {want.shape}")
            elif not np.array_equal(have, want):
                idx = tuple(int(i) for i in np.argwhere(have != want)[0])
                problems.append(f"{node}.{key}: first at [t, b, ...] = {idx}: expected {want[idx]}, got {have[idx]}")
    return problems
