"""Random valid NIR networks as plain data (:class:`GraphData` of :class:`NodeData`), turned into ``nir`` objects
by :func:`to_nir`; the choices come from a :class:`Choices` (hypothesis draws or a seeded ``random.Random``).

Time constants and gains are written the way each convention's exporter writes them (seconds, Norse's dt*tau,
Rockpool's r = tau*exp(-dt/tau)/dt, ...) so that valid networks load and spike.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import nir
import numpy as np
from hypothesis import strategies as st

from snncompile.frontend.conventions import CONVENTIONS

T_ = TypeVar("T_")
Edge = tuple[str, str]
NEURONS = ("LIF", "CubaLIF", "IF", "LI", "I", "CubaLI", "Threshold")
SPIKING = ("LIF", "CubaLIF", "IF", "Threshold")
READOUTS = ("LI", "I", "CubaLI")
#: a recurrent edge must pass through state: Threshold has none
RECURRENT = ("LIF", "CubaLIF", "IF")


class Choices(Protocol):
    """Where the generator's decisions come from (hypothesis draws or a seeded ``random.Random``)."""

    def int(self, lo: int, hi: int) -> int: ...

    def pick(self, options: Sequence[T_]) -> T_: ...

    def chance(self, percent: int) -> bool: ...


class DrawChoices:
    """Choices drawn by hypothesis. Small ranges are drawn with ``sampled_from``: ``integers`` favours the ends of
    its range (``chance(35)`` came out true in 61 % of 80 derandomized draws, and 6 of the 13 mutations never ran),
    ``sampled_from`` is near uniform; shrinking goes toward the first option either way."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def int(self, lo: int, hi: int) -> int:
        return int(self.draw(st.sampled_from(range(lo, hi + 1)) if hi - lo < 1000 else st.integers(lo, hi)))

    def pick(self, options: Sequence[T_]) -> T_:
        return options[self.int(0, len(options) - 1)]

    def chance(self, percent: int) -> bool:
        return self.int(0, 99) < percent


class RandomChoices:
    """Choices from ``random.Random(seed)``: the same seed gives the same case in every run."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self.rnd.randint(lo, hi)

    def pick(self, options: Sequence[T_]) -> T_:
        return options[self.rnd.randrange(len(options))]

    def chance(self, percent: int) -> bool:
        return self.rnd.randrange(100) < percent


@dataclass
class NodeData:
    """One NIR node as data: ``kind`` is a ``nir`` class name (``NIRGraph``: ``sub`` holds the members)."""

    kind: str
    params: dict[str, Any]
    sub: GraphData | None = None


@dataclass
class GraphData:
    nodes: dict[str, NodeData] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)


def to_nir(data: GraphData) -> nir.NIRGraph:
    nodes = {n: to_nir(d.sub) if d.kind == "NIRGraph" and d.sub is not None else _nir_node(d.kind, d.params)
             for n, d in data.nodes.items()}
    return nir.NIRGraph(nodes=nodes, edges=list(data.edges), type_check=False)


def _nir_node(kind: str, params: dict[str, Any]) -> Any:
    """The nir object; one whose constructor refuses the (mutated) parameters is built field by field, so the file
    holds what a careless exporter could write."""
    cls = getattr(nir, kind)
    try:
        return cls(**params)
    except Exception:  # noqa: BLE001 - nir's checks raise AssertionError, ValueError, OverflowError, ...
        obj = cls.__new__(cls)
        for f in dataclasses.fields(cls):
            if f.name in params:
                value = params[f.name]
            elif f.default is not dataclasses.MISSING:
                value = f.default
            else:
                value = f.default_factory() if f.default_factory is not dataclasses.MISSING else {}
            setattr(obj, f.name, value)
        return obj


def all_nodes(g: GraphData) -> list[NodeData]:
    out = []
    for d in g.nodes.values():
        out.append(d)
        if d.sub is not None:
            out += all_nodes(d.sub)
    return out


# -- the valid network ------------------------------------------------------------------------------------------------

class _Net:
    """Grows a GraphData from its Input(s); ``c`` makes the choices, ``rng`` fills the arrays."""

    def __init__(self, c: Choices, rng: np.random.Generator, convention: str, dt: float) -> None:
        self.c, self.rng, self.dt = c, rng, dt
        self.convention = CONVENTIONS[convention]
        self.g = GraphData()
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtype = c.pick([np.float32, np.float64])

    def add(self, name: str, kind: str, params: dict[str, Any], shape: tuple[int, ...], *sources: str,
            into: GraphData | None = None) -> str:
        graph = self.g if into is None else into
        graph.nodes[name] = NodeData(kind, params)
        graph.edges.extend((s, name) for s in sources)
        self.shapes[name] = shape
        return name

    def name(self, tag: str) -> str:
        return f"{tag}{len(self.shapes)}"

    def arr(self, values: Any) -> np.ndarray:
        return np.asarray(values, dtype=self.dtype)

    # weight layers
    def dense(self, src: str, n_out: int, into: GraphData | None = None) -> str:
        n_in = int(np.prod(self.shapes[src]))
        scale = self.c.pick([0.4, 1.0, 2.5, 6.0]) / math.sqrt(n_in)
        w = self.rng.normal(0.0, scale, (n_out, n_in))
        if self.c.chance(15):
            w = np.abs(w)
        if self.c.chance(10):
            w = np.rint(w * 4)
        name = self.name("fc")
        if self.c.chance(35):
            return self.add(name, "Linear", {"weight": self.arr(w)}, (n_out,), src, into=into)
        bias = self.rng.normal(0.0, 0.2, n_out) if self.c.chance(40) else np.zeros(n_out)
        return self.add(name, "Affine", {"weight": self.arr(w), "bias": self.arr(bias)}, (n_out,), src, into=into)

    def conv(self, src: str) -> str:
        shape = self.shapes[src]
        dims = len(shape) - 1
        c_in = shape[0]
        groups = self.c.pick([g for g in (1, 2) if c_in % g == 0])
        c_out = groups * self.c.int(1, 2)
        k = self.c.int(1, min(3, *shape[1:]))
        dilation = self.c.int(1, 2) if k > 1 and all(s >= 2 * k - 1 for s in shape[1:]) else 1
        stride = self.c.int(1, 2)
        padding: Any = self.c.int(0, 1)
        if self.c.chance(15):
            padding = "valid"
            if self.c.chance(50) and stride == 1 and (dilation * (k - 1)) % 2 == 0:
                padding = "same"
        pad = 0 if padding == "valid" else dilation * (k - 1) // 2 if padding == "same" else padding
        out = tuple((s + 2 * pad - dilation * (k - 1) - 1) // stride + 1 for s in shape[1:])
        w = self.rng.normal(0.0, self.c.pick([0.5, 1.5, 3.0]) / math.sqrt(k**dims * c_in / groups),
                            (c_out, c_in // groups, *([k] * dims)))
        bias = self.rng.normal(0.0, 0.1, c_out) if self.c.chance(30) else np.zeros(c_out)
        params = {"weight": self.arr(w), "bias": self.arr(bias), "stride": stride, "padding": padding,
                  "dilation": dilation, "groups": groups}
        if dims == 1:
            return self.add(self.name("conv"), "Conv1d", {"input_shape": shape[1], **params}, (c_out, *out), src)
        return self.add(self.name("conv"), "Conv2d", {"input_shape": shape[1:], **params}, (c_out, *out), src)

    # neurons, written as the convention's exporter writes them
    def neuron(self, src: str, kinds: Sequence[str], into: GraphData | None = None, name: str | None = None) -> str:
        kind = self.c.pick([k for k in kinds if k not in self.convention.unsupported])
        shape = self.shapes[src]
        scalar = self.c.chance(10)
        pshape: tuple[int, ...] = () if scalar else shape
        name = name or self.name(kind.lower())
        return self.add(name, kind, self.neuron_params(kind, pshape), shape, src, into=into)

    def neuron_params(self, kind: str, shape: tuple[int, ...]) -> dict[str, Any]:
        rule, dt = self.convention.rule_for(kind), self.dt

        def steps(lo: float = 1.5, hi: float = 20.0) -> np.ndarray:
            return self.rng.uniform(lo, hi, shape)

        def written(tau_s: np.ndarray) -> np.ndarray:  # Norse 1.1.0 writes dt*tau
            return tau_s * dt if rule.tau_unit == "dt" else tau_s

        theta = self.rng.uniform(0.2, 2.0, shape)
        v_reset = np.zeros(shape) if self.c.chance(80) else self.rng.uniform(-0.3, 0.0, shape)
        v_leak = np.zeros(shape) if self.c.chance(75) else self.rng.uniform(-0.2, 0.2, shape)
        jitter = 1.0 if self.c.chance(70) or self.convention.dt_rule == "rockpool_r" else self.c.pick([0.5, 2.0, 10.0])
        if kind == "Threshold":
            return {"threshold": self.arr(theta)}
        if kind in ("I", "IF"):
            r = np.full(shape, (1.0 / dt if rule.gain == "nir" else 1.0) * jitter)
            if kind == "I":
                return {"r": self.arr(r)}
            return {"r": self.arr(r), "v_threshold": self.arr(theta), "v_reset": self.arr(v_reset)}
        if kind in ("LIF", "LI"):
            tau = steps() * dt
            r = _unit_r(self.gain_rule(rule.gain), tau, dt) * jitter
            params = {"tau": self.arr(written(tau)), "r": self.arr(r), "v_leak": self.arr(v_leak)}
            if kind == "LIF":
                params.update(v_threshold=self.arr(theta), v_reset=self.arr(v_reset))
            return params
        tau_syn, tau_mem = steps() * dt, steps() * dt
        w_in = {"nir": tau_syn / dt, "lava_dl": tau_syn}.get(rule.gain, np.ones(shape))
        r = _unit_r(self.gain_rule("nir" if rule.gain == "membrane_step" else rule.gain), tau_mem, dt) * jitter
        if rule.gain == "lava_dl":
            r = np.full(shape, jitter)
        params = {"tau_syn": self.arr(written(tau_syn)), "tau_mem": self.arr(written(tau_mem)), "r": self.arr(r),
                  "v_leak": self.arr(v_leak), "w_in": self.arr(w_in)}
        if kind == "CubaLIF":
            params.update(v_threshold=self.arr(theta), v_reset=self.arr(v_reset))
        return params

    def gain_rule(self, rule: str) -> str:
        """Rockpool's exporter writes r = tau*exp(-dt/tau)/dt for every leaky neuron (the reader recovers dt from
        it, so all must agree)."""
        return "rockpool" if self.convention.dt_rule == "rockpool_r" else rule

    # stateless helpers
    def pool(self, src: str) -> str:
        c, h, w = self.shapes[src]
        k = self.c.int(1, min(2, h, w))
        stride = self.c.pick([k, 1])
        out = (c, (h - k) // stride + 1, (w - k) // stride + 1)
        kind = self.c.pick(["SumPool2d", "AvgPool2d"])
        two = np.array([k, k])
        return self.add(self.name("pool"), kind, {"kernel_size": two, "stride": np.array([stride, stride]),
                                                  "padding": np.array([0, 0])}, out, src)

    def flatten(self, src: str) -> str:
        shape = self.shapes[src]
        return self.add(self.name("flat"), "Flatten", {"input_type": {"input": np.array(shape)}, "start_dim": 0,
                                                       "end_dim": -1}, (int(np.prod(shape)),), src)

    def delay(self, src: str) -> str:
        shape = self.shapes[src]
        k = np.full(shape, self.c.int(0, 3)) if self.c.chance(50) else self.rng.integers(0, 4, shape)
        return self.add(self.name("delay"), "Delay", {"delay": self.arr(k * self.dt)}, shape, src)

    def scale(self, src: str) -> str:
        shape = self.shapes[src]
        return self.add(self.name("scale"), "Scale", {"scale": self.arr(self.rng.uniform(0.5, 2.0, shape))}, shape,
                        src)


def _unit_r(gain_rule: str, tau: np.ndarray, dt: float) -> np.ndarray:
    """The r that makes a leaky neuron's input gain about 1 under ``gain_rule`` (Euler steps)."""
    if gain_rule in ("nir", "membrane_step", "rockpool_synapse"):
        return tau / dt
    if gain_rule == "rockpool":
        return tau * np.exp(-dt / tau) / dt
    return np.ones_like(tau)


def build_network(c: Choices, rng: np.random.Generator, convention: str, dt: float, *, loihi: bool = False
                  ) -> GraphData:
    """A valid network for ``convention`` written with step ``dt``: spiking hidden layers, a non-spiking readout
    (LI, I, CubaLI) only last (its value carries its own scale, so it may only feed an Output). ``loihi``: mostly
    what quantize_for_loihi takes (LIF, CubaLIF, IF, weights, Flatten, Scale). One case in twenty draws any
    neuron anywhere (the quantiser's refusals are part of the test)."""
    net = _Net(c, rng, convention, dt)
    plain = loihi and c.chance(85)
    anywhere = c.chance(5)
    spiking: tuple[str, ...] = ("LIF", "CubaLIF", "IF") if plain else SPIKING
    readouts = () if plain else READOUTS
    form = c.pick(["dense", "dense", "dense", "conv1d", "conv2d"])
    if form == "dense":
        shape: tuple[int, ...] = (c.int(1, 6),)
    elif form == "conv1d":
        shape = (c.int(1, 2), c.int(3, 8))
    else:
        shape = (c.int(1, 2), c.int(3, 6), c.int(3, 6))
    x = net.add("input", "Input", {"input_type": {"input": np.array(shape)}}, shape)
    if form != "dense":
        for _ in range(c.int(1, 2)):
            x = net.neuron(net.conv(x), NEURONS if anywhere else spiking)
            if form == "conv2d" and not plain and c.chance(50) and min(net.shapes[x][1:]) >= 2:
                x = net.pool(x)
        x = net.flatten(x)
    recurrence = not net.convention.no_recurrence
    blocks = c.int(1, 3)
    for block in range(blocks):
        n_out = c.int(9, 20) if c.chance(10) else c.int(1, 6)  # more neurons than rtl's 8 lanes, sometimes
        kinds = NEURONS if anywhere else spiking + (readouts if block == blocks - 1 else ())
        if block > 0 and c.chance(15):
            x = _subgraph_block(net, x, n_out, kinds, recurrent=recurrence and c.chance(30))
            continue
        fc = net.dense(x, n_out)
        if c.chance(6):
            fc = net.scale(fc)
        neuron = net.neuron(fc, kinds)
        if c.chance(15) and block > 0:  # fan-in: a second layer from the Input (or a second Input) into it
            src = "input" if len(net.shapes["input"]) == 1 and c.chance(50) else net.add(
                "input2", "Input", {"input_type": {"input": np.array([2])}}, (2,))
            net.g.edges.append((net.dense(src, n_out), neuron))
        recurrent_ok = net.g.nodes[neuron].kind in RECURRENT
        if recurrence and recurrent_ok and c.chance(15):
            net.g.edges.append((net.dense(neuron, n_out), neuron))
        x = net.delay(neuron) if not plain and recurrent_ok and c.chance(15) else neuron
    net.add("output", "Output", {"output_type": {"output": np.array(net.shapes[x])}}, net.shapes[x], x)
    taps = [n for n, d in net.g.nodes.items() if d.kind in SPIKING and n != x]
    if taps and c.chance(15):
        tap = c.pick(taps)
        net.add("output2", "Output", {"output_type": {"output": np.array(net.shapes[tap])}}, net.shapes[tap], tap)
    return net.g


def _subgraph_block(net: _Net, src: str, n_out: int, kinds: Sequence[str], recurrent: bool) -> str:
    """``src -> [in -> fc -> neuron (-> w_rec -> neuron) -> out]`` as a nested NIRGraph node (sometimes nested
    once more: ``[in -> [in -> fc -> neuron -> out] -> out]``)."""
    sub = GraphData()
    net.add("in", "Input", {"input_type": {"input": np.array(net.shapes[src])}}, net.shapes[src], into=sub)
    fc = net.dense("in", n_out, into=sub)
    neuron = net.neuron(fc, kinds, into=sub)
    if recurrent and sub.nodes[neuron].kind in RECURRENT:
        sub.edges.append((net.dense(neuron, n_out, into=sub), neuron))
    net.add("out", "Output", {"output_type": {"output": np.array([n_out])}}, (n_out,), neuron, into=sub)
    if net.c.chance(30):
        sub = GraphData({"in": NodeData("Input", {"input_type": {"input": np.array(net.shapes[src])}}),
                         "inner": NodeData("NIRGraph", {}, sub),
                         "out": NodeData("Output", {"output_type": {"output": np.array([n_out])}})},
                        [("in", "inner"), ("inner", "out")])
    name = net.name("block")
    net.g.nodes[name] = NodeData("NIRGraph", {}, sub)
    net.g.edges.append((src, name))
    net.shapes[name] = (n_out,)
    return name
