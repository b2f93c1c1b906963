"""bitsim's xylo path against XyloSim 0.1.3 (SynSense's C++ simulator), same network and inputs, one process.

Usage: python benchmarks/xylo.py [--quick] [--repeats N] [--batch B] [--steps T] [--seed S] [--numpy]
(exit code 1 if any variant is not bit-exact with XyloSim)

Workload: a network that fits Xylo Audio 2 -- 16 input channels, two feed-forward hidden layers of 128 and 64
neurons embedded in the recurrent matrix plus a sparse recurrent block on the first (fan-out <= 64 per neuron),
8 readout neurons; int8 weights with shift 2, dashes 1..6, thresholds 8000..20000 (the hidden layers' firing rates
are printed), input event counts 0..3 at 20 % density. XyloSim steps one sample at a time (as Rockpool's XyloSim
module does), so a batch of B is B calls from the reset state; the xylo path's "c" kernel (the default where gcc
exists) takes the whole batch in one call, with 1 thread and with its default threads over the batch (the
kernel's one-off compile and the net's layout are cached before timing).
Two comparisons: every state of every neuron at every step recorded on both sides (bitsim's records as int64,
as XyloSim's are returned, and as int16, which holds every record), and output spikes only (XyloSim as Rockpool's
``evolve(record=False)`` returns them; the xylo path with ``record=("spikes_out",)``). Every variant's result is
checked == XyloSim's first.
Timing: CPU time (process_time, all threads) and wall time of each variant, --repeats interleaved rounds after
one warm-up; medians and the paired per-round ratios reported. XyloSim is single-threaded, so the CPU-time ratio
is the work ratio; with threads the wall-time ratio is what a user waits (noisy on a shared machine).
"""

from __future__ import annotations

import os

# The fast path's matrix products are small ([B, S] x [S, targets]); on the shared 2-core machine OpenBLAS threads
# only spin (measured: 8 ms instead of 55 us per product under load), so the benchmark runs BLAS single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from snncompile.backends.bitsim import ckernel, xylo_c  # noqa: E402
from snncompile.backends.bitsim.xylo import run_xylo  # noqa: E402
from snncompile.backends.xylo.rules import check_net  # noqa: E402
from snncompile.backends.xylo.spec import XYLO_AUDIO2, XyloNet  # noqa: E402
from snncompile.backends.xylo.xylosim import run_xylosim, xylo_layer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "backends" / "xylo"))
from xylo_cases import first_mismatch  # noqa: E402


def workload(rng: np.random.Generator) -> XyloNet:
    n_in, h1, h2, n_out = 16, 128, 64, 8
    n = h1 + h2

    def w(shape: tuple[int, ...], density: float) -> np.ndarray:
        return rng.integers(-128, 128, shape) * (rng.random(shape) < density)

    w_in = np.zeros((n_in, n, 2), np.int64)
    w_in[:, :h1, 0] = w((n_in, h1), 0.5)
    w_rec = np.zeros((n, n, 2), np.int64)
    w_rec[:h1, h1:, 0] = w((h1, h2), 0.25)  # layer 1 -> layer 2: a feed-forward hop in the recurrent matrix
    w_rec[:h1, :h1, 1] = w((h1, h1), 0.1)  # sparse recurrence on synapse 2
    w_out = np.zeros((n, n_out), np.int64)
    w_out[h1:] = w((h2, n_out), 0.5)
    return XyloNet.build(
        w_in, w_out, w_rec, weight_shift_in=2, weight_shift_rec=2, weight_shift_out=2,
        dash_mem=rng.integers(1, 7, n), dash_syn=rng.integers(1, 7, n), dash_syn_2=rng.integers(1, 7, n),
        threshold=rng.integers(8000, 20000, n), dash_mem_out=np.full(n_out, 3), dash_syn_out=np.full(n_out, 2),
        threshold_out=np.full(n_out, 6000),
    )


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(CPU, wall) seconds of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batch 8, 50 steps, 2 rounds")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--numpy", action="store_true", help="also time the numpy 'fast' path (slow)")
    args = ap.parse_args(argv)
    batch, steps, repeats = (8, 50, 2) if args.quick else (args.batch, args.steps, args.repeats)
    rng = np.random.default_rng(args.seed)
    net = workload(rng)
    check_net(net, XYLO_AUDIO2)  # it fits the chip
    x = rng.integers(0, 4, (steps, batch, net.n_in)) * (rng.random((steps, batch, net.n_in)) < 0.2)
    want = run_xylosim(net, x)
    problem = None
    rate = float(want.spikes[:, :, :128].astype(bool).mean()), float(want.spikes[:, :, 128:].astype(bool).mean())
    print(f"network: 16 -> 128 -> 64 -> 8 on Xylo ({net.n_hidden} hidden), T={steps}, batch={batch}; hidden "
          f"firing {rate[0]:.1%} / {rate[1]:.1%}, readout spikes {int(want.spikes_out.sum())}")
    layer = xylo_layer(net)

    def xylosim_outputs() -> np.ndarray:  # Rockpool's XyloSim.evolve(record=False): the output spikes only
        out = []
        for b in range(batch):
            layer.layer.reset_all()
            out.append(layer.layer.evolve(x[:, b].tolist()))
        return np.asarray(out).transpose(1, 0, 2)

    threads = ckernel.threads_for(steps * batch * (net.n_hidden + net.n_out))
    outs_only = ("spikes_out",)
    # name -> (function, baseline, kind): kind "all" is checked record by record, "outputs" on the output spikes
    variants: dict[str, tuple[Callable[[], object], str, str]] = {
        "xylosim (all records)": (lambda: run_xylosim(net, x), "", "all"),
        "xylosim (outputs)": (xylosim_outputs, "", "outputs"),
    }
    for n_threads in sorted({1, threads}):
        tag = f"{n_threads} thread{'s' if n_threads > 1 else ''}"
        variants[f"bitsim c, all int64, {tag}"] = (
            lambda n_threads=n_threads: run_xylo(net, x, path="c", threads=n_threads), "xylosim (all records)", "all")
        variants[f"bitsim c, all int16, {tag}"] = (
            lambda n_threads=n_threads: run_xylo(net, x, path="c", threads=n_threads, dtype=np.int16),
            "xylosim (all records)", "all")
        variants[f"bitsim c, outputs, {tag}"] = (
            lambda n_threads=n_threads: run_xylo(net, x, path="c", threads=n_threads, record=outs_only).spikes_out,
            "xylosim (outputs)", "outputs")
    if args.numpy:
        variants["bitsim fast (numpy), all"] = (lambda: run_xylo(net, x, path="fast"), "xylosim (all records)", "all")
    want_out = xylosim_outputs()
    for name, (fn, _, kind) in variants.items():
        got = fn()
        bad = first_mismatch(want, got) if kind == "all" else (  # type: ignore[arg-type]
            None if np.array_equal(want_out, got) else "output spikes differ")  # type: ignore[arg-type]
        if bad is not None:
            problem = problem or f"{name}: {bad}"
    print(f"every variant bit-exact with XyloSim: {'yes' if problem is None else 'NO: ' + problem}")
    print(f"xylo C kernel: {xylo_c.isa()} build, default threads {threads} (of {ckernel.THREADS} CPUs)")
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    wall: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, (fn, _, _) in variants.items():
            c, w = timed(fn)
            cpu[name].append(c)
            wall[name].append(w)
    print(f"{'variant':34s} {'CPU ms':>9s} {'wall ms':>9s}   speed-up over XyloSim: CPU (min..max)   wall")
    for name, (_, base, _) in variants.items():
        line = f"{name:34s} {statistics.median(cpu[name]) * 1e3:9.1f} {statistics.median(wall[name]) * 1e3:9.1f}"
        if base:
            rc = [a / b for a, b in zip(cpu[base], cpu[name], strict=True)]
            rw = [a / b for a, b in zip(wall[base], wall[name], strict=True)]
            line += f"   {statistics.median(rc):6.1f}x ({min(rc):.1f}..{max(rc):.1f})   {statistics.median(rw):6.1f}x"
        print(line)
    print(f"({repeats} interleaved rounds; ratios are medians of per-round ratios against the same round's XyloSim)")
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
