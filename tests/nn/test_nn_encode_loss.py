"""Encoders (shapes, statistics, seeding) and losses / accuracy on tiny hand cases."""

from __future__ import annotations

import math

import pytest
import torch

from snncompile import InputError
from snncompile.nn import encode, loss


def test_rate_shape_statistics_and_seed() -> None:
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    a = encode.rate(x, 4000, generator=torch.Generator().manual_seed(5))
    b = encode.rate(x, 4000, generator=torch.Generator().manual_seed(5))
    assert a.shape == (4000, 1, 4) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    means = a.mean(0)[0]
    assert means[0] == 0 and means[3] == 1
    assert abs(means[1] - 0.25) < 0.03 and abs(means[2] - 0.5) < 0.03
    assert encode.rate(x, 10, gain=2.0).mean(0)[0, 2] == 1  # clamped to p=1


def test_latency_linear_and_log() -> None:
    x = torch.tensor([[1.0, 0.5, 0.0, 0.2]])
    s = encode.latency(x, 11)
    assert s.shape == (11, 1, 4)
    assert s.sum(0).tolist() == [[1, 1, 0, 1]]  # 0 <= threshold never fires
    assert s.argmax(0)[0, :2].tolist() == [0, 5] and s[8, 0, 3] == 1
    lg = encode.latency(x, 11, linear=False, tau=5.0, threshold=0.01)
    times = lg.argmax(0)[0]
    assert lg.sum().item() == 3 and times[0] < times[1] < times[3] == 10  # normalised: the latest at T-1


def test_delta_on_off() -> None:
    x = torch.tensor([0.0, 0.5, 0.5, 0.1, 0.15]).reshape(5, 1, 1)
    d = encode.delta(x, threshold=0.3)
    assert d.shape == (5, 1, 2, 1)
    assert d[:, 0, 0, 0].tolist() == [0, 1, 0, 0, 0]
    assert d[:, 0, 1, 0].tolist() == [0, 0, 0, 1, 0]
    assert encode.delta(x, threshold=0.3, off_spikes=False).shape == (5, 1, 1)


def test_encoders_refuse_bad_arguments() -> None:
    with pytest.raises(InputError, match="num_steps"):
        encode.rate(torch.zeros(1, 2), 0)
    with pytest.raises(InputError, match=r"\[T, B, \.\.\.\]"):
        encode.delta(torch.zeros(3))


# spikes [T=3, B=2, C=2]: sample 0 fires class 0 twice (first at t=0); sample 1 fires class 1 at t=1 and class 0 at t=2
SPK = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [1.0, 0.0]]])
Y = torch.tensor([0, 1])


def test_count_losses() -> None:
    counts = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    expected = (math.log(1 + math.exp(-2)) + math.log(2)) / 2
    assert torch.isclose(loss.ce_count_loss(SPK, Y), torch.tensor(expected))
    target = torch.tensor([[2.4, 0.6], [0.6, 2.4]])
    assert torch.isclose(loss.mse_count_loss(SPK, Y), ((counts - target) ** 2).mean())
    assert loss.rate_accuracy(SPK, Y) == 0.5  # sample 1 ties 1:1, argmax picks class 0


def test_membrane_losses() -> None:
    mem = torch.tensor([[[0.0, 3.0]], [[2.0, 1.0]]])  # T=2, B=1, C=2
    y = torch.tensor([0])
    assert torch.isclose(loss.ce_max_membrane_loss(mem, y), torch.tensor(math.log(1 + math.exp(1.0))))
    assert torch.isclose(loss.mse_membrane_loss(mem, y), torch.tensor((1 + 9 + 1 + 1) / 4))


def test_first_spike_loss_and_latency_accuracy() -> None:
    times = loss.first_spike_times(SPK)
    assert times.tolist() == [[0.0, 3.0], [2.0, 1.0]]
    assert loss.latency_accuracy(SPK, Y) == 1.0
    expected = (math.log(1 + math.exp(-3)) + math.log(1 + math.exp(-1))) / 2
    assert torch.isclose(loss.first_spike_loss(SPK, Y), torch.tensor(expected))
    spk = SPK.clone().requires_grad_(True)
    loss.first_spike_loss(spk, Y).backward()
    assert torch.isfinite(spk.grad).all() and spk.grad.abs().sum() > 0


def test_spike_rate_l1_and_shape_errors() -> None:
    assert torch.isclose(loss.spike_rate_l1([SPK, torch.ones(2, 2)], weight=0.5), torch.tensor(0.5 * (4 / 12 + 1)))
    with pytest.raises(InputError, match="targets must be"):
        loss.ce_count_loss(SPK, torch.tensor([0]))
