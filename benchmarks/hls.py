"""Time the hls backend's compiled C (as a simulator) against bitsim and the float torch reference.

Same network, same inputs, measured in the same run; prints seconds and the speed ratios.

    python benchmarks/hls.py [--samples N] [--repeat R]

Networks: the bundled digits-mlp (quantised to 8 bits) on its test inputs, and a wider synthetic
MLP (256-512-256-10 LIF, snnTorch semantics) on seeded random spikes. Contenders:
``hls`` (snncompile.backends.hls run(): gcc -O2 C through ctypes; sparse and dense loops; the one-off
gcc build is reported separately), ``bitsim plain`` and ``bitsim auto``
(snncompile.backends.bitsim.simulate), ``float torch`` (snncompile.simulate on the float graph).
Every hls run is also checked to equal bitsim exactly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from snncompile.backends.bitsim import simulate
from snncompile.backends.hls import BACKEND

import snncompile as sc
from snncompile.nodes import LIF, Affine, Input, Output
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec

REPO = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def wide_mlp(seed: int = 0) -> sc.Graph:
    rng = np.random.default_rng(seed)
    sizes = (256, 512, 256, 10)
    nodes: dict[str, Any] = {"input": Input(shape=(sizes[0],))}
    edges, prev = [], "input"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        fc, lif = f"fc{k}", f"lif{k}"
        nodes[fc] = Affine(weight=rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32),
                           bias=np.zeros(n_out, np.float32))
        nodes[lif] = LIF(shape=(n_out,), beta=np.float32(0.9), threshold=np.float32(1.0),
                         semantics=sc.PRESETS["snntorch"])
        edges += [(prev, fc), (fc, lif)]
        prev = lif
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return sc.Graph(nodes, edges)


def bench(label: str, graph: sc.Graph, inputs: np.ndarray, repeat: int) -> None:
    qgraph = quantize(graph, QuantSpec(weight_bits=8), calib=None)
    T, B = inputs.shape[:2]
    print(f"\n== {label}: {len(graph.nodes)} nodes, T={T}, B={B} ==")
    start = time.perf_counter()
    BACKEND.run(qgraph, inputs[:, :1], sparse=True)
    BACKEND.run(qgraph, inputs[:, :1], sparse=False)
    print(f"gcc build of both loop forms (once per content hash, then cached): {time.perf_counter() - start:.2f} s")
    contenders: dict[str, tuple[Callable[[], Any], int]] = {
        "hls (C, sparse loops)": (lambda: BACKEND.run(qgraph, inputs, sparse=True), repeat),
        "hls (C, dense loops)": (lambda: BACKEND.run(qgraph, inputs, sparse=False), repeat),
        "bitsim plain": (lambda: simulate(qgraph, inputs, path="plain"), max(1, repeat // 2)),
        "bitsim auto": (lambda: simulate(qgraph, inputs, path="auto"), repeat),
        "float torch reference": (lambda: sc.simulate(graph, inputs.astype(np.float32)), repeat),
    }
    rows: dict[str, float | str] = {}
    results: dict[str, Any] = {}
    for name, (fn, n) in contenders.items():
        try:
            rows[name], results[name] = timed(fn, n)
        except Exception as exc:  # a broken contender is reported, not fatal: the others still compare
            rows[name] = f"failed: {type(exc).__name__}: {exc}"
    plain = results["bitsim plain"]
    for name in ("hls (C, sparse loops)", "hls (C, dense loops)"):
        got = results[name]
        assert all(np.array_equal(plain[n][k], got[n][k]) for n in plain for k in plain[n]), f"{name} != bitsim"
    best = min(float(rows["hls (C, sparse loops)"]), float(rows["hls (C, dense loops)"]))
    print(f"{'contender':<24}{'seconds':>10}{'x hls (best C)':>16}")
    for name, sec in rows.items():
        print(f"{name:<24}{sec:>10.4f}{sec / best:>16.2f}" if isinstance(sec, float) else f"{name:<24}  {sec}")
    print("bit-exact: both C forms equal bitsim plain on every trace")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=360, help="digits-mlp test samples (max 360)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    os.environ.setdefault("SNNCOMPILE_CACHE", str(Path(tempfile.gettempdir()) / "snncompile-bench-cache"))
    digits = np.load(REPO / "models" / "digits-mlp" / "test.npz")["inputs"][:, : args.samples]
    bench("digits-mlp (8-bit)", sc.load("digits-mlp"), digits, args.repeat)
    rng = np.random.default_rng(1)
    spikes = (rng.random((50, 64, 256)) < 0.1).astype(np.uint8)
    bench("wide MLP 256-512-256-10 (8-bit)", wide_mlp(), spikes, args.repeat)


if __name__ == "__main__":
    main()
