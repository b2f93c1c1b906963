"""Fixed-point nodes and the QGraph (docs/quantisation.md, the fixed-point neuron).

Every parameter is an int64 numpy array whose values must fit the width named
next to it; construction raises QuantizationError (node, quantity, value,
range) otherwise. Stateless integer nodes reuse the float IR's Input, Output,
Flatten, SumPool2d and Delay (they are exact on integers).

Weight layers (QDense, QConv1d, QConv2d, QScale) compute an exact integer
accumulation and then ``shift``: ``acc << shift`` for shift >= 0, else
``floor(acc / 2^-shift)`` (arithmetic right shift, as Loihi's weight_exp).

QNeuron, per step (x = summed integer input of step t - synapse_delay; the
rules for reset timing are those of :mod:`snncompile.semantics`, on integers):

    x     = x << input_shift
    i     = clamp_i(decay(i, alpha) + x)          Cuba kinds (add_then_decay: decay(i + x, alpha))
    v     = clamp_v(decay(v, beta) + i + bias)    (non-Cuba kinds: x in place of i)
    s     = v > threshold  (or >=);  multi: min(v // threshold, cap)   (threshold 0: "gt", binary only)
    reset: zero -> v_reset; subtract -> v - s*threshold
    v     = max(v, v_min)                          only when v_min is set (spiking kinds; after the reset)
    decay(y, m) = round(y*m / 2^frac_bits) with the Semantics' rounding; I/IF have beta = 2^frac_bits
    clamp: Semantics.overflow_i / overflow_v (saturate +-(2^(W-1)-1), wrap, wrap_loihi)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import GraphError, ParameterError, QuantizationError
from ..graph import Graph
from ..nodes import Conv1d, Delay, Flatten, Input, Node, Output, SumPool2d
from ..semantics import Semantics
from ..shapes import conv_out
from ..values import first, int_pair, number_problem, where
from .shiftleak import nearest_forms, shift_form_problem
from .spec import QuantSpec

QKINDS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF", "Threshold")
SPIKING_KINDS = ("IF", "LIF", "CubaLIF", "Threshold")
CUBA_KINDS = ("CubaLI", "CubaLIF")


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def min_threshold(sem: Semantics) -> int:
    """The lowest integer threshold of a spiking neuron: 0 for binary spikes compared with ``gt`` (it fires
    iff v > 0, Lava's vth=0), else 1 (``ge`` with 0 would fire at rest; multi-spike divides by it)."""
    return 0 if sem.compare == "gt" and sem.spikes == "binary" else 1


def _threshold_rule(sem: Semantics) -> str:
    return f"compare={sem.compare!r}, spikes={sem.spikes!r}"


def check_shift_form(owner: str, quantity: str, m: np.ndarray, frac_bits: int,
                     source: np.ndarray | None = None) -> None:
    """Refuse a decay multiplier the shift-subtract leak cannot apply (see :mod:`.shiftleak`); ``source``: the
    float decays m was rounded from, named in the message."""
    bad = shift_form_problem(m, frac_bits)
    if bad is None:
        return
    value = int(np.asarray(m).reshape(-1)[bad])
    one = 1 << frac_bits
    idx = tuple(int(i) for i in np.unravel_index(bad, np.shape(m))) if np.ndim(m) else ()
    raise QuantizationError(
        f"node '{owner}': {quantity} {value}/{one}{where(idx)}"
        f"{'' if source is None else f' (from {float(np.asarray(source).reshape(-1)[bad]):.6g})'}"
        f" is not 1 - 2^-k (k in 0..{frac_bits}) "
        f"or 1, which rounding='shift_subtract' (v - (v >> k)) needs; nearest: "
        f"{nearest_forms(value / one, frac_bits)}"
    )


def _int_array(owner: str, quantity: str, value: object, bits: int | None = None,
               lo: int | None = None, hi: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        problem = number_problem(arr)
        if problem is not None:
            raise QuantizationError(f"node '{owner}': {quantity} {problem}; it must be integers")
        fractional = arr != np.rint(arr)
        if fractional.any():
            idx = first(fractional)
            raise QuantizationError(f"node '{owner}': {quantity} {arr[idx].item()!r}{where(idx)} is not an integer")
    elif arr.dtype.kind not in "iub":
        raise QuantizationError(f"node '{owner}': {quantity} must be integers, got dtype {arr.dtype}")
    if bits is not None:
        lo, hi = signed_range(bits)
    if arr.size:
        if lo is not None and arr.min() < lo:
            raise QuantizationError(
                f"node '{owner}': {quantity} value {int(arr.min())} does not fit "
                f"{f'int{bits}' if bits else 'the range'} [{lo}, {hi}]"
            )
        if hi is not None and arr.max() > hi:
            raise QuantizationError(
                f"node '{owner}': {quantity} value {int(arr.max())} does not fit "
                f"{f'int{bits}' if bits else 'the range'} [{lo}, {hi}]"
            )
    if arr.dtype == np.int64 and arr.flags.c_contiguous and not arr.flags.writeable:
        return arr  # already read only: kept, not copied (the quantiser hands over each weight matrix this way)
    out = np.array(arr, dtype=np.int64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, kw_only=True)
class QWeightNode(Node):
    """Common fields of integer weight layers. ``name`` is only used in error messages."""

    name: str = "?"
    weight: np.ndarray
    bias: Any = None  # int[out] after construction (zeros when not given)
    w_bits: int = 8
    b_bits: int = 32
    shift: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.w_bits <= 16:
            raise QuantizationError(f"node '{self.name}': weight width {self.w_bits} is outside 2..16")
        object.__setattr__(self, "weight", _int_array(self.name, "weight", self.weight, self.w_bits))
        n_out = self.weight.shape[0]
        default = np.zeros((), np.int64) if type(self) is QScale else np.zeros(n_out, np.int64)
        bias = default if self.bias is None else self.bias
        object.__setattr__(self, "bias", _int_array(self.name, "bias", bias, self.b_bits))
        if type(self) is QScale:
            try:  # elementwise: numpy broadcasting against the scale's (= the data's) shape
                np.broadcast_shapes(self.bias.shape, self.weight.shape)
            except ValueError:
                raise GraphError(
                    f"node '{self.name}': bias shape {self.bias.shape} does not broadcast to {self.weight.shape}"
                ) from None
        elif self.bias.shape not in ((n_out,), ()):
            raise GraphError(f"node '{self.name}': bias shape {self.bias.shape} does not match {n_out} outputs")
        if not -31 <= int(self.shift) <= 31:
            raise QuantizationError(f"node '{self.name}': shift {self.shift} is outside -31..31")

    def params(self) -> dict[str, object]:
        return {k: v for k, v in super().params().items() if k != "name"}


@dataclass(frozen=True, kw_only=True)
class QDense(QWeightNode):
    """y = shift(W x + b); weight int[out, in], bias int[out]."""

    def expected_input(self) -> tuple[int, ...] | None:
        return (int(self.weight.shape[1]),)

    def output_shape(self, name: str, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(self.weight.shape[0]),)


@dataclass(frozen=True, kw_only=True)
class QConv1d(QWeightNode):
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    output_shape = Conv1d.output_shape  # type: ignore[assignment]


@dataclass(frozen=True, kw_only=True)
class QConv2d(QWeightNode):
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        for attr in ("stride", "padding", "dilation"):
            try:
                object.__setattr__(self, attr, int_pair(getattr(self, attr), "QConv2d", attr))
            except ParameterError as err:
                raise err.named(self.name) from None

    def output_shape(self, name: str, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        c_in = int(self.weight.shape[1]) * self.groups
        if len(in_shape) != 3 or in_shape[0] != c_in:
            raise GraphError(f"node '{name}' (QConv2d): input shape {in_shape} does not match expected ({c_in}, H, W)")
        return (int(self.weight.shape[0]),
                *conv_out(name, in_shape[1:], self.weight.shape[2:], self.stride, self.padding, self.dilation))


@dataclass(frozen=True, kw_only=True)
class QScale(QWeightNode):
    """y = shift(scale * x + bias), elementwise; ``weight`` holds the integer scale (the data's shape) and
    ``bias`` broadcasts against it by numpy rules (shape () by default)."""

    def expected_input(self) -> tuple[int, ...] | None:
        return tuple(int(s) for s in self.weight.shape)


@dataclass(frozen=True, kw_only=True)
class QNeuron(Node):
    """An integer neuron of one of QKINDS (see the module docstring for the step).

    alpha, beta: int, 0..2^frac_bits (rounding "shift_subtract": 2^D - 2^(D-k) for k in 0..D, or 2^D).
    threshold: int >= 1 for spiking kinds, >= 0 with compare "gt" and binary spikes (fits v_bits).
    v_reset, bias, v_init: fit v_bits.  i_init: fits i_bits.  input_shift: 0..16.
    v_min: None (no lower clamp) or ints fitting v_bits, spiking kinds with a membrane only.
    v_init and i_init are the states at t=0, always (Semantics.initial_v is resolved by the quantiser,
    which writes v_init = round(v_init * scale) only when initial_v == "v_init", else 0).
    out_scale: float > 0; the float value of a state is approximately int / out_scale.
    """

    STATEFUL: ClassVar[bool] = True
    name: str = "?"
    kind: str
    shape: tuple[int, ...]
    semantics: Semantics = field(default_factory=Semantics)
    alpha: Any = 0
    beta: Any = 0
    threshold: Any = 1
    v_reset: Any = 0
    bias: Any = 0
    v_init: Any = 0
    i_init: Any = 0
    input_shift: int = 0
    frac_bits: int = 12
    i_bits: int = 24
    v_bits: int = 24
    out_scale: float = 1.0
    v_min: Any = None

    def __post_init__(self) -> None:
        n = self.name
        if self.kind not in QKINDS:
            raise GraphError(f"node '{n}': QNeuron kind {self.kind!r} is not one of {', '.join(QKINDS)}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if self.kind == "Threshold":
            object.__setattr__(self, "STATEFUL", False)
        for bits_name in ("i_bits", "v_bits"):
            if not 2 <= getattr(self, bits_name) <= 32:
                raise QuantizationError(f"node '{n}': {bits_name}={getattr(self, bits_name)} is outside 2..32")
        if not 1 <= self.frac_bits <= 16 or not 0 <= self.input_shift <= 16:
            raise QuantizationError(f"node '{n}': frac_bits {self.frac_bits} (1..16) or input_shift "
                                    f"{self.input_shift} (0..16) out of range")
        one = 1 << self.frac_bits
        if self.kind in ("I", "IF"):
            object.__setattr__(self, "beta", one)
        limits = {
            "alpha": dict(lo=0, hi=one), "beta": dict(lo=0, hi=one),
            "threshold": dict(bits=self.v_bits), "v_reset": dict(bits=self.v_bits), "bias": dict(bits=self.v_bits),
            "v_init": dict(bits=self.v_bits), "i_init": dict(bits=self.i_bits),
        }
        for quantity, lim in limits.items():
            raw = np.broadcast_to(np.asarray(getattr(self, quantity)), self.shape)
            object.__setattr__(self, quantity, _int_array(n, quantity, raw, **lim))  # type: ignore[arg-type]
        if self.v_min is not None:
            if self.kind not in SPIKING_KINDS or self.kind == "Threshold":
                raise GraphError(f"node '{n}': v_min (a lower membrane clamp after the reset) applies to spiking "
                                 f"kinds with a membrane (IF, LIF, CubaLIF), not {self.kind}")
            raw = np.broadcast_to(np.asarray(self.v_min), self.shape)
            object.__setattr__(self, "v_min", _int_array(n, "v_min", raw, bits=self.v_bits))
        if self.kind in SPIKING_KINDS and self.kind != "Threshold":
            lowest = min_threshold(self.semantics)
            if (self.threshold < lowest).any():  # type: ignore[operator]
                raise QuantizationError(  # the quantiser says why a threshold rounds too low; a hand-built node
                    f"node '{n}': threshold {int(self.threshold.min())} is below {lowest}; a spiking "  # type: ignore
                    f"{self.kind} QNeuron with {_threshold_rule(self.semantics)} needs an integer threshold >= {lowest}"
                )
        if self.semantics.rounding == "shift_subtract":
            for quantity in ("alpha", "beta") if self.kind in CUBA_KINDS else ("beta",):
                check_shift_form(n, quantity, getattr(self, quantity), self.frac_bits)
        if not (isinstance(self.out_scale, numbers.Real) and np.isfinite(self.out_scale) and self.out_scale > 0):
            raise QuantizationError(f"node '{n}': out_scale {self.out_scale!r} must be a finite number > 0")

    @property
    def SPIKING(self) -> bool:  # noqa: N802 - mirrors NeuronNode.SPIKING
        return self.kind in SPIKING_KINDS

    def expected_input(self) -> tuple[int, ...] | None:
        return self.shape

    def params(self) -> dict[str, object]:
        return {k: v for k, v in super().params().items() if k != "name"}


INTEGER_NODE_TYPES: tuple[type[Node], ...] = (
    Input, Output, Flatten, SumPool2d, Delay, QDense, QConv1d, QConv2d, QScale, QNeuron,
)


@dataclass(frozen=True)
class QGraph(Graph):
    """A Graph of integer nodes only, with the QuantSpec that produced it (None when built by hand)."""

    spec: QuantSpec | None = None

    def __post_init__(self) -> None:
        for name, node in dict(self.nodes).items():
            if not isinstance(node, INTEGER_NODE_TYPES):
                raise GraphError(
                    f"node '{name}': {type(node).__name__} is a float node; a QGraph holds only "
                    f"{', '.join(t.__name__ for t in INTEGER_NODE_TYPES)}"
                )
        super().__post_init__()
