"""RTL cost table: LUT, FF, BRAM36, DSP (yosys), Fmax on ECP5 (nextpnr), cycles and us per sample, bit-exact.

Networks: the bundled digits-mlp (64-64-10) and seeded random LIF MLPs 256-128-10 and 784-128-10, at 4- and
8-bit weights, T=25, 15 % input activity (seeded Bernoulli spikes). Every row is first proven equal to bitsim
in Verilator (the export's own check), then synthesised and placed and routed. Published anchors, same shapes:
Spiker+ (784-128-10, 7,612 logic cells + 18 BRAM, 780 us/img, Zynq-7020 at 100 MHz) and Flexi-NeurA
(256-128-10, 1,623 logic cells + 7 BRAM, 1.1 ms). yosys/nextpnr counts differ from Vivado's.

    python benchmarks/rtl.py [--lanes P] [--only NAME] [--device 25k|45k|85k] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from snncompile.backends.bitsim import run_plain
from snncompile.backends.rtl import BACKEND

import snncompile as sc
from snncompile.nodes import LIF, Affine, Input, Output

T, ACTIVITY, SAMPLES = 25, 0.15, 4


def lif_mlp(sizes: tuple[int, ...], seed: int) -> sc.Graph:
    """A float LIF MLP with seeded weights scaled so that hidden layers fire at a few percent."""
    rng = np.random.default_rng(seed)
    nodes: dict[str, Any] = {"input": Input(shape=(sizes[0],))}
    edges, prev = [], "input"
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w = rng.normal(0.0, 1.0 / np.sqrt(n_in * ACTIVITY), (n_out, n_in)).astype(np.float32) * 0.6
        nodes[f"fc{k}"] = Affine(weight=w, bias=np.zeros(n_out, np.float32))
        nodes[f"lif{k}"] = LIF(shape=(n_out,), beta=np.full(n_out, 0.9, np.float32),
                               threshold=np.ones(n_out, np.float32))
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return sc.Graph(nodes, edges, dt=1e-3)


NETWORKS = {
    "digits-mlp 64-64-10": lambda: sc.load("digits-mlp"),
    "mlp 256-128-10": lambda: lif_mlp((256, 128, 10), 1),
    "mlp 784-128-10": lambda: lif_mlp((784, 128, 10), 2),
}


def measure(name: str, bits: int, lanes: int, device: str) -> dict[str, Any]:
    graph = NETWORKS[name]()
    rng = np.random.default_rng(7)
    n_in = int(np.prod(graph.shapes[graph.inputs[0]]))
    spikes = (rng.random((T, SAMPLES, n_in)) < ACTIVITY).astype(np.int64).reshape(T, SAMPLES,
                                                                                   *graph.shapes[graph.inputs[0]])
    qgraph = sc.quantize(graph, sc.QuantSpec(weight_bits=bits), spikes)
    with tempfile.TemporaryDirectory(prefix="snncompile-bench-rtl-") as tmp:
        t0 = time.perf_counter()
        emitted = BACKEND.emit(qgraph, Path(tmp) / "rtl", spikes, lanes=lanes, device=device, pnr=True)
        seconds = time.perf_counter() - t0
        got = BACKEND.run(Path(tmp) / "rtl", spikes)
    want = run_plain(qgraph, spikes)
    exact = all(np.array_equal(got[n][k], v) for n, r in want.items() for k, v in r.items())
    rep = emitted["report"]
    e, x, p, m = rep["synthesis"]["ecp5"], rep["synthesis"]["xilinx7"], rep["pnr"], rep["measured"]
    hidden_rate = float(np.mean(want[qgraph.order[2]]["out"])) if len(qgraph.order) > 2 else 0.0
    return {
        "network": name, "bits": bits, "lanes": lanes, "ecp5_lut4": e["LUT4"], "ecp5_ccu2c": e["CCU2C"],
        "ecp5_lutram": e["LUTRAM_DPR16X4"], "ecp5_ff": e["FF"], "ecp5_bram36": e["BRAM36_equiv"],
        "ecp5_dsp": e["DSP_MULT18X18D"], "x7_lut": x["LUT"], "x7_ff": x["FF"], "x7_bram36": x["BRAM36_equiv"],
        "x7_dsp": x["DSP48E1"], "fmax_mhz": p["fmax_mhz"], "cycles_per_sample": m["cycles_per_sample"],
        "us_per_sample": round(m["cycles_per_sample"] / p["fmax_mhz"], 1), "bit_exact": exact,
        "hidden_rate": round(hidden_rate, 3), "export_seconds": round(seconds, 1),
    }


COLUMNS = [("network", 20), ("bits", 4), ("lanes", 5), ("ecp5_lut4", 9), ("ecp5_ccu2c", 10), ("ecp5_ff", 7),
           ("ecp5_bram36", 11), ("ecp5_dsp", 8), ("x7_lut", 6), ("x7_ff", 6), ("x7_bram36", 9), ("x7_dsp", 6),
           ("fmax_mhz", 8), ("cycles_per_sample", 17), ("us_per_sample", 13), ("bit_exact", 9)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lanes", type=int, default=16)
    ap.add_argument("--device", default="45k")
    ap.add_argument("--only", help="run only networks whose name contains this")
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--json", help="also write the rows as JSON")
    args = ap.parse_args()
    os.environ.setdefault("SNNCOMPILE_CACHE", str(Path(tempfile.gettempdir()) / "snncompile-bench-cache"))
    print("  ".join(c.ljust(w) for c, w in COLUMNS))
    rows = []
    for name in NETWORKS:
        if args.only and args.only not in name:
            continue
        for bits in args.bits:
            row = measure(name, bits, args.lanes, args.device)
            rows.append(row)
            print("  ".join(str(row[c]).ljust(w) for c, w in COLUMNS), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
