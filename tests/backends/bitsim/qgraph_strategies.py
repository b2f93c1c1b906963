"""Hypothesis strategies for random QGraphs and spike inputs (shared by bitsim's equivalence tests).

``qgraph_cases()`` draws a small integer network and binary input spikes ``[T, B, *shape]``:
chains and small DAGs of QDense / QConv1d / QConv2d (stride, padding, dilation, groups) /
SumPool2d / Flatten / QScale / Delay / QNeuron of every kind with random Semantics over
every option, random widths, decays, thresholds, biases, shifts and initial states, fan-in
(two layers summed into one neuron) and recurrent edges (a QDense or a Delay from a neuron back
into itself, or a QDense back into an earlier neuron). Half of the Delays have one delay everywhere (0
included: Spyx's output delays, one-element layers). ``extreme`` draws put weights at their
range limits and states next to the rails so saturate / wrap / wrap_loihi trigger.
Array contents come from a numpy generator seeded by a drawn integer (fast to draw; still reproducible).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import strategies as st

from snncompile.nodes import Delay, Flatten, Input, Output, SumPool2d
from snncompile.quant.qnodes import (
    QKINDS,
    QConv1d,
    QConv2d,
    QDense,
    QGraph,
    QNeuron,
    QScale,
    min_threshold,
    signed_range,
)
from snncompile.quant.shiftleak import legal_multipliers
from snncompile.semantics import _CHOICES, Semantics


def semantics_strategy() -> st.SearchStrategy[Semantics]:
    """Every Semantics field drawn independently over all its allowed values."""
    fields = {name: st.sampled_from(values) for name, values in _CHOICES.items()}
    return st.builds(Semantics, spike_cap=st.integers(1, 4), **fields)


def shift_decays(rng: np.random.Generator, frac_bits: int, shape: tuple[int, ...]) -> np.ndarray:
    """Decay multipliers the shift-subtract leak admits: 2^D - 2^(D-k) for k in 0..D, or 2^D."""
    return rng.choice(legal_multipliers(frac_bits), size=shape)


class _Builder:
    """Grows a QGraph from its Input; ``draw`` is hypothesis' draw, ``rng`` fills the arrays."""

    def __init__(self, draw: Any, rng: np.random.Generator, extreme: bool) -> None:
        self.draw, self.rng, self.extreme = draw, rng, extreme
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.neurons_1d: list[str] = []

    def add(self, name: str, node: Any, shape: tuple[int, ...], *sources: str) -> str:
        self.nodes[name] = node
        self.shapes[name] = shape
        self.edges += [(s, name) for s in sources]
        return name

    def ints(self, bits: int, shape: tuple[int, ...], small: int | None = None) -> np.ndarray:
        lo, hi = signed_range(bits)
        if self.extreme and self.draw(st.booleans()):
            return self.rng.choice(np.array([lo, hi, hi, lo + 1, 0]), size=shape)
        if small is not None:
            lo, hi = max(lo, -small), min(hi, small)
        return self.rng.integers(lo, hi + 1, size=shape)

    def weights(self, shape: tuple[int, ...]) -> dict[str, Any]:
        w_bits = self.draw(st.integers(2, 16))
        n_out = shape[0]
        bias = self.ints(12, (n_out,), small=8) if self.draw(st.booleans()) else None
        return dict(weight=self.ints(w_bits, shape, small=self.draw(st.sampled_from([3, 40, None]))),
                    w_bits=w_bits, bias=bias, shift=self.draw(st.integers(-4, 4)))

    def delay(self, shape: tuple[int, ...], hi: int) -> Delay:
        """Per-element delays in 0..hi, or (half the draws) one value of 0..hi everywhere."""
        if self.draw(st.booleans()):
            return Delay(delay=np.full(shape, self.draw(st.integers(0, hi))))
        return Delay(delay=self.rng.integers(0, hi + 1, size=shape))

    # -- weight layers ----------------------------------------------------------------------
    def weight_layer(self, tag: str, src: str, n_out: int | None = None) -> str:
        shape = self.shapes[src]
        name = f"{tag}{len(self.nodes)}"
        if len(shape) == 1:
            n_out = n_out or self.draw(st.integers(1, 6))
            return self.add(name, QDense(name=name, **self.weights((n_out, shape[0]))), (n_out,), src)
        c_in = shape[0]
        groups = self.draw(st.sampled_from([g for g in (1, 2, 3) if c_in % g == 0]))
        c_out = groups * self.draw(st.integers(1, 2))
        nd = len(shape) - 1
        k = tuple(self.draw(st.integers(1, 3)) for _ in range(nd))
        stride = tuple(self.draw(st.integers(1, 2)) for _ in range(nd))
        dil = tuple(self.draw(st.integers(1, 2)) for _ in range(nd))
        pad = [self.draw(st.integers(0, 2)) for _ in range(nd)]
        for a in range(nd):  # make the kernel fit
            while shape[1 + a] + 2 * pad[a] < dil[a] * (k[a] - 1) + 1:
                pad[a] += 1
        out_sp = tuple((shape[1 + a] + 2 * pad[a] - dil[a] * (k[a] - 1) - 1) // stride[a] + 1 for a in range(nd))
        params = self.weights((c_out, c_in // groups, *k))
        if nd == 1:
            node: Any = QConv1d(name=name, stride=stride[0], padding=pad[0], dilation=dil[0], groups=groups, **params)
        else:
            node = QConv2d(name=name, stride=stride, padding=tuple(pad), dilation=dil, groups=groups, **params)
        return self.add(name, node, (c_out, *out_sp), src)

    # -- neurons ---------------------------------------------------------------------------------
    def neuron(self, name: str, shape: tuple[int, ...]) -> QNeuron:
        d = self.draw(st.integers(1, 14))
        one = 1 << d
        i_bits, v_bits = self.draw(st.integers(8, 32)), self.draw(st.integers(8, 32))
        hi_v = (1 << (v_bits - 1)) - 1
        per_neuron = self.draw(st.booleans())
        pshape = shape if per_neuron else ()

        sem = self.draw(semantics_strategy())

        def decay() -> Any:
            if sem.rounding == "shift_subtract":
                return shift_decays(self.rng, d, pshape)
            return self.rng.choice(np.array([0, one, one - 1, one // 2]), size=pshape) if self.draw(
                st.booleans()) else self.rng.integers(0, one + 1, size=pshape)

        th_max = self.draw(st.sampled_from([4, 64, hi_v]))
        kind = self.draw(st.sampled_from(QKINDS))
        th_lo = -th_max if kind == "Threshold" else min_threshold(sem)
        clamped = kind in ("IF", "LIF", "CubaLIF") and self.draw(st.booleans())  # a lower clamp v_min
        v_min = self.ints(v_bits, pshape, small=self.draw(st.sampled_from([0, 8, None]))) if clamped else None
        return QNeuron(
            name=name, kind=kind, shape=shape, semantics=sem,
            alpha=decay(), beta=decay(), threshold=self.rng.integers(th_lo, min(th_max, hi_v) + 1, size=pshape),
            v_reset=self.ints(v_bits, pshape, small=self.draw(st.sampled_from([0, 8, None]))),
            bias=self.ints(v_bits, pshape, small=self.draw(st.sampled_from([0, 4, None]))),
            v_init=self.ints(v_bits, pshape, small=self.draw(st.sampled_from([0, 16, None]))),
            i_init=self.ints(i_bits, pshape, small=self.draw(st.sampled_from([0, 16, None]))),
            input_shift=self.draw(st.sampled_from([0, 0, 1, 3, 16])), frac_bits=d, i_bits=i_bits, v_bits=v_bits,
            v_min=v_min,
        )

    def neuron_stage(self, src: str) -> str:
        direct = self.draw(st.integers(0, 4)) == 0  # a neuron fed straight by the previous node
        layer = src if direct else self.weight_layer("w", src)
        shape = self.shapes[layer]
        name = f"n{len(self.nodes)}"
        node = self.neuron(name, shape)
        self.add(name, node, shape, layer)
        fan_in = self.draw(st.sampled_from(["none", "none", "twin", "other"]))
        if fan_in == "twin" and not direct:  # a second weight layer from the same source, summed into the neuron
            twin = f"w{len(self.nodes)}"
            first = self.nodes[layer]
            self.add(twin, type(first)(**{**first.params(), "name": twin,
                                          "weight": self.ints(first.w_bits, first.weight.shape)}), shape, src)
            self.edges.append((twin, name))
        elif fan_in == "other" and len(shape) == 1 and self.neurons_1d:
            other = self.draw(st.sampled_from(self.neurons_1d))
            self.edges.append((self.weight_layer("f", other, shape[0]), name))
        rec = self.draw(st.sampled_from(["none", "none", "self", "delay", "back"]))
        stateful = node.kind != "Threshold"  # a cycle of stateless nodes is rejected by the graph
        if rec == "self" and len(shape) == 1 and stateful:
            self.edges.append((self.weight_layer("r", name, shape[0]), name))
        elif rec == "delay":
            delay = f"d{len(self.nodes)}"
            self.add(delay, self.delay(shape, 2), shape, name)
            self.edges.append((delay, name))
        elif rec == "back" and len(shape) == 1 and self.neurons_1d and stateful:
            target = self.draw(st.sampled_from(self.neurons_1d))
            self.edges.append((self.weight_layer("b", name, self.shapes[target][0]), target))
        if len(shape) == 1:
            self.neurons_1d.append(name)
        return name

    def stateless_stage(self, src: str) -> str:
        shape = self.shapes[src]
        options = ["scale", "delay"] + (["flatten"] if len(shape) > 1 else []) + (["pool"] if len(shape) == 3 else [])
        op = self.draw(st.sampled_from(options))
        name = f"{op}{len(self.nodes)}"
        if op == "scale":
            w_bits = self.draw(st.integers(2, 16))
            bias = self.ints(8, shape, small=4) if self.draw(st.booleans()) else np.zeros(())
            node: Any = QScale(name=name, weight=self.ints(w_bits, shape), w_bits=w_bits, bias=bias,
                               shift=self.draw(st.integers(-4, 4)))
            return self.add(name, node, shape, src)
        if op == "delay":
            return self.add(name, self.delay(shape, 3), shape, src)
        if op == "flatten":
            start = self.draw(st.integers(0, len(shape) - 1))
            end = self.draw(st.integers(start, len(shape) - 1))
            merged = int(np.prod(shape[start:end + 1]))
            return self.add(name, Flatten(start_dim=start, end_dim=end),
                            (*shape[:start], merged, *shape[end + 1:]), src)
        k = (self.draw(st.integers(1, 2)), self.draw(st.integers(1, 2)))
        stride = (self.draw(st.integers(1, 2)), self.draw(st.integers(1, 2)))
        pad = tuple(min(self.draw(st.integers(0, 1)), kk // 2) for kk in k)
        out = tuple((shape[1 + a] + 2 * pad[a] - k[a]) // stride[a] + 1 for a in range(2))
        if min(out) < 1:
            return src
        return self.add(name, SumPool2d(kernel_size=k, stride=stride, padding=pad), (shape[0], *out), src)


@st.composite
def qgraph_cases(draw: Any, max_steps: int = 6, max_batch: int = 3, max_stages: int = 4) -> tuple[QGraph, np.ndarray]:
    """A random QGraph and binary input spikes ``[T, B, *input_shape]`` for it."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = _Builder(draw, rng, extreme=draw(st.booleans()))
    layout = draw(st.sampled_from(["1d", "1d", "conv1d", "conv2d"]))
    shape: tuple[int, ...] = {
        "1d": (draw(st.integers(1, 8)),),
        "conv1d": (draw(st.integers(1, 3)), draw(st.integers(1, 6))),
        "conv2d": (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5))),
    }[layout]
    cur = b.add("input", Input(shape=shape), shape)
    for _ in range(draw(st.integers(1, max_stages))):
        if draw(st.integers(0, 3)) == 0:
            cur = b.stateless_stage(cur)
        else:
            cur = b.neuron_stage(cur)
        if draw(st.integers(0, 5)) == 0:
            b.add(f"tap{len(b.nodes)}", Output(), b.shapes[cur], cur)
    b.add("output", Output(), b.shapes[cur], cur)
    graph = QGraph(b.nodes, b.edges)
    steps, batch = draw(st.integers(1, max_steps)), draw(st.integers(1, max_batch))
    density = draw(st.sampled_from([0.1, 0.5, 0.9]))
    spikes = (rng.random((steps, batch, *shape)) < density).astype(np.int64)
    return graph, spikes


@st.composite
def neuron_cases(draw: Any, max_steps: int = 12) -> tuple[QGraph, np.ndarray]:
    """Input -> QDense -> one QNeuron with narrow registers (2..10 bits), so every rail is hit exactly.

    Narrow widths make the boundary values (2^(W-1), the saturation limits, v == threshold) common,
    which the wide widths of ``qgraph_cases`` almost never produce.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = _Builder(draw, rng, extreme=draw(st.booleans()))
    n_in, n = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    b.add("input", Input(shape=(n_in,)), (n_in,))
    w_bits = draw(st.integers(2, 6))
    b.add("w", QDense(name="w", weight=b.ints(w_bits, (n, n_in)), w_bits=w_bits, shift=draw(st.integers(-1, 2))),
          (n,), "input")
    i_bits, v_bits, d = draw(st.integers(2, 10)), draw(st.integers(2, 10)), draw(st.integers(1, 6))
    hi_v = (1 << (v_bits - 1)) - 1
    kind = draw(st.sampled_from(QKINDS))
    pshape = (n,) if draw(st.booleans()) else ()
    sem = draw(semantics_strategy())
    if sem.rounding == "shift_subtract":
        alpha, beta = shift_decays(rng, d, pshape), shift_decays(rng, d, pshape)
    else:
        alpha, beta = rng.integers(0, (1 << d) + 1, size=pshape), rng.integers(0, (1 << d) + 1, size=pshape)
    clamped = kind in ("IF", "LIF", "CubaLIF") and draw(st.booleans())  # a lower clamp v_min
    node = QNeuron(
        name="n", kind=kind, shape=(n,), semantics=sem, alpha=alpha, beta=beta,
        threshold=rng.integers(-hi_v if kind == "Threshold" else min_threshold(sem), hi_v + 1, size=pshape),
        v_reset=b.ints(v_bits, pshape), bias=b.ints(v_bits, pshape, small=2), v_init=b.ints(v_bits, pshape),
        i_init=b.ints(i_bits, pshape), input_shift=draw(st.integers(0, 2)), frac_bits=d, i_bits=i_bits, v_bits=v_bits,
        v_min=b.ints(v_bits, pshape) if clamped else None,
    )
    b.add("n", node, (n,), "w")
    if kind != "Threshold" and draw(st.booleans()):
        b.add("r", QDense(name="r", weight=b.ints(w_bits, (n, n)), w_bits=w_bits), (n,), "n")
        b.edges.append(("r", "n"))
    b.add("output", Output(), (n,), "n")
    steps, batch = draw(st.integers(1, max_steps)), draw(st.integers(1, 3))
    spikes = (rng.random((steps, batch, n_in)) < draw(st.sampled_from([0.2, 0.6, 1.0]))).astype(np.int64)
    return QGraph(b.nodes, b.edges), spikes


@st.composite
def chain_cases(draw: Any, max_steps: int = 8, max_batch: int = 5) -> tuple[QGraph, np.ndarray]:
    """Input -> [Flatten] -> (QDense -> QNeuron)+ -> Output: the graphs bitsim's event path runs in C.

    Neurons of every non-Threshold kind with random Semantics (some the C kernel refuses, or whose
    operands need the definition's checks: those fall back to the other paths), batches up to 5 so that
    the batch-major grouping of events sees several samples.
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    b = _Builder(draw, rng, extreme=draw(st.booleans()))
    flat = draw(st.booleans())
    shape: tuple[int, ...] = (draw(st.integers(1, 3)), draw(st.integers(1, 4))) if flat else (draw(st.integers(1, 12)),)
    cur = b.add("input", Input(shape=shape), shape)
    if flat:
        cur = b.add("flat", Flatten(), (shape[0] * shape[1],), cur)
    for _ in range(draw(st.integers(1, 3))):
        layer = b.weight_layer("w", cur, draw(st.integers(1, 9)))
        name = f"n{len(b.nodes)}"
        node = b.neuron(name, b.shapes[layer])
        if node.kind == "Threshold":
            node = dataclasses.replace(node, kind="LIF", threshold=np.maximum(node.threshold, 1))
        cur = b.add(name, node, b.shapes[layer], layer)
    b.add("output", Output(), b.shapes[cur], cur)
    steps, batch = draw(st.integers(1, max_steps)), draw(st.integers(1, max_batch))
    density = draw(st.sampled_from([0.1, 0.5, 0.9]))
    spikes = (rng.random((steps, batch, *shape)) < density).astype(draw(st.sampled_from([np.int64, np.uint8, bool])))
    return QGraph(b.nodes, b.edges), spikes
