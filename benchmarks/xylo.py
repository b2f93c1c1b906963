"""bitsim's xylo path against XyloSim 0.1.3 (SynSense's C++ simulator), same network and inputs, one process.

Usage: python benchmarks/xylo.py [--quick] [--repeats N] [--batch B] [--steps T] [--seed S]
(exit code 1 if the xylo path is not bit-exact with XyloSim on every record)

Workload: a network that fits Xylo Audio 2 -- 16 input channels, two feed-forward hidden layers of 128 and 64
neurons embedded in the recurrent matrix plus a sparse recurrent block on the first (fan-out <= 64 per neuron),
8 readout neurons; int8 weights with shift 2, dashes 1..6, thresholds 8000..20000 (the hidden layers' firing rates
are printed), input event counts 0..3 at 20 % density. XyloSim steps one sample at a time (as Rockpool's XyloSim
module does), so a batch of B is B calls from the reset state; the xylo path's "c" kernel (the default where gcc
exists) and its numpy "fast" path take the whole batch in one call (the C kernel's one-off compile is cached
before timing).
Timing: CPU time (process_time) of each variant, --repeats interleaved rounds after one warm-up, the median and
the paired per-round ratio reported. Two comparisons: every state of every neuron at every step recorded on both
sides, and output spikes only (XyloSim as Rockpool's ``evolve(record=False)`` returns them; the xylo path with
``record=("spikes_out",)``).
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


def timed(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batch 8, 50 steps, 2 rounds")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    batch, steps, repeats = (8, 50, 2) if args.quick else (args.batch, args.steps, args.repeats)
    rng = np.random.default_rng(args.seed)
    net = workload(rng)
    check_net(net, XYLO_AUDIO2)  # it fits the chip
    x = rng.integers(0, 4, (steps, batch, net.n_in)) * (rng.random((steps, batch, net.n_in)) < 0.2)
    want = run_xylosim(net, x)
    problem = first_mismatch(want, run_xylo(net, x, path="c")) or first_mismatch(want, run_xylo(net, x, path="fast"))
    rate = float(want.spikes[:, :, :128].astype(bool).mean()), float(want.spikes[:, :, 128:].astype(bool).mean())
    print(f"network: 16 -> 128 -> 64 -> 8 on Xylo ({net.n_hidden} hidden), T={steps}, batch={batch}; hidden "
          f"firing {rate[0]:.1%} / {rate[1]:.1%}, readout spikes {int(want.spikes_out.sum())}")
    print(f"bit-exact with XyloSim on every record: {'yes' if problem is None else 'NO: ' + problem}")
    layer = xylo_layer(net)

    def xylosim_outputs() -> np.ndarray:  # Rockpool's XyloSim.evolve(record=False): the output spikes only
        out = []
        for b in range(batch):
            layer.layer.reset_all()
            out.append(layer.layer.evolve(x[:, b].tolist()))
        return np.asarray(out)

    variants = {"xylosim": lambda: run_xylosim(net, x), "bitsim xylo c": lambda: run_xylo(net, x, path="c"),
                "bitsim xylo fast": lambda: run_xylo(net, x, path="fast"),
                "xylosim (outputs)": xylosim_outputs,
                "bitsim xylo c (outputs)": lambda: run_xylo(net, x, path="c", record=("spikes_out",))}
    outs = run_xylo(net, x, path="c", record=("spikes_out",)).spikes_out
    if not np.array_equal(xylosim_outputs().transpose(1, 0, 2), outs):
        problem = problem or "output spikes differ when only they are recorded"
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(timed(fn))
    for name, ts in times.items():
        print(f"  {name:18s} median {statistics.median(ts) * 1e3:9.1f} ms CPU  ({repeats} rounds)")
    for base, name in (("xylosim", "bitsim xylo c"), ("xylosim", "bitsim xylo fast"),
                       ("xylosim (outputs)", "bitsim xylo c (outputs)")):
        ratios = [a / b for a, b in zip(times[base], times[name], strict=True)]
        print(f"speed-up of {name} over {base}: median {statistics.median(ratios):.1f}x "
              f"(paired per round, min {min(ratios):.1f}x, max {max(ratios):.1f}x)")
    return 0 if problem is None else 1


if __name__ == "__main__":
    sys.exit(main())
