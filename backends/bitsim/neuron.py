"""The integer neuron step: the definition every backend must reproduce bit for bit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snncompile.errors import QuantizationError
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
    """State of one QNeuron over a batch: arrays ``[B, *shape]`` of int64."""

    node: QNeuron
    v: np.ndarray
    i: np.ndarray
    s: np.ndarray  # spikes of the previous step (delayed reset)
    x_prev: np.ndarray  # input of the previous step (synapse_delay = 1)

    @classmethod
    def fresh(cls, node: QNeuron, batch: int) -> IntNeuronState:
        shape = (batch, *node.shape)
        zeros = np.zeros(shape, np.int64)
        v = np.broadcast_to(node.v_init, shape).astype(np.int64)
        i = np.broadcast_to(node.i_init, shape).astype(np.int64)
        return cls(node, v, i, zeros.copy(), zeros.copy())

    def step(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step on the summed integer input ``x``; returns (output, recorded states)."""
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
                self.i = clamp(decay(self.i, n.alpha, D, rnd) + x, n.i_bits, sem.overflow_i)
            else:
                self.i = clamp(decay(self.i + x, n.alpha, D, rnd), n.i_bits, sem.overflow_i)
            drive = self.i
            states["i"] = self.i
        else:
            drive = x
        decayed = decay(self.v, n.beta, D, rnd)
        new = drive + n.bias
        vb, ov = n.v_bits, sem.overflow_v
        if not n.SPIKING:
            self.v = clamp(decayed + new, vb, ov)
            states["v"] = self.v
            return self.v, states
        if sem.timing == "immediate":
            v = clamp(decayed + new, vb, ov)
            s = fire(v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.reset == "subtract":
                v = v - s * theta
            elif sem.reset == "zero":
                v = np.where(s > 0, n.v_reset, v)
        else:
            r = self.s if sem.timing == "delayed" else fire(self.v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.reset == "subtract":
                v = clamp(decayed + new - r * theta, vb, ov)
            elif sem.reset == "zero" and sem.delayed_zero == "state":
                v = clamp(np.where(r > 0, n.v_reset, decayed) + new, vb, ov)
            elif sem.reset == "zero":
                v = np.where(r > 0, n.v_reset, clamp(decayed + new, vb, ov))
            else:
                v = clamp(decayed + new, vb, ov)
            s = fire(v, theta, sem.compare, sem.spikes, sem.spike_cap)
            if sem.timing == "snntorch_immediate":
                d = s - r
                if sem.reset == "subtract":
                    v = clamp(v - d * theta, vb, ov)
                elif sem.reset == "zero":
                    v = clamp(v - d * (v - n.v_reset), vb, ov)
        self.v, self.s = v, s
        states["v"] = v
        return s, states
