"""The IR of :mod:`snncompile.nn` layers, for :func:`snncompile.trace`.

:mod:`snncompile.frontend.torch_trace` treats any module with a
``snncompile_ir(name, shape)`` method as a leaf and adds the nodes it returns:
``(nodes, edges, entry, out)`` -- the traced input is wired into ``entry``, the
layer's output is node ``out``. Nothing is lost: the layer's Semantics, every
per-neuron parameter (broadcast to the neuron shape, beta/alpha clamped to
[0, 1] as in the forward pass), v_reset, bias and v_init. A recurrent layer gives
``"<name>.lif"`` and ``"<name>.w_rec"`` with the edge ``w_rec -> lif`` closing
the cycle (the graph's recurrent, t-1 edge), as torch_trace does for snnTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from .. import nodes as ir
from ..errors import UnsupportedNodeError

if TYPE_CHECKING:
    from .neurons import _Neuron

Shape = tuple[int, ...]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _param(layer: str, what: str, value: torch.Tensor, shape: Shape) -> np.ndarray:
    try:
        return _np(torch.broadcast_to(value.detach(), (1, *shape))[0])
    except RuntimeError:
        raise UnsupportedNodeError(
            f"neuron module '{layer}': parameter '{what}' of shape {tuple(value.shape)} does not broadcast to the "
            f"neuron shape {shape} (batch dim excluded)"
        ) from None


def _two(value: Any) -> tuple[int, int]:
    a, b = (int(v) for v in value)
    return (a, b)


def neuron_ir(m: _Neuron, name: str, shape: Shape) -> tuple[dict[str, ir.Node], list[tuple[str, str]], str, str]:
    params: dict[str, Any] = {"shape": shape, "semantics": m.semantics}
    for what in ("alpha", "beta", "threshold", "v_reset", "bias", "v_init"):
        value = getattr(m, what)
        if value is None or (what in ("v_reset", "threshold") and not m.SPIKING):
            continue
        if what in ("alpha", "beta"):
            value = value.clamp(0, 1)
        params[what] = _param(name, what, value, shape)
    has_alpha, has_beta = "alpha" in params, "beta" in params
    if not m.SPIKING:
        node: ir.Node = ir.CubaLI(**params) if has_alpha else ir.LI(**params)
    elif has_alpha:
        node = ir.CubaLIF(**params)
    elif has_beta:
        node = ir.LIF(**params)
    else:
        node = ir.IF(**params)
    if not m.RECURRENT:
        return {name: node}, [], name, name
    lif, w_rec = f"{name}.lif", f"{name}.w_rec"
    rec = _recurrent_ir(m, name, shape)
    return {lif: node, w_rec: rec}, [(lif, w_rec), (w_rec, lif)], lif, lif


def _recurrent_ir(m: Any, name: str, shape: Shape) -> ir.Node:
    rec = m.recurrent
    if rec is None:
        return ir.Scale(scale=_param(name, "V", m.V, shape))
    if isinstance(rec, nn.Linear):
        if len(shape) != 1:
            raise UnsupportedNodeError(f"neuron module '{name}': a Linear recurrence needs a vector layer, got {shape}")
        w = _np(rec.weight)
        return ir.Linear(weight=w) if rec.bias is None else ir.Affine(weight=w, bias=_np(rec.bias))
    if isinstance(rec, nn.Conv2d):
        if rec.padding_mode != "zeros" or isinstance(rec.padding, str):
            raise UnsupportedNodeError(f"neuron module '{name}': recurrent Conv2d needs numeric zero padding")
        bias = _np(rec.bias) if rec.bias is not None else np.zeros(rec.out_channels, dtype=_np(rec.weight).dtype)
        return ir.Conv2d(
            weight=_np(rec.weight), bias=bias, stride=_two(rec.stride), padding=_two(rec.padding),
            dilation=_two(rec.dilation), groups=rec.groups, input_shape=_two(shape[1:]) if len(shape) == 3 else None,
        )
    raise UnsupportedNodeError(f"neuron module '{name}': recurrent module {type(rec).__name__} is not supported")
