"""onnxruntime running the onnx backend's models against bitsim, time per timestep, on the bundled model.

Usage: python benchmarks/onnx_runtime.py [--quick] [--repeats N]

The bundled digits-mlp (64-64-10 LIF, snnTorch semantics) is quantised with
QuantSpec(weight_bits=8) and run on the first B samples of models/digits-mlp/test.npz
(T=25). Entries, each the median of --repeats timed runs after one warm-up run:

* onnx step: ``step.onnx`` in a Python loop, one ``InferenceSession.run`` per step, the
  state outputs fed back as the next step's inputs (what a streaming deployment does);
* onnx scan: ``scan.onnx``, one call for all T steps;
* onnx float64 scan: ``float_scan.onnx`` of the float graph (the float baseline);
* bitsim auto / plain: ``snncompile.backends.bitsim.simulate`` with that path.

onnxruntime sessions are created outside the timed region (intra-op threads as
listed: 1, or 0 = onnxruntime's default of one per core). Every integer entry's
traces (all nodes, out/v/i, every step) are checked against bitsim's plain
executor; the float entry's output spikes against the float reference executor.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from snncompile.backends.bitsim import run_plain, simulate
from snncompile.backends.onnx import BACKEND, lower_float_graph
from snncompile.backends.onnx.backend import build_models
from snncompile.backends.onnx.runtime import Traces, run_scan, run_step, session

import snncompile as sc
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "digits-mlp"


def median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step_loop(sess: ort.InferenceSession, spikes: np.ndarray, initial: dict[str, np.ndarray]) -> None:
    """The bare streaming loop: T calls, states fed back (no trace bookkeeping)."""
    batch = spikes.shape[1]
    state = {k: np.ascontiguousarray(np.broadcast_to(v, (batch, *v.shape[1:]))) for k, v in initial.items()}
    names = [o.name for o in sess.get_outputs()]
    nexts = [n for n in names if n.startswith("next/")]
    for t in range(spikes.shape[0]):
        values = sess.run(nexts, {"in/input": spikes[t], **state})
        state = {n.replace("next/", "state/", 1): v for n, v in zip(nexts, values, strict=True)}


def same(a: Traces, b: Traces) -> bool:
    return all(np.array_equal(a[n][k], b[n][k]) for n in a for k in a[n])


def run(batch: int, repeats: int) -> list[tuple[str, str, float, str]]:
    graph = sc.load("digits-mlp")
    qgraph = quantize(graph, QuantSpec(weight_bits=8), calib=None)
    spikes = np.ascontiguousarray(np.load(MODEL_DIR / "test.npz")["inputs"][:, :batch])
    steps = spikes.shape[0]
    plain = run_plain(qgraph, spikes)
    step, scan, sg = BACKEND.build(qgraph)
    initial = {s.name: s.init for s in sg.states}
    rows: list[tuple[str, str, float, str]] = []
    label = f"digits-mlp B={batch}"
    for threads in (1, 0):
        s_step, s_scan = session(step, threads), session(scan, threads)
        exact = "yes" if same(plain, run_step(s_step, spikes, initial, np.int64)) else "NO"
        t = median_time(lambda s=s_step: step_loop(s, spikes, initial), repeats)  # type: ignore[misc]
        rows.append((label, f"onnx step, {'1 thread' if threads else 'all cores'}", t / steps, exact))
        exact = "yes" if same(plain, run_scan(s_scan, spikes, np.int64)) else "NO"
        t = median_time(lambda s=s_scan: s.run(None, {"in/input": spikes}), repeats)  # type: ignore[misc]
        rows.append((label, f"onnx scan, {'1 thread' if threads else 'all cores'}", t / steps, exact))
    _, f_scan = build_models(lower_float_graph(graph, "float64"))
    s_float = session(f_scan, 1)
    x_float = spikes.astype(np.float64)
    same_spikes = np.array_equal(run_scan(s_float, x_float, np.float64)["3"]["out"],
                                 sc.simulate(graph, x_float)["3"]["out"])
    t = median_time(lambda: s_float.run(None, {"in/input": x_float}), repeats)
    rows.append((label, "onnx float64 scan, 1 thread", t / steps, "spikes = reference" if same_spikes else "NO"))
    for path in ("auto", "plain"):
        exact = "yes" if same(plain, simulate(qgraph, spikes, path=path)) else "NO"
        t = median_time(lambda p=path: simulate(qgraph, spikes, path=p), repeats)  # type: ignore[misc]
        rows.append((label, f"bitsim {path}", t / steps, exact))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B=1 only, one timed run (CI smoke test)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per entry (median reported)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, onnxruntime {ort.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rows = []
    for batch in (1,) if args.quick else (1, 32, 360):
        rows += run(batch, 1 if args.quick else args.repeats)
    header = ("workload", "runner", "time/step [us]", "vs bitsim auto", "checked")
    auto = {w: t for w, r, t, _ in rows if r == "bitsim auto"}
    table = [header] + [(w, r, f"{t * 1e6:.1f}", f"{auto[w] / t:.2f}x", e) for w, r, t, e in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for k, row in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * width for width in widths))
    print("\nvs bitsim auto: bitsim auto's time / this runner's time (> 1: faster than bitsim auto).")
    print("checked: every node's out/v/i traces equal bitsim plain's (float: output spikes equal the reference's).")


if __name__ == "__main__":
    main()
