"""snnTorch idioms :func:`.torch_trace.trace` maps onto existing IR nodes (called from its ``_Builder``):

* ``nn.MaxPool2d`` on binary spikes: a logical OR over each window (see :func:`max_pool`);
* the membrane of an ``output=True`` (or tutorial-style) neuron used as a readout: an LI / CubaLI with the same
  numbers (see :func:`membrane_readout`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nodes as ir
from ..errors import UnsupportedNodeError
from ..semantics import Semantics


def _two(value: Any) -> tuple[int, int]:
    flat = np.asarray(value).reshape(-1)
    return (int(flat[0]), int(flat[-1]))


def max_pool(b: Any, name: str, m: Any, src: tuple[str, ...], out_shape: tuple[int, ...]) -> str:
    """nn.MaxPool2d on binary spikes = a logical OR over each window = (window count > 0.5): a depthwise
    all-ones Conv2d ``<name>.sum`` then a Threshold ``<name>`` (0.5, binary). Exact in integers (the quantised
    weight is round(s), the threshold round(s/2): count*round(s) > round(s/2) <=> count >= 1) on every
    backend that runs grouped convolutions and Threshold nodes; no new IR node, so NIR files carry it too."""
    cls = type(m).__name__
    if m.ceil_mode or m.return_indices or _two(m.dilation) != (1, 1):
        raise UnsupportedNodeError(f"torch module '{name}' ({cls}): ceil_mode=True, return_indices=True and "
                                   "dilation > 1 are not supported")
    feeding = [b.nodes[s] for s in src]
    if len(feeding) != 1 or not isinstance(feeding[0], ir.NeuronNode) or not feeding[0].SPIKING \
            or feeding[0].semantics.spikes != "binary":
        what = ", ".join(f"'{s}' ({b.nodes[s].type_name})" for s in src)
        raise UnsupportedNodeError(
            f"torch module '{name}' ({cls}) takes {what}; snncompile.trace maps nn.MaxPool2d only on the binary "
            "spikes of one neuron layer (a logical OR, exact in integers); max over other values has no exact "
            "integer IR: pool after the neuron, or use nn.AvgPool2d"
        )
    stride = m.stride if m.stride is not None else m.kernel_size
    channels, (kh, kw) = int(out_shape[0]), _two(m.kernel_size)
    in_shape = tuple(feeding[0].shape)  # type: ignore[attr-defined]
    window = f"{name}.sum"  # a depthwise all-ones conv: the window's spike count (a weight layer to quantise)
    b.add(window, ir.Conv2d(weight=np.ones((channels, 1, kh, kw), np.float32),
                            bias=np.zeros(channels, np.float32), stride=_two(stride), padding=_two(m.padding),
                            dilation=(1, 1), groups=channels, input_shape=_two(in_shape[1:])), src)
    theta = np.full(out_shape, 0.5, np.float32)  # count > 0.5 <=> count >= 1 <=> some spike in the window
    b.add(name, ir.Threshold(shape=out_shape, threshold=theta, semantics=Semantics()), (window,))
    return name


def membrane_readout(b: Any, tup: Any, resets: dict[int, str]) -> str:
    """``mem`` of an ``output=True`` neuron used as a readout: an LI (CubaLI for Synaptic) with the same beta
    (alpha), fed by the same inputs; exact when the neuron never resets (reset_mechanism="none")."""
    m: Any = tup.module
    name = b.prefix + tup.name
    readout = f"{name}.mem"
    if readout in b.nodes:
        return readout
    kind = type(m).__name__
    if kind not in ("Leaky", "Synaptic"):
        raise tup.refuse("'mem' (the membrane)")
    if int(m.reset_mechanism_val) != 2:
        raise UnsupportedNodeError(
            f"the membrane of neuron module '{tup.name}' ({kind}{', output=True' if m.output else ''}, "
            f"reset_mechanism={resets[int(m.reset_mechanism_val)]!r}) is used as a readout, but it is reset by the "
            "neuron's own "
            "spikes; build the readout layer with reset_mechanism=\"none\" (a leaky integrator: the same numbers, "
            "traced as an LI readout) or read its spikes (index 0)"
        )
    neuron = b.nodes[tup.sources[0]]
    shape = tuple(neuron.shape)  # type: ignore[attr-defined]
    params: dict[str, Any] = {"shape": shape, "semantics": Semantics(reset="none", timing="delayed"),
                              "beta": np.array(neuron.beta), "bias": np.zeros(shape, neuron.beta.dtype)}  # type: ignore
    sources = tuple(src for src, dst in b.edges if dst == tup.sources[0])
    if kind == "Synaptic":
        params["alpha"] = np.array(neuron.alpha)  # type: ignore[attr-defined]
        b.add(readout, ir.CubaLI(**params), sources)
    else:
        b.add(readout, ir.LI(**params), sources)
    return readout

