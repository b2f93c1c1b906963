"""Start-up time of the command line: ``snncompile --help`` and ``snncompile inspect digits-mlp``.

Targets (issue #17): ``--help`` < 0.5 s, ``inspect digits-mlp`` < 1.5 s on the 2-core CI machine, neither
importing torch. Each command runs in a fresh interpreter ``--repeat`` times (default 7), interleaved; printed:
the median wall time, the median child CPU time (user + sys) and that CPU time as a fraction of
``python -c "import torch"``'s in the same run (the old floor of every call). The verdict is on CPU time: on
a shared machine wall time is mostly waiting for a core (at load 20 on 2 cores it is 4-5x the CPU time).

    python benchmarks/cli_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "snncompile --help": [sys.executable, "-m", "snncompile", "--help"],
    "snncompile inspect digits-mlp": [sys.executable, "-m", "snncompile", "inspect", "digits-mlp"],
    "python -c 'import torch' (baseline)": [sys.executable, "-c", "import torch"],
}
LIMITS = {"snncompile --help": 0.5, "snncompile inspect digits-mlp": 1.5}


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (the child's user + sys) of one run."""
    before = os.times()
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for argv in COMMANDS.values():  # warm the file cache once
        measure(argv)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):  # interleaved, so load changes hit every command alike
        for name, argv in COMMANDS.items():
            samples[name].append(measure(argv))
    torch_cpu = statistics.median(c for _, c in samples["python -c 'import torch' (baseline)"])
    print(f"{'command':42} {'wall median':>12} {'cpu median':>11} {'cpu / torch':>12}  limit (cpu)")
    ok = True
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        limit = LIMITS.get(name)
        verdict = "" if limit is None else (f"< {limit} s: " + ("ok" if cpu < limit else "OVER"))
        ok = ok and (limit is None or cpu < limit)
        print(f"{name:42} {wall:11.3f}s {cpu:10.3f}s {cpu / torch_cpu:12.2f}  {verdict}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
