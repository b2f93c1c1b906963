"""The verification ladder (docs/verify.md): named rungs with PASS / FAIL / INFO / WARN.

The same inputs go through every representation of the model:

1. ``source<->float`` (only when the source framework's recorded spikes are given):
   the float reference executor must reproduce them exactly, layer by layer; a non-spiking readout
   the framework recorded (float32) matches to a stated tolerance (:mod:`.readout_match`).
   PASS iff 0 mismatches.
2. ``float<->fixed``: the graph is quantised (:func:`snncompile.quant.quantize.quantize`)
   and bitsim's plain executor runs the QGraph. Measured, per spiking layer, the
   fraction of equal spike entries; per output, the agreement (spikes) or the
   maximum absolute error after dequantisation (``int / out_scale``, non-spiking
   readouts); the fraction of samples whose predicted class agrees; the accuracy
   of both when labels are given (class = argmax of the output's spike counts, or
   of its final value for a non-spiking readout). INFO, unless ``min_agreement``
   is set: then PASS iff the lowest spiking-layer agreement (the prediction
   agreement for a graph without spiking layers) reaches it.
   ``overflow``: the register clamp events of that bitsim run (:mod:`.quant.clamps`:
   where an i or v register saturated or wrapped; per node and register the count and
   the first step, sample, neuron). INFO when there are none, WARN when there are (and one
   SaturationWarning per register); with ``strict`` PASS or FAIL. The fixed<->T rungs hold
   every target to bitsim's integers, so these are every target's events.
3. ``fixed<->T`` per target T: the backend emits its artifacts into a temporary
   folder and runs them; every recorded trace (``out``, ``v``, ``i``) of every
   node must equal bitsim's plain executor exactly. For ``bitsim`` itself that
   compares ``qgraph.nir`` read back and run on the fast path with the
   in-memory QGraph on the plain path. PASS iff 0 mismatches.

A mismatch is reported as the earliest one in time (then in graph order): rung,
layer, trace, neuron index, timestep, batch, expected and got.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .graph import Graph
from .nodes import NeuronNode, Output
from .quant.clamps import ClampEvent, warn_clamps
from .quant.qnodes import QGraph, QNeuron
from .quant.spec import QuantSpec
from .readout_match import compare_readouts, tolerance_text

PASS, FAIL, INFO, WARN = "PASS", "FAIL", "INFO", "WARN"
OVERFLOW = "overflow"
TRACE_KEYS = ("out", "v", "i")
Traces = dict[str, dict[str, np.ndarray]]
Inputs = np.ndarray | Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Mismatch:
    """The first differing value of a bit-exact rung."""

    rung: str
    layer: str
    trace: str
    neuron: int | tuple[int, ...]
    timestep: int
    batch: int
    expected: float | int
    got: float | int

    def text(self) -> str:
        return (f"rung {self.rung}: layer '{self.layer}' ({self.trace}), neuron {self.neuron}, "
                f"timestep {self.timestep}, batch {self.batch}: expected {_num(self.expected)}, got {_num(self.got)}")


@dataclass
class Rung:
    """One named check. ``summary`` holds numbers; ``layers`` one row per layer (JSON-able dicts)."""

    name: str
    status: str
    message: str
    summary: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)
    first_mismatch: Mismatch | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "summary": self.summary,
                "layers": self.layers, "details": self.details,
                "first_mismatch": None if self.first_mismatch is None else {
                    **{k: v for k, v in vars(self.first_mismatch).items()},
                    "neuron": _plain(self.first_mismatch.neuron), "text": self.first_mismatch.text()}}


@dataclass
class Report:
    """The ladder's result: rungs in order, and what was run (``info``)."""

    rungs: list[Rung]
    info: dict[str, Any] = field(default_factory=dict)
    qgraph: QGraph | None = field(default=None, repr=False, compare=False)
    #: the float reference's and bitsim's traces on the inputs (for the HTML report's plots; not in the JSON)
    traces: dict[str, Traces] = field(default_factory=dict, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        """True when no rung FAILed (PASS and INFO both count as passed)."""
        return all(r.status != FAIL for r in self.rungs)

    def rung(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise KeyError(f"no rung {name!r}; rungs: {', '.join(r.name for r in self.rungs)}")

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "info": self.info, "rungs": [r.to_dict() for r in self.rungs]}

    def to_json(self) -> str:
        return json.dumps(jsonable(self.to_dict()), indent=2, allow_nan=False)

    def format_table(self) -> str:
        """Plain aligned text: a header, one line per rung, per-layer lines, then each failure's first mismatch."""
        lines = [f"{k}: {self.info[k]}" for k in ("model", "inputs", "quantisation") if k in self.info]
        lines += [""] if lines else []
        lines += _table([["rung", "status", "result"], *([r.name, r.status, r.message] for r in self.rungs)])
        for r in self.rungs:
            if r.layers:
                lines += ["", f"{r.name} per layer:"]
                lines += ["  " + row for row in _table(_layer_rows(r.layers))]
        for r in self.rungs:
            if r.status == FAIL:
                lines += ["", f"FAIL {r.name}: " + (r.first_mismatch.text() if r.first_mismatch else r.message)]
        lines += ["", "result: " + ("PASS" if self.passed else "FAIL")]
        return "\n".join(lines) + "\n"


# -- the ladder -------------------------------------------------------------------------------------------------------

def verify(
    graph: Graph,
    *,
    inputs: Inputs,
    labels: np.ndarray | None = None,
    source: Mapping[str, np.ndarray] | None = None,
    spec: QuantSpec | None = None,
    targets: Sequence[str] = ("bitsim",),
    min_agreement: float | None = None,
    calib: Inputs | None = None,
    strict: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run the ladder on ``inputs`` ``[T, B, *shape]`` (see the module docstring); quantise with ``spec``
    calibrated on ``calib`` (default: the inputs). ``strict``: a register that saturates or wraps FAILs.
    ``progress`` is called with the name of each step as it starts (``3 + len(targets)`` steps)."""
    from snncompile.backends.bitsim import run_plain_with_clamps

    from .quant.targets import quantize_for

    spec = spec if spec is not None else QuantSpec()
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise InputError(f"min_agreement must be in 0..1, got {min_agreement}")
    from .reference import run as run_float  # torch: imported only when a float rung runs

    step = progress or (lambda name: None)
    step("float reference")
    floats = run_float(graph, inputs)
    T, B = floats[graph.inputs[0]]["out"].shape[:2]
    if labels is not None and np.shape(labels) != (B,):
        raise InputError(f"labels: shape {np.shape(labels)} does not match the {B} samples of the inputs")
    rungs: list[Rung] = []
    if source is not None:
        rungs.append(source_rung(graph, floats, source))
    step("quantising (calibration)")
    qgraph = quantize_for(graph, spec, calib if calib is not None else inputs, targets)
    step("bitsim (fixed point)")
    fixed, clamps = run_plain_with_clamps(qgraph, inputs)
    rungs.append(fixed_rung(graph, qgraph, floats, fixed, labels=labels, min_agreement=min_agreement))
    warn_clamps(clamps)
    rungs.append(overflow_rung(clamps, strict=strict))
    for target in targets:
        step(f"fixed<->{target}")
        rungs.append(check_backend(qgraph, target, inputs, expected=fixed))
    info = {"timesteps": int(T), "batch": int(B), "quant_spec": spec.to_dict(), "targets": list(targets),
            "min_agreement": min_agreement, "labels": labels is not None, "strict": strict}
    return Report(rungs, info, qgraph, {"float": floats, "fixed": fixed})


def source_rung(graph: Graph, floats: Traces, source: Mapping[str, np.ndarray]) -> Rung:
    """``source<->float``: the source framework's recorded spikes per layer vs the float reference (``==``);
    a non-spiking readout within :func:`.readout_match.tolerance_text`."""
    name = "source<->float"
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for layer, recorded in source.items():
        if layer not in graph.nodes:
            raise InputError(f"source spikes 'spk_{layer}': the graph has no node '{layer}'")
        ours = floats[layer]["out"]
        if np.shape(recorded) != ours.shape:
            raise InputError(f"source spikes 'spk_{layer}': shape {np.shape(recorded)} does not match node "
                             f"'{layer}' output {ours.shape}")
        pairs[layer] = (np.asarray(recorded), ours)
    spiking = {k: v for k, v in pairs.items() if _is_spiking(graph, k)}
    compared, mismatches, first, rows = _compare(name, graph.order, {k: {"out": v[0]} for k, v in spiking.items()},
                                                 {k: {"out": v[1]} for k, v in spiking.items()})
    for row in rows:
        row.update(type=graph.nodes[row["layer"]].type_name, trace="spikes")
    readouts = {k: v for k, v in pairs.items() if k not in spiking}  # float32 frameworks: a stated tolerance
    r_compared, r_bad, r_first, r_rows = compare_readouts(graph.order, readouts)
    for row in r_rows:
        row.update(type=graph.nodes[row["layer"]].type_name, trace="readout")
    if r_first is not None and (first is None or r_first[1][0] < first.timestep):
        layer, idx, want, got = r_first
        first = Mismatch(name, layer, "out", idx[2] if len(idx) == 3 else idx[2:], idx[0], idx[1], want, got)
    status = PASS if mismatches + r_bad == 0 else FAIL
    msg = f"{len(spiking)} layer(s), {mismatches} of {compared} spike entries differ"
    if readouts:
        worst = max(r["max_abs_error"] for r in r_rows)
        msg += (f"; {len(readouts)} readout(s), {r_bad} of {r_compared} values outside {tolerance_text()} "
                f"(max error {worst:.3g})")
    summary: dict[str, Any] = {"layers": len(pairs), "compared": compared, "mismatches": mismatches}
    if readouts:
        summary.update(readout_compared=r_compared, readout_mismatches=r_bad, readout_tolerance=tolerance_text())
    return Rung(name, status, msg, summary, rows + r_rows, first)


def fixed_rung(graph: Graph, qgraph: QGraph, floats: Traces, fixed: Traces, *, labels: np.ndarray | None = None,
               min_agreement: float | None = None) -> Rung:
    """``float<->fixed``: measured quantisation error (see the module docstring)."""
    from .quant.layers import layer_precision

    rows: list[dict[str, Any]] = []
    precision = layer_precision(graph, qgraph)
    for node_name in graph.order:
        node = graph.nodes[node_name]
        if isinstance(node, (NeuronNode, Output)) and node_name in fixed:
            rows.append(_layer_error(graph, qgraph, node_name, floats[node_name]["out"], fixed[node_name]["out"]))
            if node_name in precision:
                rows[-1]["precision"] = precision[node_name]
    spiking = [r for r in rows if r["trace"] == "spikes" and r["type"] != "Output"]
    summary: dict[str, Any] = {}
    if graph.outputs:  # predictions come from the first Output
        out_name = graph.outputs[0]
        pred_f = _predict(floats[out_name]["out"], _is_spiking(graph, out_name))
        pred_q = _predict(fixed[out_name]["out"], _is_spiking(graph, out_name))
        summary["prediction_agreement"] = float(np.mean(pred_f == pred_q))
    elif labels is not None:
        raise InputError("labels were given but the graph has no Output node to predict from")
    if spiking:
        worst = min(spiking, key=lambda r: r["agreement"])
        summary.update(min_layer_agreement=worst["agreement"], min_layer=worst["layer"])
    outs = [r for r in rows if r["type"] == "Output"]
    summary["outputs"] = {r["layer"]: {k: r[k] for k in ("agreement", "max_abs_error") if k in r} for r in outs}
    if labels is not None:
        labels = np.asarray(labels)
        summary["accuracy_float"] = float(np.mean(pred_f == labels))
        summary["accuracy_fixed"] = float(np.mean(pred_q == labels))
    parts = []
    if spiking:
        parts.append(f"min layer agreement {summary['min_layer_agreement']:.4f} ('{summary['min_layer']}')")
    for r in outs:
        if "agreement" in r:
            parts.append(f"output '{r['layer']}' agreement {r['agreement']:.4f}")
        elif "max_abs_error" in r:
            parts.append(f"output '{r['layer']}' max abs error {r['max_abs_error']:.4g}")
    if "prediction_agreement" in summary:
        parts.append(f"prediction agreement {summary['prediction_agreement']:.4f}")
    if labels is not None:
        parts.append(f"accuracy float {summary['accuracy_float']:.4f} fixed {summary['accuracy_fixed']:.4f}")
    status = INFO
    if min_agreement is not None:
        measured = summary.get("min_layer_agreement", summary.get("prediction_agreement", 1.0))
        status = PASS if measured >= min_agreement else FAIL
        parts.append(f"{'>=' if status == PASS else '<'} --min-agreement {min_agreement:g}")
    details = {"quant_spec": qgraph.spec.to_dict() if qgraph.spec else None,
               "calibration": qgraph.metadata.get("calibration")}
    return Rung("float<->fixed", status, ", ".join(parts), summary, rows, None, details)


def overflow_rung(events: Sequence[ClampEvent], *, strict: bool = False) -> Rung:
    """``overflow``: the registers that saturated or wrapped in bitsim's run (see the module docstring)."""
    rows = [{"layer": e.node, **{k: v for k, v in e.to_dict().items() if k != "node"}} for e in events]
    summary = {"registers": len(events), "clamps": sum(e.count for e in events), "strict": strict}
    details = {"counted_by": "bitsim's plain executor on the inputs; each fixed<->T rung holds its target to the "
                             "same integers, so these are every target's events"}
    if not events:
        return Rung(OVERFLOW, PASS if strict else INFO, "no register saturated or wrapped on the inputs", summary,
                    details=details)
    named = [e.short() for e in events[:3]] + (["..."] if len(events) > 3 else [])
    msg = f"{len(events)} register(s): " + ", ".join(named)
    return Rung(OVERFLOW, FAIL if strict else WARN, msg + (" (--strict)" if strict else ""), summary, rows,
                details=details)


def check_backend(qgraph: QGraph, target: str, inputs: Inputs, *, expected: Traces | None = None,
                  artifact_dir: str | Path | None = None) -> Rung:
    """``fixed<->target``: the backend's own execution equals bitsim's plain path on every trace.

    Emits into a temporary folder unless ``artifact_dir`` already holds the backend's artifacts.
    """
    from snncompile.backends import get
    from snncompile.backends.bitsim import run_plain

    backend = get(target)
    backend.check(qgraph)
    want = expected if expected is not None else run_plain(qgraph, inputs)
    if artifact_dir is None:
        with tempfile.TemporaryDirectory(prefix=f"snncompile-{target}-") as tmp:
            backend.emit(qgraph, tmp, inputs)
            got = backend.run(tmp, inputs)
    else:
        got = backend.run(artifact_dir, inputs)
    return backend_rung(qgraph, target, want, got)


def backend_rung(qgraph: QGraph, target: str, want: Traces, got: Traces, note: str = "") -> Rung:
    """The ``fixed<->target`` rung of traces ``got`` (the target's own execution) against bitsim's ``want``."""
    name = f"fixed<->{target}"
    compared, mismatches, first, rows = _compare(name, qgraph.order, want, got)
    problems = [r["problem"] for r in rows if "problem" in r]
    status = PASS if mismatches == 0 and not problems else FAIL
    msg = f"{len(want)} nodes, {sum(len(v) for v in want.values())} traces, {mismatches} of {compared} values differ"
    if problems:
        msg += f"; {problems[0]}"
    if note:
        msg += f" ({note})"
    summary = {"nodes": len(want), "traces": sum(len(v) for v in want.values()), "compared": compared,
               "mismatches": mismatches}
    return Rung(name, status, msg, summary, [], first, {"per_trace": rows})


# -- helpers ----------------------------------------------------------------------------------------------------------

def _compare(rung: str, order: Sequence[str], expected: Traces, got: Traces
             ) -> tuple[int, int, Mismatch | None, list[dict[str, Any]]]:
    """Values compared, mismatches, the earliest mismatch (time, then graph order) and per-trace rows."""
    position = {n: i for i, n in enumerate(order)}
    compared = mismatches = 0
    best: tuple[tuple[int, int, int], Mismatch] | None = None
    rows: list[dict[str, Any]] = []
    for layer in sorted(expected, key=lambda n: position.get(n, len(position))):
        for k_idx, key in enumerate(k for k in TRACE_KEYS if k in expected[layer]):
            want = np.asarray(expected[layer][key])
            row: dict[str, Any] = {"layer": layer, "trace": key}
            have = got.get(layer, {}).get(key)
            if have is None or np.shape(have) != want.shape:
                what = "missing" if have is None else f"shape {np.shape(have)} != expected {want.shape}"
                rows.append({**row, "problem": f"layer '{layer}' trace '{key}': {what}"})
                continue
            have = np.asarray(have)
            diff = np.argwhere(want != have)
            compared += want.size
            mismatches += len(diff)
            rows.append({**row, "compared": int(want.size), "mismatches": int(len(diff))})
            if len(diff):
                idx = tuple(int(i) for i in diff[0])
                rank = (idx[0], position.get(layer, len(position)), k_idx)
                if best is None or rank < best[0]:
                    neuron: int | tuple[int, ...] = idx[2] if len(idx) == 3 else idx[2:]
                    best = (rank, Mismatch(rung, layer, key, neuron, idx[0], idx[1], want[idx].item(),
                                           have[idx].item()))
    return compared, mismatches, None if best is None else best[1], rows


def _is_spiking(graph: Graph, name: str) -> bool:
    node = graph.nodes[name]
    if isinstance(node, Output):
        preds = graph.predecessors(name)
        return len(preds) == 1 and _is_spiking(graph, preds[0])
    return isinstance(node, NeuronNode) and node.SPIKING


def _out_scale(qgraph: QGraph, name: str) -> float | None:
    node = qgraph.nodes.get(name)
    if isinstance(node, QNeuron):
        return node.out_scale
    if isinstance(node, Output):
        preds = qgraph.predecessors(name)
        return _out_scale(qgraph, preds[0]) if len(preds) == 1 else None
    return None


def _layer_error(graph: Graph, qgraph: QGraph, name: str, f: np.ndarray, q: np.ndarray) -> dict[str, Any]:
    row: dict[str, Any] = {"layer": name, "type": graph.nodes[name].type_name}
    if _is_spiking(graph, name):
        same = (f == q).reshape(f.shape[0], -1)
        row.update(trace="spikes", agreement=float(np.mean(f == q)), float_spikes=int(np.rint(f.sum())),
                   fixed_spikes=int(q.sum()), agreement_per_step=[float(a) for a in same.mean(axis=1)])
        return row
    scale = _out_scale(qgraph, name)
    if scale is None:
        row.update(trace="value", note="no dequantisation scale; not compared")
        return row
    err = np.abs(q / scale - f)
    row.update(trace="v", max_abs_error=float(err.max(initial=0.0)), max_abs_float=float(np.abs(f).max(initial=0.0)),
               out_scale=scale)
    return row


def _predict(out: np.ndarray, spiking: bool) -> np.ndarray:
    """Class per sample: argmax of spike counts over time, or of the final value of a readout."""
    score = out.sum(axis=0) if spiking else out[-1]
    return np.asarray(np.argmax(score.reshape(score.shape[0], -1), axis=1))


#: per-layer table columns: (row key, heading); a column is shown when any row has its key
_COLUMNS = (("layer", "layer"), ("type", "type"), ("precision", "precision"), ("trace", "trace"),
            ("agreement", "agreement"),
            ("mismatches", "mismatches"), ("compared", "compared"), ("max_abs_error", "max abs error"),
            ("float_spikes", "float spikes"), ("fixed_spikes", "fixed spikes"), ("note", "note"),
            ("register", "register"), ("overflow", "overflow"), ("bits", "bits"), ("count", "clamps"),
            ("first_step", "first step"), ("first_sample", "first sample"), ("first_neuron", "first neuron"))


def _cell(key: str, value: Any) -> str:
    if key == "agreement":
        return f"{value:.4f}"
    if key == "max_abs_error":
        return f"{value:.4g}"
    if isinstance(value, list):  # a neuron index (channel, row, column), as Mismatch.text writes it
        return str(tuple(value))
    return _num(value)


def _layer_rows(layers: list[dict[str, Any]]) -> list[list[str]]:
    cols = [(k, head) for k, head in _COLUMNS if any(k in r for r in layers)]
    return [[head for _, head in cols], *([_cell(k, r[k]) if k in r else "" for k, _ in cols] for r in layers)]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
