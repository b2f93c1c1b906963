"""Export cost per target beside one bitsim simulation, with peak memory (issue: compile well under a simulation).

    python benchmarks/compile.py [--full] [--targets bitsim,hls,onnx,loihi] [--repeat R] [--json FILE]

Networks (LIF MLPs, snnTorch semantics, seeded random weights; stimuli T=100, B=16, 10 % spikes):
``small`` 256-128-10 (34 k synapses), ``6.3M`` 1024-2048-2048-10, and with ``--full`` ``67M`` 4096-8192-4096-10.
For each network and target, ``snncompile export MODEL --target T --inputs DATA`` runs as a child process;
its CPU time (user + system) and peak RSS come from ``wait4``. Beside them, in the same run:

* ``start-up``: the fixed cost an export cannot avoid, measured as a child that starts Python, imports torch
  (export's float calibration runs the torch reference) and the CLI, and loads the model
  (``snncompile inspect MODEL`` with torch imported first). ``inspect`` alone (no torch: it never needs it) is
  printed beside it as ``inspect s``, so the reader sees what the torch import is;
* ``sim``: one bitsim simulation (``simulate``, the fast path) of the exported QGraph on the same stimuli: the
  first call on a freshly read QGraph (it prepares the weights, as one ``snncompile simulate`` does), CPU-time
  median over ``--repeat`` fresh reads; in brackets a second call on the same QGraph (prepared weights cached);
  and the peak RSS of a child doing only that.

* ``quantise+sim``: ``snncompile simulate MODEL --fixed --inputs DATA``: the start-up, the float calibration run,
  the quantiser and one bitsim simulation -- the work an export cannot drop, since it calibrates on the same data
  and its golden traces are a bitsim simulation. ``y`` = export / quantise+sim per round: what writing and
  checking the target's artifacts add on top of that floor.

The children run in ``--repeat`` rounds (each round: start-up, inspect, quantise+sim, then every target's
export), so each round's ratios pair an export with a start-up and a floor measured moments before it; the table
gives CPU-time medians and the median of the paired ratios (peak RSS: the largest). The issue's goal is x < 1
(loihi < 2); the floor alone, quantise+sim / (start-up + sim), is above 1 on large networks (docs/design-notes.md,
"The floor of an export").
CPU times, not wall: the machine is shared.
``--python`` runs the export children (and start-up) with another interpreter, e.g. the previous release's venv,
for a before/after table measured in one run.
The 24 GiB line extrapolates the largest export's peak RSS per synapse (labelled an estimate).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import snncompile as sc
from snncompile.nodes import LIF, Affine, Input, Output

NETWORKS = {"small": (256, 128, 10), "6.3M": (1024, 2048, 2048, 10), "67M": (4096, 8192, 4096, 10)}
T, B, DENSITY = 100, 16, 0.1
GIB = 1 << 30


def mlp(sizes: tuple[int, ...], seed: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    nodes: dict[str, Any] = {"input": Input(shape=(sizes[0],))}
    edges, prev = [], "input"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        nodes[f"fc{k}"] = Affine(weight=rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32),
                                 bias=np.zeros(n_out, np.float32))
        nodes[f"lif{k}"] = LIF(shape=(n_out,), beta=np.float32(0.9), threshold=np.float32(1.0),
                               semantics=sc.PRESETS["snntorch"])
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return sc.Graph(nodes, edges)


def sizes_of(name: str) -> tuple[int, ...]:
    """``"8192-16384-10"`` -> (8192, 16384, 10): a network given by its layer sizes."""
    try:
        sizes = tuple(int(n) for n in name.split("-"))
    except ValueError:
        known = ", ".join(NETWORKS)
        raise SystemExit(f"--networks: {name!r} is neither one of {known} nor layer sizes A-B-...") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise SystemExit(f"--networks: {name!r} needs at least two layer sizes >= 1")
    return sizes


def synapses(sizes: tuple[int, ...]) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def child(argv: list[str], cwd: Path) -> tuple[float, float, int]:
    """(CPU seconds user+system, wall seconds, peak RSS bytes) of one child process; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-800:]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss * 1024


STARTUP_CHILD = """
import sys, torch
from snncompile.cli import main
sys.exit(main(["inspect", sys.argv[1]]))
"""

SIM_CHILD = """
import sys, numpy as np
from snncompile.backends.bitsim import simulate
from snncompile.quant.qnir import read_qgraph
simulate(read_qgraph(sys.argv[1]), np.load(sys.argv[2]))
"""


def measure(name: str, sizes: tuple[int, ...], targets: list[str], repeat: int, work: Path,
            python: str = sys.executable) -> dict[str, Any]:
    """One network: ``repeat`` rounds, each running the start-up child, then every target's export child, so each
    round's ratios pair an export with a start-up measured moments apart (the machine is shared)."""
    from snncompile.backends.bitsim import simulate

    from snncompile.quant.qnir import read_qgraph

    folder = work / name
    folder.mkdir()
    model, stim = folder / "model.nir", folder / "stim.npy"
    sc.save(mlp(sizes), str(model))
    np.save(stim, (np.random.default_rng(1).random((T, B, sizes[0])) < DENSITY).astype(np.uint8))
    py = [python, "-m", "snncompile"]
    row: dict[str, Any] = {"network": name, "sizes": list(sizes), "synapses": synapses(sizes)}
    startup: list[tuple[float, float, int]] = []
    floor: list[tuple[float, float, int]] = []
    inspect: list[float] = []
    runs: dict[str, list[tuple[float, float, int]]] = {t: [] for t in targets}
    refused: dict[str, str] = {}
    for k in range(max(1, repeat)):
        startup.append(child([python, "-c", STARTUP_CHILD, str(model)], folder))
        inspect.append(child([*py, "inspect", str(model)], folder)[0])
        (folder / "sim.npy").unlink(missing_ok=True)  # outside the measured child
        floor.append(child([*py, "simulate", str(model), "--fixed", "--inputs", str(stim), "-o",
                            str(folder / "sim.npy")], folder))
        for target in targets:
            if target in refused:
                continue
            out = folder / f"out-{target}"
            shutil.rmtree(out, ignore_errors=True)  # outside the measured child
            try:
                runs[target].append(child([*py, "export", str(model), "--target", target, "-o", str(out),
                                           "--inputs", str(stim), "--simulator", "icarus"], folder))
            except RuntimeError as err:  # the target refuses this network (e.g. a resource limit): say so
                refused[target] = str(err).strip().splitlines()[-1][-300:]
                print(f"  {name} round {k + 1}: {target} refused: {refused[target]}", flush=True)
                continue
            print(f"  {name} round {k + 1}: {target} {runs[target][-1][0]:.2f} s CPU "
                  f"(start-up {startup[-1][0]:.2f} s)", flush=True)
    qfile = folder / "out-bitsim" / "bitsim" / "qgraph.nir"
    if not qfile.is_file():  # bitsim not among the targets: export it for the simulation
        child([*py, "export", str(model), "--target", "bitsim", "-o", str(folder / "out-bitsim"), "--inputs",
               str(stim)], folder)
    data = np.load(stim)
    cold, warm = [], []
    for _ in range(max(1, repeat)):
        qgraph = read_qgraph(qfile)  # a fresh QGraph: the first call prepares its weights, as one simulate does
        for times in (cold, warm):
            t0 = time.process_time()
            simulate(qgraph, data)
            times.append(time.process_time() - t0)
    row["sim_cpu_s"], row["sim_warm_cpu_s"] = statistics.median(cold), statistics.median(warm)
    del qgraph  # not held beside the child's own copy (a 0.6 G-synapse QGraph is 5 GB of int64)
    _, _, row["sim_rss"] = child([sys.executable, "-c", SIM_CHILD, str(qfile), str(stim)], folder)
    row["startup_cpu_s"] = statistics.median(r[0] for r in startup)
    row["startup_runs"] = [round(r[0], 3) for r in startup]
    row["startup_rss"] = max(r[2] for r in startup)
    row["inspect_cpu_s"] = statistics.median(inspect)
    row["quantsim_cpu_s"] = statistics.median(r[0] for r in floor)
    row["quantsim_runs"] = [round(r[0], 3) for r in floor]
    row["export"] = {t: {"refused": why} for t, why in refused.items()}
    for target, rs in runs.items():
        if target in refused:
            continue
        ratios = [r[0] / (s[0] + row["sim_cpu_s"]) for r, s in zip(rs, startup, strict=True)]
        row["export"][target] = {"cpu_s": statistics.median(r[0] for r in rs),
                                 "wall_s": statistics.median(r[1] for r in rs), "peak_rss": max(r[2] for r in rs),
                                 "cpu_runs": [round(r[0], 3) for r in rs], "ratio": statistics.median(ratios),
                                 "ratios": [round(x, 3) for x in ratios],
                                 "floor_ratio": statistics.median(r[0] / f[0] for r, f in zip(rs, floor, strict=True))}
    return row


def table(rows: list[dict[str, Any]], targets: list[str]) -> str:
    head = ["network", "synapses", "start-up s", "inspect s", "sim s (warm)", "sim RSS MiB", "quantise+sim s"]
    head += [f"{t} s (x, y)" for t in targets] + [f"{t} MiB" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["network"], f"{r['synapses']:,}", f"{r['startup_cpu_s']:.2f}", f"{r['inspect_cpu_s']:.2f}",
                 f"{r['sim_cpu_s']:.2f} ({r['sim_warm_cpu_s']:.2f})",
                 f"{r['sim_rss'] / 2**20:.0f}", f"{r['quantsim_cpu_s']:.2f}"]
        cells += ["refused" if "refused" in r["export"][t] else
                  f"{r['export'][t]['cpu_s']:.2f} ({r['export'][t]['ratio']:.2f}, {r['export'][t]['floor_ratio']:.2f})"
                  for t in targets]
        cells += ["-" if "refused" in r["export"][t] else f"{r['export'][t]['peak_rss'] / 2**20:.0f}"
                  for t in targets]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def capacity(rows: list[dict[str, Any]], targets: list[str]) -> str:
    """The largest network (synapses) whose worst export and simulation fit 24 GiB, by the largest row's bytes
    per synapse beyond a fixed base (the smallest row's start-up RSS: the interpreter and libraries; the model
    itself grows with the synapses) -- an estimate, not a measurement."""
    big = max(rows, key=lambda r: r["synapses"])
    base = min(r["startup_rss"] for r in rows) if len(rows) > 1 else BASE_RSS
    ran = [t for t in targets if "refused" not in big["export"][t]] or ["(none)"]
    rss = {t: big["export"][t]["peak_rss"] if t in big["export"] else 0 for t in ran}
    peak = max([big["sim_rss"], *rss.values()])
    worst = max(ran, key=rss.__getitem__)
    per = (peak - base) / big["synapses"]
    fits = int((24 * GIB - base) / per)
    return (f"estimate: {per:.1f} bytes per synapse beyond a {base / GIB:.2f} GiB base at {big['network']} (worst: "
            f"{worst} export, T={T}, B={B}) -> about {fits / 1e6:.0f} M synapses export and simulate in 24 GiB")


#: the start-up's RSS without a model (python, torch, the CLI): the capacity base of a one-network run
BASE_RSS = 260 << 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also the 67 M-synapse network (minutes, ~10 GiB)")
    ap.add_argument("--targets", default="bitsim,hls,onnx,loihi")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--networks", default=None, help="comma-separated subset of " + ", ".join(NETWORKS)
                    + ", or layer sizes such as 8192-16384-16384-10 (a capacity run)")
    ap.add_argument("--json", metavar="FILE", help="also write the measurements as JSON")
    ap.add_argument("--python", default=sys.executable, metavar="PY",
                    help="interpreter of the export children, e.g. another checkout's venv for a before/after run")
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    names = args.networks.split(",") if args.networks else [n for n in NETWORKS if args.full or n != "67M"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="snncompile-bench-compile-") as tmp:
        for name in names:
            sizes = NETWORKS[name] if name in NETWORKS else sizes_of(name)
            print(f"{name} ({synapses(sizes):,} synapses)", flush=True)
            rows.append(measure(name, sizes, targets, args.repeat, Path(tmp), args.python))
    print()
    print(f"CPU seconds (user+system), medians; x = median over rounds of export / (start-up + sim), y = of export / "
          f"quantise+sim; T={T}, B={B}, {DENSITY:.0%} input spikes")
    print(table(rows, targets))
    for r in rows:
        for t, e in r["export"].items():
            if "refused" in e:
                print(f"{r['network']}: {t} refused: {e['refused']}")
    print(capacity(rows, targets))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
