"""Losses over time-major recordings ``[T, B, C]`` and accuracy helpers.

    ce_count_loss          CE(sum_t s[t], y)                             spike counts as logits
    ce_max_membrane_loss   CE(max_t v[t], y)                             readout membranes
    mse_count_loss         MSE(sum_t s[t], T*rate), rate = correct_rate on class y, incorrect_rate elsewhere
    first_spike_loss       CE(-t_first, y), t_first = sum_t prod_{k<=t} (1 - s[k])  (T if silent;
                           differentiable through the surrogate spikes)
    mse_membrane_loss      MSE(v[t], on_target on class y, off_target elsewhere), all t
    spike_rate_l1          weight * mean |s|  over every recording given (a regulariser)
    rate_accuracy          mean(argmax_c sum_t s == y)
    latency_accuracy       mean(argmin_c t_first == y)   (ties -> lowest class index)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError


def _check(rec: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if rec.ndim != 3:
        raise InputError(f"{what}: recording must be [T, B, C], got shape {tuple(rec.shape)}")
    if y.shape != (rec.shape[1],):
        raise InputError(f"{what}: targets must be [B]={rec.shape[1]} class indices, got shape {tuple(y.shape)}")


def ce_count_loss(spk: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    _check(spk, y, "ce_count_loss")
    return F.cross_entropy(spk.sum(0), y)


def ce_max_membrane_loss(mem: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    _check(mem, y, "ce_max_membrane_loss")
    return F.cross_entropy(mem.max(0).values, y)


def mse_count_loss(
    spk: torch.Tensor, y: torch.Tensor, *, correct_rate: float = 0.8, incorrect_rate: float = 0.2
) -> torch.Tensor:
    _check(spk, y, "mse_count_loss")
    T, _, C = spk.shape
    target = torch.full_like(spk[0], incorrect_rate * T)
    target.scatter_(1, y.unsqueeze(1), correct_rate * T)
    return F.mse_loss(spk.sum(0), target)


def first_spike_times(spk: torch.Tensor) -> torch.Tensor:
    """Index of each neuron's first spike, ``[B, C]`` (T when it never fires); differentiable in ``spk``."""
    silent = torch.cumprod(1 - spk.clamp(max=1), dim=0)
    return silent.sum(0)


def first_spike_loss(spk: torch.Tensor, y: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    _check(spk, y, "first_spike_loss")
    return F.cross_entropy(-first_spike_times(spk) / temperature, y)


def mse_membrane_loss(
    mem: torch.Tensor, y: torch.Tensor, *, on_target: float = 1.0, off_target: float = 0.0
) -> torch.Tensor:
    _check(mem, y, "mse_membrane_loss")
    target = torch.full_like(mem[0], off_target)
    target.scatter_(1, y.unsqueeze(1), on_target)
    return F.mse_loss(mem, target.expand_as(mem))


def spike_rate_l1(recordings: torch.Tensor | Sequence[torch.Tensor], weight: float = 1e-3) -> torch.Tensor:
    recs = [recordings] if isinstance(recordings, torch.Tensor) else list(recordings)
    if not recs:
        raise InputError("spike_rate_l1: no recordings given")
    return weight * sum(r.abs().mean() for r in recs)  # type: ignore[return-value]


def rate_accuracy(spk: torch.Tensor, y: torch.Tensor) -> float:
    _check(spk, y, "rate_accuracy")
    return float((spk.sum(0).argmax(1) == y).float().mean())


def latency_accuracy(spk: torch.Tensor, y: torch.Tensor) -> float:
    _check(spk, y, "latency_accuracy")
    return float((first_spike_times(spk).argmin(1) == y).float().mean())
