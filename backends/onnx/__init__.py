"""onnx: the fixed-point network as ONNX models that onnxruntime runs bit-exactly (docs/onnx.md).

``BACKEND.emit(qgraph, out_dir)`` writes ``step.onnx`` (one timestep, explicit
state) and ``scan.onnx`` (all timesteps, Scan); ``BACKEND.run`` executes them with
onnxruntime and returns bitsim-format traces. ``emit_float`` / ``run_float`` do
the same for the float discrete-time graph. See docs/onnx.md.
"""

from __future__ import annotations

from .backend import BACKEND, OnnxBackend, emit_float, lower_float_graph, lower_qgraph, run_float

__all__ = ["BACKEND", "OnnxBackend", "emit_float", "lower_float_graph", "lower_qgraph", "run_float"]
