"""Stateless torch layers (and snnTorch's ``recurrent`` modules) as IR nodes, for :mod:`.torch_trace`.

Each function takes the module's name (for error messages), the module and the per-sample input shape
(batch dim dropped) and returns the exact IR node, or refuses by name what has no exact IR equivalent
(asymmetric 'same' padding, non-zero padding modes, AvgPool2d's ceil mode, a Flatten over the batch dim).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .. import nodes as ir
from ..errors import GraphError, UnsupportedNodeError


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _param(name: str, what: str, value: torch.Tensor, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` broadcast (torch rules, against [1, *shape]) to the neuron shape."""
    t = torch.as_tensor(value).detach()
    if not t.is_floating_point():  # threshold=1 is an int64 tensor; snnTorch promotes it against float mem
        t = t.to(torch.get_default_dtype())
    try:
        return _np(torch.broadcast_to(t, (1, *shape))[0])
    except RuntimeError:
        raise UnsupportedNodeError(
            f"neuron module '{name}': parameter '{what}' of shape {tuple(t.shape)} does not broadcast to "
            f"the neuron shape {shape} (batch dim excluded)"
        ) from None


def _padding(name: str, m: Any) -> tuple[int, ...]:
    """A conv's padding as ints; 'same' must be symmetric, padding_mode must be 'zeros'."""
    if m.padding_mode != "zeros":
        raise UnsupportedNodeError(f"torch module '{name}' ({type(m).__name__}): padding_mode={m.padding_mode!r}")
    if m.padding == "valid":
        return (0,) * len(m.kernel_size)
    if m.padding == "same":
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size, strict=True)]
        if any(p % 2 for p in total):
            raise UnsupportedNodeError(
                f"torch module '{name}' ({type(m).__name__}): padding='same' pads asymmetrically here (kernel "
                f"{tuple(m.kernel_size)}, dilation {tuple(m.dilation)}); use an odd effective kernel"
            )
        return tuple(p // 2 for p in total)
    return tuple(int(p) for p in m.padding)


def _two(value: Any) -> tuple[int, int]:
    """An int or an (h, w) pair as an (h, w) pair."""
    flat = np.asarray(value).reshape(-1)
    if flat.size not in (1, 2):
        raise GraphError(f"trace: expected an int or a pair, got {value!r}")
    return (int(flat[0]), int(flat[-1]))


def _conv_bias(m: Any) -> np.ndarray:
    return _np(m.bias) if m.bias is not None else np.zeros(m.out_channels, dtype=_np(m.weight).dtype)


def _conv2d(name: str, m: Any, in_shape: tuple[int, ...]) -> ir.Conv2d:
    return ir.Conv2d(
        weight=_np(m.weight), bias=_conv_bias(m), stride=_two(m.stride), padding=_two(_padding(name, m)),
        dilation=_two(m.dilation), groups=m.groups, input_shape=_two(in_shape[1:]) if len(in_shape) == 3 else None,
    )


def _layer(name: str, m: Any, in_shape: tuple[int, ...]) -> ir.Node:
    """The IR node of a stateless torch layer applied to per-sample shape ``in_shape``."""
    cls = type(m).__name__
    if isinstance(m, nn.Linear):
        if len(in_shape) != 1:
            raise UnsupportedNodeError(
                f"torch module '{name}' (Linear) gets input of shape {in_shape}; the IR needs a vector "
                "(add an nn.Flatten before it)"
            )
        return ir.Linear(weight=_np(m.weight)) if m.bias is None else ir.Affine(weight=_np(m.weight), bias=_np(m.bias))
    if isinstance(m, nn.Conv2d):
        return _conv2d(name, m, in_shape)
    if isinstance(m, nn.Conv1d):
        return ir.Conv1d(
            weight=_np(m.weight), bias=_conv_bias(m), stride=int(m.stride[0]), padding=_padding(name, m)[0],
            dilation=int(m.dilation[0]), groups=m.groups, input_shape=tuple(in_shape[1:]) if in_shape else None,
        )
    if isinstance(m, nn.AvgPool2d):
        padded = any(int(p) for p in np.atleast_1d(m.padding))
        if m.ceil_mode or m.divisor_override is not None or (padded and not m.count_include_pad):
            raise UnsupportedNodeError(
                f"torch module '{name}' (AvgPool2d): ceil_mode=True, divisor_override, and count_include_pad=False "
                "with padding are not supported"
            )
        stride = m.stride if m.stride is not None else m.kernel_size
        return ir.AvgPool2d(kernel_size=_two(m.kernel_size), stride=_two(stride), padding=_two(m.padding))
    if isinstance(m, nn.Flatten):
        nd = len(in_shape) + 1
        start, end = (d + nd if d < 0 else d for d in (m.start_dim, m.end_dim))
        if start <= 0 or end <= 0:
            raise UnsupportedNodeError(
                f"torch module '{name}' (Flatten): start_dim={m.start_dim}, end_dim={m.end_dim} flatten the batch dim"
            )
        return ir.Flatten(start_dim=start - 1, end_dim=end - 1, input_shape=in_shape)
    raise UnsupportedNodeError(f"torch module '{name}' ({cls}) is not supported by snncompile.trace")


def _recurrent(name: str, m: Any, shape: tuple[int, ...]) -> ir.Node:
    """The IR node of ``m.recurrent``, applied to spk[t-1] of neuron shape ``shape``."""
    rec = m.recurrent
    if type(rec).__name__ == "RecurrentOneToOne":  # forward: x * V, no bias
        return ir.Scale(scale=_param(name, "V", rec.V, shape))
    if isinstance(rec, nn.Linear):
        return _layer(f"{name}.recurrent", rec, shape)
    if isinstance(rec, nn.Conv2d):
        return _conv2d(f"{name}.recurrent", rec, shape)
    raise UnsupportedNodeError(f"neuron module '{name}': recurrent module {type(rec).__name__} is not supported")
