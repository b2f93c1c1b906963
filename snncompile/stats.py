"""Size statistics of a Graph: neurons, synapses, parameters (pure functions).

Used by ``snncompile inspect`` and reusable by backends' resource estimates.

* neurons: ``prod(shape)`` of every neuron node (:class:`~snncompile.nodes.NeuronNode`:
  I, IF, LI, LIF, CubaLI, CubaLIF and the stateless Threshold).
* synapses: weighted (input, output) connections, counted whether or not a
  weight is zero: Affine/Linear ``weight.size``; Scale one per element;
  Conv1d/Conv2d the pairs a kernel tap actually connects, i.e. taps that land
  on padding are not counted (without padding this is
  ``C_out * H_out * W_out * C_in/groups * KH * KW``). Pools, Flatten and
  Delay have no weights.
* parameters: the elements of every array field of every node (``v_init``
  included); parameter bytes: their ``nbytes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np

from .graph import Edge, Graph
from .nodes import Affine, Conv1d, Conv2d, Linear, NeuronNode, Node, Scale


@dataclass(frozen=True)
class Totals:
    neurons: int
    synapses: int
    parameters: int
    parameter_bytes: int


def node_arrays(node: Node) -> dict[str, np.ndarray]:
    """The array-valued parameters of a node, by field name."""
    return {k: v for k, v in node.params().items() if isinstance(v, np.ndarray)}


def parameter_count(node: Node) -> int:
    return sum(int(a.size) for a in node_arrays(node).values())


def parameter_bytes(node: Node) -> int:
    return sum(int(a.nbytes) for a in node_arrays(node).values())


def neuron_count(node: Node) -> int:
    """``prod(shape)`` for a neuron node (Threshold included), 0 otherwise."""
    return prod(node.shape) if isinstance(node, NeuronNode) else 0


def connected_taps(n_in: int, n_out: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Along one axis: the (output position, kernel tap) pairs whose input index is not padding."""
    out = np.arange(n_out)[:, None] * stride - padding
    idx = out + np.arange(kernel)[None, :] * dilation
    return int(np.count_nonzero((idx >= 0) & (idx < n_in)))


def _conv_synapses(weight: np.ndarray, in_spatial: Sequence[int], out_spatial: Sequence[int],
                   stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int]) -> int:
    per_axis = [
        connected_taps(n, o, k, s, p, d)
        for n, o, k, s, p, d in zip(in_spatial, out_spatial, weight.shape[2:], stride, padding, dilation, strict=True)
    ]
    # Each output channel sees C_in/groups input channels; the axes are independent.
    return int(weight.shape[0]) * int(weight.shape[1]) * prod(per_axis)


def synapse_count(graph: Graph, name: str) -> int:
    """Weighted connections of one node (see module docstring); 0 for unweighted nodes."""
    node = graph.nodes[name]
    if isinstance(node, Affine | Linear):
        return int(node.weight.size)
    if isinstance(node, Scale):
        return int(np.broadcast_to(node.scale, graph.shapes[name]).size)
    if isinstance(node, Conv1d):
        in_shape, out_shape = graph.input_shape(name), graph.shapes[name]
        return _conv_synapses(node.weight, in_shape[1:], out_shape[1:], (node.stride,), (node.padding,),
                              (node.dilation,))
    if isinstance(node, Conv2d):
        in_shape, out_shape = graph.input_shape(name), graph.shapes[name]
        return _conv_synapses(node.weight, in_shape[1:], out_shape[1:], node.stride, node.padding, node.dilation)
    return 0


def neurons_by_type(graph: Graph) -> dict[str, int]:
    """Neuron counts per node type, in graph order of first appearance."""
    counts: dict[str, int] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, NeuronNode):
            counts[node.type_name] = counts.get(node.type_name, 0) + neuron_count(node)
    return counts


def recurrent_edges(graph: Graph) -> list[Edge]:
    """The recurrent edges in the graph's edge order."""
    return [e for e in graph.edges if e in graph.recurrent_edges]


def totals(graph: Graph) -> Totals:
    return Totals(
        neurons=sum(neuron_count(n) for n in graph.nodes.values()),
        synapses=sum(synapse_count(graph, name) for name in graph.nodes),
        parameters=sum(parameter_count(n) for n in graph.nodes.values()),
        parameter_bytes=sum(parameter_bytes(n) for n in graph.nodes.values()),
    )
