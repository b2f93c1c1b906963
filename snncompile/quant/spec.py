"""QuantSpec: how a float Graph becomes a fixed-point QGraph.

Fields and ranges (a value outside raises QuantizationError naming the field):

    weight_bits   2..16         signed weight width (symmetric range +-(2^(b-1)-1))
    state_bits    None | 8..32  width of the v and i registers; None sizes them from calibration
    frac_bits     4..16         D: decays are integers m in [0, 2^D], applied as round(y*m / 2^D)
    granularity   "channel" | "tensor"      one scale per output channel (per neuron) or per layer
    scale_rule    "maxabs" | "percentile" | "pow2"
    percentile    50..100       used by scale_rule="percentile" (weights beyond it saturate)
    rounding      "toward_zero" | "floor" | "nearest" | "shift_subtract"
                                decay rounding written into each neuron's Semantics; shift_subtract
                                (v - (v >> k)) needs every decay to round to 1 - 2^-k or 1
    overflow      "saturate" | "wrap"                   v/i register policy written into each neuron's Semantics
    headroom_bits 0..8          extra bits above the calibrated maximum when state_bits is None
    layers        tuple of :class:`LayerQuant`: per-layer weight_bits / state_bits / frac_bits overrides
                  (resolved against a graph by :func:`snncompile.quant.layers.layer_specs`)

``parse_layer_bits("3=4")`` / ``parse_layer_bits("lif1=w6,s16,d10")`` read the CLI's ``--layer-bits`` syntax.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import QuantizationError

_LAYER_FIELDS = {"w": "weight_bits", "s": "state_bits", "d": "frac_bits"}


@dataclass(frozen=True, kw_only=True)
class LayerQuant:
    """One per-layer override. ``layer``: a node name (a neuron node or a weight layer feeding one) or ``@N``,
    the N-th neuron layer (0-based, graph order). A field left None keeps the spec's value.

        weight_bits  2..16    the weights of every weight layer feeding the layer's neurons
        state_bits   8..32    the layer's v and i registers
        frac_bits    4..16    the layer's decay fractional bits D
    """

    layer: str
    weight_bits: int | None = None
    state_bits: int | None = None
    frac_bits: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.layer, str) or not self.layer:
            raise QuantizationError(f"QuantSpec.layers: layer {self.layer!r} is not a node name or '@N'")
        for name, (lo, hi) in {**_RANGES, "state_bits": (8, 32)}.items():
            value = getattr(self, name, None)
            if name == "headroom_bits" or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise QuantizationError(f"QuantSpec.layers: layer '{self.layer}': {name}={value!r} is outside "
                                        f"{lo}..{hi}")
        if self.weight_bits is None and self.state_bits is None and self.frac_bits is None:
            raise QuantizationError(f"QuantSpec.layers: layer '{self.layer}': no weight_bits, state_bits or "
                                    "frac_bits given")

    def overrides(self) -> dict[str, int]:
        """The fields this override sets."""
        return {f: getattr(self, f) for f in _LAYER_FIELDS.values() if getattr(self, f) is not None}


def parse_layer_bits(text: str) -> LayerQuant:
    """``LAYER=BITS``: BITS is ``N`` (weight bits) or comma-separated ``wN`` (weight bits), ``sN`` (state bits),
    ``dN`` (decay fractional bits), e.g. ``3=4``, ``@1=w6,s16``, ``lif1=d10``. LAYER: a node name or ``@N``."""
    layer, sep, bits = text.rpartition("=")
    if not sep or not layer or not bits:
        raise QuantizationError(f"--layer-bits {text!r}: expected LAYER=BITS, e.g. 3=4 or lif1=w6,s16,d10")
    values: dict[str, int] = {}
    for token in bits.split(","):
        token = token.strip()
        key, digits = ("w", token) if token.isdigit() else (token[:1], token[1:])
        if key not in _LAYER_FIELDS or not digits.isdigit():
            raise QuantizationError(f"--layer-bits {text!r}: {token!r} is not N, wN, sN or dN (weight, state, "
                                    "decay fractional bits)")
        field = _LAYER_FIELDS[key]
        if field in values:
            raise QuantizationError(f"--layer-bits {text!r}: {field} given twice")
        values[field] = int(digits)
    return LayerQuant(layer=layer, **values)

_CHOICES = {
    "granularity": ("channel", "tensor"),
    "scale_rule": ("maxabs", "percentile", "pow2"),
    "rounding": ("toward_zero", "floor", "nearest", "shift_subtract"),
    "overflow": ("saturate", "wrap"),
}
_RANGES = {"weight_bits": (2, 16), "frac_bits": (4, 16), "headroom_bits": (0, 8)}


@dataclass(frozen=True, kw_only=True)
class QuantSpec:
    weight_bits: int = 8
    state_bits: int | None = None
    frac_bits: int = 12
    granularity: str = "channel"
    scale_rule: str = "maxabs"
    percentile: float = 99.9
    rounding: str = "toward_zero"
    overflow: str = "saturate"
    headroom_bits: int = 1
    layers: tuple[LayerQuant, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple) or not all(isinstance(x, LayerQuant) for x in self.layers):
            raise QuantizationError("QuantSpec: layers must be a tuple of LayerQuant")
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise QuantizationError(
                    f"QuantSpec: {name}={getattr(self, name)!r} is not one of {', '.join(map(repr, allowed))}"
                )
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not lo <= value <= hi:
                raise QuantizationError(f"QuantSpec: {name}={value!r} is outside {lo}..{hi}")
        if self.state_bits is not None and (not isinstance(self.state_bits, int) or not 8 <= self.state_bits <= 32):
            raise QuantizationError(f"QuantSpec: state_bits={self.state_bits!r} is outside 8..32 (or None for auto)")
        pct = self.percentile
        if isinstance(pct, bool) or not isinstance(pct, int | float | np.integer | np.floating):  # float() takes "99"
            raise QuantizationError(f"QuantSpec: percentile={self.percentile!r} is not a number (50..100)")
        if not 50.0 <= float(self.percentile) <= 100.0:
            raise QuantizationError(f"QuantSpec: percentile={self.percentile!r} is outside 50..100")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: ``layers`` as a list of dicts (so it equals itself after a JSON round trip)."""
        data = asdict(self)
        data["layers"] = [dict(x) for x in data["layers"]]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise QuantizationError(f"QuantSpec: unknown field(s) {', '.join(unknown)}")
        layers = data.get("layers", ())
        if not isinstance(layers, list | tuple) or not all(isinstance(x, dict) for x in layers):
            raise QuantizationError("QuantSpec: layers must be a list of {layer, weight_bits, state_bits, frac_bits}")
        try:
            parsed = tuple(LayerQuant(**x) for x in layers)
        except TypeError as exc:
            raise QuantizationError(f"QuantSpec: layers: {exc}") from None
        return cls(**{**data, "layers": parsed})
