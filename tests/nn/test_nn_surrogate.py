"""Surrogates: exact Heaviside forward, finite non-zero gradients backward through every layer."""

from __future__ import annotations

import pytest
import torch

from snncompile import GraphError
from snncompile import nn as snn
from snncompile.nn import surrogate

SURROGATES = {
    **{name: factory() for name, factory in surrogate.SURROGATES.items()},
    "custom": surrogate.custom(lambda u: torch.exp(-u.abs())),
}


@pytest.mark.parametrize("name", list(SURROGATES))
def test_forward_is_exact_heaviside(name: str) -> None:
    u = torch.tensor([-1.0, -1e-30, 0.0, 1e-30, 1.0], requires_grad=True)
    sg = SURROGATES[name]
    assert sg(u, "gt").tolist() == [0, 0, 0, 1, 1]
    assert sg(u, "ge").tolist() == [0, 0, 1, 1, 1]
    sg(u).sum().backward()
    assert torch.isfinite(u.grad).all() and (u.grad >= 0).all() and (u.grad[1:4] > 0).all()


def test_derivative_values() -> None:
    u = torch.tensor([0.0, 0.5])
    assert torch.allclose(surrogate.atan(2.0).derivative(u), 1 / (1 + (torch.pi * u) ** 2))
    assert torch.allclose(surrogate.fast_sigmoid(4.0).derivative(u), torch.tensor([1.0, 1 / 9]))
    assert torch.allclose(surrogate.sigmoid(2.0).derivative(u)[0], torch.tensor(0.5))
    assert surrogate.straight_through(3.0).derivative(u).tolist() == [3.0, 3.0]
    assert surrogate.triangular(1.0).derivative(u).tolist() == [1.0, 0.5]


def test_bad_surrogates_are_refused() -> None:
    with pytest.raises(GraphError, match="slope=-1"):
        surrogate.atan(-1)
    with pytest.raises(GraphError, match="unknown"):
        surrogate.Surrogate("relu", 1.0)


def _model(layer: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), layer, torch.nn.Linear(4, 2), snn.LI(0.8))


LAYERS = {
    "Leaky": lambda sg: snn.Leaky(0.9, learn_beta=True, learn_threshold=True, surrogate=sg),
    "Synaptic": lambda sg: snn.Synaptic(0.5, 0.9, learn_alpha=True, learn_beta=True, surrogate=sg),
    "IF": lambda sg: snn.IF(1.0, learn_threshold=True, surrogate=sg),
    "RLeaky": lambda sg: snn.RLeaky(0.9, size=4, surrogate=sg),
    "RSynaptic": lambda sg: snn.RSynaptic(0.5, 0.9, size=4, surrogate=sg),
    "multi": lambda sg: snn.Leaky(0.9, surrogate=sg, semantics=snn.Leaky(0.9).semantics.with_(
        spikes="multi", spike_cap=4)),
}


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("sg", list(SURROGATES))
def test_gradients_finite_and_nonzero(layer: str, sg: str) -> None:
    model = _model(LAYERS[layer](SURROGATES[sg]))
    x = torch.rand(12, 5, 3, generator=torch.Generator().manual_seed(1)) * 2
    out = snn.run(model, x)
    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    first = model[0].weight.grad
    assert first.abs().sum() > 0, "no gradient reached the first layer through the spikes"


def test_state_on_module_and_detach() -> None:
    layer = snn.Leaky(0.5)
    assert layer.v is None
    layer(torch.ones(2, 3))
    assert layer.v.shape == (2, 3) and layer.v.tolist() == [[1.0] * 3] * 2
    layer.detach_state()
    layer.reset()
    assert layer.state is None
    layer(torch.ones(7, 3))  # a new batch size after reset
    assert layer.v.shape == (7, 3)
