"""Continuous NIR neuron parameters -> discrete snncompile parameters, and back.

Forward Euler with step dt (the default):

    LIF/LI:      beta = 1 - dt/tau           gain = dt*r/tau        bias = dt*v_leak/tau
    CubaLIF/LI:  alpha = 1 - dt/tau_syn      beta = 1 - dt/tau_mem
                 gain = (dt/tau_syn)*w_in * (dt/tau_mem)*r        bias = dt*v_leak/tau_mem
    IF/I:        beta = 1                    gain = dt*r            bias = 0

``gain`` multiplies the node's input (for CubaLIF the current is rescaled by
dt*r/tau_mem so the membrane sees it with unit weight; states i scale with it).
The reader folds the gain into the preceding weights or inserts a Scale node.

Exact exponential (on request, never silent): beta = exp(-dt/tau), LIF gain
(1-beta)*r, bias (1-beta)*v_leak; CubaLIF applies the same per stage
(alpha = exp(-dt/tau_syn), gain (1-alpha)*w_in*(1-beta)*r). IF/I are the same
as Euler (an integrator is exact under both).

Those are NIR's own reading (gain rule ``"nir"``). A framework's exporter may
write parameters that its own simulator reads differently (Sinabs' IF r = 1
means ``v += x``, not ``v += dt*x``); a source convention then names another
gain rule from :data:`GAIN_RULES`, each the inverse of that exporter's mapping.
``m_step`` below is the membrane step dt/tau (Euler) or 1-beta (exact);
``s_step`` the synapse step dt/tau_syn or 1-alpha.

A gain within 1e-6 of 1 is taken as exactly 1: exporters write r = tau/dt in
float32 to mean unit gain, and the product is 1 only up to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GraphError

UNIT_GAIN_TOLERANCE = 1e-6

#: Gain rules: name -> the input gain per neuron kind (integrator IF/I, leaky LIF/LI, cuba CubaLIF/CubaLI).
GAIN_RULES: dict[str, dict[str, str]] = {
    "nir": {"integrator": "dt*r", "leaky": "m_step*r", "cuba": "s_step*w_in*m_step*r"},
    "r": {"integrator": "r", "leaky": "r", "cuba": "w_in*r"},
    "one": {"integrator": "1", "leaky": "1", "cuba": "1"},
    "membrane_step": {"leaky": "m_step*r", "cuba": "w_in*m_step*r"},
    "rockpool": {"leaky": "r*dt/(tau*exp(-dt/tau))", "cuba": "w_in*r*dt/(tau_mem*exp(-dt/tau_mem))"},
    "rockpool_synapse": {"leaky": "r*dt/tau"},
    "lava_dl": {"cuba": "w_in*r/tau_syn"},
}


@dataclass(frozen=True)
class Discrete:
    alpha: np.ndarray | None
    beta: np.ndarray
    gain: np.ndarray | None  # None: exactly 1
    bias: np.ndarray


def _f64(a: np.ndarray | float) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _decay(name: str, quantity: str, tau: np.ndarray, dt: float, method: str) -> np.ndarray:
    tau = _f64(tau)
    if (tau <= 0).any():
        raise GraphError(f"node '{name}': {quantity} must be > 0 s, got min {tau.min():.6g}")
    if method == "exact":
        return np.exp(-dt / tau)
    decay = 1.0 - dt / tau
    if (decay < 0).any():
        worst = float(tau.min())
        raise GraphError(
            f"node '{name}': dt {dt:.6g} s > {quantity} {worst:.6g} s gives a negative forward-Euler decay "
            f"{1.0 - dt / worst:.6g}; pass the source's dt (--dt, or --from CONVENTION) or --discretization exact"
        )
    return decay


def _gain_or_none(gain: np.ndarray) -> np.ndarray | None:
    return None if np.all(np.abs(gain - 1.0) <= UNIT_GAIN_TOLERANCE) else gain


def _rule(name: str, rule: str, kind: str) -> None:
    if kind not in GAIN_RULES.get(rule, {}):
        raise GraphError(f"node '{name}': gain rule {rule!r} has no form for {kind} neurons")


def leaky(
    name: str, tau: np.ndarray, r: np.ndarray, v_leak: np.ndarray, dt: float, method: str, gain_rule: str = "nir"
) -> Discrete:
    """LIF / LI: beta, input gain and bias (see the module docstring)."""
    _rule(name, gain_rule, "leaky")
    beta = _decay(name, "tau", tau, dt, method)
    step = (1.0 - beta) if method == "exact" else dt / _f64(tau)
    if gain_rule in ("nir", "membrane_step"):
        gain = step * _f64(r)
    elif gain_rule == "r":
        gain = _f64(r)
    elif gain_rule == "one":
        gain = np.ones_like(beta)
    elif gain_rule == "rockpool":
        gain = _f64(r) * dt / (_f64(tau) * np.exp(-dt / _f64(tau)))
    else:  # rockpool_synapse
        gain = _f64(r) * dt / _f64(tau)
    return Discrete(None, beta, _gain_or_none(gain), step * _f64(v_leak))


def cuba(
    name: str,
    tau_syn: np.ndarray,
    tau_mem: np.ndarray,
    r: np.ndarray,
    v_leak: np.ndarray,
    w_in: np.ndarray,
    dt: float,
    method: str,
    gain_rule: str = "nir",
) -> Discrete:
    """CubaLIF / CubaLI: alpha, beta, input gain and bias (see the module docstring)."""
    _rule(name, gain_rule, "cuba")
    alpha = _decay(name, "tau_syn", tau_syn, dt, method)
    beta = _decay(name, "tau_mem", tau_mem, dt, method)
    if method == "exact":
        s_step, m_step = 1.0 - alpha, 1.0 - beta
    else:
        s_step, m_step = dt / _f64(tau_syn), dt / _f64(tau_mem)
    w_in, r = _f64(w_in), _f64(r)
    if gain_rule == "nir":
        gain = s_step * w_in * m_step * r
    elif gain_rule == "membrane_step":
        gain = w_in * m_step * r
    elif gain_rule == "r":
        gain = w_in * r
    elif gain_rule == "one":
        gain = np.ones_like(beta)
    elif gain_rule == "rockpool":
        gain = w_in * r * dt / (_f64(tau_mem) * np.exp(-dt / _f64(tau_mem)))
    else:  # lava_dl: w_in = tau_syn means unit input weight; both infinite (no current decay) is unit too
        tau_s = np.broadcast_to(_f64(tau_syn), np.broadcast_shapes(w_in.shape, np.shape(tau_syn)))
        both_inf = np.isinf(tau_s) & np.isinf(np.broadcast_to(w_in, tau_s.shape))
        with np.errstate(invalid="ignore"):
            gain = np.where(both_inf, 1.0, w_in / tau_s) * r
    return Discrete(alpha, beta, _gain_or_none(gain), m_step * _f64(v_leak))


def integrator(r: np.ndarray, dt: float, gain_rule: str = "nir") -> Discrete:
    """IF / I: beta 1, input gain dt*r (NIR), r or 1 (frameworks whose IF adds the input unscaled)."""
    _rule("", gain_rule, "integrator")
    r = _f64(r)
    gain = dt * r if gain_rule == "nir" else (r if gain_rule == "r" else np.ones_like(r))
    return Discrete(None, np.ones_like(r), _gain_or_none(gain), np.zeros_like(r))


def tau_from_decay(decay: np.ndarray, dt: float) -> np.ndarray:
    """Inverse of the Euler decay, for writing NIR: tau = dt / (1 - decay); inf for decay 1."""
    decay = _f64(decay)
    with np.errstate(divide="ignore"):
        return np.where(decay < 1.0, dt / np.maximum(1.0 - decay, 1e-300), np.inf)


def dt_from_rockpool_r(tau: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per neuron, the dt that solves Rockpool's export ``r = tau*exp(-dt/tau)/dt`` (its to_nir stores no dt).

    ``r*dt/tau = exp(-dt/tau)``: with u = dt/tau, ``r*u = exp(-u)`` has one root u > 0 for r > 0, found by
    Newton's method on ``g(u) = log(r*u) + u`` (increasing, concave), started left of the root.
    """
    try:
        tau, r = np.broadcast_arrays(_f64(tau), _f64(r))
    except ValueError:
        raise GraphError(f"Rockpool dt inference: tau of shape {np.shape(tau)} and r of shape {np.shape(r)} do "
                         "not match") from None
    if (r <= 0).any() or (tau <= 0).any() or not np.isfinite(tau).all():
        raise GraphError("Rockpool dt inference needs r > 0 and finite tau > 0")
    u = np.minimum(1.0 / r, 1.0) * 0.5  # g(u) < 0 here: log(r*u) <= log(0.5) and u <= 0.5
    for _ in range(60):
        g = np.log(r * u) + u
        u_next = u - g / (1.0 / u + 1.0)
        if np.all(np.abs(u_next - u) <= 1e-15 * np.abs(u)):
            u = u_next
            break
        u = u_next
    return u * tau
