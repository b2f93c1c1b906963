"""Trainable spiking layers whose forward pass is the reference executor's step.

Every layer holds a :class:`~snncompile.semantics.Semantics` (default
``PRESETS["snntorch"]``) and computes, per step, exactly what
:class:`snncompile.reference.NeuronState` computes for the IR node it traces to
(equations in :mod:`snncompile.semantics`):

    Leaky     -> LIF       v = beta*v + x + b;                          spike, reset
    Synaptic  -> CubaLIF   i = alpha*i + x;  v = beta*v + i + b;       spike, reset
    IF        -> IF        v = v + x + b;                               spike, reset
    LI        -> LI        v = beta*v + x + b (with alpha: CubaLI);     output v, no spikes
    RLeaky    -> LIF  "<name>.lif" + "<name>.w_rec"   x + rec(out[t-1])
    RSynaptic -> CubaLIF "<name>.lif" + "<name>.w_rec"

beta and alpha are clamped to [0, 1] in the forward pass and in the traced IR.

State lives on the module (``init_hidden`` style): call :meth:`reset` (or
:func:`reset` on a whole model) before each sequence, then ``out = layer(x_t)``
for t = 0..T-1 with ``x_t`` of shape ``[B, *neuron_shape]``; the state is
created on the first call with that batch shape, dtype and device. ``layer.v``
(and ``layer.i``) hold the last recorded membrane (and current), as the
reference records them. Spikes come from a :mod:`~snncompile.nn.surrogate`
function: exact Heaviside forward, surrogate backward. With
``detach_reset=True`` (default, as snnTorch) no gradient flows through the
reset term.

Under :func:`snncompile.nn.qat.qat` (``layer._qat`` set) the step is bitsim's integer step instead: decays
rounded in fixed point and v / i clamped to the register (see ``_step_qat``); otherwise it is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import GraphError
from ..semantics import PRESETS, Semantics
from .surrogate import Surrogate, atan

Tensorish = float | torch.Tensor | Any


class _Neuron(nn.Module):
    """Shared state handling and the step equations; subclasses choose the parameters."""

    SPIKING = True
    RECURRENT = False

    def __init__(
        self,
        *,
        beta: Tensorish | None = None,
        alpha: Tensorish | None = None,
        threshold: Tensorish | None = 1.0,
        semantics: Semantics | None = None,
        surrogate: Surrogate | None = None,
        learn_beta: bool = False,
        learn_alpha: bool = False,
        learn_threshold: bool = False,
        v_reset: Tensorish = 0.0,
        bias: Tensorish = 0.0,
        v_init: Tensorish = 0.0,
        detach_reset: bool = True,
    ) -> None:
        super().__init__()
        self.semantics = PRESETS["snntorch"] if semantics is None else semantics
        if not isinstance(self.semantics, Semantics):
            raise GraphError(f"{type(self).__name__}: semantics must be a Semantics, got {self.semantics!r}")
        self.surrogate = atan() if surrogate is None else surrogate
        self.detach_reset = detach_reset
        self._register("beta", beta, learn_beta)
        self._register("alpha", alpha, learn_alpha)
        self._register("threshold", threshold if self.SPIKING else None, learn_threshold)
        self._register("v_reset", v_reset, False)
        self._register("bias", bias, False)
        self._register("v_init", v_init, False)
        self._state: dict[str, torch.Tensor] | None = None
        # set by snncompile.nn.qat while the layer is under QAT (a NeuronQAT: scale, frac_bits, rounding, ...)
        self._qat: Any = None

    def _register(self, name: str, value: Tensorish | None, learn: bool) -> None:
        if value is None:
            setattr(self, name, None)
            return
        t = torch.as_tensor(value).detach().clone()
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        if learn:
            self.register_parameter(name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)

    # -- state ---------------------------------------------------------------
    def reset(self) -> None:
        """Forget the state; the next call starts from the initial state (v = 0 or v_init)."""
        self._state = None

    def detach_state(self) -> None:
        """Cut the graph through the carried state (truncated BPTT)."""
        if self._state is not None:
            self._state = {k: v.detach() for k, v in self._state.items()}

    @property
    def state(self) -> dict[str, torch.Tensor] | None:
        return self._state

    @state.setter
    def state(self, value: dict[str, torch.Tensor] | None) -> None:
        self._state = value

    @property
    def v(self) -> torch.Tensor | None:
        return None if self._state is None else self._state["v"]

    @property
    def i(self) -> torch.Tensor | None:
        return None if self._state is None else self._state["i"]

    def _fresh(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        zeros = torch.zeros_like(x)
        v = zeros
        if self.semantics.initial_v == "v_init":
            v = zeros + self._need("v_init", x.dtype)
        return {"v": v, "i": zeros, "s": zeros, "x_prev": zeros, "out": zeros}

    # -- the step --------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._state is None:
            self._state = self._fresh(x)
            if self.RECURRENT and not self.SPIKING:  # pragma: no cover - no such layer
                raise GraphError("recurrent readout")
        st = self._state
        if self.RECURRENT:
            x = x + self.recurrent_input(st["out"])
        out, self._state = self.step(x, st)
        return out

    def recurrent_input(self, prev: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _p(self, name: str, dtype: torch.dtype) -> torch.Tensor | None:
        t = getattr(self, name)
        if t is None:
            return None
        t = t.to(dtype)
        return t.clamp(0, 1) if name in ("alpha", "beta") else t

    def _need(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        t = self._p(name, dtype)
        if t is None:  # only a non-spiking layer lacks a threshold, and it never asks for one
            raise GraphError(f"{type(self).__name__}: parameter '{name}' is not set")
        return t

    def _fire(self, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        sem = self.semantics
        hit = self.surrogate(v - theta, sem.compare)
        if sem.spikes == "binary":
            return hit
        q = self._qat_active()
        if q is not None:  # the integer count, as bitsim: v_int // max(theta_int, 1)
            s = q.scale.to(torch.float64)
            k_v = torch.round(v.detach().double() * s).to(torch.int64)
            k_t = torch.round(theta.detach().double() * s).to(torch.int64).clamp(min=1)
            count = torch.clamp(torch.div(k_v, k_t, rounding_mode="floor"), 1, sem.spike_cap).to(v.dtype)
            return hit * count
        count = torch.clamp(torch.floor(v.detach() / theta.detach()), 1, sem.spike_cap)
        return hit * count

    # -- QAT: the fixed-point decay and register of the compiler (active only under snncompile.nn.qat) ----------
    def _qat_active(self) -> Any:
        q = getattr(self, "_qat", None)
        return q if q is not None and q.enabled else None

    def _decay(self, m: torch.Tensor | None, y: torch.Tensor, q: Any) -> torch.Tensor:
        """``m*y``; under QAT the compiler's ``round(y_int*m_int / 2^D) / s`` with an identity gradient."""
        if m is None:
            return y
        p = m * y
        if q is None:
            return p
        s = q.scale.to(torch.float64)
        one = float(1 << q.frac_bits)
        with torch.no_grad():
            prod = torch.round(y.detach().double() * s) * torch.round(m.detach().double() * one)
            if q.rounding == "floor":
                k = torch.floor(prod / one)
            elif q.rounding == "nearest":
                k = torch.floor(prod / one + 0.5)
            elif q.rounding == "shift_subtract":  # y - (y >> k) == ceil(y*m / 2^D) for every m it admits
                k = torch.ceil(prod / one)
            else:
                k = torch.trunc(prod / one)
            val = (k / s).to(p.dtype)
        return val + (p - p.detach())  # value exactly val, gradient that of m*y

    def _register_value(self, y: torch.Tensor, q: Any) -> torch.Tensor:
        """Under QAT: y on the integer grid of its scale, fitted to the register (saturate / wrap) when the width
        is fixed (``QuantSpec.state_bits``); identity gradient. Without QAT: y itself."""
        if q is None:
            return y
        s = q.scale.to(torch.float64)
        with torch.no_grad():
            k = torch.round(y.detach().double() * s)
            if q.bits is not None:
                half = float(1 << (q.bits - 1))
                if q.overflow == "saturate":
                    k = torch.clamp(k, -(half - 1), half - 1)
                else:  # two's-complement wrap
                    k = torch.remainder(k + half, 2 * half) - half
            val = (k / s).to(y.dtype)
        return val + (y - y.detach())

    def step(self, x: torch.Tensor, st: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Functional form: ``(out, new_state)`` for input ``x`` (recurrent term already added)."""
        sem, dt = self.semantics, x.dtype
        new = dict(st)
        if sem.synapse_delay == 1:
            x, new["x_prev"] = st["x_prev"], x
        beta, alpha, bias = self._p("beta", dt), self._p("alpha", dt), self._need("bias", dt)
        q = self._qat_active()
        if q is not None:
            return self._step_qat(x, st, new, beta, alpha, bias, q)
        v_prev = st["v"]
        if alpha is not None:
            i = alpha * st["i"] + x if sem.synapse_order == "decay_then_add" else alpha * (st["i"] + x)
            new["i"] = i
            drive = i
        else:
            drive = x
        decayed = v_prev if beta is None else beta * v_prev
        if not self.SPIKING:
            v = decayed + drive + bias
            new["v"] = new["out"] = v
            return v, new
        theta, v_reset = self._need("threshold", dt), self._need("v_reset", dt)
        if sem.timing == "immediate":
            v = decayed + drive + bias
            s = self._fire(v, theta)
            v = _reset(v, self._r(s), theta, v_reset, sem.reset)
        else:
            if sem.timing == "delayed":
                r = st["s"]
            else:  # snntorch_immediate: R from the recorded (already reset) membrane
                r = self._fire(v_prev, theta)
            r = self._r(r)
            v = _delayed_reset_update(decayed, drive + bias, r, theta, v_reset, sem)
            s = self._fire(v, theta)
            if sem.timing == "snntorch_immediate":
                d = self._r(s) - r
                if sem.reset == "subtract":
                    v = v - d * theta
                elif sem.reset == "zero":
                    v = v - d * (v - v_reset)
        new["v"], new["s"], new["out"] = v, s, s
        return s, new

    def _step_qat(
        self, x: torch.Tensor, st: dict[str, torch.Tensor], new: dict[str, torch.Tensor], beta: torch.Tensor | None,
        alpha: torch.Tensor | None, bias: torch.Tensor, q: Any,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """:meth:`step` under QAT: bitsim's integer step (backends/bitsim/neuron.py) on the float values,
        decays rounded as the compiler rounds them and v / i put through the register where bitsim clamps."""
        sem = self.semantics
        reg = lambda y: self._register_value(y, q)  # noqa: E731
        v_prev = st["v"]
        if alpha is not None:
            if sem.synapse_order == "decay_then_add":
                i = reg(self._decay(alpha, st["i"], q) + x)
            else:
                i = reg(self._decay(alpha, st["i"] + x, q))
            new["i"] = i
            drive = i
        else:
            drive = x
        decayed = self._decay(beta, v_prev, q)
        if not self.SPIKING:
            v = reg(decayed + drive + bias)
            new["v"] = new["out"] = v
            return v, new
        theta, v_reset = self._need("threshold", x.dtype), self._need("v_reset", x.dtype)
        if sem.timing == "immediate":
            v = reg(decayed + drive + bias)
            s = self._fire(v, theta)
            v = _reset(v, self._r(s), theta, v_reset, sem.reset)
        else:
            r = st["s"] if sem.timing == "delayed" else self._fire(v_prev, theta)
            r = self._r(r)
            v = _delayed_reset_update(decayed, drive + bias, r, theta, v_reset, sem, reg)
            s = self._fire(v, theta)
            if sem.timing == "snntorch_immediate":
                d = self._r(s) - r
                if sem.reset == "subtract":
                    v = reg(v - d * theta)
                elif sem.reset == "zero":
                    v = reg(v - d * (v - v_reset))
        new["v"], new["s"], new["out"] = v, s, s
        return s, new

    def _r(self, s: torch.Tensor) -> torch.Tensor:
        return s.detach() if self.detach_reset else s

    def extra_repr(self) -> str:
        return f"semantics=({self.semantics.describe()}), surrogate={self.surrogate.name}"

    # -- tracing ----------------------------------------------------------------
    def snncompile_ir(self, name: str, shape: tuple[int, ...]) -> Any:
        """IR nodes for :func:`snncompile.trace` (see :mod:`snncompile.nn.export`)."""
        from .export import neuron_ir

        return neuron_ir(self, name, shape)


def _reset(v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor, v_reset: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "subtract":
        return v - s * theta
    if mode == "zero":
        return torch.where(s > 0, v_reset.expand_as(v), v)
    return v


def _delayed_reset_update(
    decayed: torch.Tensor, new: torch.Tensor, r: torch.Tensor, theta: torch.Tensor, v_reset: torch.Tensor,
    sem: Semantics, reg: Any = None,
) -> torch.Tensor:
    """The delayed / snntorch_immediate update; ``reg`` (QAT only) is the register bitsim clamps the sum into."""
    if reg is None:
        if sem.reset == "subtract":
            return decayed + new - r * theta
        if sem.reset == "zero":
            fired = r > 0
            if sem.delayed_zero == "state":
                return torch.where(fired, v_reset.expand_as(decayed), decayed) + new
            return torch.where(fired, v_reset.expand_as(decayed), decayed + new)
        return decayed + new
    if sem.reset == "subtract":
        return reg(decayed + new - r * theta)  # type: ignore[no-any-return]
    if sem.reset == "zero":
        fired = r > 0
        if sem.delayed_zero == "state":
            return reg(torch.where(fired, v_reset.expand_as(decayed), decayed) + new)  # type: ignore[no-any-return]
        return torch.where(fired, v_reset.expand_as(decayed), reg(decayed + new))
    return reg(decayed + new)  # type: ignore[no-any-return]


class Leaky(_Neuron):
    """LIF: ``v = beta*v + x + bias``, spike, reset. Traces to an IR ``LIF``."""

    def __init__(self, beta: Tensorish, threshold: Tensorish = 1.0, **kwargs: Any) -> None:
        super().__init__(beta=beta, threshold=threshold, **kwargs)


class Synaptic(_Neuron):
    """Current-based LIF: ``i = alpha*i + x; v = beta*v + i + bias``. Traces to ``CubaLIF``."""

    def __init__(self, alpha: Tensorish, beta: Tensorish, threshold: Tensorish = 1.0, **kwargs: Any) -> None:
        super().__init__(alpha=alpha, beta=beta, threshold=threshold, **kwargs)


class IF(_Neuron):
    """Integrate-and-fire: ``v = v + x + bias``, spike, reset. Traces to ``IF``."""

    def __init__(self, threshold: Tensorish = 1.0, **kwargs: Any) -> None:
        super().__init__(threshold=threshold, **kwargs)


class LI(_Neuron):
    """Non-spiking leaky readout: ``v = beta*v + x + bias`` (with ``alpha``: current-based, ``CubaLI``); returns v."""

    SPIKING = False

    def __init__(self, beta: Tensorish, alpha: Tensorish | None = None, **kwargs: Any) -> None:
        super().__init__(beta=beta, alpha=alpha, threshold=None, **kwargs)


class _Recurrent(_Neuron):
    """Adds ``rec(out[t-1])`` to the input (``rec`` applied to zero output at t=0, so its bias enters from t=0)."""

    RECURRENT = True

    def _build_recurrent(
        self, size: int | None, all_to_all: bool, recurrent: nn.Module | None, rec_bias: bool, learn_v: bool,
    ) -> None:
        if recurrent is not None:
            self.V = None
            if not isinstance(recurrent, nn.Linear | nn.Conv2d):
                raise GraphError(
                    f"{type(self).__name__}: recurrent must be nn.Linear or nn.Conv2d, got {type(recurrent).__name__}"
                )
            self.recurrent: nn.Module | None = recurrent
        elif size is None:
            raise GraphError(f"{type(self).__name__}: give size=<number of neurons> or a recurrent module")
        elif all_to_all:
            self.V = None
            self.recurrent = nn.Linear(size, size, bias=rec_bias)
        else:
            self.recurrent = None
            self._register("V", torch.ones(size), learn_v)

    def recurrent_input(self, prev: torch.Tensor) -> torch.Tensor:
        if self.recurrent is None:
            assert self.V is not None
            return prev * self.V.to(prev.dtype)
        w = self.recurrent
        if prev.dtype != next(w.parameters()).dtype:
            raise GraphError(
                f"{type(self).__name__}: recurrent weights are {next(w.parameters()).dtype} but the input is "
                f"{prev.dtype}; convert the model (e.g. model.double())"
            )
        return w(prev)


class RLeaky(_Recurrent):
    """Leaky with recurrence: ``v = beta*v + x + rec(out[t-1]) + bias``.

    ``rec``: ``nn.Linear(size, size, bias=rec_bias)`` (all_to_all, default), a one-to-one
    scale ``V`` (all_to_all=False), or a given nn.Linear / nn.Conv2d (``recurrent=``).
    """

    def __init__(
        self, beta: Tensorish, threshold: Tensorish = 1.0, *, size: int | None = None, all_to_all: bool = True,
        recurrent: nn.Module | None = None, rec_bias: bool = True, learn_v: bool = True, **kwargs: Any,
    ) -> None:
        super().__init__(beta=beta, threshold=threshold, **kwargs)
        self._build_recurrent(size, all_to_all, recurrent, rec_bias, learn_v)


class RSynaptic(_Recurrent):
    """Synaptic with recurrence: ``i = alpha*i + x + rec(out[t-1])``; see :class:`RLeaky` for ``rec``."""

    def __init__(
        self, alpha: Tensorish, beta: Tensorish, threshold: Tensorish = 1.0, *, size: int | None = None,
        all_to_all: bool = True, recurrent: nn.Module | None = None, rec_bias: bool = True, learn_v: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(alpha=alpha, beta=beta, threshold=threshold, **kwargs)
        self._build_recurrent(size, all_to_all, recurrent, rec_bias, learn_v)


NEURON_LAYERS: tuple[type[_Neuron], ...] = (Leaky, Synaptic, IF, LI, RLeaky, RSynaptic)


def reset(module: nn.Module) -> None:
    """Reset every snncompile.nn neuron inside ``module`` (call before each sequence)."""
    for m in module.modules():
        if isinstance(m, _Neuron):
            m.reset()


def detach_states(module: nn.Module) -> None:
    """Detach every neuron's carried state inside ``module`` (truncated BPTT)."""
    for m in module.modules():
        if isinstance(m, _Neuron):
            m.detach_state()


def run(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Reset ``module`` and run it over time-major ``x`` [T, B, ...]; returns outputs stacked to [T, B, ...]."""
    reset(module)
    return torch.stack([module(x[t]) for t in range(x.shape[0])])
