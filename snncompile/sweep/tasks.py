"""The work of one sweep point, as plain functions (the runner runs them as Ray tasks; nothing here imports Ray).

:func:`quantise_point`: quantise the float graph at one :class:`~.space.QuantPoint` (calibrated on the data),
run bitsim on all the data, and measure accuracy and agreement with the float reference
(:func:`snncompile.verify.fixed_rung`, the ladder's own ``float<->fixed`` rung).

:func:`measure_target`: one :class:`~.space.Job` on that QGraph: the backend's ``check``, ``emit`` into a
temporary folder with the job's options, the ladder's bit-exact ``fixed<->T`` rung
(:func:`snncompile.verify.check_backend`) on the first samples, and the target's own resource and latency
report (HLS analytic estimate; RTL simulated cycles, the analytic memory estimate and, with ``synthesise`` /
``pnr``, yosys cells and nextpnr Fmax; Loihi cores). :func:`cost` turns those reports into table columns.

Neither raises: a failure becomes the row's ``status`` (``refused`` for a typed refusal -- a width or rule a
target or the quantiser rejects, deterministic, cached; ``error`` for anything else, retried by the next run)
and ``error`` (``Type: message``, one line), so one point never stops the sweep.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GraphError, InputError, QuantizationError, ResourceError, SnnCompileWarning, UnsupportedNodeError
from ..graph import Graph
from ..quant.qnodes import QGraph
from ..quant.spec import QuantSpec
from .space import LOIHI, Job, QuantPoint

#: errors that mean "this configuration is not possible" (same answer on every run): recorded and cached
REFUSALS = (QuantizationError, UnsupportedNodeError, ResourceError, GraphError, InputError)
OK = "ok"
MISMATCH = "mismatch"
REFUSED = "refused"
ERROR = "error"
Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Quantised:
    """A point's QGraph (None when quantisation failed), its measured metrics, or its failure."""

    point: QuantPoint
    qgraph: QGraph | None
    metrics: dict[str, Any]
    failure: dict[str, Any] | None
    seconds: float


def failure(stage: str, exc: BaseException) -> dict[str, Any]:
    """The row fields of a failed stage: status, stage, one-line error."""
    status = REFUSED if isinstance(exc, REFUSALS) else ERROR
    return {"status": status, "stage": stage, "error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}


def quantise_point(graph: Graph, inputs: Arrays, labels: np.ndarray | None, floats: Mapping[str, Any],
                   point: QuantPoint, base: QuantSpec) -> Quantised:
    """Quantise at ``point``, run bitsim on ``inputs``, measure against the float traces ``floats``."""
    from snncompile.backends.bitsim import simulate_with_clamps

    from ..quant.targets import quantize_for
    from ..verify import fixed_rung

    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SnnCompileWarning)  # clamps are counted into the row instead
            qgraph = quantize_for(graph, point.spec(base), inputs, [LOIHI] if point.quantiser == LOIHI else [])
            fixed, clamps = simulate_with_clamps(qgraph, inputs)
            rung = fixed_rung(graph, qgraph, dict(floats), fixed, labels=labels)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the sweep
        return Quantised(point, None, {}, failure("quantise", exc), time.perf_counter() - t0)
    s = rung.summary
    outputs = list(s.get("outputs", {}).values())
    metrics = {
        "accuracy_float": s.get("accuracy_float"), "accuracy_fixed": s.get("accuracy_fixed"),
        "prediction_agreement": s.get("prediction_agreement"), "min_layer_agreement": s.get("min_layer_agreement"),
        "output_agreement": outputs[0].get("agreement") if outputs else None,
        "clamps": sum(e.count for e in clamps), "clamped_registers": len(clamps),
    }
    return Quantised(point, qgraph, metrics, None, time.perf_counter() - t0)


def measure_target(quantised: Quantised, stimuli: Arrays, job: Job) -> dict[str, Any]:
    """The row of ``job``: the point's metrics, the bit-exact rung on ``stimuli``, the target's cost columns."""
    from snncompile.backends import get

    from ..verify import PASS, check_backend

    row: dict[str, Any] = dict(quantised.metrics)
    if quantised.failure is not None or quantised.qgraph is None:
        return {**row, **(quantised.failure or {}), "seconds": round(quantised.seconds, 3)}
    qgraph = quantised.qgraph
    t0 = time.perf_counter()
    stage = "check"
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix=f"snncompile-sweep-{job.target}-") as tmp:
            warnings.simplefilter("ignore", SnnCompileWarning)
            backend = get(job.target)
            backend.check(qgraph)
            stage = "emit"
            folder = Path(tmp) / job.target
            emitted = backend.emit(qgraph, folder, dict(stimuli), **dict(job.options))
            stage = "verify"
            rung = check_backend(qgraph, job.target, dict(stimuli), artifact_dir=folder)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none stops the sweep
        row.update(failure(stage, exc))
    else:
        row.update(status=OK if rung.status == PASS else MISMATCH, rung=rung.status,
                   mismatches=rung.summary.get("mismatches"), compared=rung.summary.get("compared"),
                   first_mismatch=rung.first_mismatch.text() if rung.first_mismatch else None)
        if rung.status != PASS and rung.first_mismatch is None:
            row["error"] = rung.message
        timesteps = int(next(iter(stimuli.values())).shape[0])
        row.update(cost(job, emitted if isinstance(emitted, Mapping) else {}, timesteps))
    row["seconds"] = round(quantised.seconds + time.perf_counter() - t0, 3)
    return row


def cost(job: Job, emitted: Mapping[str, Any], timesteps: int) -> dict[str, Any]:
    """Resource and latency columns from what the backend's ``emit`` reported (see docs/sweep.md).

    ``resource`` / ``latency_us`` are the Pareto axes, named by ``resource_name`` / ``latency_name``.
    """
    opts = dict(job.options)
    if job.target == "hls" and "estimate" in emitted:
        est = emitted["estimate"]
        total, lat = est["total"], est["latency"]
        return {"memory_bits": total["memory_bits"], "bram18": total["bram18"], "dsp": total["dsp"],
                "cycles_per_step": total["cycles_per_step"], "cycles_per_sample": lat["cycles"],
                "latency_us": round(float(lat["us"]), 3), "resource": total["memory_bits"],
                "resource_name": "memory bits (HLS estimate)",
                "latency_name": f"us per sample (HLS estimate, {est['clock_mhz']:g} MHz, {timesteps} steps)"}
    if job.target == "rtl" and "report" in emitted:
        return _rtl_cost(emitted["report"], float(opts.get("clock_mhz", 100.0)))
    if job.target == LOIHI and "summary" in emitted:
        s = emitted["summary"]
        return {"loihi_cores": s["cores"], "loihi_chips": s["chips"],
                "loihi_synaptic_memory_bits": s["synaptic_memory_bits"], "loihi_binding": s["binding_resource"],
                "resource": s["cores"], "resource_name": f"cores ({s['core_spec']})"}
    return {}


def _rtl_cost(report: Mapping[str, Any], clock_mhz: float) -> dict[str, Any]:
    m, est = report["measured"], report["estimate"]
    out: dict[str, Any] = {"cycles_per_step": m["cycles_per_step"], "cycles_per_sample": m["cycles_per_sample"],
                           "memory_bits": est["memory_bits"], "bram36": est["bram36_lower_bound"],
                           "resource": est["memory_bits"], "resource_name": "memory bits (RTL estimate)"}
    if "synthesis" in report:
        e, x = report["synthesis"]["ecp5"], report["synthesis"].get("xilinx7", {})
        out.update(lut4=e["LUT4"], ccu2c=e["CCU2C"], ff=e["FF"], dp16kd=e["DP16KD"], ecp5_dsp=e["DSP_MULT18X18D"],
                   x7_lut=x.get("LUT"), x7_ff=x.get("FF"), x7_bram36=x.get("BRAM36_equiv"), x7_dsp=x.get("DSP48E1"),
                   resource=e["LUT4"], resource_name="ECP5 LUT4 (yosys)")
    fmax = report.get("pnr", {}).get("fmax_mhz")
    if fmax:
        out.update(fmax_mhz=fmax, latency_us=round(m["cycles_per_sample"] / fmax, 3),
                   latency_name="us per sample (simulated cycles at nextpnr Fmax)")
    else:
        out.update(latency_us=round(m["cycles_per_sample"] / clock_mhz, 3),
                   latency_name=f"us per sample (simulated cycles at {clock_mhz:g} MHz)")
    return out
