"""The IR: node dataclasses (:mod:`snncompile.nodes`), the validated :class:`Graph`
and its stable text dump :func:`format` (:mod:`snncompile.graph`)."""

from .graph import Edge, Graph, format
from .nodes import (
    IF,
    LI,
    LIF,
    NODE_TYPES,
    STATEFUL_TYPES,
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    CubaLI,
    CubaLIF,
    Delay,
    Flatten,
    I,
    Input,
    Linear,
    NeuronNode,
    Node,
    Output,
    Scale,
    SumPool2d,
    Threshold,
)

__all__ = [
    "IF", "LI", "LIF", "NODE_TYPES", "STATEFUL_TYPES", "Affine", "AvgPool2d", "Conv1d", "Conv2d", "CubaLI",
    "CubaLIF", "Delay", "Edge", "Flatten", "Graph", "I", "Input", "Linear", "NeuronNode", "Node", "Output",
    "Scale", "SumPool2d", "Threshold", "format",
]
