"""IR nodes in discrete-time form: one frozen dataclass per NIR 1.0.8 primitive.

Parameters are numpy arrays, copied and made read-only on construction. Shapes
never include the time or batch axis. Continuous NIR parameters (tau, r, w_in,
v_leak) are converted to the discrete ones below on import
(:mod:`snncompile.frontend.discretize`); neuron nodes carry only:

    alpha, beta   per-step decay of current / membrane, in [0, 1]
    threshold     spike threshold theta
    v_reset       value a reset-to-zero sets v to
    bias          constant added to v every step (v_leak folded in)
    v_init        initial membrane when Semantics.initial_v == "v_init"
    v_min         optional lower membrane clamp (Sinabs' min_v_mem): after the step's reset,
                  v = max(v, v_min); None = no clamp (spiking kinds only)

and a :class:`~snncompile.semantics.Semantics`. The update equations are in
:mod:`snncompile.semantics`; :mod:`snncompile.reference` executes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from .errors import GraphError, ParameterError
from .semantics import Semantics
from .shapes import conv_out, flatten_out, pool_out
from .values import first, int_pair, real_array, where, whole_shape, whole_tuple_problem

Shape = tuple[int, ...]


def _frozen_array(value: Any, *, dtype: Any = None) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, kw_only=True)
class Node:
    """Base of all nodes. ``ARRAYS`` lists the array-valued fields."""

    ARRAYS: ClassVar[tuple[str, ...]] = ()
    #: output at t depends on earlier steps (neurons, Delay): a cycle must pass through such a node
    STATEFUL: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in self.ARRAYS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, real_array(self.type_name, name, value))

    @property
    def type_name(self) -> str:
        return type(self).__name__

    def params(self) -> dict[str, Any]:
        """Every field except the semantics, by name (arrays as arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "semantics"}

    def expected_input(self) -> Shape | None:
        """The input shape this node requires, when its parameters fix it."""
        return None

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        return in_shape

    def equals(self, other: Node) -> bool:
        """Exact equality of type, every parameter (dtype and value) and semantics."""
        if type(self) is not type(other):
            return False
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or a.dtype != b.dtype or a.shape != b.shape:
                    return False
                if not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True


@dataclass(frozen=True, kw_only=True)
class Input(Node):
    shape: Shape

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", whole_shape("Input", "shape", self.shape))


@dataclass(frozen=True, kw_only=True)
class Output(Node):
    shape: Shape | None = None

    def __post_init__(self) -> None:
        if self.shape is not None:
            object.__setattr__(self, "shape", whole_shape("Output", "shape", self.shape))

    def expected_input(self) -> Shape | None:
        return self.shape


@dataclass(frozen=True, kw_only=True)
class Affine(Node):
    """y = W x + b. weight [out, in], bias [out]."""

    ARRAYS = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ParameterError(
                "Affine", f"weight {self.weight.shape} and bias {self.bias.shape} must be [out, in] and [out]"
            )

    def expected_input(self) -> Shape | None:
        return (int(self.weight.shape[1]),)

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        return (int(self.weight.shape[0]),)


@dataclass(frozen=True, kw_only=True)
class Linear(Node):
    """y = W x. weight [out, in]."""

    ARRAYS = ("weight",)
    weight: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.weight.ndim != 2:
            raise ParameterError("Linear", f"weight {self.weight.shape} must be [out, in]")

    def expected_input(self) -> Shape | None:
        return (int(self.weight.shape[1]),)

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        return (int(self.weight.shape[0]),)


@dataclass(frozen=True, kw_only=True)
class Scale(Node):
    """y = scale * x, elementwise."""

    ARRAYS = ("scale",)
    scale: np.ndarray

    def expected_input(self) -> Shape | None:
        return tuple(int(s) for s in self.scale.shape)


@dataclass(frozen=True, kw_only=True)
class Conv1d(Node):
    """Cross-correlation as torch.nn.Conv1d. weight [C_out, C_in/groups, K], bias [C_out].

    padding: int (zeros both sides); input_shape: spatial length when known.
    """

    ARRAYS = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1
    input_shape: Shape | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_conv(self, "K")
        _at_least_one(self, "stride", "dilation")

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        c_in = int(self.weight.shape[1]) * self.groups
        if len(in_shape) != 2 or in_shape[0] != c_in:
            raise GraphError(f"node '{name}' (Conv1d): input shape {in_shape} does not match expected ({c_in}, L)")
        (n,) = conv_out(name, in_shape[1:], self.weight.shape[2:], (self.stride,), (self.padding,), (self.dilation,))
        return (int(self.weight.shape[0]), n)


@dataclass(frozen=True, kw_only=True)
class Conv2d(Node):
    """Cross-correlation as torch.nn.Conv2d. weight [C_out, C_in/groups, KH, KW], bias [C_out].

    stride, padding, dilation: (h, w) int pairs; input_shape: (H, W) when known.
    """

    ARRAYS = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    input_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_conv(self, "KH, KW")
        for attr in ("stride", "padding", "dilation"):
            object.__setattr__(self, attr, int_pair(getattr(self, attr), "Conv2d", attr))
        _at_least_one(self, "stride", "dilation")

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        c_in = int(self.weight.shape[1]) * self.groups
        if len(in_shape) != 3 or in_shape[0] != c_in:
            raise GraphError(
                f"node '{name}' (Conv2d): input shape {in_shape} does not match expected ({c_in}, H, W)"
            )
        hw = conv_out(name, in_shape[1:], self.weight.shape[2:], self.stride, self.padding, self.dilation)
        return (int(self.weight.shape[0]), *hw)


def _check_conv(node: Conv1d | Conv2d, kernel: str) -> None:
    """weight [C_out, C_in/groups, *kernel], bias [C_out], and groups a whole number >= 1 dividing C_out (the
    float reference's torch convolution refuses anything else with a RuntimeError that names no node)."""
    w, b, groups = node.weight, node.bias, node.groups
    if w.ndim != 2 + kernel.count("K") or b.shape != w.shape[:1]:
        raise ParameterError(node.type_name, f"weight {w.shape} and bias {b.shape} must be [C_out, C_in/groups, "
                                             f"{kernel}] and [C_out]")
    if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1 or w.shape[0] % groups:
        raise ParameterError(node.type_name, f"groups {groups!r} must be a whole number >= 1 that divides the "
                                             f"{w.shape[0]} output channels")


def _at_least_one(node: Node, *attrs: str) -> None:
    """A stride, dilation or window of 0 divides by zero in the shape arithmetic, or the float reference's torch
    refuses it with an error that names no node."""
    for attr in attrs:
        problem = whole_tuple_problem(attr, getattr(node, attr), low=1)
        if problem is not None:
            raise ParameterError(node.type_name, problem)


@dataclass(frozen=True, kw_only=True)
class _Pool2d(Node):
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        for attr in ("kernel_size", "stride", "padding"):
            object.__setattr__(self, attr, int_pair(getattr(self, attr), self.type_name, attr))
        _at_least_one(self, "kernel_size", "stride")

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise GraphError(f"node '{name}' ({self.type_name}): input shape {in_shape} is not (C, H, W)")
        return (in_shape[0], *pool_out(name, in_shape[1:], self.kernel_size, self.stride, self.padding))


@dataclass(frozen=True, kw_only=True)
class SumPool2d(_Pool2d):
    """Sum over each window (zero padding)."""


@dataclass(frozen=True, kw_only=True)
class AvgPool2d(_Pool2d):
    """Mean over each window; padded zeros count in the divisor (torch default)."""


@dataclass(frozen=True, kw_only=True)
class Flatten(Node):
    """Merge dims start_dim..end_dim of the per-sample shape (no batch axis)."""

    start_dim: int = 0
    end_dim: int = -1
    input_shape: Shape | None = None

    def expected_input(self) -> Shape | None:
        return self.input_shape

    def output_shape(self, name: str, in_shape: Shape) -> Shape:
        return flatten_out(name, in_shape, self.start_dim, self.end_dim)


#: the longest Delay any executor keeps the history of (bitsim, the C, ONNX all hold delay+1 steps)
MAX_DELAY = 1 << 16


@dataclass(frozen=True, kw_only=True)
class Delay(Node):
    """y[t] = x[t - delay], per element; delay: int steps 0..MAX_DELAY (zeros before t=delay)."""

    ARRAYS = ("delay",)
    STATEFUL = True
    delay: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        if not np.issubdtype(self.delay.dtype, np.integer) or (self.delay < 0).any():
            raise ParameterError("Delay", f"delay must be integer steps >= 0, got {self.delay.dtype} "
                                          f"{self.delay.min()}")
        if self.delay.size and int(self.delay.max()) > MAX_DELAY:
            raise ParameterError("Delay", f"delay {int(self.delay.max())} steps exceeds the limit of {MAX_DELAY} "
                                          "(every executor keeps that many steps of history)")

    def expected_input(self) -> Shape | None:
        return tuple(int(s) for s in self.delay.shape)


@dataclass(frozen=True, kw_only=True)
class NeuronNode(Node):
    """A stateful node. ``shape`` is the neuron layout; parameters broadcast to it."""

    ARRAYS: ClassVar[tuple[str, ...]] = ()
    SPIKING: ClassVar[bool] = True
    STATEFUL = True
    shape: Shape
    semantics: Semantics = field(default_factory=Semantics)
    v_init: np.ndarray | None = None
    #: lower membrane clamp applied after the reset of every step (None: none); see the module docstring
    v_min: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = whole_shape(self.type_name, "shape", self.shape)
        object.__setattr__(self, "shape", shape)
        if self.v_init is None:
            object.__setattr__(self, "v_init", np.zeros(shape, dtype=np.float32))
        if self.v_min is not None and (not self.SPIKING or not self.STATEFUL):
            raise ParameterError(self.type_name, "v_min (a lower membrane clamp after the reset) applies to spiking "
                                                 f"neurons with a membrane (IF, LIF, CubaLIF), not {self.type_name}")
        for name in (*self.ARRAYS, "v_init", *(("v_min",) if self.v_min is not None else ())):
            value = real_array(self.type_name, name, getattr(self, name))
            try:
                value = np.broadcast_to(value, shape)
            except ValueError:
                raise ParameterError(
                    self.type_name, f"parameter '{name}' of shape {value.shape} does not fit neuron shape {shape}"
                ) from None
            object.__setattr__(self, name, _frozen_array(value))
        if not isinstance(self.semantics, Semantics):
            raise ParameterError(self.type_name,
                                 f"semantics must be a Semantics, got {type(self.semantics).__name__}")
        theta = getattr(self, "threshold", None)
        if self.semantics.spikes == "multi" and theta is not None and theta.size and (theta <= 0).any():
            k = first(theta <= 0)  # floor(v / 0) is inf or NaN spikes in the float reference
            raise ParameterError(self.type_name, f"threshold {theta[k].item():g}{where(k)} must be > 0 with "
                                                 "spikes='multi' (a step emits floor(v/threshold) spikes)")

    def expected_input(self) -> Shape | None:
        return self.shape


@dataclass(frozen=True, kw_only=True)
class Threshold(NeuronNode):
    """s[t] = x[t] > threshold (or >=, per semantics.compare); stateless."""

    ARRAYS = ("threshold",)
    STATEFUL = False
    threshold: np.ndarray


@dataclass(frozen=True, kw_only=True)
class I(NeuronNode):  # noqa: E742 - NIR's name
    """Integrator: v[t] = v[t-1] + x[t-d] + bias. Non-spiking; v is the output."""

    ARRAYS = ("bias",)
    SPIKING = False
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


@dataclass(frozen=True, kw_only=True)
class IF(NeuronNode):
    """Integrate-and-fire: v[t] = v[t-1] + x[t-d] + bias, then spike and reset."""

    ARRAYS = ("threshold", "v_reset", "bias")
    threshold: np.ndarray
    v_reset: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


@dataclass(frozen=True, kw_only=True)
class LI(NeuronNode):
    """Leaky integrator: v[t] = beta*v[t-1] + x[t-d] + bias. Non-spiking; v is the output."""

    ARRAYS = ("beta", "bias")
    SPIKING = False
    beta: np.ndarray
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


@dataclass(frozen=True, kw_only=True)
class LIF(NeuronNode):
    """Leaky integrate-and-fire: v[t] = beta*v[t-1] + x[t-d] + bias, spike, reset."""

    ARRAYS = ("beta", "threshold", "v_reset", "bias")
    beta: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


@dataclass(frozen=True, kw_only=True)
class CubaLI(NeuronNode):
    """Current-based LI: i[t] = alpha*i[t-1] + x[t-d]; v[t] = beta*v[t-1] + i[t] + bias."""

    ARRAYS = ("alpha", "beta", "bias")
    SPIKING = False
    alpha: np.ndarray
    beta: np.ndarray
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


@dataclass(frozen=True, kw_only=True)
class CubaLIF(NeuronNode):
    """Current-based LIF: i[t] = alpha*i[t-1] + x[t-d]; v[t] = beta*v[t-1] + i[t] + bias; spike, reset."""

    ARRAYS = ("alpha", "beta", "threshold", "v_reset", "bias")
    alpha: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))
    bias: np.ndarray = field(default_factory=lambda: np.zeros((), np.float32))


NODE_TYPES: dict[str, type[Node]] = {
    cls.__name__: cls
    for cls in (
        Input, Output, Affine, Linear, Scale, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten,
        Delay, Threshold, I, IF, LI, LIF, CubaLI, CubaLIF,
    )
}

#: Float nodes whose output at t depends on earlier steps (``Node.STATEFUL``).
STATEFUL_TYPES: tuple[type[Node], ...] = tuple(t for t in NODE_TYPES.values() if t.STATEFUL)

