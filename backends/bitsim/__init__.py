"""bitsim: the bit-exact integer simulator, the reference semantics of every QGraph.

``run_plain`` (:mod:`.plain`) is the definition: step by step, node by node,
int64. ``simulate`` picks a fast path (:mod:`.fast`) that gives identical
integers; ``path="plain"`` forces the definition.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snncompile.quant.qnodes import QGraph

from .plain import Traces, check_inputs, run_plain


def simulate(
    qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto", allow_counts: bool = False
) -> Traces:
    """Per-node int64 traces ``[T, B, ...]`` of ``qgraph`` on spike inputs ``[T, B, *shape]``."""
    if path == "plain":
        return run_plain(qgraph, inputs, allow_counts=allow_counts)
    from .fast import run_fast

    return run_fast(qgraph, inputs, path=path, allow_counts=allow_counts)


__all__ = ["Traces", "check_inputs", "run_plain", "simulate"]
