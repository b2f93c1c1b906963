"""Loihi test networks: Lava's golden cases as QGraphs, and seeded random QGraphs in Loihi encodings.

``random_loihi_qgraph(seed, kind)`` draws a small network every loihi rule accepts: kind ``chain`` (2-3 dense
layers), ``recurrent`` (a self-recurrent layer and a projection back from the next layer), ``conv`` (QConv2d ->
Flatten -> QDense, and a QConv1d branch), ``fanin`` (two weight layers into one neuron, one weight layer summing
two populations, an identity QScale). Registers are random but tuned to spike at moderate rates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lava_cases import LAVA, LAVA_CASES, lava_qgraph, loihi_neuron  # noqa: F401  (re-exported)
from snncompile.backends.loihi import CoreSpec

from snncompile.nodes import Flatten, Input, Output
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QScale

KINDS = ("chain", "recurrent", "conv", "fanin")


class _Net:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: Any, *sources: str) -> str:
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return name

    def weights(self, shape: tuple[int, ...], fan_in: int) -> tuple[np.ndarray, int]:
        r = self.rng
        w = r.integers(-128, 128, size=shape) * 2 if r.random() < 0.7 else r.integers(0, 256, size=shape)
        w = np.where(r.random(shape) < 0.3, 0, w)  # some zeros: sparse lists, dense padding
        return w, int(r.integers(-2, 2)) if fan_in > 8 else int(r.integers(0, 3))

    def neuron(self, name: str, shape: tuple[int, ...], source: str) -> str:
        r = self.rng
        n = int(np.prod(shape))
        return self.add(name, loihi_neuron(
            name, shape, du=r.integers(0, 4096, n).reshape(shape), dv=r.integers(0, 4096),
            vth=r.integers(20, 400, n).reshape(shape), bias_mant=r.integers(-40, 60, n).reshape(shape),
            bias_exp=r.integers(0, 4), u0=r.integers(-3000, 3000, n).reshape(shape),
            v0=r.integers(-3000, 3000, n).reshape(shape)), source)

    def dense(self, name: str, n_out: int, n_in: int, *sources: str) -> str:
        w, e = self.weights((n_out, n_in), n_in)
        return self.add(name, QDense(name=name, weight=w, w_bits=9, shift=e), *sources)


def random_loihi_qgraph(seed: int, kind: str) -> tuple[QGraph, tuple[int, ...]]:
    """A random network of ``kind`` (module docstring) and its input shape."""
    rng = np.random.default_rng(seed)
    net = _Net(rng)
    sizes = [int(rng.integers(3, 14)) for _ in range(3)]
    if kind == "conv":
        c, h, w = 2, int(rng.integers(4, 7)), int(rng.integers(4, 7))
        in_shape: tuple[int, ...] = (c, h, w)
        net.add("input", Input(shape=in_shape))
        k = np.where(rng.random((3, c, 3, 3)) < 0.2, 0, rng.integers(-100, 100, (3, c, 3, 3)) * 2)
        stride, pad = int(rng.integers(1, 3)), int(rng.integers(0, 2))
        net.add("conv", QConv2d(name="conv", weight=k, w_bits=9, shift=1, stride=stride, padding=pad), "input")
        oh, ow = (h + 2 * pad - 3) // stride + 1, (w + 2 * pad - 3) // stride + 1
        net.neuron("n1", (3, oh, ow), "conv")
        net.add("flat", Flatten(), "n1")
        net.dense("fc", sizes[1], 3 * oh * ow, "flat")
        net.neuron("n2", (sizes[1],), "fc")
        net.add("flat_in", Flatten(start_dim=1), "input")  # (c, h*w): a 1-d conv branch into n3
        k1 = rng.integers(0, 200, (2, c, 3))
        net.add("conv1", QConv1d(name="conv1", weight=k1, w_bits=9, shift=0, padding=1), "flat_in")
        net.neuron("n3", (2, h * w), "conv1")
        net.add("output", Output(), "n2")
        net.add("output2", Output(), "n3")
        return QGraph(net.nodes, net.edges), in_shape
    n_in = int(rng.integers(6, 20))
    net.add("input", Input(shape=(n_in,)))
    src = "input"
    if kind == "fanin":
        net.add("scale", QScale(name="scale", weight=np.ones(n_in, np.int64), w_bits=2), "input")
        src = "scale"
    net.dense("d1", sizes[0], n_in, src)
    net.neuron("n1", (sizes[0],), "d1")
    net.dense("d2", sizes[1], sizes[0], "n1")
    net.neuron("n2", (sizes[1],), "d2")
    if kind == "recurrent":
        net.dense("r1", sizes[0], sizes[0], "n1")
        net.edges.append(("r1", "n1"))
        net.dense("back", sizes[0], sizes[1], "n2")
        net.edges.append(("back", "n1"))
    if kind == "fanin":
        net.dense("skip", sizes[1], n_in, "input")
        net.edges.append(("skip", "n2"))
        net.dense("d2b", sizes[0], sizes[0], "n1")
        net.neuron("n1b", (sizes[0],), "d2b")
        net.dense("sum", sizes[2], sizes[0], "n1", "n1b")  # sums the spikes of two populations
        net.neuron("n3", (sizes[2],), "sum")
        net.add("output2", Output(), "n3")
    net.dense("d3", sizes[2], sizes[1], "n2")
    net.neuron("n_out", (sizes[2],), "d3")
    net.add("output", Output(), "n_out")
    return QGraph(net.nodes, net.edges), (n_in,)


def random_inputs(seed: int, shape: tuple[int, ...], timesteps: int = 12, batch: int = 2, p: float = 0.3
                  ) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    return (rng.random((timesteps, batch, *shape)) < p).astype(np.int64)


def tiny_spec(rng: np.random.Generator) -> CoreSpec:
    """A small random core: forces many cores and splits, never too small for one neuron of the cases above."""
    return CoreSpec(name="tiny", neurons_per_core=int(rng.integers(2, 9)), input_axons=int(rng.integers(80, 200)),
                    output_axons=int(rng.integers(24, 64)), synaptic_memory_bits=int(rng.integers(12, 40)) * 1024,
                    cores_per_chip=int(rng.integers(2, 6)))


def first_trace_mismatch(expected: dict[str, dict[str, np.ndarray]], got: dict[str, dict[str, np.ndarray]]) -> str:
    """'' when every trace of every node is equal; else the first difference."""
    for node, rec in expected.items():
        for key, want in rec.items():
            have = got.get(node, {}).get(key)
            if have is None or have.shape != want.shape:
                return f"node '{node}' trace '{key}': {'missing' if have is None else have.shape} vs {want.shape}"
            diff = np.argwhere(have != want)
            if len(diff):
                idx = tuple(int(i) for i in diff[0])
                return f"node '{node}' trace '{key}' at {idx}: expected {want[idx]}, got {have[idx]}"
    extra = sorted(set(got) - set(expected))
    return f"unexpected nodes {extra}" if extra else ""
