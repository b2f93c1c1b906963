"""Spike encoders. Every output is time-major ``[T, B, ...]`` and float (0/1) in the input's dtype.

    rate(x, T)      s[t] ~ Bernoulli(clamp(gain*x, 0, 1)), independent per step; seeded by ``generator``
    latency(x, T)   one spike per element at t(x), large x early; x <= threshold never spikes
                    linear: t = round((1 - x) * (T-1))                       (x normalised to [0, 1])
                    log:    t = tau * ln(x / (x - threshold)), then scaled so the largest finite t is T-1
    delta(x)        x already time-major [T, B, ...]; on[t] = x[t] - x[t-1] >= threshold (x[-1] = x[0],
                    so the first step never fires); off[t] = x[t-1] - x[t] >= threshold;
                    with ``off_spikes=True`` the result is [T, B, 2, ...] (index 0 = on, 1 = off)
"""

from __future__ import annotations

import torch

from ..errors import InputError


def rate(
    x: torch.Tensor, num_steps: int, *, gain: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Bernoulli rate code of ``x`` [B, ...] over ``num_steps``; ``[T, B, ...]``."""
    _check_steps(num_steps)
    p = torch.clamp(gain * x, 0, 1).expand(num_steps, *x.shape)
    return torch.bernoulli(p, generator=generator).to(x.dtype)


def latency(
    x: torch.Tensor, num_steps: int, *, linear: bool = True, tau: float = 5.0, threshold: float = 0.01,
    normalize: bool = True,
) -> torch.Tensor:
    """One spike per element of ``x`` [B, ...] (values in [0, 1]) at its latency; ``[T, B, ...]``."""
    _check_steps(num_steps)
    if tau <= 0 or not 0 <= threshold < 1:
        raise InputError(f"latency: need tau > 0 and 0 <= threshold < 1, got tau={tau}, threshold={threshold}")
    xc = torch.clamp(x, 0, 1)
    fires = xc > threshold
    if linear:
        t = (1 - xc) * (num_steps - 1)
    else:
        safe = torch.where(fires, xc, torch.ones_like(xc))
        t = tau * torch.log(safe / (safe - threshold))
        if normalize:
            t_max = torch.where(fires, t, torch.zeros_like(t)).max() if fires.any() else torch.tensor(1.0)
            t = t * ((num_steps - 1) / t_max.clamp(min=1e-12))
    idx = torch.round(t).clamp(0, num_steps - 1).long()
    out = torch.zeros((num_steps, *x.shape), dtype=x.dtype, device=x.device)
    out.scatter_(0, idx.unsqueeze(0), fires.unsqueeze(0).to(x.dtype))
    return out


def delta(x: torch.Tensor, *, threshold: float = 0.1, off_spikes: bool = True) -> torch.Tensor:
    """Change code of a time-major signal ``x`` [T, B, ...]; see the module docstring."""
    if x.ndim < 2:
        raise InputError(f"delta: x must be time-major [T, B, ...], got shape {tuple(x.shape)}")
    prev = torch.cat([x[:1], x[:-1]])
    diff = x - prev
    on = (diff >= threshold).to(x.dtype)
    if not off_spikes:
        return on
    off = (-diff >= threshold).to(x.dtype)
    return torch.stack([on, off], dim=2)


def _check_steps(num_steps: int) -> None:
    if not isinstance(num_steps, int) or num_steps < 1:
        raise InputError(f"encoder: num_steps must be an int >= 1, got {num_steps!r}")
