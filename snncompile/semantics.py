"""Discrete-time neuron conventions as data (docs/semantics.md).

NIR stores continuous ODEs and says nothing about how a framework steps them.
Every neuron node in a snncompile graph carries a :class:`Semantics` value, and
every executor reads the conventions from it; none hard-codes one.

Per neuron and step t, with ``x[t]`` the sum of all incoming edges:

    CubaLIF:  i[t] = alpha*i[t-1] + x[t-d]              (LIF: i[t] = x[t-d])
              v[t] = beta*v[t-1] + i[t] + b
    spike:    s[t] = v[t] >  theta   (compare="gt")  or  v[t] >= theta  ("ge")
              spikes="multi": s[t] = min(floor(v/theta), spike_cap) where it fires
    reset:    "zero": v <- v_reset;  "subtract": v <- v - s*theta;  "none"
    clamp:    v <- max(v, v_min) after the reset, when the node has a ``v_min`` (Sinabs' min_v_mem);
              the spikes of the step come from the unclamped v, the clamped v is recorded and carried

Reset timing:

* ``immediate`` -- the reset applies in the step of the spike; the recorded v
  is the value after the reset.
* ``delayed`` -- snnTorch ``reset_delay=True``: s[t] comes from the un-reset v[t]
  (which is what is recorded), and the reset term is applied inside step t+1:
  ``v[t+1] = beta*v[t] + i[t+1] + b - theta*s[t]`` (subtract). For reset to
  zero, ``delayed_zero="state"`` zeroes only the carried state
  (``beta*(1-s[t])*v[t] + i[t+1] + b``, snnTorch Leaky) and ``"total"``
  zeroes the whole new value (``(1-s[t])*(beta*v[t] + i[t+1] + b)``,
  snnTorch Synaptic, RLeaky, RSynaptic).
* ``snntorch_immediate`` -- snnTorch ``reset_delay=False``: at the start of
  step t, ``R = v[t-1] > theta`` on the recorded (already reset) membrane;
  the new value carries the delayed-form reset term for R, then the spike is
  computed and ``(s - R)`` reset once more. This differs from ``immediate``
  only when a membrane is still above threshold after its reset.

``synapse_delay`` d in {0, 1}: the neuron sees its summed input of step t-d
(Loihi: one step per Dense). A recurrent edge (one that closes a cycle) carries
its source's output of step t-1; see :mod:`snncompile.graph` for t=0. ``initial_v``: v starts at 0 or at the node's
``v_init`` array (Norse starts at v_leak). Fixed point only (read by bitsim and the backends, ignored in float):
``rounding`` of the decay product ``y*m / 2^D`` -- ``toward_zero`` (Loihi),
``floor`` (arithmetic shift), ``nearest`` (half up: ``(p + 2^(D-1)) >> D``) or
``shift_subtract`` (the multiplier-free leak ``y - (y >> k)`` for a decay of ``1 - 2^-k``, which is
``ceil(p / 2^D)``; every decay of such a node must be of that form, see :mod:`snncompile.quant.shiftleak`);
``overflow_i`` / ``overflow_v`` for the current and membrane registers --
``saturate`` to the symmetric range +-(2^(W-1)-1), ``wrap`` two's complement,
or ``wrap_loihi`` (Lava: one correction by 2^W, kept range (-2^(W-1), 2^(W-1)]).
``synapse_order`` for CubaLIF:
``decay_then_add`` (i = alpha*i + x, snnTorch) or ``add_then_decay``
(i = alpha*(i + x), Rockpool).

Xylo (the ``xylo`` preset; executed only by bitsim's xylo path, :mod:`snncompile.backends.bitsim.xylo`, which
every other executor hands such a graph to or refuses -- none approximates it):
``accumulate="per_event"`` -- a step's input events are added to the current register one at a time (input
channels, then neurons, in ascending order), saturating at every event, instead of one exact sum;
``hop_delay=1`` -- a spike from a neuron reaches the next neuron one step later (an Input's in the same step);
``rounding="shift_subtract_min1"`` -- ``decay(y) = y - max(y >> k, sign(y))`` with ``k`` from
``m = 2^D - 2^(D-k)`` (beta = 1 - 2^-k; a non-zero value always decays by at least 1);
``overflow_*="saturate_int"`` -- saturate to the full two's-complement range [-2^(W-1), 2^(W-1)-1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import GraphError

_CHOICES: dict[str, tuple[Any, ...]] = {
    "compare": ("gt", "ge"),
    "reset": ("zero", "subtract", "none"),
    "timing": ("immediate", "delayed", "snntorch_immediate"),
    "delayed_zero": ("state", "total"),
    "synapse_delay": (0, 1),
    "spikes": ("binary", "multi"),
    "initial_v": ("zero", "v_init"),
    "synapse_order": ("decay_then_add", "add_then_decay"),
    "rounding": ("toward_zero", "floor", "nearest", "shift_subtract"),
    "overflow_i": ("saturate", "wrap", "wrap_loihi"),
    "overflow_v": ("saturate", "wrap", "wrap_loihi"),
    "accumulate": ("exact",),
    "hop_delay": (0,),
}
#: Xylo's values (the ``xylo`` preset): allowed only all together, so they are kept out of ``_CHOICES`` (which
#: tests sample for graphs every executor runs)
_XYLO_ONLY: dict[str, Any] = {"rounding": "shift_subtract_min1", "overflow_i": "saturate_int",
                              "overflow_v": "saturate_int", "accumulate": "per_event", "hop_delay": 1}


@dataclass(frozen=True, kw_only=True)
class Semantics:
    """How one neuron node is stepped in discrete time (see module docstring).

    spike_cap: int >= 1, only read when ``spikes == "multi"``.
    """

    compare: str = "gt"
    reset: str = "zero"
    timing: str = "immediate"
    delayed_zero: str = "state"
    synapse_delay: int = 0
    spikes: str = "binary"
    spike_cap: int = 1
    initial_v: str = "zero"
    synapse_order: str = "decay_then_add"
    rounding: str = "toward_zero"
    overflow_i: str = "saturate"
    overflow_v: str = "saturate"
    accumulate: str = "exact"
    hop_delay: int = 0

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed and not (name in _XYLO_ONLY and value == _XYLO_ONLY[name]):
                allowed = (*allowed, _XYLO_ONLY[name]) if name in _XYLO_ONLY else allowed
                raise GraphError(
                    f"semantics: {name}={value!r} is not one of {', '.join(map(repr, allowed))}"
                )
        xylo = [getattr(self, name) == value for name, value in _XYLO_ONLY.items()]
        if any(xylo) and not all(xylo):
            raise GraphError("semantics: accumulate='per_event', hop_delay=1, rounding='shift_subtract_min1' and "
                             "overflow_i/_v='saturate_int' come together (Xylo's arithmetic, the 'xylo' preset); "
                             "no executor runs a mix")
        if not isinstance(self.spike_cap, int) or self.spike_cap < 1:
            raise GraphError(f"semantics: spike_cap={self.spike_cap!r} must be an int >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Semantics:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GraphError(f"semantics: unknown field(s) {', '.join(unknown)}")
        clean: dict[str, Any] = {
            k: (_whole_or_as_is(v) if k in ("synapse_delay", "spike_cap", "hop_delay") else str(v))
            for k, v in data.items()
        }
        return cls(**clean)

    def with_(self, **changes: Any) -> Semantics:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def describe(self) -> str:
        """One stable line, used by ``ir.format`` and ``inspect``."""
        parts = [f"compare={self.compare}", f"reset={self.reset}", f"timing={self.timing}"]
        if self.reset == "zero" and self.timing == "delayed":
            parts.append(f"delayed_zero={self.delayed_zero}")
        parts.append(f"synapse_delay={self.synapse_delay}")
        parts.append(f"spikes={self.spikes}" + (f"(cap={self.spike_cap})" if self.spikes == "multi" else ""))
        if self.initial_v != "zero":
            parts.append(f"initial_v={self.initial_v}")
        if self.synapse_order != "decay_then_add":
            parts.append(f"synapse_order={self.synapse_order}")
        defaults = Semantics()
        for name in ("rounding", "overflow_i", "overflow_v", "accumulate", "hop_delay"):
            if getattr(self, name) != getattr(defaults, name):
                parts.append(f"{name}={getattr(self, name)}")
        return " ".join(parts)


#: Named presets. Sources: NIR 1.0.8 node docstrings (``nir``); snnTorch 1.0.0
#: Leaky/Synaptic defaults reset_mechanism="subtract", reset_delay=True
#: (``snntorch``); Lava 0.10 PyLifModelBitAcc + PyDenseModelBitAcc (``loihi``); XyloSim 0.1.3 (``xylo``).
PRESETS: dict[str, Semantics] = {
    "nir": Semantics(compare="gt", reset="zero", timing="immediate", synapse_delay=0),
    "snntorch": Semantics(compare="gt", reset="subtract", timing="delayed", synapse_delay=0),
    "loihi": Semantics(
        compare="gt", reset="zero", timing="immediate", synapse_delay=1,
        rounding="toward_zero", overflow_i="wrap_loihi", overflow_v="saturate",
    ),
    # XyloSim 0.1.3 (SynSense's bit-exact C++ model of Xylo Audio 2); hidden neurons: cap 31, readout: cap 1
    "xylo": Semantics(
        compare="ge", reset="subtract", timing="immediate", synapse_delay=0, spikes="multi", spike_cap=31,
        synapse_order="add_then_decay", rounding="shift_subtract_min1", overflow_i="saturate_int",
        overflow_v="saturate_int", accumulate="per_event", hop_delay=1,
    ),
}


def preset(name: str) -> Semantics:
    """The named preset, or a ``GraphError`` listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise GraphError(
            f"unknown semantics preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None


def _whole_or_as_is(value: Any) -> Any:
    """An int for 2, 2.0 or "2"; anything else unchanged, for the field check to name (not truncate 1.5 to 1)."""
    if isinstance(value, bool):
        return value
    try:
        number = float(value)
        return int(number) if number == int(number) else value
    except (TypeError, ValueError, OverflowError):
        return value
