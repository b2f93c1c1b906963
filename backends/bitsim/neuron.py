"""The integer neuron step: the definition every backend must reproduce bit for bit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snncompile.errors import QuantizationError
from snncompile.quant.clamps import ClampCounter
from snncompile.quant.intops import clamp, decay, fire
from snncompile.quant.qnodes import CUBA_KINDS, QNeuron


def _check_safe(node: QNeuron, quantity: str, values: np.ndarray, factor: np.ndarray | int) -> None:
    """Refuse a decay operand (or input) whose product with ``factor`` (or sums) could wrap int64 silently."""
    if not values.size:
        return
    peak = int(np.abs(values).max())
    limit = (1 << 62) // max(1, int(np.max(factor))) if isinstance(factor, np.ndarray) else factor
    if peak >= limit:
        raise QuantizationError(
            f"node '{node.name}': {quantity} reaches {peak}, beyond bitsim's exact int64 range (limit {limit}: "
            f"an input shift too large, or a '{node.semantics.overflow_i}'/'{node.semantics.overflow_v}' "
            "register that cannot hold its input)"
        )


@dataclass
class IntNeuronState:
    """State of one QNeuron over a batch: arrays ``[B, *shape]`` of int64.

    ``t`` counts the steps taken; ``clamps`` the register clamp events so far
    (:mod:`snncompile.quant.clamps`: a neuron-step whose i or v the clamp changed).
    """

    node: QNeuron
    v: np.ndarray
    i: np.ndarray
    s: np.ndarray  # spikes of the previous step (delayed reset)
    x_prev: np.ndarray  # input of the previous step (synapse_delay = 1)
    t: int = 0
    clamps: dict[str, ClampCounter] = field(default_factory=dict)

    @classmethod
    def fresh(cls, node: QNeuron, batch: int) -> IntNeuronState:
        shape = (batch, *node.shape)
        zeros = np.zeros(shape, np.int64)
        v = np.broadcast_to(node.v_init, shape).astype(np.int64)
        i = np.broadcast_to(node.i_init, shape).astype(np.int64)
        return cls(node, v, i, zeros.copy(), zeros.copy())

    def step(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step on the summed integer input ``x``; returns (output, recorded states)."""
        hits: dict[str, np.ndarray] = {}
        result = self._advance(x, hits)
        for register, hit in hits.items():
            if hit.any():
                self.clamps.setdefault(register, ClampCounter()).add(self.t, hit)
        self.t += 1
        return result

    def _fit(self, register: str, y: np.ndarray, hits: dict[str, np.ndarray],
             used: np.ndarray | None = None) -> np.ndarray:
        """clamp(y) into register i or v, marking in ``hits`` where it changed y (and the step keeps it: ``used``)."""
        n, sem = self.node, self.node.semantics
        bits, policy = (n.i_bits, sem.overflow_i) if register == "i" else (n.v_bits, sem.overflow_v)
        out = clamp(y, bits, policy)
        hit = out != y
        if used is not None:
            hit &= used
        hits[register] = hits[register] | hit if register in hits else hit
        return out

    def _advance(self, x: np.ndarray, hits: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        n, sem = self.node, self.node.semantics
        theta = n.threshold
        if n.kind == "Threshold":
            return fire(x, theta, sem.compare, sem.spikes, sem.spike_cap), {}
        if sem.synapse_delay == 1:
            x, self.x_prev = self.x_prev, x
        x = x << n.input_shift
        _check_safe(n, "input (after input_shift)", x, 1 << 60)
        _check_safe(n, "v", self.v, n.beta)
        if n.kind in CUBA_KINDS:  # only current-based neurons decay i
            _check_safe(n, "i", self.i if sem.synapse_order == "decay_then_add" else self.i + x, n.alpha)
        D, rnd = n.frac_bits, sem.rounding
        states: dict[str, np.ndarray] = {}
        if n.kind in CUBA_KINDS:
            if sem.synapse_order == "decay_then_add":
                self.i = self._fit("i", decay(self.i, n.alpha, D, rnd) + x, hits)
            else:
                self.i = self._fit("i", decay(self.i + x, n.alpha, D, rnd), hits)
            drive = self.i
            states["i"] = self.i
        else:
            drive = x
        decayed = decay(self.v, n.beta, D, rnd)
        new = drive + n.bias
        if not n.SPIKING:
            self.v = self._fit("v", decayed + new, hits)
            states["v"] = self.v
            return self.v, states
        if sem.timing == "immediate":
            v = self._fit("v", decayed + new, hits)
            s = fire(v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.reset == "subtract":
                v = v - s * theta
            elif sem.reset == "zero":
                v = np.where(s > 0, n.v_reset, v)
        else:
            r = self.s if sem.timing == "delayed" else fire(self.v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.reset == "subtract":
                v = self._fit("v", decayed + new - r * theta, hits)
            elif sem.reset == "zero" and sem.delayed_zero == "state":
                v = self._fit("v", np.where(r > 0, n.v_reset, decayed) + new, hits)
            elif sem.reset == "zero":  # the clamped value is kept only where no reset selects v_reset
                v = np.where(r > 0, n.v_reset, self._fit("v", decayed + new, hits, used=r <= 0))
            else:
                v = self._fit("v", decayed + new, hits)
            s = fire(v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.timing == "snntorch_immediate":
                d = s - r
                if sem.reset == "subtract":
                    v = self._fit("v", v - d * theta, hits)
                elif sem.reset == "zero":
                    v = self._fit("v", v - d * (v - n.v_reset), hits)
        if n.v_min is not None:  # the lower clamp after the reset; v_min fits v_bits, so v stays in its register
            v = np.maximum(v, n.v_min)
        self.v, self.s = v, s
        states["v"] = v
        return s, states
