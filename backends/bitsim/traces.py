"""Which traces an executor records, and in which integer type: traces on demand, in their natural width.

A caller names the traces it needs with ``keep`` (:func:`resolve_keep`):

* ``None``       -- every node's "out", and every neuron's "v" (and "i"): what bitsim always recorded;
* ``"outputs"``  -- the Output nodes' "out" only;
* a node name, or an iterable of node names -- every trace of those nodes;
* a mapping ``{node: "out" | ("out", "v", ...) | "*"}`` -- the named traces of each node.

Each trace is stored in the narrowest of uint8, int8, int16, int32, int64 that holds its proven range
(:func:`snncompile.quant.ranges.trace_ranges`; spikes are uint8, a 24-bit membrane int32); with spike
counts as inputs (``allow_counts``) the proof does not apply and every trace is int64, as with
``narrow=False``. The plain executor checks every narrowed value (a wrong proof is a BackendError, never a
silent wrap); the fast paths trust the proof, and every test holds them to plain's traces.

The dtypes are computed once per QGraph (:mod:`.cache`: dropped with the graph).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from snncompile.errors import BackendError, InputError
from snncompile.quant.qnodes import CUBA_KINDS, QGraph, QNeuron
from snncompile.quant.ranges import Interval, trace_ranges, unbounded

from .cache import cached

#: a trace request: None (everything), "outputs", node names, or {node: field(s)}
Keep = None | str | Iterable[str] | Mapping[str, str | Iterable[str]]
#: the narrow types a trace may get, narrowest first
NARROW = (np.uint8, np.int8, np.int16, np.int32, np.int64)


def trace_keys(node: object) -> tuple[str, ...]:
    """The traces a node records: "out"; neurons also "v"; current-based ones "i"."""
    if not isinstance(node, QNeuron) or node.kind == "Threshold":
        return ("out",)
    return ("out", "i", "v") if node.kind in CUBA_KINDS else ("out", "v")


def resolve_keep(graph: QGraph, keep: Keep) -> dict[str, tuple[str, ...]]:
    """``keep`` as {node: trace keys}, in graph order; an unknown node or trace is an InputError naming it."""
    if keep is None:
        return {n: trace_keys(graph.nodes[n]) for n in graph.order}
    if isinstance(keep, str):
        keep = {n: "*" for n in graph.outputs} if keep == "outputs" else {keep: "*"}
    elif not isinstance(keep, Mapping):
        keep = {str(n): "*" for n in keep}
    want: dict[str, tuple[str, ...]] = {}
    for name, fields in keep.items():
        if name not in graph.nodes:
            raise InputError(f"trace request: the graph has no node '{name}' (nodes: {', '.join(graph.order)})")
        known = trace_keys(graph.nodes[name])
        asked = known if fields == "*" else ((fields,) if isinstance(fields, str) else tuple(fields))
        for key in asked:
            if key not in known:
                raise InputError(f"trace request: node '{name}' records no trace '{key}' (it records "
                                 f"{', '.join(known)})")
        want[name] = tuple(k for k in known if k in asked)
    return {n: want[n] for n in graph.order if n in want}


def narrowest(iv: Interval) -> np.dtype:
    """The narrowest integer type of :data:`NARROW` holding every value of the interval."""
    if not unbounded(iv):
        for dtype in NARROW:
            info = np.iinfo(dtype)
            if info.min <= iv[0] and iv[1] <= info.max:
                return np.dtype(dtype)
    return np.dtype(np.int64)


def trace_dtypes(graph: QGraph, *, narrow: bool = True, allow_counts: bool = False) -> dict[str, dict[str, np.dtype]]:
    """{node: {trace key: dtype}}: the proven narrow types (int64 everywhere unless ``narrow`` and spike inputs)."""
    if not narrow or allow_counts:
        return {n: {k: np.dtype(np.int64) for k in trace_keys(nd)} for n, nd in graph.nodes.items()}
    return cached(graph, "trace_dtypes", lambda: {n: {k: narrowest(iv) for k, iv in rec.items()}
                                                  for n, rec in trace_ranges(graph).items()})


def narrowed(node: str, key: str, values: np.ndarray, dtype: np.dtype, *, checked: bool) -> np.ndarray:
    """``values`` as ``dtype``; ``checked``: a value the type cannot hold is a BackendError (the proof is wrong)."""
    if values.dtype == dtype:
        return values
    out = values.astype(dtype)
    if checked and not np.array_equal(out, values):
        idx = tuple(int(i) for i in np.argwhere(out != values)[0])
        raise BackendError(f"node '{node}' trace '{key}': value {values[idx]} at {idx} is outside its proven "
                           f"range ({dtype}); the range analysis is wrong, please report it")
    return out
