"""rtl: synthesizable Verilog-2005 per QGraph, bit-exact with bitsim in Verilator and Icarus (docs/rtl.md).

``BACKEND.check(qgraph)`` raises UnsupportedNodeError for what the layer engine cannot build,
``BACKEND.emit(qgraph, out_dir, inputs)`` writes and simulates the project (docs/rtl.md),
``BACKEND.run(qgraph_or_project, inputs)`` simulates the RTL and returns bitsim's traces.
"""

from __future__ import annotations

from .backend import BACKEND, RtlBackend, format_table

__all__ = ["BACKEND", "RtlBackend", "format_table"]
