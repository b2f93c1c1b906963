"""The sweep's result table: one row per configuration, written as CSV and JSON and printed as text.

Columns (docs/sweep.md explains each): identity (id, label, quantiser, weight_bits, state_bits, target,
unroll, lanes), outcome (status, stage, error), quality (accuracy, agreements, clamps), the bit-exact rung
(rung, mismatches, compared, first_mismatch), cost (resource / latency_us with their names, then each
target's own numbers), Pareto membership, and bookkeeping (seconds, reused). A value a row does not have
is empty in the CSV and null in the JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS = (
    "id", "label", "quantiser", "weight_bits", "state_bits", "target", "unroll", "lanes",
    "status", "stage", "error",
    "accuracy", "accuracy_float", "accuracy_fixed", "prediction_agreement", "min_layer_agreement",
    "output_agreement", "clamps", "clamped_registers",
    "rung", "mismatches", "compared", "first_mismatch",
    "resource", "resource_name", "latency_us", "latency_name", "pareto_resource", "pareto_latency",
    "cycles_per_step", "cycles_per_sample", "memory_bits", "bram18", "dsp", "bram36",
    "lut4", "ccu2c", "ff", "dp16kd", "ecp5_dsp", "x7_lut", "x7_ff", "x7_bram36", "x7_dsp", "fmax_mhz",
    "loihi_cores", "loihi_chips", "loihi_synaptic_memory_bits", "loihi_binding",
    "seconds", "reused",
)


def ordered(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` with every column, in table order (missing ones None; unknown keys kept at the end)."""
    out = {c: row.get(c) for c in COLUMNS}
    out.update({k: v for k, v in row.items() if k not in out})
    return out


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_cell(row[c]) for c in COLUMNS])
    return buf.getvalue()


def _csv_cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def to_json(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> str:
    return json.dumps({"info": dict(info), "columns": list(COLUMNS), "rows": [ordered(r) for r in rows]},
                      indent=1, allow_nan=False) + "\n"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.4g}"
    return str(value)


def format_text(rows: Sequence[Mapping[str, Any]], accuracy_name: str) -> str:
    """The printed table: one line per configuration, Pareto members starred, failures with their error."""
    head = ["configuration", "status", accuracy_name, "rung", "resource", "latency us", "pareto", "s"]
    lines = [head]
    for r in rows:
        star = "".join(m for k, m in (("pareto_resource", "R"), ("pareto_latency", "L")) if r.get(k))
        lines.append([str(r["label"]), str(r["status"]) + (" (cached)" if r.get("reused") else ""),
                      _fmt(r.get("accuracy")), str(r.get("rung") or "-"), _fmt(r.get("resource")),
                      _fmt(r.get("latency_us"), 2), star or "-", _fmt(r.get("seconds"), 1)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    names = sorted({(r["target"], r.get("resource_name"), r.get("latency_name")) for r in rows
                    if r.get("resource_name")})
    text += [f"  {t}: resource = {res}" + (f"; latency = {lat}" if lat else "") for t, res, lat in names]
    text.append("  pareto: R = on the accuracy/resource front, L = on the accuracy/latency front (per target)")
    problems: dict[tuple[str, str, str, str], list[str]] = {}
    for r in rows:  # one line per distinct failure of a point (a quantisation refusal hits all its targets)
        what = r.get("first_mismatch") or r.get("error")
        if what:
            point, _, rest = str(r["label"]).partition(" ")
            key = (point, str(r["status"]), str(r.get("stage") or "verify"), str(what))
            problems.setdefault(key, []).append(rest)
    for (point, status, stage, what), where in problems.items():
        text.append(f"{point} ({', '.join(where)}): {status} at {stage}: {what}")
    return "\n".join(text) + "\n"
