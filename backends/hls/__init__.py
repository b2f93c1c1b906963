"""hls: a self-contained C99 / Vitis HLS project per QGraph, bit-exact with bitsim (docs/hls.md).

``BACKEND.check(qgraph)`` raises UnsupportedNodeError for what the C cannot reproduce,
``BACKEND.emit(qgraph, out_dir, inputs)`` writes the project (see docs/hls.md),
``BACKEND.run(qgraph_or_project, inputs)`` runs the compiled C and returns bitsim's traces,
``BACKEND.estimate(qgraph, unroll=...)`` is the analytic resource/latency estimate.
"""

from __future__ import annotations

from .backend import BACKEND, HlsBackend
from .estimate import format_table

__all__ = ["BACKEND", "HlsBackend", "format_table"]
