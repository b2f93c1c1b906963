"""The shared walk of the framework tracers (:mod:`.trace_sinabs`, :mod:`.trace_rockpool`, :mod:`.trace_norse`).

A framework model is read as a chain: its container (``nn.Sequential``, Norse's ``SequentialState``,
Rockpool's ``Sequential``) is flattened into its leaf modules in order, and each leaf is described by the
framework's own function, which appends IR nodes to a :class:`Chain` (``then``: a node fed by the chain's
current end; ``recurrent``: a node on a cycle that closes back on an earlier one). Shapes are propagated with
the IR's own ``output_shape``, so the model is never run and its states are left untouched. Stateless torch
layers (Linear, Conv1d/2d, AvgPool2d, Flatten; Identity/Dropout as the identity) are read as
:mod:`.torch_trace` reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import nodes as ir
from ..errors import GraphError, ParameterError, UnsupportedNodeError
from ..graph import Graph

Shape = tuple[int, ...]
PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
TORCH_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.Flatten)


@dataclass
class Chain:
    """IR nodes and edges built along a sequential model; ``last`` is the node whose output flows on."""

    nodes: dict[str, ir.Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    last: str = "input"
    shape: Shape = ()

    def add(self, name: str, node: ir.Node) -> None:
        if name in self.nodes:
            raise GraphError(f"trace: two nodes would be named '{name}'")
        self.nodes[name] = node

    def then(self, name: str, node: ir.Node) -> str:
        """Append ``node`` fed by the current end; it becomes the end."""
        self.add(name, node)
        self.edges.append((self.last, name))
        self.shape = node.output_shape(name, self.shape)
        self.last = name
        return name

    def loop(self, source: str, name: str, node: ir.Node, into: str) -> None:
        """``node`` fed by ``source`` whose output goes back into ``into`` (the cycle's recurrent, t-1 edge)."""
        self.add(name, node)
        self.edges += [(source, name), (name, into)]


def np_array(t: Any) -> np.ndarray:
    return torch.as_tensor(t).detach().cpu().numpy().copy()


def broadcast(owner: str, what: str, value: Any, shape: Shape) -> np.ndarray:
    """A framework parameter (tensor or number) broadcast to the neuron shape, as a float array."""
    t = torch.as_tensor(value).detach()
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    try:
        return np_array(torch.broadcast_to(t, shape)).astype(np.float64)
    except RuntimeError:
        raise UnsupportedNodeError(f"module '{owner}': parameter '{what}' of shape {tuple(t.shape)} does not "
                                   f"broadcast to the neuron shape {shape} (batch dim excluded)") from None


def leaves(model: nn.Module, containers: tuple[type, ...], prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    """The leaf modules of nested containers, in order, named by their dotted path (``"0"``, ``"net.2"``)."""
    if isinstance(model, containers):
        for key, child in model.named_children():
            yield from leaves(child, containers, f"{prefix}{key}.")
    else:
        yield prefix[:-1] or type(model).__name__, model


def torch_layer(name: str, m: nn.Module, shape: Shape) -> ir.Node | None:
    """The IR node of a stateless torch layer, None for a pass-through; UnsupportedNodeError otherwise."""
    from .torch_layers import _layer

    if isinstance(m, PASS_THROUGH):
        return None
    return _layer(name, m, shape)


def trace_chain(model: nn.Module, sample: torch.Tensor, *, framework: str, containers: tuple[type, ...],
                describe: Callable[[Chain, str, nn.Module], None], dt: float, name_prefix: str = "") -> Graph:
    """Walk ``model``'s leaves through ``describe`` (see the module docstring) into a Graph.

    ``sample``: one timestep of input with a batch dim; only its shape is used (the Input excludes the batch).
    """
    if not isinstance(sample, torch.Tensor) or sample.ndim < 2:
        raise GraphError(f"trace ({framework}): sample must be a tensor [batch, *shape] of one timestep, got "
                         f"{getattr(sample, 'shape', type(sample).__name__)}")
    chain = Chain(shape=tuple(int(s) for s in sample.shape[1:]))
    chain.add("input", ir.Input(shape=chain.shape))
    for name, m in leaves(model, containers):
        try:
            describe(chain, name_prefix + name, m)
        except ParameterError as err:
            raise GraphError(f"{framework} module '{name}' ({type(m).__name__}): {err.detail}") from None
    chain.then("output", ir.Output())
    return Graph(chain.nodes, tuple(chain.edges), dt=dt, metadata={"snncompile.source": f"{framework}.trace"})
