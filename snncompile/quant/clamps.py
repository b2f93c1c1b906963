"""Register clamp events: where a neuron's i or v register saturated or wrapped on the data actually run.

A *clamp event* is one neuron-step (one neuron of one sample at one step t) at which a register received
the result of :func:`snncompile.quant.intops.clamp` and that result differs from the value before the clamp:
under ``saturate`` the value was clipped to +-(2^(W-1)-1), under ``wrap`` it wrapped around two's-complement,
under ``wrap_loihi`` Lava's single correction by 2^W moved it. A neuron-step counts once per register even
when the step clamps the register twice (snnTorch-immediate timing), and a clamp whose result the step
discards (the delayed ``zero`` reset selecting v_reset instead) is no event.

Every bitsim executor counts them per (node, register) -- the number of events over all steps and samples
and the first one in (step, sample, neuron) order -- and returns them as :class:`ClampEvent` (node order,
then ``i`` before ``v``). The other backends are proven bit-exact with bitsim on the same inputs (every
recorded ``v`` and ``i``), so their events are bitsim's. :meth:`ClampEvent.text` is the one wording of
the warning; :func:`warn_clamps` issues it as a :class:`~snncompile.errors.SaturationWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SaturationWarning
from .qnodes import QGraph, QNeuron

#: the neuron registers, in the order a step computes them
REGISTERS = ("i", "v")
#: what each overflow policy did to a value outside the register
VERBS = {"saturate": "saturated", "wrap": "wrapped", "wrap_loihi": "wrapped", "saturate_int": "saturated"}


@dataclass
class ClampCounter:
    """One register's events over a run: how many, and the first as (step, flat index into ``[B, *shape]``)."""

    count: int = 0
    first: tuple[int, int] | None = None

    def add(self, t: int, hit: np.ndarray) -> None:
        """Note step t, where ``hit`` (bool ``[B, *shape]``) marks the neurons whose register was clamped."""
        n = int(np.count_nonzero(hit))
        if n:
            if self.first is None:
                self.first = (t, int(np.flatnonzero(hit)[0]))
            self.count += n

    @classmethod
    def from_per_neuron(cls, counts: np.ndarray, firsts: np.ndarray) -> ClampCounter:
        """From per-neuron tallies (flat ``[B*n]``): events, and the step of each neuron's first (where counts > 0)."""
        hit = counts > 0
        if not hit.any():
            return cls()
        t = int(firsts[hit].min())
        return cls(int(counts.sum()), (t, int(np.flatnonzero(hit & (firsts == t))[0])))


@dataclass(frozen=True)
class ClampEvent:
    """The clamp events of one register of one node on one run (``count`` >= 1).

    step, sample, neuron: the first event (earliest step, then lowest sample, then lowest neuron index;
    the index is an int for 1-d nodes, else a tuple). bits / policy: the register's width and overflow rule.
    """

    node: str
    register: str
    policy: str
    bits: int
    count: int
    step: int
    sample: int
    neuron: int | tuple[int, ...]

    def text(self) -> str:
        """The warning: node, register, what happened, how often, where first, and the register's range."""
        half = 1 << (self.bits - 1)
        kept = {"saturate": f"[{1 - half}, {half - 1}]", "wrap": f"[{-half}, {half - 1}]",
                "wrap_loihi": f"({-half}, {half}]", "saturate_int": f"[{-half}, {half - 1}]"}[self.policy]
        return (f"node '{self.node}': register {self.register} {VERBS[self.policy]} {self._times()} (first at step "
                f"{self.step}, sample {self.sample}, neuron {self.neuron}) on the data run; int{self.bits} range "
                f"{kept} ({self.policy}): use more state bits, or calibrate on data like this")

    def short(self) -> str:
        """The event in a few words, for a table cell: ``'readout' v saturated 2990 times from step 5``."""
        return f"'{self.node}' {self.register} {VERBS[self.policy]} {self._times()} from step {self.step}"

    def _times(self) -> str:
        return "1 time" if self.count == 1 else f"{self.count} times"

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "register": self.register, "overflow": self.policy, "bits": self.bits,
                "count": self.count, "first_step": self.step, "first_sample": self.sample,
                "first_neuron": list(self.neuron) if isinstance(self.neuron, tuple) else self.neuron}


def clamp_events(graph: QGraph, counters: Mapping[str, Mapping[str, ClampCounter]]) -> tuple[ClampEvent, ...]:
    """The events of a run from its counters ``{node: {register: counter}}``, in graph order, ``i`` before ``v``."""
    events = []
    for name in graph.order:
        node = graph.nodes[name]
        if not isinstance(node, QNeuron):
            continue
        for register in REGISTERS:
            c = counters.get(name, {}).get(register)
            if c is None or c.first is None:
                continue
            t, flat = c.first
            per = int(np.prod(node.shape, dtype=np.int64))
            idx = tuple(int(i) for i in np.unravel_index(flat % per, node.shape))
            bits, policy = ((node.i_bits, node.semantics.overflow_i) if register == "i"
                            else (node.v_bits, node.semantics.overflow_v))
            events.append(ClampEvent(name, register, policy, bits, c.count, t, flat // per,
                                     idx[0] if len(idx) == 1 else idx))
    return tuple(events)


def warn_clamps(events: Iterable[ClampEvent]) -> None:
    """One :class:`~snncompile.errors.SaturationWarning` per event (the CLI prints each as one line)."""
    for event in events:
        warnings.warn(event.text(), SaturationWarning, stacklevel=2)
