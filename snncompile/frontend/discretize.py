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

A gain within 1e-6 of 1 is taken as exactly 1: exporters write r = tau/dt in
float32 to mean unit gain, and the product is 1 only up to float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GraphError

UNIT_GAIN_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Discrete:
    alpha: np.ndarray | None
    beta: np.ndarray
    gain: np.ndarray | None  # None: exactly 1
    bias: np.ndarray


def _decay(name: str, quantity: str, tau: np.ndarray, dt: float, method: str) -> np.ndarray:
    tau = np.asarray(tau, dtype=np.float64)
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


def leaky(name: str, tau: np.ndarray, r: np.ndarray, v_leak: np.ndarray, dt: float, method: str) -> Discrete:
    beta = _decay(name, "tau", tau, dt, method)
    step = (1.0 - beta) if method == "exact" else dt / np.asarray(tau, np.float64)
    gain = step * np.asarray(r, np.float64)
    return Discrete(None, beta, _gain_or_none(gain), step * np.asarray(v_leak, np.float64))


def cuba(
    name: str,
    tau_syn: np.ndarray,
    tau_mem: np.ndarray,
    r: np.ndarray,
    v_leak: np.ndarray,
    w_in: np.ndarray,
    dt: float,
    method: str,
) -> Discrete:
    alpha = _decay(name, "tau_syn", tau_syn, dt, method)
    beta = _decay(name, "tau_mem", tau_mem, dt, method)
    if method == "exact":
        s_step, m_step = 1.0 - alpha, 1.0 - beta
    else:
        s_step, m_step = dt / np.asarray(tau_syn, np.float64), dt / np.asarray(tau_mem, np.float64)
    gain = s_step * np.asarray(w_in, np.float64) * m_step * np.asarray(r, np.float64)
    return Discrete(alpha, beta, _gain_or_none(gain), m_step * np.asarray(v_leak, np.float64))


def integrator(r: np.ndarray, dt: float) -> Discrete:
    r = np.asarray(r, np.float64)
    return Discrete(None, np.ones_like(r), _gain_or_none(dt * r), np.zeros_like(r))


def tau_from_decay(decay: np.ndarray, dt: float) -> np.ndarray:
    """Inverse of the Euler decay, for writing NIR: tau = dt / (1 - decay); inf for decay 1."""
    decay = np.asarray(decay, np.float64)
    with np.errstate(divide="ignore"):
        return np.where(decay < 1.0, dt / np.maximum(1.0 - decay, 1e-300), np.inf)
