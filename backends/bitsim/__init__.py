"""bitsim: the bit-exact integer simulator, the reference semantics of every QGraph.

``run_plain`` (:mod:`.plain`) is the definition: step by step, node by node,
int64. ``simulate`` picks a fast path (:mod:`.fast`) that gives identical
integers; ``path="plain"`` forces the definition. The ``*_with_clamps``
variants also return the run's register clamp events (where an i or v register
saturated or wrapped, :mod:`snncompile.quant.clamps`), identical on every path.

Traces on demand (:mod:`.traces`): ``keep`` names the traces to record (default: all, as always;
``"outputs"``: the Output nodes only), each stored in the narrowest integer type its proven range allows
(spikes uint8, a 24-bit membrane int32); ``narrow=False`` gives int64 throughout.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snncompile.quant.clamps import ClampEvent
from snncompile.quant.qnodes import QGraph

from .plain import Traces, check_inputs, run_plain, run_plain_with_clamps
from .traces import Keep


def simulate(
    qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto", allow_counts: bool = False,
    keep: Keep = None, narrow: bool = True,
) -> Traces:
    """Per-node integer traces ``[T, B, ...]`` of ``qgraph`` on spike inputs ``[T, B, *shape]`` (see above)."""
    from .xylo import run_xylo_graph, uses_xylo

    if uses_xylo(qgraph):  # Xylo's per-event saturation: its own path
        return run_xylo_graph(qgraph, inputs, path="plain" if path == "plain" else "auto", allow_counts=allow_counts,
                              keep=keep, narrow=narrow)
    return simulate_with_clamps(qgraph, inputs, path=path, allow_counts=allow_counts, keep=keep, narrow=narrow)[0]


def simulate_with_clamps(
    qgraph: QGraph, inputs: np.ndarray | Mapping[str, np.ndarray], *, path: str = "auto", allow_counts: bool = False,
    keep: Keep = None, narrow: bool = True,
) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """:func:`simulate`'s traces and the run's register clamp events (identical on every path)."""
    from .xylo import run_xylo_graph_with_clamps, uses_xylo

    if uses_xylo(qgraph):  # Xylo's per-event saturation: its event-order definition, which counts the clamps
        return run_xylo_graph_with_clamps(qgraph, inputs, allow_counts=allow_counts)
    if path == "plain":
        return run_plain_with_clamps(qgraph, inputs, allow_counts=allow_counts, keep=keep, narrow=narrow)
    from .fast import run_fast_with_clamps

    return run_fast_with_clamps(qgraph, inputs, path=path, allow_counts=allow_counts, keep=keep, narrow=narrow)


__all__ = ["ClampEvent", "Keep", "Traces", "check_inputs", "run_plain", "run_plain_with_clamps", "simulate",
           "simulate_with_clamps"]
