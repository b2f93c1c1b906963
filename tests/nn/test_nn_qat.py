"""Fake quantisation follows the compiler's rounding and scale rules, with straight-through gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snncompile import QuantizationError, QuantSpec
from snncompile.nn import qat
from snncompile.quant.scales import round_half_away as np_round


def test_round_half_away_matches_compiler_and_passes_gradient() -> None:
    x = torch.tensor([-2.5, -1.5, -0.5, 0.49, 0.5, 1.5, 2.5], requires_grad=True, dtype=torch.float64)
    r = qat.round_half_away(x)
    assert r.tolist() == np_round(x.detach().numpy()).tolist()
    r.sum().backward()
    assert x.grad.tolist() == [1.0] * 7


def test_weight_threshold_decay() -> None:
    spec = QuantSpec(weight_bits=4, frac_bits=4)
    w = torch.tensor([[0.7, -0.35, 0.1], [0.0, 0.0, 0.0]])
    s = qat.layer_scale(w, spec)
    assert s.tolist() == pytest.approx([7 / 0.7, 1.0])
    wq = qat.fake_quant_weight(w, s, spec)
    np.testing.assert_allclose(wq.numpy()[0], np.array([7, -4, 1]) / 10, rtol=1e-6)  # -3.5 -> -4
    theta = qat.fake_quant_value(torch.tensor([0.26, 0.26]), s)
    np.testing.assert_allclose(theta.numpy(), [0.3, 0.0], atol=1e-6)  # round(2.6)/10, round(0.26)/1
    assert qat.fake_quant_decay(torch.tensor([0.9, 1.2]), spec).tolist() == [14 / 16, 1.0]
    tensor_spec = QuantSpec(weight_bits=4, granularity="tensor", scale_rule="pow2")
    assert qat.layer_scale(w, tensor_spec).tolist() == [8.0, 8.0]


def test_percentile_refused() -> None:
    with pytest.raises(QuantizationError, match="percentile"):
        qat.layer_scale(torch.ones(2, 2), QuantSpec(scale_rule="percentile"))
