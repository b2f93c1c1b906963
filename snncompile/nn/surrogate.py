"""Surrogate-gradient spike functions.

Forward is the exact Heaviside step of ``u = v - theta`` the reference executor
uses: ``u > 0`` (compare "gt") or ``u >= 0`` ("ge"); for finite floats
``v - theta > 0`` iff ``v > theta`` (gradual underflow keeps the sign), so the
spikes are bit-identical to :func:`snncompile.reference.run`. Backward replaces
the Dirac delta by a smooth derivative ``g(u)`` with a ``slope`` k:

    atan             g = (k/2) / (1 + (pi/2 * k * u)^2)          (snnTorch's atan, k=2)
    fast_sigmoid     g = 1 / (1 + k*|u|)^2                       (SuperSpike, k=25)
    sigmoid          g = k * sig(k*u) * (1 - sig(k*u))           (k=25)
    straight_through g = k                                      (k=1)
    triangular       g = k * max(0, 1 - k*|u|)                  (k=1)
    custom(fn)       g = fn(u)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import GraphError


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, surrogate: Surrogate, ge: bool) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return (u >= 0 if ge else u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None]:
        (u,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(u), None, None


@dataclass(frozen=True)
class Surrogate:
    """A spike function: exact Heaviside forward, ``derivative(u)`` backward."""

    name: str
    slope: float
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.name not in _DERIVATIVES and self.name != "custom":
            raise GraphError(f"surrogate {self.name!r} is unknown; known: {', '.join(sorted(_DERIVATIVES))}, custom")
        if self.name == "custom" and not callable(self.fn):
            raise GraphError("surrogate 'custom': fn must be a callable u -> dS/du")
        if not (isinstance(self.slope, int | float) and self.slope > 0):
            raise GraphError(f"surrogate {self.name!r}: slope={self.slope!r} must be a positive number")

    def derivative(self, u: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            return self.fn(u)
        return _DERIVATIVES[self.name](u, float(self.slope))

    def __call__(self, u: torch.Tensor, compare: str = "gt") -> torch.Tensor:
        """Spikes ``H(u)`` (0/1 in u's dtype); ``compare`` is "gt" (u > 0) or "ge" (u >= 0)."""
        return _Heaviside.apply(u, self, compare == "ge")


def _atan(u: torch.Tensor, k: float) -> torch.Tensor:
    return (k / 2) / (1 + (math.pi / 2 * k * u) ** 2)


def _fast_sigmoid(u: torch.Tensor, k: float) -> torch.Tensor:
    return 1 / (1 + k * u.abs()) ** 2


def _sigmoid(u: torch.Tensor, k: float) -> torch.Tensor:
    sig = torch.sigmoid(k * u)
    return k * sig * (1 - sig)


def _straight_through(u: torch.Tensor, k: float) -> torch.Tensor:
    return torch.full_like(u, k)


def _triangular(u: torch.Tensor, k: float) -> torch.Tensor:
    return k * torch.clamp(1 - k * u.abs(), min=0)


_DERIVATIVES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "atan": _atan,
    "fast_sigmoid": _fast_sigmoid,
    "sigmoid": _sigmoid,
    "straight_through": _straight_through,
    "triangular": _triangular,
}


def atan(slope: float = 2.0) -> Surrogate:
    return Surrogate("atan", slope)


def fast_sigmoid(slope: float = 25.0) -> Surrogate:
    return Surrogate("fast_sigmoid", slope)


def sigmoid(slope: float = 25.0) -> Surrogate:
    return Surrogate("sigmoid", slope)


def straight_through(slope: float = 1.0) -> Surrogate:
    return Surrogate("straight_through", slope)


def triangular(slope: float = 1.0) -> Surrogate:
    return Surrogate("triangular", slope)


def custom(fn: Callable[[torch.Tensor], torch.Tensor]) -> Surrogate:
    """A surrogate whose backward is ``grad * fn(u)``; ``fn`` maps u = v - theta to dS/du."""
    return Surrogate("custom", 1.0, fn)


#: Name -> factory with default slope.
SURROGATES: dict[str, Callable[..., Surrogate]] = {
    "atan": atan, "fast_sigmoid": fast_sigmoid, "sigmoid": sigmoid,
    "straight_through": straight_through, "triangular": triangular,
}
