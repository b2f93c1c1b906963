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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from ..errors import QuantizationError

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

    def __post_init__(self) -> None:
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
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuantSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise QuantizationError(f"QuantSpec: unknown field(s) {', '.join(unknown)}")
        return cls(**data)
