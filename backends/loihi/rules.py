"""Loihi design rules: one named function per limit, checked before anything is written.

Field rules (a QGraph value Loihi's registers cannot hold) raise QuantizationError, or UnsupportedNodeError
for a neuron model Loihi does not run; each names the node, the quantity, the value and the limit.
:func:`check_fields` (and the backend, for the lowering) re-raises them as :class:`LoihiRuleError` /
:class:`LoihiUnsupportedError` -- still QuantizationError / UnsupportedNodeError, but with exit code 3 (the
target refuses the network) and the rule's name in front: ``loihi rule check_weight_exp_field: node 'fc': ...``.
Resource rules (a core, chip or neuron over a CoreSpec capacity) raise ResourceError naming the core, the
resource, the allocation and the capacity, e.g.
``core 3: synaptic memory 61440 bits > 12000 bits (layer 'fc2', neurons 0-511)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from snncompile.errors import QuantizationError, ResourceError, UnsupportedNodeError
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QNeuron, QWeightNode
from snncompile.semantics import PRESETS

from .registers import (
    BIAS_EXP_RANGE,
    BIAS_MANT_RANGE,
    DECAY_MAX,
    FRAC_BITS,
    INPUT_SHIFT,
    STATE_BITS,
    VTH_RANGE,
    WEIGHT_EXP_RANGE,
    split_bias,
    weight_mantissa_error,
)
from .spec import CoreSpec

#: Semantics fields Loihi fixes (initial_v is not one: v_init / i_init are the t=0 states, always)
LOIHI_SEMANTICS = ("compare", "reset", "timing", "synapse_delay", "spikes", "synapse_order", "rounding",
                   "overflow_i", "overflow_v")


class _NamedRule(Exception):
    """A refusal naming the Loihi rule it breaks: ``loihi rule <rule>: <message>``, exit code 3, picklable."""

    exit_code = 3

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"loihi rule {rule}: {message}")
        self.rule = rule
        self.detail = message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.rule, self.detail)


class LoihiRuleError(_NamedRule, QuantizationError):
    """A value the Loihi target cannot hold; exit code 3; ``rule`` is the rule's name (in the message too)."""


class LoihiUnsupportedError(_NamedRule, UnsupportedNodeError):
    """A node or structure the Loihi target does not run; exit code 3; ``rule`` names the rule."""


def as_rule_error(rule: str, exc: QuantizationError | UnsupportedNodeError) -> Exception:
    """``exc`` as the Loihi rule error of ``rule`` (unchanged when it already is one)."""
    if isinstance(exc, (LoihiRuleError, LoihiUnsupportedError)):
        return exc
    cls = LoihiUnsupportedError if isinstance(exc, UnsupportedNodeError) else LoihiRuleError
    return cls(rule, str(exc))


def _first(bad: np.ndarray, values: np.ndarray) -> tuple[tuple[int, ...], int]:
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return idx, int(values[idx])


# -- field rules: neurons ---------------------------------------------------------------------------------------------

def check_neuron_kind(name: str, node: QNeuron) -> None:
    if node.kind != "CubaLIF":
        raise UnsupportedNodeError(
            f"node '{name}' (QNeuron kind {node.kind}): backend 'loihi' runs CubaLIF neurons only "
            "(quantize_for_loihi encodes LIF and IF as CubaLIF)"
        )


def check_neuron_semantics(name: str, node: QNeuron) -> None:
    want = PRESETS["loihi"]
    for field in LOIHI_SEMANTICS:
        if getattr(node.semantics, field) != getattr(want, field):
            raise UnsupportedNodeError(
                f"node '{name}': semantics {field}={getattr(node.semantics, field)!r}, but Loihi computes "
                f"{field}={getattr(want, field)!r} (the 'loihi' preset; quantize_for_loihi sets it)"
            )


def check_neuron_format(name: str, node: QNeuron) -> None:
    expected = {"frac_bits": FRAC_BITS, "input_shift": INPUT_SHIFT, "i_bits": STATE_BITS, "v_bits": STATE_BITS}
    for quantity, want in expected.items():
        value = getattr(node, quantity)
        if value != want:
            raise QuantizationError(f"node '{name}': {quantity} {value} is not Loihi's {want}")


def check_decay_fields(name: str, node: QNeuron) -> None:
    """alpha = 4095 - du and beta = 4096 - dv with du, dv 12-bit (0..4095)."""
    for quantity, values, lo, hi, reg in (("alpha", node.alpha, 0, DECAY_MAX, "du = 4095 - alpha"),
                                          ("beta", node.beta, 1, DECAY_MAX + 1, "dv = 4096 - beta")):
        bad = (values < lo) | (values > hi)
        if bad.any():
            idx, v = _first(bad, values)
            raise QuantizationError(
                f"node '{name}': {quantity} {v} at {idx} does not fit Loihi's 12-bit decay ({reg} must be "
                f"0..{DECAY_MAX}, so {quantity} in {lo}..{hi})"
            )


def check_threshold_field(name: str, node: QNeuron) -> None:
    """threshold = vth << 6 with vth a 17-bit mantissa, 0..131071 (0: fires iff v > 0)."""
    th = node.threshold
    vth = th >> INPUT_SHIFT
    bad = ((vth << INPUT_SHIFT) != th) | (vth < VTH_RANGE[0]) | (vth > VTH_RANGE[1])
    if bad.any():
        idx, v = _first(bad, th)
        raise QuantizationError(
            f"node '{name}': threshold {v} at {idx} is not vth << 6 with vth in {VTH_RANGE[0]}..{VTH_RANGE[1]} "
            "(Loihi's 17-bit threshold mantissa)"
        )


def check_reset_field(name: str, node: QNeuron) -> None:
    if (node.v_reset != 0).any():
        idx, v = _first(node.v_reset != 0, node.v_reset)
        raise QuantizationError(f"node '{name}': v_reset {v} at {idx}; Loihi resets v to 0")


def check_clamp_field(name: str, node: QNeuron) -> None:
    if node.v_min is not None:
        raise UnsupportedNodeError(f"node '{name}': v_min (a lower membrane clamp, min {int(node.v_min.min())}) "
                                   "cannot be represented: Loihi's CUBA neuron has no lower bound on v")


def check_bias_field(name: str, node: QNeuron) -> None:
    """bias = bias_mant << bias_exp, bias_mant signed 13-bit, bias_exp 0..7."""
    _, _, ok = split_bias(node.bias)
    if not ok.all():
        idx, v = _first(~ok, node.bias)
        raise QuantizationError(
            f"node '{name}': bias {v} at {idx} is not bias_mant << bias_exp with bias_mant in "
            f"{BIAS_MANT_RANGE[0]}..{BIAS_MANT_RANGE[1]} and bias_exp in {BIAS_EXP_RANGE[0]}..{BIAS_EXP_RANGE[1]}"
        )


# -- field rules: weight layers ---------------------------------------------------------------------------------------

def check_weight_mantissas(name: str, node: QWeightNode) -> None:
    """Weights Lava's Dense keeps unchanged: 8-bit mantissas under the layer's sign mode."""
    err = weight_mantissa_error(node.weight)
    if err is not None:
        idx, v, rule = err
        raise QuantizationError(f"node '{name}': weight {v} at {idx} is not a Loihi 8-bit weight mantissa ({rule})")


def check_weight_exp_field(name: str, node: QWeightNode) -> None:
    lo, hi = WEIGHT_EXP_RANGE
    if not lo <= node.shift <= hi:
        raise QuantizationError(f"node '{name}': shift (weight_exp) {node.shift} is outside Loihi's {lo}..{hi}")


def check_weight_bias(name: str, node: QWeightNode) -> None:
    if np.any(node.bias != 0):
        v = int(np.asarray(node.bias).reshape(-1)[np.argmax(np.asarray(node.bias).reshape(-1) != 0)])
        raise QuantizationError(
            f"node '{name}': weight-layer bias {v}; Loihi's Dense has none (quantize_for_loihi moves a bias into "
            "the neuron's bias_mant << bias_exp)"
        )


NEURON_RULES: tuple[Callable[[str, QNeuron], None], ...] = (
    check_neuron_kind, check_neuron_semantics, check_neuron_format, check_decay_fields, check_threshold_field,
    check_reset_field, check_clamp_field, check_bias_field,
)
WEIGHT_RULES: tuple[Callable[[str, QWeightNode], None], ...] = (
    check_weight_bias, check_weight_exp_field, check_weight_mantissas,
)
WEIGHT_TYPES = (QDense, QConv1d, QConv2d)


def check_fields(name: str, node: object) -> None:
    """Every field rule that applies to ``node`` (QNeuron or a weight layer); other nodes pass."""
    current = "check_fields"
    try:
        if isinstance(node, QNeuron):
            for rule in NEURON_RULES:
                current = rule.__name__
                rule(name, node)
        elif isinstance(node, WEIGHT_TYPES):
            for wrule in WEIGHT_RULES:
                current = wrule.__name__
                wrule(name, node)
    except (QuantizationError, UnsupportedNodeError) as exc:
        raise as_rule_error(current, exc) from None


# -- resource rules ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreUsage:
    """What one core holds. groups: (layer, start, stop) neuron ranges (stop exclusive)."""

    core: int
    groups: tuple[tuple[str, int, int], ...]
    neurons: int
    synapses: int
    input_axons: int
    output_axons: int
    memory_bits: int

    def used(self, resource: str) -> int:
        return int({"neurons": self.neurons, "input_axons": self.input_axons, "output_axons": self.output_axons,
                    "synaptic_memory": self.memory_bits}[resource])


def allocation(groups: Sequence[tuple[str, int, int]]) -> str:
    """``layer 'fc2', neurons 0-511; layer 'out', neurons 0-9`` (inclusive ranges)."""
    return "; ".join(f"layer '{layer}', neurons {start}-{stop - 1}" for layer, start, stop in groups)


def _over(usage: CoreUsage, what: str, used: int, cap: int, unit: str = "") -> None:
    if used > cap:
        raise ResourceError(f"core {usage.core}: {what} {used}{unit} > {cap}{unit} ({allocation(usage.groups)})")


def check_neurons_per_core(usage: CoreUsage, spec: CoreSpec) -> None:
    _over(usage, "neurons", usage.neurons, spec.neurons_per_core)


def check_input_axons(usage: CoreUsage, spec: CoreSpec) -> None:
    _over(usage, "input axons", usage.input_axons, spec.input_axons)


def check_output_axons(usage: CoreUsage, spec: CoreSpec) -> None:
    _over(usage, "output axons", usage.output_axons, spec.output_axons)


def check_synaptic_memory(usage: CoreUsage, spec: CoreSpec) -> None:
    _over(usage, "synaptic memory", usage.memory_bits, spec.synaptic_memory_bits, " bits")


CORE_RULES: tuple[Callable[[CoreUsage, CoreSpec], None], ...] = (
    check_neurons_per_core, check_input_axons, check_output_axons, check_synaptic_memory,
)


def core_fits(usage: CoreUsage, spec: CoreSpec) -> bool:
    """True when no core rule would raise (the mapper's fast test)."""
    return (usage.neurons <= spec.neurons_per_core and usage.input_axons <= spec.input_axons
            and usage.output_axons <= spec.output_axons and usage.memory_bits <= spec.synaptic_memory_bits)


def check_core(usage: CoreUsage, spec: CoreSpec) -> None:
    for rule in CORE_RULES:
        rule(usage, spec)


def chips_needed(n_cores: int, spec: CoreSpec) -> int:
    return max(1, -(-n_cores // spec.cores_per_chip))


def check_chips(n_cores: int, spec: CoreSpec) -> None:
    """The cores must fit ``max_chips`` chips of ``cores_per_chip`` (no limit when max_chips is None)."""
    chips = chips_needed(n_cores, spec)
    if spec.max_chips is not None and chips > spec.max_chips:
        raise ResourceError(
            f"network: cores {n_cores} need {chips} chips > {spec.max_chips} chips "
            f"({spec.cores_per_chip} cores per chip, spec '{spec.name}')"
        )


def check_fan_in(layer: str, neuron: int, fan_in: int, spec: CoreSpec) -> None:
    """A neuron's presynaptic axons must all arrive at its own core: fan-in <= input axons per core."""
    if fan_in > spec.input_axons:
        raise ResourceError(
            f"layer '{layer}', neuron {neuron}: fan-in {fan_in} input axons > {spec.input_axons} input axons per "
            "core; no core can hold this neuron"
        )


def check_synaptic_delay(projection: str, delay: int, spec: CoreSpec) -> None:
    """A projection's extra synaptic delay (delay - 1 steps) must fit the delay field."""
    if delay - 1 > spec.max_synaptic_delay:
        raise ResourceError(
            f"projection '{projection}': synaptic delay {delay - 1} steps > {spec.max_synaptic_delay} steps"
        )


def check_weight_bits(projection: str, bits: int, spec: CoreSpec) -> None:
    """The projection's weight mantissa width must be one the synapse format can store."""
    if bits > spec.weight_bits_options[-1]:
        raise ResourceError(
            f"projection '{projection}': {bits}-bit weights > {spec.weight_bits_options[-1]}-bit synapse weights "
            f"(spec '{spec.name}')"
        )
