"""Seeded random QGraphs for the hls tests: small networks of every node type, any Semantics, any weight width.

Topologies: ``mlp`` (Dense -> LIF -> Dense -> IF), ``cuba`` (Dense -> CubaLIF -> Dense -> CubaLI readout),
``recurrent`` (a recurrent Dense and a Delay loop into a LIF, fan-in of two edges, an LI readout),
``conv2d_pool`` (Conv2d -> LIF -> SumPool2d -> strided/dilated Conv2d -> Threshold -> Flatten -> Dense -> LIF),
``conv1d_scale`` (Conv1d with stride/padding/dilation/groups -> I -> Scale -> Flatten -> Dense -> LIF).
Semantics: the presets nir / snntorch / loihi, or ``mix`` (every field drawn at random).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from snncompile.nodes import Delay, Flatten, Input, Output, SumPool2d
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, signed_range
from snncompile.quant.shiftleak import legal_multipliers
from snncompile.semantics import _CHOICES, PRESETS, Semantics

TOPOLOGIES = ("mlp", "cuba", "recurrent", "conv2d_pool", "conv1d_scale")
SEMANTICS = ("nir", "snntorch", "loihi", "mix")
BITS = (2, 4, 8, 16)


@pytest.fixture(scope="session", autouse=True)
def hls_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Builds go to a per-session cache, never to the user's ~/.cache."""
    path = str(tmp_path_factory.getbasetemp() / "hls-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNCOMPILE_CACHE", path)
        yield path


def semantics(name: str, rng: np.random.Generator) -> Semantics:
    if name != "mix":
        return PRESETS[name]
    fields = {k: v[int(rng.integers(len(v)))] for k, v in _CHOICES.items()}
    return Semantics(spike_cap=int(rng.integers(1, 4)), **fields)


class Net:
    """A graph under construction; ``rng`` draws every array, ``bits`` is the weight width."""

    def __init__(self, seed: int, sem: str, bits: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.sem_name, self.bits = sem, bits
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: Any, *sources: str) -> str:
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return name

    def weights(self, shape: tuple[int, ...]) -> dict[str, Any]:
        lo, hi = signed_range(self.bits)
        return dict(weight=self.rng.integers(lo + 1, hi + 1, size=shape), w_bits=self.bits,
                    bias=self.rng.integers(-2, 3, size=shape[0]) * max(1, hi // 8))

    def gain(self) -> int:
        """A typical weight magnitude, to put thresholds where some neurons fire."""
        return max(1, signed_range(self.bits)[1] // 2)

    def neuron(self, name: str, kind: str, shape: tuple[int, ...], fan_in: int, src: str) -> str:
        sem = semantics(self.sem_name, self.rng)
        n = int(np.prod(shape))
        th = max(1, int(self.gain() * np.sqrt(fan_in) * 0.6))
        if sem.rounding == "shift_subtract":  # decays 1 - 2^-k (k = 3..12) or 1
            legal = legal_multipliers(12)[3:]
            alpha: Any = self.rng.choice(legal, size=n).reshape(shape)
            beta: Any = int(self.rng.choice(legal))
        else:
            alpha, beta = self.rng.integers(3000, 4000, size=n).reshape(shape), int(self.rng.integers(3300, 4000))
        node = QNeuron(
            name=name, kind=kind, shape=shape, semantics=sem, alpha=alpha, beta=beta,
            threshold=self.rng.integers(th, 2 * th + 1, size=n).reshape(shape) if kind != "Threshold" else th,
            v_reset=int(self.rng.integers(-2, 3)), bias=int(self.rng.integers(0, 3)),
            v_init=self.rng.integers(-th, th + 1, size=n).reshape(shape), i_init=int(self.rng.integers(-3, 4)),
            input_shift=int(self.rng.integers(0, 2)), frac_bits=12, i_bits=26, v_bits=26,
            v_min=self.rng.integers(-th, 1, size=n).reshape(shape) if kind in ("IF", "LIF", "CubaLIF") and
            self.rng.random() < 0.5 else None,  # a lower membrane clamp on half the spiking layers
        )
        return self.add(name, node, src)

    def graph(self) -> QGraph:
        return QGraph(self.nodes, self.edges)


def build(topology: str, sem: str, bits: int, seed: int = 0) -> tuple[QGraph, np.ndarray]:
    """The graph and seeded random input spikes [T=12, B=3, *shape] (density 0.3)."""
    net = Net(seed, sem, bits)
    shape = BUILDERS[topology](net)
    spikes = (net.rng.random((12, 3, *shape)) < 0.3).astype(np.uint8)
    return net.graph(), spikes


def _mlp(net: Net) -> tuple[int, ...]:
    net.add("input", Input(shape=(12,)))
    net.add("fc1", QDense(name="fc1", **net.weights((16, 12))), "input")
    net.neuron("lif1", "LIF", (16,), 12, "fc1")
    net.add("fc2", QDense(name="fc2", shift=-1, **net.weights((6, 16))), "lif1")
    net.neuron("if2", "IF", (6,), 8, "fc2")
    net.add("output", Output(), "if2")
    return (12,)


def _cuba(net: Net) -> tuple[int, ...]:
    net.add("input", Input(shape=(10,)))
    net.add("fc1", QDense(name="fc1", **net.weights((8, 10))), "input")
    net.neuron("cuba1", "CubaLIF", (8,), 10, "fc1")
    net.add("fc2", QDense(name="fc2", shift=1, **net.weights((4, 8))), "cuba1")
    net.neuron("readout", "CubaLI", (4,), 8, "fc2")
    net.add("output", Output(), "readout")
    return (10,)


def _recurrent(net: Net) -> tuple[int, ...]:
    net.add("input", Input(shape=(8,)))
    net.add("fc1", QDense(name="fc1", **net.weights((10, 8))), "input")
    net.neuron("lif1", "LIF", (10,), 8, "fc1")
    net.add("rec", QDense(name="rec", **net.weights((10, 10))), "lif1")
    net.edges.append(("rec", "lif1"))
    net.add("loop", Delay(delay=net.rng.integers(0, 3, size=10)), "lif1")
    net.add("fc_loop", QDense(name="fc_loop", **net.weights((10, 10))), "loop")
    net.edges.append(("fc_loop", "lif1"))
    net.add("fc2", QDense(name="fc2", **net.weights((3, 10))), "lif1")
    net.neuron("li", "LI", (3,), 10, "fc2")
    net.add("output", Output(), "li")
    net.add("spikes", Output(), "lif1")
    return (8,)


def _conv2d_pool(net: Net) -> tuple[int, ...]:
    net.add("input", Input(shape=(2, 7, 7)))
    net.add("conv1", QConv2d(name="conv1", padding=1, **net.weights((4, 2, 3, 3))), "input")
    net.neuron("lif1", "LIF", (4, 7, 7), 18, "conv1")
    net.add("pool", SumPool2d(kernel_size=2, stride=2, padding=1), "lif1")
    net.add("conv2", QConv2d(name="conv2", stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                             **net.weights((3, 4, 2, 3))), "pool")
    net.neuron("th", "Threshold", (3, 3, 4), 24, "conv2")
    net.add("flat", Flatten(), "th")
    net.add("fc", QDense(name="fc", **net.weights((5, 36))), "flat")
    net.neuron("lif2", "LIF", (5,), 36, "fc")
    net.add("output", Output(), "lif2")
    return (2, 7, 7)


def _conv1d_scale(net: Net) -> tuple[int, ...]:
    net.add("input", Input(shape=(4, 12)))
    net.add("conv", QConv1d(name="conv", stride=2, padding=2, dilation=2, groups=2, **net.weights((4, 2, 3))),
            "input")
    net.neuron("integ", "I", (4, 6), 6, "conv")
    lo, hi = signed_range(net.bits)
    net.add("scale", QScale(name="scale", weight=net.rng.integers(lo + 1, hi + 1, size=(4, 6)), w_bits=net.bits,
                            bias=np.zeros(()), shift=-2), "integ")
    net.add("flat", Flatten(), "scale")
    net.add("fc", QDense(name="fc", shift=-3, **net.weights((5, 24))), "flat")
    net.neuron("lif", "LIF", (5,), 24, "fc")
    net.add("output", Output(), "lif")
    return (4, 12)


BUILDERS: dict[str, Callable[[Net], tuple[int, ...]]] = {
    "mlp": _mlp, "cuba": _cuba, "recurrent": _recurrent, "conv2d_pool": _conv2d_pool, "conv1d_scale": _conv1d_scale,
}


def gcc() -> str:
    return os.environ.get("CC", "gcc")


def golden_edit(path: Any, b: int, t: int, node: str, key: str, element: int,
                change: Callable[[int], int]) -> tuple[bytes, int, int]:
    """golden.bin's bytes with one recorded value replaced by ``change(value)`` in that trace's width (it must fit);
    returns (bytes, old value, new value)."""
    from snncompile.backends.hls.binfmt import golden_slot

    raw = bytearray(open(path, "rb").read())
    offset, width = golden_slot(path, b, t, node, key, element)
    old = int.from_bytes(raw[offset:offset + width], "little", signed=True)
    new = change(old)
    raw[offset:offset + width] = new.to_bytes(width, "little", signed=True)
    return bytes(raw), old, new
