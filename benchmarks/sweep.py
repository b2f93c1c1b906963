"""What Ray costs a sweep: start-up, and a sweep on Ray against the same tasks run one after another in-process.

    python benchmarks/sweep.py [--bits 2..6] [--workers 2] [--repeat 3]

Measured in the same run, on digits-mlp's bundled test set with the hls target (about a second per
configuration, so the overhead shows): ``ray.init`` of the embedded local Ray (wall, median of --repeat
starts), ``in-process`` (:func:`snncompile.sweep.tasks.quantise_point` + ``measure_target`` called directly,
sequentially), and ``snncompile.sweep`` (nothing cached) twice on one local Ray started beforehand: the first
sweep pays for the workers' start (each imports torch and snncompile), the second runs on warm workers.
Every run's rows are checked to be equal (status, accuracy, resource), so both do the same work.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import snncompile as sc
from snncompile.data import load_data
from snncompile.frontend.nir_read import load
from snncompile.reference import run as run_float
from snncompile.sweep import tasks
from snncompile.sweep.space import Space, parse_ints


def ray_start(workers: int, repeat: int) -> list[float]:
    import ray

    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False,
                 logging_level=logging.ERROR)
        times.append(time.perf_counter() - t0)
        ray.shutdown()
    return times


def in_process(space: Space, loaded: object, data: object) -> tuple[float, list[tuple[str, float, float]]]:
    graph = loaded.graph  # type: ignore[attr-defined]
    inputs, labels = data.inputs, data.labels  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    floats = run_float(graph, inputs)
    stimuli = {k: v[:, :8] for k, v in inputs.items()}
    rows = []
    for job in space.jobs():
        q = tasks.quantise_point(graph, inputs, labels, floats, job.point, space.base)
        row = tasks.measure_target(q, stimuli, job)
        rows.append((row["status"], row.get("accuracy_fixed"), row.get("resource")))
    return time.perf_counter() - t0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", default="2..6")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    bits = parse_ints(args.bits, "--bits")
    space = Space(bits=bits, targets=("hls",))
    loaded = load("digits-mlp")
    data = load_data(None, loaded.graph, loaded.path)
    starts = ray_start(args.workers, args.repeat)
    print(f"ray.init (embedded, {args.workers} CPUs): median {statistics.median(starts):.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in starts)})")
    seq_times, cold_times, warm_times = [], [], []
    for _ in range(args.repeat):
        t_seq, rows_seq = in_process(space, loaded, data)
        seq_times.append(t_seq)
        ray.init(num_cpus=args.workers, include_dashboard=False, object_store_memory=256 << 20,
                 log_to_driver=False, logging_level=logging.ERROR)
        for times in (cold_times, warm_times):  # cold: fresh workers import torch and snncompile first
            t0 = time.perf_counter()
            result = sc.sweep("digits-mlp", bits=bits, targets=["hls"], progress=False)
            times.append(time.perf_counter() - t0)
            rows_ray = [(r["status"], r.get("accuracy_fixed"), r.get("resource")) for r in result.rows]
            if rows_ray != rows_seq:
                raise SystemExit(f"the Ray sweep's rows differ from the in-process ones: {rows_ray} != {rows_seq}")
        ray.shutdown()
    seq, cold, warm = (statistics.median(t) for t in (seq_times, cold_times, warm_times))
    print(f"{len(space.jobs())} hls configurations, medians: in-process sequential {seq:.2f} s; on Ray "
          f"({args.workers} workers) first sweep {cold:.2f} s (workers warming up), second sweep {warm:.2f} s; "
          f"ratio in-process/second {seq / warm:.2f}")

if __name__ == "__main__":
    main()
