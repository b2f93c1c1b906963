"""bitsim, the emitted HLS C and onnxruntime against snnTorch and a hand-written exact C, in one process.

Usage: python benchmarks/perf.py [--quick] [--big] [--repeats N] [--seed S]     (exit 1 if anything is not exact)

Workloads (LIF MLPs, snnTorch semantics, int8 weights, 15 % input rate, thresholds calibrated to ~10 %
firing; built as in benchmarks/bitsim.py): the four of issue #13 -- 784-256-128-10 T=100 B=1,
64-1000-8 T=1000 B=1, 784-256-128-10 T=100 B=64, and (with --big) 1024-2048-2048-10 T=100 B=16 -- and,
with --big, two memory runs: 784-4096-10 T=1000 B=64 and 16384-16384-10 T=10 B=1 (bitsim outputs only).

Contenders, on the same weights and spikes:

* snnTorch: nn.Linear + snn.Leaky, one call per step under no_grad, with torch's default threads and
  with 1 thread; the faster of the two is the baseline of every ratio;
* bitsim auto: ``simulate(path="auto", keep="outputs")`` (what a user simulating a test set asks for),
  and ``bitsim all traces`` (every node's traces, in their narrow dtypes);
* onnxruntime: the onnx backend's scan model of the same QGraph (1 thread and default threads);
* generated C: the hls backend's snn.c (sparse loops), gcc -O2 and gcc -O3 -march=native, driven by
  handc/gen_driver.c (snn_reset + snn_run per sample);
* hand C: handc/hand_snn.c, written for this benchmark (exact, event-driven; the faster of -O2 and
  -O3 -march=native).

Times are medians over ``--repeats`` rounds that interleave all contenders (one warm-up each), as CPU time
(process_time: all threads of the process) and wall time; ratios are snnTorch-best / contender, per round,
median over rounds (paired). Every integer contender's output spikes must equal bitsim plain's (or, on the
big workloads, bitsim's "c" path, itself held to plain by the tests); snnTorch's float spikes are reported
as an agreement. Peak RSS is the process's high-water mark reset before each bitsim run (Linux
/proc/self/clear_refs), the trace size the bytes of the traces returned.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf_c  # noqa: E402
from bitsim import INPUT_RATE, Workload, build_qgraph, build_workload, snntorch_run, with_torch_threads  # noqa: E402,E501
from snncompile.backends.bitsim import simulate  # noqa: E402

from snncompile.quant.qnodes import QGraph  # noqa: E402

ISSUE = (
    Workload("784-256-128-10, T=100, B=1", (784, 256, 128, 10), 100, 1),
    Workload("64-1000-8, T=1000, B=1", (64, 1000, 8), 1000, 1),
    Workload("784-256-128-10, T=100, B=64", (784, 256, 128, 10), 100, 64),
)
BIG = (Workload("1024-2048-2048-10, T=100, B=16", (1024, 2048, 2048, 10), 100, 16),)
MEMORY = (Workload("784-4096-10, T=1000, B=64", (784, 4096, 10), 1000, 64),
          Workload("16384-16384-10, T=10, B=1", (16384, 16384, 10), 10, 1))
QUICK = (Workload("quick 64-32-10, T=20, B=4", (64, 32, 10), 20, 4),)


@dataclass
class Row:
    workload: str
    contender: str
    cpu: float
    wall: float
    ratio_cpu: float
    ratio_wall: float
    check: str


def peak_rss_reset() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss() -> int:
    """VmHWM in bytes (0 when unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def timed(variants: dict[str, Callable[[], object]], repeats: int, base: tuple[str, ...]
          ) -> dict[str, tuple[float, float, float, float]]:
    """Per variant: (median cpu, median wall, paired cpu ratio, paired wall ratio) vs the best of ``base``."""
    for fn in variants.values():
        fn()
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    best = min(base, key=lambda b: statistics.median(wall[b]))
    out = {}
    for name in variants:
        rc = [cb / c for cb, c in zip(cpu[best], cpu[name], strict=True)]
        rw = [wb / w for wb, w in zip(wall[best], wall[name], strict=True)]
        out[name] = (statistics.median(cpu[name]), statistics.median(wall[name]), statistics.median(rc),
                     statistics.median(rw))
    return out


def onnx_runner(qgraph: QGraph, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    from snncompile.backends.onnx import BACKEND
    from snncompile.backends.onnx.runtime import feeds, session

    _, scan, _ = BACKEND.build(qgraph)
    sess = session(scan, threads)
    prepared: dict[int, dict[str, np.ndarray]] = {}

    def run(spikes: np.ndarray) -> np.ndarray:  # the feeds (the model's dtype) prepared outside the timing
        data = prepared.setdefault(id(spikes), {f"in/{k}": v for k, v in feeds(sess, spikes, per_step=False).items()})
        return np.asarray(sess.run(["out/output"], data)[0])
    return run


def run_workload(wl: Workload, repeats: int, seed: int, *, c_targets: bool, onnx: bool, big: bool) -> list[Row]:
    graph, spikes, net = build_workload(wl, np.random.default_rng(seed))
    x_torch = torch.from_numpy(spikes.astype(np.float32))
    reference = simulate(graph, spikes, path="c" if big else "plain", keep="outputs")["output"]["out"]
    btk = np.ascontiguousarray(spikes.transpose(1, 0, 2))
    checks: dict[str, Callable[[], np.ndarray]] = {}
    variants: dict[str, Callable[[], object]] = {
        f"snnTorch ({torch.get_num_threads()} threads)": lambda: snntorch_run(net, x_torch),
        "snnTorch (1 thread)": with_torch_threads(1, lambda: snntorch_run(net, x_torch)),
    }
    base = tuple(variants)
    variants["bitsim auto (outputs)"] = lambda: simulate(graph, spikes, keep="outputs")
    variants["bitsim auto (all traces)"] = lambda: simulate(graph, spikes)
    checks["bitsim auto (outputs)"] = lambda: simulate(graph, spikes, keep="outputs")["output"]["out"]
    checks["bitsim auto (all traces)"] = lambda: simulate(graph, spikes)["output"]["out"]
    if onnx:
        for threads in (1, 0):
            label = f"onnxruntime scan ({'1 thread' if threads else 'default threads'})"
            try:
                fn = onnx_runner(graph, threads)
            except Exception as exc:  # noqa: BLE001 -- report, do not stop the benchmark
                print(f"  {label}: not run ({type(exc).__name__}: {exc})")
                continue
            variants[label] = lambda fn=fn: fn(spikes)  # type: ignore[misc]
            checks[label] = lambda fn=fn: fn(spikes)  # type: ignore[misc]
    if c_targets:
        hand = {f: perf_c.HandC(graph, f) for f in (perf_c.O2, perf_c.O3_NATIVE)}
        for flags, label in ((perf_c.O2, "gcc -O2"), (perf_c.O3_NATIVE, "gcc -O3 -march=native")):
            gen = perf_c.GeneratedC(graph, spikes, flags)
            variants[f"generated C ({label})"] = lambda g=gen: g.run(btk)  # type: ignore[misc]
            checks[f"generated C ({label})"] = lambda g=gen: g.run(btk)  # type: ignore[misc]
            variants[f"hand C ({label})"] = lambda h=hand[flags]: h.run(btk)  # type: ignore[misc]
            checks[f"hand C ({label})"] = lambda h=hand[flags]: h.run(btk)  # type: ignore[misc]
    times = timed(variants, repeats, base)
    agree = float(np.mean(snntorch_run(net, x_torch).numpy() == reference))
    rows = []
    for name, (cpu, wall, rc, rw) in times.items():
        check = f"agreement {agree:.4f}" if name.startswith("snnTorch") else \
            ("exact" if np.array_equal(np.asarray(checks[name]()), reference) else "NOT EXACT")
        rows.append(Row(wl.name, name, cpu, wall, rc, rw, check))
    return rows


def memory_graph(wl: Workload, seed: int) -> tuple[QGraph, np.ndarray]:
    """The memory runs' network: int8 weights drawn directly, thresholds at ~1.5 sigma of a layer's input sum
    (not calibrated: a bisection would rebuild a 268 M-synapse QGraph twenty times)."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((wl.steps, wl.batch, wl.sizes[0]), np.float32) < INPUT_RATE).astype(np.uint8)
    weights, thresholds, rate = [], [], INPUT_RATE
    for n_in, n_out in zip(wl.sizes[:-1], wl.sizes[1:], strict=True):
        weights.append(rng.integers(-127, 128, (n_out, n_in), dtype=np.int8))
        thresholds.append(max(1, int(1.5 * 73 * (rate * n_in) ** 0.5)))  # int8 uniform: sigma(w) ~ 73
        rate = 0.1
    return build_qgraph(weights, thresholds), spikes


def memory_run(wl: Workload, seed: int) -> str:
    graph, spikes = memory_graph(wl, seed)
    simulate(graph, spikes[:1], keep="outputs")  # warm-up: kernels loaded, weights prepared
    peak_rss_reset()
    before = peak_rss()
    c0, w0 = time.process_time(), time.perf_counter()
    out = simulate(graph, spikes, keep="outputs")
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    size = sum(a.nbytes for rec in out.values() for a in rec.values())
    synapses = sum(a * b for a, b in zip(wl.sizes[:-1], wl.sizes[1:], strict=True))
    weights = sum(n.weight.nbytes for n in graph.nodes.values() if hasattr(n, "weight"))
    rates = float(out["output"]["out"].mean())
    return (f"{wl.name}: {synapses / 1e6:.1f} M synapses, output rate {rates:.1%}, bitsim auto outputs-only "
            f"{wall:.2f} s wall / {cpu:.2f} s "
            f"cpu, peak RSS {peak_rss() / 2**30:.2f} GiB (process before the run {before / 2**30:.2f} GiB, of which "
            f"the QGraph's int64 weights {weights / 2**30:.2f} GiB), traces {size / 2**20:.1f} MiB")


def print_table(rows: list[Row]) -> None:
    header = ("workload", "contender", "cpu [ms]", "wall [ms]", "x snnTorch (cpu)", "x snnTorch (wall)", "check")
    table = [header] + [(r.workload, r.contender, f"{r.cpu * 1e3:.2f}", f"{r.wall * 1e3:.2f}", f"{r.ratio_cpu:.2f}",
                         f"{r.ratio_wall:.2f}", r.check) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for k, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def summary(rows: list[Row]) -> None:
    """The issue's table: per workload snnTorch best, bitsim, generated C, hand C and the ratios (wall)."""
    print("\nissue #13 table (wall medians; x = snnTorch best / contender; C / hand C = generated / best hand):")
    for wl in dict.fromkeys(r.workload for r in rows):
        mine = {r.contender: r for r in rows if r.workload == wl}
        snn = min((r for n, r in mine.items() if n.startswith("snnTorch")), key=lambda r: r.wall)
        bit = mine["bitsim auto (outputs)"]
        gen = [r for n, r in mine.items() if n.startswith("generated C")]
        hand = [r for n, r in mine.items() if n.startswith("hand C")]
        onnx = [r for n, r in mine.items() if n.startswith("onnxruntime")]
        line = f"  {wl}: snnTorch {snn.wall * 1e3:.1f} ms | bitsim {bit.wall * 1e3:.2f} ms ({snn.wall / bit.wall:.1f}x)"
        if onnx:
            best = min(onnx, key=lambda r: r.wall)
            line += f" | onnxruntime {best.wall * 1e3:.2f} ms (bitsim {best.wall / bit.wall:.1f}x faster)"
        if gen and hand:
            h = min(hand, key=lambda r: r.wall)
            for g in gen:
                line += f" | {g.contender} {g.wall * 1e3:.2f} ms, / hand {g.wall / h.wall:.2f}"
            line += f" | hand C {h.wall * 1e3:.2f} ms"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny workload, 2 rounds (smoke test)")
    parser.add_argument("--big", action="store_true", help="also the 6.3 M-synapse workload and the memory runs")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    rows: list[Row] = []
    for wl in QUICK if args.quick else (*ISSUE, *(BIG if args.big else ())):
        big = wl in BIG
        rows += run_workload(wl, 2 if args.quick else (3 if big else args.repeats), args.seed,
                             c_targets=not big, onnx=not big or args.big, big=big)
    print()
    print_table(rows)
    summary(rows)
    if args.big:
        print("\nmemory (bitsim auto, outputs only):")
        for wl in MEMORY:
            print("  " + memory_run(wl, args.seed))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (a shared machine: compare rows, not runs)")
    if any(r.check == "NOT EXACT" for r in rows):
        print("NOT EXACT: " + "; ".join(f"{r.workload}: {r.contender}" for r in rows if r.check == "NOT EXACT"),
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
