"""What a QuantizationError tells the user to do: the weight width that fixes it, or the real cause when none does.

Every scale rule makes a group's scale proportional to ``q = 2^(b-1) - 1`` at ``b`` weight bits: ``s = q / m``
with ``m`` the group's largest effective weight (maxabs; the percentile rule's ``m`` is a percentile; pow2
rounds ``s`` down to a power of two, so it may land up to 2x lower). A scaled value ``v`` at ``b`` bits is
therefore about ``v * q(b') / q(b)`` at ``b'`` bits, and ``q / s`` is the weight magnitude the scale was set
by -- what a threshold or bias is compared with below.
"""

from __future__ import annotations

from .scales import weight_limit
from .spec import QuantSpec

MIN_BITS, MAX_BITS = 2, 16
#: a quantity this many times the largest weight into it is not a plausible network: the weights are too small
IMPLAUSIBLE_RATIO = 1e6
UNIT_HINT = ("weights that small next to it usually come from an input gain dt*r/tau computed with time "
             "constants in another unit than the reader assumed (check the reader's warnings, --from and --dt)")


def _at(value: float, spec: QuantSpec, bits: int) -> float:
    return value * weight_limit(bits) / weight_limit(spec.weight_bits)


def bits_to_reach_one(scaled: float, spec: QuantSpec) -> int | None:
    """The fewest weight bits (up to 16) at which ``scaled`` (a value times its scale) rounds to >= 1."""
    margin = 2.0 if spec.scale_rule == "pow2" else 1.0
    for bits in range(spec.weight_bits + 1, MAX_BITS + 1):
        if _at(scaled, spec, bits) >= 0.5 * margin:
            return bits
    return None


def bits_to_fit(scaled: float, spec: QuantSpec, limit: int) -> int | None:
    """The most weight bits (down to 2) at which ``scaled`` stays within +-``limit``."""
    for bits in range(spec.weight_bits - 1, MIN_BITS - 1, -1):
        if abs(_at(scaled, spec, bits)) <= limit:
            return bits
    return None


def threshold_below_one(name: str, theta: float, scale: float, rounded: str, spec: QuantSpec, where: str) -> str:
    """The message for a spiking neuron whose integer threshold is < 1."""
    if theta <= 0:
        return (f"node '{name}': threshold is {theta:.6g} in the float model ({where}); no weight width turns it "
                "into the integer threshold >= 1 a spiking neuron needs: give the neuron a threshold > 0")
    head = f"node '{name}': threshold rounds to {rounded} (theta={theta:.6g}, scale {scale:.6g}); it must be >= 1"
    bits = bits_to_reach_one(theta * scale, spec)
    if bits is not None:
        return f"{head}; use {bits} or more weight bits"
    weight = weight_limit(spec.weight_bits) / scale
    return (f"{head}, which no weight width up to {MAX_BITS} bits gives: the largest weight into the neuron "
            f"({weight:.3g}, float gains folded in) is {weight / theta:.3g} times theta; scale the weights down or "
            "the threshold up")


def too_large(head: str, quantity: str, value: float, scale: float, spec: QuantSpec, limit: int) -> str:
    """The advice after ``head`` (what does not fit where) for a scaled ``quantity`` beyond +-``limit``."""
    weight = weight_limit(spec.weight_bits) / scale
    ratio = abs(value) / weight
    bits = bits_to_fit(value * scale, spec, limit)
    fix = ("no weight width fits it" if bits is None else f"it fits only with {bits} weight bits" if bits == MIN_BITS
           else f"it fits with {bits} or fewer weight bits")
    text = (f"{head}: {quantity} {value:.6g} is {ratio:.3g} times the largest weight sharing its scale "
            f"({weight:.3g}), so {fix}")
    return f"{text}; {UNIT_HINT}" if ratio >= IMPLAUSIBLE_RATIO or bits is None else text
