"""Fake quantisation for quantisation-aware training, with the compiler's rules (:mod:`snncompile.quant`).

For a weight layer feeding a neuron layer (one scale group per output channel, ``granularity="channel"``,
or one for the layer, ``"tensor"``), with ``q = 2^(weight_bits-1) - 1`` and ``m = max |w|`` over the group:

    scale      s = q / m  ("maxabs");  2^floor(log2(q/m))  ("pow2");  1 where the group's weights are all 0
    weight     w' = clamp(round(w*s), -q, q) / s
    bias       b' = round(b*s) / s
    threshold  theta' = round(theta*s) / s   (v_reset and neuron bias likewise)
    decay      d' = round(d * 2^D) / 2^D     (D = spec.frac_bits; alpha and beta)

``round`` is half away from zero (:func:`snncompile.quant.scales.round_half_away`). The forward pass sees the
quantised values, the backward pass is the identity (straight-through). Not modelled: scale groups merged across
layers (fan-in, recurrence, pooling gains), ``scale_rule="percentile"`` and the state-register width; for those the
compiler's result can differ from the fake-quantised model.
"""

from __future__ import annotations

import torch

from ..errors import QuantizationError
from ..quant.spec import QuantSpec


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, halves away from zero, with a straight-through gradient."""
    r = torch.sign(x) * torch.floor(x.abs() + 0.5)
    return x + (r - x).detach()


def layer_scale(weight: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """The scale of every output channel [C_out] (the same value everywhere for ``granularity="tensor"``)."""
    if spec.scale_rule == "percentile":
        raise QuantizationError("qat: scale_rule='percentile' is not modelled; use 'maxabs' or 'pow2'")
    q = (1 << (spec.weight_bits - 1)) - 1
    w = weight.detach().abs().reshape(weight.shape[0], -1)
    m = w.max(dim=1).values if spec.granularity == "channel" else w.max().expand(weight.shape[0])
    scale = torch.where(m > 0, q / m.clamp(min=1e-300), torch.ones_like(m))
    if spec.scale_rule == "pow2":
        scale = torch.pow(2.0, torch.floor(torch.log2(scale)))
    return scale


def fake_quant_weight(weight: torch.Tensor, scale: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    q = (1 << (spec.weight_bits - 1)) - 1
    s = scale.reshape(-1, *([1] * (weight.ndim - 1))).to(weight.dtype)
    return torch.clamp(round_half_away(weight * s), -q, q) / s


def fake_quant_value(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A bias, threshold, v_reset or neuron bias on the scale of its channel: round(x*s)/s."""
    s = scale.to(value.dtype)
    return round_half_away(value * s) / s


def fake_quant_decay(decay: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    one = float(1 << spec.frac_bits)
    return round_half_away(decay.clamp(0, 1) * one) / one
