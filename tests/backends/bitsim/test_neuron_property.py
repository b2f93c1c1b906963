"""Property test: bitsim's integer neuron step equals a deliberately naive per-neuron Python loop.

The naive model uses Python ints, one neuron and one step at a time, and spells
out every Semantics option as plain if/else, straight from the equations in
snncompile/quant/qnodes.py and snncompile/semantics.py. Hypothesis draws random
kinds, widths, decays, thresholds, rounding modes, overflow policies, reset
rules and extreme inputs. The naive loop also defines the register clamp events
(snncompile/quant/clamps.py): a step whose i or v a clamp changed, counted once per register.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snncompile.backends.bitsim.neuron import IntNeuronState

from snncompile.quant.clamps import ClampCounter
from snncompile.quant.qnodes import QKINDS, QNeuron, min_threshold
from snncompile.semantics import Semantics


def py_decay(y: int, m: int, d: int, rounding: str) -> int:
    if rounding == "shift_subtract":  # the multiplier-free leak, literally: m = 2^d - 2^(d-k)
        gap = 2**d - m
        return y if gap == 0 else y - (y >> (d - (gap.bit_length() - 1)))
    p = y * m
    if rounding == "floor":
        return p // 2**d
    if rounding == "nearest":
        return (p + 2 ** (d - 1)) // 2**d
    q = abs(p) // 2**d
    return -q if p < 0 else q


def py_clamp(y: int, bits: int, policy: str) -> int:
    half = 2 ** (bits - 1)
    if policy == "saturate":
        return max(-(half - 1), min(half - 1, y))
    if policy == "wrap":
        return (y + half) % (2 * half) - half
    if y > half:
        return y - 2 * half
    if y <= -half:
        return y + 2 * half
    return y


def py_fire(v: int, th: int, sem: Semantics) -> int:
    hit = v > th if sem.compare == "gt" else v >= th
    if not hit:
        return 0
    if sem.spikes == "binary":
        return 1
    return max(1, min(v // max(th, 1), sem.spike_cap))


class NaiveNeuron:
    def __init__(self, node: QNeuron, k: int) -> None:
        self.n, self.k = node, k
        self.v = int(node.v_init[k])
        self.i = int(node.i_init[k])
        self.s = 0
        self.x_prev = 0
        self.clamped: set[str] = set()  # the registers a clamp changed in the current step

    def fit(self, register: str, y: int) -> int:
        """py_clamp into register i or v; a changed value is a clamp event of this neuron-step."""
        n, sem = self.n, self.n.semantics
        out = py_clamp(y, n.i_bits, sem.overflow_i) if register == "i" else py_clamp(y, n.v_bits, sem.overflow_v)
        if out != y:
            self.clamped.add(register)
        return out

    def p(self, name: str) -> int:
        return int(getattr(self.n, name)[self.k])

    def step(self, x: int) -> tuple[int, int, int]:
        n, sem = self.n, self.n.semantics
        self.clamped = set()
        th = self.p("threshold")
        if n.kind == "Threshold":
            return py_fire(x, th, sem), 0, 0
        if sem.synapse_delay == 1:
            x, self.x_prev = self.x_prev, x
        x = x * 2**n.input_shift
        if n.kind in ("CubaLI", "CubaLIF"):
            if sem.synapse_order == "decay_then_add":
                self.i = self.fit("i", py_decay(self.i, self.p("alpha"), n.frac_bits, sem.rounding) + x)
            else:
                self.i = self.fit("i", py_decay(self.i + x, self.p("alpha"), n.frac_bits, sem.rounding))
            drive = self.i
        else:
            drive = x
        beta = 2**n.frac_bits if n.kind in ("I", "IF") else self.p("beta")
        decayed = py_decay(self.v, beta, n.frac_bits, sem.rounding)
        new = drive + self.p("bias")
        vr = self.p("v_reset")
        if n.kind in ("I", "LI", "CubaLI"):
            self.v = self.fit("v", decayed + new)
            return self.v, self.v, self.i
        if sem.timing == "immediate":
            v = self.fit("v", decayed + new)
            s = py_fire(v, th, sem)
            if sem.reset == "subtract":
                v = v - s * th
            elif sem.reset == "zero" and s > 0:
                v = vr
        else:
            r = self.s if sem.timing == "delayed" else py_fire(self.v, th, sem)
            if sem.reset == "subtract":
                v = self.fit("v", decayed + new - r * th)
            elif sem.reset == "zero" and sem.delayed_zero == "state":
                v = self.fit("v", (vr if r > 0 else decayed) + new)
            elif sem.reset == "zero":
                v = vr if r > 0 else self.fit("v", decayed + new)
            else:
                v = self.fit("v", decayed + new)
            s = py_fire(v, th, sem)
            if sem.timing == "snntorch_immediate":
                d = s - r
                if sem.reset == "subtract":
                    v = self.fit("v", v - d * th)
                elif sem.reset == "zero":
                    v = self.fit("v", v - d * (v - vr))
        self.v, self.s = v, s
        return s, v, self.i


semantics_st = st.builds(
    Semantics,
    compare=st.sampled_from(["gt", "ge"]),
    reset=st.sampled_from(["zero", "subtract", "none"]),
    timing=st.sampled_from(["immediate", "delayed", "snntorch_immediate"]),
    delayed_zero=st.sampled_from(["state", "total"]),
    synapse_delay=st.sampled_from([0, 1]),
    spikes=st.sampled_from(["binary", "multi"]),
    spike_cap=st.integers(1, 5),
    synapse_order=st.sampled_from(["decay_then_add", "add_then_decay"]),
    rounding=st.sampled_from(["toward_zero", "floor", "nearest", "shift_subtract"]),
    overflow_i=st.sampled_from(["saturate", "wrap", "wrap_loihi"]),
    overflow_v=st.sampled_from(["saturate", "wrap", "wrap_loihi"]),
)


@st.composite
def neuron_and_inputs(draw: st.DrawFn) -> tuple[QNeuron, np.ndarray]:
    n = draw(st.integers(1, 3))
    kind = draw(st.sampled_from(QKINDS))
    v_bits = draw(st.integers(4, 32))
    i_bits = draw(st.integers(4, 32))
    d = draw(st.integers(1, 16))
    vmax, imax = 2 ** (v_bits - 1) - 1, 2 ** (i_bits - 1) - 1

    def ints(lo: int, hi: int) -> list[int]:
        edge = st.sampled_from([lo, hi, 0, lo + 1, hi - 1]).filter(lambda z: lo <= z <= hi)
        return draw(st.lists(st.one_of(st.integers(lo, hi), edge), min_size=n, max_size=n))

    sem = draw(semantics_st)

    def decays() -> list[int]:
        if sem.rounding == "shift_subtract":
            legal = [2**d - 2 ** (d - k) for k in range(d + 1)] + [2**d]
            return draw(st.lists(st.sampled_from(legal), min_size=n, max_size=n))
        return ints(0, 2**d)

    node = QNeuron(
        name="q", kind=kind, shape=(n,), semantics=sem,
        alpha=decays(), beta=decays(), threshold=ints(min_threshold(sem), vmax),
        v_reset=ints(-vmax, vmax), bias=ints(-vmax, vmax), v_init=ints(-vmax, vmax), i_init=ints(-imax, imax),
        input_shift=draw(st.integers(0, 6)), frac_bits=d, i_bits=i_bits, v_bits=v_bits,
    )
    big = 2 ** (max(v_bits, i_bits) + 1)
    T = draw(st.integers(1, 10))
    xs = draw(st.lists(st.lists(st.one_of(st.integers(-big, big), st.sampled_from([big, -big, 0, 1, -1])),
                                min_size=n, max_size=n), min_size=T, max_size=T))
    return node, np.asarray(xs, dtype=np.int64)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(neuron_and_inputs())
def test_neuron_step_equals_naive_loop(case: tuple[QNeuron, np.ndarray]) -> None:
    node, xs = case
    fast = IntNeuronState.fresh(node, 1)
    naive = [NaiveNeuron(node, k) for k in range(node.shape[0])]
    events: dict[str, list[tuple[int, int]]] = {"i": [], "v": []}  # (step, neuron) of every clamp event
    for t, x in enumerate(xs):
        out, states = fast.step(x[None, :].copy())
        for k, ref in enumerate(naive):
            s, v, i = ref.step(int(x[k]))
            got = (int(out[0, k]), int(states.get("v", out)[0, k]), int(states.get("i", np.zeros_like(out))[0, k]))
            want = (s, v if node.kind != "Threshold" else s, i if node.kind in ("CubaLI", "CubaLIF") else 0)
            assert got == want, f"t={t} neuron={k} kind={node.kind} {node.semantics}: got {got}, naive {want}"
            for register in ref.clamped:
                events[register].append((t, k))
    want_clamps = {r: ClampCounter(len(e), min(e)) for r, e in events.items() if e}
    assert fast.clamps == want_clamps, f"kind={node.kind} {node.semantics}"
