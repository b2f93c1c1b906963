"""The lowering context of one timestep: the builder, the graph, the ranges and the declared states.

A lowering function ``fn(ctx, name, node, x) -> y`` turns one node into ONNX
nodes: ``x`` is the node's summed input at step t, ``y`` its output at t. A node
with memory declares each state tensor with :meth:`StepContext.state` (which
returns its value at t-1) and hands over the value for t+1 with
:meth:`StepContext.set_next`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snncompile.graph import Graph
from snncompile.quant.ranges import Interval, summed_input

from .builder import Builder, Val, storage_dtype


@dataclass(frozen=True)
class StateSpec:
    """One state tensor of the step model: input ``name`` (t-1), output ``next_name`` (t).

    ``init`` is the value at t=0 for one sample, shape ``[1, *shape]`` in ``dtype``;
    it is the same for every sample of a batch.
    """

    node: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    init: np.ndarray

    @property
    def name(self) -> str:
        return f"state/{self.node}/{self.key}"

    @property
    def next_name(self) -> str:
        return f"next/{self.node}/{self.key}"


@dataclass(frozen=True)
class IOSpec:
    """A per-step model input (``in/<node>``) or output (``out/<node>``): per-sample shape and dtype."""

    name: str
    node: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype


class StepContext:
    """Collects the ONNX nodes and state declarations of one step of ``graph``.

    ``compute`` is the arithmetic dtype (int64 for QGraphs, the float dtype for float
    graphs); ``ranges`` (integer graphs only) are the node output ranges from
    :func:`snncompile.quant.ranges.analyse`, which size the storage type of every state and output.
    """

    def __init__(self, graph: Graph, compute: np.dtype, ranges: dict[str, Interval] | None) -> None:
        self.b = Builder()
        self.graph = graph
        self.compute = np.dtype(compute)
        self.ranges = ranges
        self.states: list[StateSpec] = []
        self.next: dict[str, Val] = {}

    def storage(self, interval: Interval | None) -> np.dtype:
        """The dtype a state or output holding values in ``interval`` is stored in."""
        if self.ranges is None or interval is None:
            return self.compute
        return storage_dtype(*interval)

    def in_range(self, name: str) -> Interval:
        """The range of the summed input of node ``name`` (integer graphs)."""
        assert self.ranges is not None
        return summed_input(self.graph, name, self.ranges)

    def state(self, node: str, key: str, shape: tuple[int, ...], interval: Interval | None,
              init: Any) -> Val:
        """Declare a state tensor [B, *shape]; returns its value at t-1 in the compute dtype."""
        dtype = self.storage(interval)
        start = np.broadcast_to(np.asarray(init), shape).astype(dtype).reshape(1, *shape)
        spec = StateSpec(node, key, tuple(shape), dtype, start)
        self.states.append(spec)
        return self.b.cast(Val(spec.name, dtype), self.compute)

    def set_next(self, node: str, key: str, val: Val) -> None:
        self.next[f"state/{node}/{key}"] = val


Lowering = Callable[[StepContext, str, Any, Val], Val]
