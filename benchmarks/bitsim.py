"""bitsim speed against snnTorch's float forward pass, measured in one process on the same weights and spikes.

Usage: python benchmarks/bitsim.py [--quick] [--repeats N] [--seed S]    (exit code 1 if any path is not bit-exact)

For each workload (LIF MLPs, snnTorch-like semantics) the script builds one QGraph by hand
(random int8 weights, beta_q = round(0.9 * 4096), per-layer thresholds calibrated so that
each layer fires at about 10%) and the matching snnTorch net (nn.Linear with the same
integers as float weights + snntorch.Leaky(init_hidden=True), one call per timestep under
torch.no_grad, torch's default thread count). It times every bitsim path plus "auto" and the
snnTorch loop (one warm-up run each, so the one-off C compile is excluded; then --repeats rounds
that interleave all variants, so a change of machine load hits all alike; the median is reported),
and checks each path's traces against the plain executor's, every integer of every node.
Inputs: uint8 spikes for bitsim, the same spikes as a float32 tensor for snnTorch; both
conversions happen outside the timed region. bitsim records every node's full traces
(out, v), snnTorch returns only the output spikes.
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

import numpy as np
import snntorch as snn
import torch
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.fast import PATHS, run_fast
from snntorch import utils as snn_utils

import snncompile as sc
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron

BETA_Q = round(0.9 * 4096)
TARGET_RATE = 0.10
INPUT_RATE = 0.15
#: numpy-only paths (int64 matmul, per-step numpy neuron): on big workloads timed once, not repeated
SLOW_PATHS = ("layerwise", "sparse", "stepwise")


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    steps: int
    batch: int


WORKLOADS = (
    Workload("784-256-128-10 LIF, T=100, B=1", (784, 256, 128, 10), 100, 1),
    Workload("784-256-128-10 LIF, T=100, B=64", (784, 256, 128, 10), 100, 64),
    Workload("64-1000-8 LIF, T=1000, B=1", (64, 1000, 8), 1000, 1),
)
QUICK = (
    Workload("quick 32-16-4 LIF, T=20, B=2", (32, 16, 4), 20, 2),
    Workload("quick 16-24-3 LIF, T=50, B=1", (16, 24, 3), 50, 1),
)


def lif(name: str, n: int, threshold: int) -> QNeuron:
    return QNeuron(name=name, kind="LIF", shape=(n,), semantics=sc.PRESETS["snntorch"], beta=BETA_Q,
                   threshold=threshold, frac_bits=12, i_bits=24, v_bits=24)


def build_qgraph(weights: list[np.ndarray], thresholds: list[int]) -> QGraph:
    nodes: dict = {"input": Input(shape=(int(weights[0].shape[1]),))}
    edges = []
    prev = "input"
    for k, (w, th) in enumerate(zip(weights, thresholds, strict=True), start=1):
        nodes[f"fc{k}"] = QDense(name=f"fc{k}", weight=w, w_bits=8)
        nodes[f"lif{k}"] = lif(f"lif{k}", int(w.shape[0]), th)
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return QGraph(nodes, edges)


def calibrate_threshold(w: np.ndarray, spikes: np.ndarray) -> tuple[int, np.ndarray]:
    """The threshold (bisection on integers) that makes this layer fire closest to TARGET_RATE."""
    def rate(th: int) -> tuple[float, np.ndarray]:
        out = run_fast(build_qgraph([w], [th]), spikes, path="auto")["lif1"]["out"]
        return float(out.mean()), out

    lo, hi = 1, 1 << 22
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if rate(mid)[0] > TARGET_RATE else (lo, mid)
    return hi, rate(hi)[1]


def build_workload(wl: Workload, rng: np.random.Generator) -> tuple[QGraph, np.ndarray, torch.nn.Module]:
    spikes = (rng.random((wl.steps, wl.batch, wl.sizes[0])) < INPUT_RATE).astype(np.uint8)
    weights, thresholds = [], []
    calib = spikes[: min(wl.steps, 200), : min(wl.batch, 8)]
    for n_in, n_out in zip(wl.sizes[:-1], wl.sizes[1:], strict=True):
        w = rng.integers(-127, 128, (n_out, n_in))
        th, calib = calibrate_threshold(w, calib)
        weights.append(w)
        thresholds.append(th)
    layers: list[torch.nn.Module] = []
    for w, th in zip(weights, thresholds, strict=True):
        linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.astype(np.float32)))
        layers += [linear, snn.Leaky(beta=BETA_Q / 4096, threshold=float(th), init_hidden=True,
                                     reset_mechanism="subtract")]
    return build_qgraph(weights, thresholds), spikes, torch.nn.Sequential(*layers)


def snntorch_run(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    snn_utils.reset(net)
    with torch.no_grad():
        return torch.stack([net(x[t]) for t in range(x.shape[0])])


def median_times(variants: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time per variant; rounds interleave the variants so that load changes hit all alike."""
    for fn in variants.values():
        fn()  # warm-up: compiles and loads the C kernels, first-touch allocations
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def with_torch_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(before)
    return run


def same_traces(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[n].keys() == b[n].keys() and all(np.array_equal(a[n][k], b[n][k]) for k in a[n]) for n in a)


def run_workload(wl: Workload, repeats: int, seed: int) -> list[tuple[str, str, float, float, str]]:
    graph, spikes, net = build_workload(wl, np.random.default_rng(seed))
    x_torch = torch.from_numpy(spikes.astype(np.float32))
    t0 = time.perf_counter()
    plain = run_plain(graph, spikes)
    t_plain = time.perf_counter() - t0
    rates = ", ".join(f"{n} {plain[n]['out'].mean():.1%}" for n in graph.nodes if n.startswith("lif"))
    print(f"  {wl.name}: firing rates {rates}; snnTorch output rate {snntorch_run(net, x_torch).mean():.1%}")
    shapes = [a.shape for rec in plain.values() for a in rec.values()]

    def trace_floor() -> object:  # allocate and write bitsim's int64 traces, no compute (info)
        arrays = [np.empty(shape, np.int64) for shape in shapes]
        for a in arrays:
            a.fill(1)
        return arrays

    snn_label = f"snnTorch ({torch.get_num_threads()} threads)"
    variants: dict[str, Callable[[], object]] = {snn_label: lambda: snntorch_run(net, x_torch)}
    if torch.get_num_threads() > 1:  # for reference: one thread is more robust on a shared machine
        variants["snnTorch (1 thread, info)"] = with_torch_threads(1, lambda: snntorch_run(net, x_torch))
    variants["int64 traces, no compute (info)"] = trace_floor
    for path in (*PATHS, "auto"):
        if path in SLOW_PATHS and wl.batch * wl.steps * sum(wl.sizes) > 200_000:
            continue  # numpy paths meant for small or recurrent graphs: timed once below, not repeated
        variants[path] = lambda p=path: run_fast(graph, spikes, path=p)  # type: ignore[misc]
    times = median_times(variants, repeats)
    t_snn = times[snn_label]
    rows = [(wl.name, label, t, t_snn / t, "-") for label, t in times.items() if "info" in label or label == snn_label]
    rows.append((wl.name, "plain (1 run)", t_plain, t_snn / t_plain, "definition"))
    for path in (*PATHS, "auto"):
        t0 = time.perf_counter()
        traces = run_fast(graph, spikes, path=path)
        once = time.perf_counter() - t0
        label = path if path in times else f"{path} (1 run)"
        t = times.get(path, once)
        rows.append((wl.name, label, t, t_snn / t, "yes" if same_traces(plain, traces) else "NO"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny workloads (CI smoke test)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per entry (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"numpy {np.__version__}, snntorch {snn.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    rows = []
    for wl in QUICK if args.quick else WORKLOADS:
        rows += run_workload(wl, 2 if args.quick else args.repeats, args.seed)
    header = ("workload", "path", "time [ms]", "snnTorch/bitsim", "bit-exact vs plain")
    table = [header] + [(w, p, f"{t * 1e3:.2f}", f"{r:.2f}x", e) for w, p, t, r, e in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for k, row in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * width for width in widths))
    print(f"\nload average at the end {os.getloadavg()[0]:.2f} (on a shared machine: compare rows, not runs)")
    print("bit-exact: every node's out/v traces equal run_plain's on the full workload (all T, all B).")
    print("'int64 traces, no compute': allocating and writing the int64 traces every bitsim path returns (the")
    print("Input's copy included) -- a floor for any path; snnTorch returns only the output spikes.")
    print("'(1 run)': numpy-only paths meant for small or recurrent graphs, timed once on big workloads.")
    failed = [f"{w}: {p}" for w, p, _, _, e in rows if e == "NO"]
    if failed:
        print(f"NOT bit-exact: {'; '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
