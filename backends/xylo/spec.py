"""A network as Xylo holds it (:class:`XyloNet`) and the chip's limits (:class:`XyloCore`).

``XyloNet`` is Rockpool's Xylo *specification*: the keyword arguments of Rockpool 3.1.0's
``rockpool.devices.xylo.syns61201.config_from_specification`` and ``XyloSim.from_specification``, with the same
names, shapes and meaning. Every value is an int64 array whose range is what XyloSim 0.1.3's C++ types hold
(``int8_t`` weights, ``int16_t`` thresholds and biases, 4-bit dashes), so XyloSim and our own executor
(:mod:`snncompile.backends.bitsim.xylo`) both accept exactly the same networks. Hardware limits beyond the C types
(neuron counts, fan-out, one alias per neuron) are design rules (:mod:`.rules`), checked against a ``XyloCore``.

Shapes (Nin inputs, N hidden neurons, Nout outputs; the last axis of the hidden matrices is the synapse, 0 or 1):

    weights_in  int8 [Nin, N, 2]     weights_rec int8 [N, N, 2]     weights_out int8 [N, Nout]
    dash_mem, dash_syn, dash_syn_2, threshold, bias: [N]     dash_mem_out, dash_syn_out, threshold_out, bias_out: [Nout]
    weight_shift_in / _rec / _out: int 0..15 (weights are ``w << shift`` in the 16-bit state arithmetic)
    aliases: N tuples of hidden-neuron indices (a neuron's spikes are also counted as its alias targets' spikes)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import InputError, QuantizationError

STATE_BITS = 16
WEIGHT_BITS = 8
DASH_MAX = 15
SHIFT_MAX = 15
#: XyloSim 0.1.3 XyloIAFNeuron.h: MAX_NUM_INP_SPIKES, MAX_NUM_SPIKES, MAX_NUM_OUT_SPIKES
MAX_INPUT_EVENTS = 15
MAX_HIDDEN_SPIKES = 31
MAX_OUTPUT_SPIKES = 1

_HIDDEN = ("dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias")
_OUTPUT = ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out")
_SHIFTS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")
_INT16 = (-(1 << 15), (1 << 15) - 1)


@dataclass(frozen=True)
class XyloCore:
    """Limits of one Xylo SNN core. ``XYLO_AUDIO2`` is SYNS61201 as Rockpool's Xylo overview lists it."""

    name: str
    inputs: int
    hidden: int
    outputs: int
    synapses: int  # synaptic states per hidden neuron
    max_fanout: int  # recurrent + readout targets of one hidden neuron
    aliases_per_neuron: int


#: Xylo Audio 2 (SYNS61201): 16 input channels, 1000 hidden neurons with 2 synapses, 8 readout neurons,
#: fan-out 64 per hidden neuron, 1 alias per hidden neuron (Rockpool 3.1 docs, devices/xylo-overview).
XYLO_AUDIO2 = XyloCore(name="xylo-audio2 (SYNS61201)", inputs=16, hidden=1000, outputs=8, synapses=2,
                       max_fanout=64, aliases_per_neuron=1)


def _ints(name: str, value: Any, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise QuantizationError(f"xylo network: {name} must be integers")
    elif arr.dtype.kind not in "iub":
        raise QuantizationError(f"xylo network: {name} must be integers, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise QuantizationError(f"xylo network: {name} has shape {arr.shape}, expected {shape}")
    out = np.array(arr, dtype=np.int64)
    if out.size and (out.min() < lo or out.max() > hi):
        bad = out.min() if out.min() < lo else out.max()
        idx = tuple(int(i) for i in np.argwhere(out == bad)[0])
        raise QuantizationError(f"xylo network: {name}{list(idx)} = {int(bad)} is outside [{lo}, {hi}]")
    out.setflags(write=False)
    return out


@dataclass(frozen=True, kw_only=True, eq=False)
class XyloNet:
    """One Xylo configuration (module docstring). Construct with :meth:`build` for defaults and 2-D weights."""

    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    dash_syn_2: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold_out: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: tuple[tuple[int, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        w_in = np.asarray(self.weights_in)
        w_out = np.asarray(self.weights_out)
        if w_in.ndim != 3 or w_in.shape[2] != 2 or w_out.ndim != 2:
            raise QuantizationError(f"xylo network: weights_in must be [Nin, N, 2] and weights_out [N, Nout], got "
                                    f"{w_in.shape} and {w_out.shape}")
        n_in, n, _ = w_in.shape
        n_out = w_out.shape[1]
        w8 = (-(1 << 7), (1 << 7) - 1)
        set_ = object.__setattr__
        set_(self, "weights_in", _ints("weights_in", w_in, (n_in, n, 2), *w8))
        set_(self, "weights_rec", _ints("weights_rec", self.weights_rec, (n, n, 2), *w8))
        set_(self, "weights_out", _ints("weights_out", w_out, (n, n_out), *w8))
        for name in _HIDDEN + _OUTPUT:
            size = n if name in _HIDDEN else n_out
            lo, hi = (0, DASH_MAX) if name.startswith("dash") else (0, _INT16[1]) if "threshold" in name else _INT16
            set_(self, name, _ints(name, getattr(self, name), (size,), lo, hi))
        for name in _SHIFTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= SHIFT_MAX:
                raise QuantizationError(f"xylo network: {name} = {value!r} is not an int in [0, {SHIFT_MAX}]")
            set_(self, name, int(value))
        aliases = tuple(tuple(int(a) for a in targets) for targets in self.aliases) or ((),) * n
        if len(aliases) != n:
            raise QuantizationError(f"xylo network: aliases has {len(aliases)} entries, expected one per hidden "
                                    f"neuron ({n})")
        for src, targets in enumerate(aliases):
            for tgt in targets:
                if not 0 <= tgt < n:
                    raise QuantizationError(f"xylo network: alias of hidden neuron {src} targets {tgt}, outside "
                                            f"[0, {n - 1}]")
        set_(self, "aliases", aliases)

    @classmethod
    def build(cls, weights_in: Any, weights_out: Any, weights_rec: Any = None, **params: Any) -> XyloNet:
        """Rockpool's defaults: missing weights and biases are 0, dashes 0, thresholds 0; 2-D input/recurrent
        weights use synapse 0 only."""
        w_in = np.asarray(weights_in)
        if w_in.ndim == 2:
            w_in = np.stack([w_in, np.zeros_like(w_in)], axis=2)
        n = w_in.shape[1]
        n_out = np.asarray(weights_out).shape[1]
        w_rec = np.zeros((n, n, 2), np.int64) if weights_rec is None else np.asarray(weights_rec)
        if w_rec.ndim == 2:
            w_rec = np.stack([w_rec, np.zeros_like(w_rec)], axis=2)
        full: dict[str, Any] = {k: np.zeros(n if k in _HIDDEN else n_out, np.int64) for k in _HIDDEN + _OUTPUT}
        full.update({k: v for k, v in params.items() if v is not None})
        return cls(weights_in=w_in, weights_out=weights_out, weights_rec=w_rec, **full)

    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.weights_in.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    @property
    def uses_syn2(self) -> bool:
        return bool(self.weights_in[:, :, 1].any() or self.weights_rec[:, :, 1].any())

    @property
    def has_bias(self) -> bool:
        return bool(self.bias.any() or self.bias_out.any())

    def to_spec(self) -> dict[str, Any]:
        """Rockpool's specification dict (``config_from_specification(**spec)``, ``XyloSim.from_specification``)."""
        spec: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        spec["aliases"] = [list(a) for a in self.aliases]
        return spec

    def to_json(self) -> str:
        """Every field as nested lists of ints (readable by anything, no pickle), with a format key."""
        data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.to_spec().items()}
        return json.dumps({"format": "snncompile-xylo-spec/1", **data}) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())


def load(path: str | Path) -> XyloNet:
    """A :class:`XyloNet` from :meth:`XyloNet.save`'s JSON file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"xylo spec '{path}': cannot be read ({err})") from None
    if data.pop("format", None) != "snncompile-xylo-spec/1":
        raise InputError(f"xylo spec '{path}': not a snncompile Xylo specification (format key missing)")
    return from_spec(data)


def from_spec(spec: Mapping[str, Any]) -> XyloNet:
    """A :class:`XyloNet` from a Rockpool specification dict (extra keys such as ``dt`` or ``mapped_graph`` are
    ignored; missing parameters take Rockpool's defaults)."""
    names = {f.name for f in fields(XyloNet)}
    kwargs = {k: v for k, v in spec.items() if k in names}
    aliases: Sequence[Sequence[int]] | None = kwargs.pop("aliases", None)
    return XyloNet.build(aliases=tuple(tuple(a) for a in aliases) if aliases else (), **kwargs)
