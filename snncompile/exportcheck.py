"""The ``fixed<->target`` check of ``export``, with no executor run twice on the same inputs.

``export`` simulates the QGraph once on the stimuli (bitsim's fast path, :func:`golden_traces`; the
equivalence suite proves it equal to the plain definition) and hands those traces to every target's
``emit`` (which writes them as its golden file instead of simulating again). Each target's check then
compares the target's *own* execution of its artifacts with them, obtained once:

* a target whose ``emit`` already ran its artifacts (rtl: the testbench in Verilator/Icarus) returns that
  run's traces as ``"traces"``; they are compared, not recomputed;
* bitsim: its artifacts are ``qgraph.nir`` and ``golden.npz`` (the golden run itself). The check reads both
  back: a ``qgraph.nir`` equal to the QGraph in every node, array, edge and metadata value makes
  ``golden.npz`` read back its traces (a bitsim run of the read graph would be the golden run again); a
  graph that does not read back equal is simulated (and will not match);
* hls, when its ``emit`` ran the project's C simulation (``csim``, as ``export`` asks): the testbench built by
  gcc from the emitted files compared every recorded value of every sample and step with ``golden.bin`` and
  passed (else emit raised, with the first mismatch); the check reads ``golden.bin`` back and compares it with the
  golden traces, so the C equals bitsim value for value without building and running the C a second time;
* every other target runs its artifacts once (``backend.run``: gcc-compiled C, onnxruntime, the core
  simulator).

``snncompile verify --target bitsim`` still checks the fast path against the plain definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .quant.clamps import ClampEvent
from .quant.qnodes import QGraph

Traces = dict[str, dict[str, Any]]


def golden_traces(qgraph: QGraph, inputs: Any) -> tuple[Traces, tuple[ClampEvent, ...]]:
    """bitsim's traces and register clamp events on ``inputs``: one run, by the fastest exact path."""
    from snncompile.backends.bitsim import simulate_with_clamps

    return simulate_with_clamps(qgraph, inputs)


def target_traces(name: str, backend: Any, qgraph: QGraph, folder: Path, inputs: Any,
                  emitted: Any) -> tuple[Traces, str]:
    """(the target's own traces on ``inputs``, how they were obtained) -- see the module docstring."""
    if isinstance(emitted, Mapping) and "traces" in emitted:
        return emitted["traces"], "traces of the run inside emit"
    if name == "hls" and isinstance(emitted, Mapping) and emitted.get("csim"):
        from snncompile.backends.hls.backend import read_golden_traces

        passed = "; ".join(line.removeprefix("PASS: ") for line in emitted["csim"])
        return read_golden_traces(folder), f"make csim passed inside emit: {passed}; golden.bin read back"
    if name == "bitsim":
        from snncompile.backends.bitsim.backend import GOLDEN_FILE, QGRAPH_FILE, read_golden
        from snncompile.quant.qnir import read_qgraph

        if read_qgraph(folder / QGRAPH_FILE).equals(qgraph):
            return read_golden(folder / GOLDEN_FILE), "qgraph.nir reads back equal; golden.npz read back"
    return backend.run(folder, inputs), ""
