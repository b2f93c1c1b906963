"""``snncompile sweep``: the subcommand's arguments and body (wired into :mod:`snncompile.cli` in a few lines).

Exit codes: 0 when every configuration ran (refused ones are results, listed in the table); 1 when a bit-exact
rung FAILED (a mismatch is a compiler bug, never a design point); 2 for bad arguments, or when Ray is not
installed (one line saying ``pip install 'snncompile[sweep]'``); 130 when interrupted (the finished
configurations are kept and the next run resumes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PROG = "snncompile"


def add_parser(sub: Any) -> None:
    from ..cli import _clock_mhz, _int_range, _model_args

    p = sub.add_parser(
        "sweep", help="sweep bit widths x targets on Ray: accuracy, bit-exactness, resources, latency",
        description="Quantise MODEL at every point of the grid, check every target bit-exactly against bitsim, "
                    "measure accuracy and each target's resources and latency, and write OUT/table.csv, "
                    "OUT/table.json and OUT/pareto.png (docs/sweep.md). Runs on Ray: an embedded local Ray by "
                    "default, a cluster with --address or RAY_ADDRESS. Rerunning resumes from OUT's cache.",
    )
    _model_args(p, quant=False)
    grid = p.add_argument_group("grid")
    grid.add_argument("--bits", default="2..8", metavar="LIST",
                      help="weight bits: '2..8', '2,4,8', '4' (default: 2..8)")
    grid.add_argument("--state-bits", default="auto", metavar="LIST",
                      help="v/i register bits: 'auto' (sized from calibration), '16', 'auto,16,24' (default: auto)")
    grid.add_argument("--target", action="append", metavar="T",
                      help="a target to check and measure (repeatable; default: hls)")
    grid.add_argument("--unroll", default="1", metavar="LIST", help="hls: unroll factors, e.g. '1,4' (default: 1)")
    grid.add_argument("--lanes", default="8", metavar="LIST", help="rtl: neuron lanes, e.g. '4,8' (default: 8)")
    p.add_argument("--inputs", metavar="DATA", help="data for accuracy and agreement (default: the bundled test "
                   "set, else seeded random spikes); also the calibration data")
    p.add_argument("--timesteps", type=_int_range(1), default=32, metavar="T",
                   help="steps of the seeded random spikes used without --inputs or a bundled test set")
    p.add_argument("--check-samples", type=_int_range(0), default=8, metavar="N",
                   help="samples of the bit-exact fixed<->target check (0 = all; default: 8)")
    p.add_argument("-o", "--output", metavar="OUT", help="sweep folder (default: sweep-<model>); an existing one "
                   "is resumed")
    p.add_argument("--force", action="store_true", help="recompute configurations cached in OUT")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster address (default: RAY_ADDRESS, else an embedded "
                   "local Ray)")
    p.add_argument("--workers", type=_int_range(1), metavar="N", help="CPUs of the embedded local Ray (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or per-configuration lines")
    tgt = p.add_argument_group("target options (as for export)")
    tgt.add_argument("--clock-mhz", type=_clock_mhz, default=None, metavar="F",
                     help="hls estimate clock (default 200), rtl latency clock without --pnr (default 100)")
    tgt.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                     help="rtl: simulator of the bit-exact check and the cycle count (default: verilator)")
    tgt.add_argument("--synth", action="store_true", help="rtl: measure LUT/FF/BRAM/DSP with yosys")
    tgt.add_argument("--pnr", action="store_true", help="rtl: also Fmax with nextpnr-ecp5 (implies --synth)")
    tgt.add_argument("--device", choices=("12k", "25k", "45k", "85k"), default="25k",
                     help="rtl: ECP5 device (default: 25k)")
    tgt.add_argument("--core-spec", default="loihi1", metavar="SPEC", help="loihi: loihi1 (default), loihi2, or a "
                     "CoreSpec JSON file")
    p.set_defaults(func=cmd_sweep)


def _progress(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..commands import load_model
    from ..data import load_data
    from ..errors import InputError
    from ..frontend.nir_read import resolve
    from ..outdir import clean_beside
    from .folder import check_folder
    from .runner import require_ray, run
    from .space import Space, describe, parse_ints

    require_ray()  # before any work: without Ray the command is one line saying how to install it
    if args.address and args.workers:
        raise InputError("--workers sets the CPUs of the embedded local Ray; with --address the cluster's own "
                         "CPUs run the tasks")
    space = Space(
        bits=parse_ints(args.bits, "--bits"), state_bits=parse_ints(args.state_bits, "--state-bits", auto=True),
        targets=tuple(dict.fromkeys(args.target or ["hls"])), unroll=parse_ints(args.unroll, "--unroll"),
        lanes=parse_ints(args.lanes, "--lanes"),
        options={"hls": {"clock_mhz": args.clock_mhz or 200.0},
                 "rtl": {"simulator": args.simulator, "device": args.device, "clock_mhz": args.clock_mhz or 100.0,
                         "synthesise": args.synth or args.pnr, "pnr": args.pnr},
                 "loihi": {"core_spec": args.core_spec}})
    space.validate()
    out = Path(args.output) if args.output else Path(f"sweep-{Path(args.model).stem}")
    for note in clean_beside(out):
        _progress(note)
    protect = [resolve(args.model), *(p for p in (args.inputs, args.core_spec) if p and Path(p).is_file())]
    check_folder(out, protect=protect)  # refuse before any work
    loaded = load_model(args)
    data = load_data(args.inputs, loaded.graph, loaded.path, timesteps=args.timesteps)
    _progress(f"data: {data.note}")
    _progress(f"grid: bits {describe(space.bits)} x state bits {describe(space.state_bits)} x targets "
              f"{', '.join(space.targets)}: {len(space.jobs())} configuration(s)")
    try:
        result = run(loaded.graph, data.inputs, data.labels, space, out=out, model=args.model, data_note=data.note,
                     force=args.force, address=args.address, workers=args.workers,
                     check_samples=args.check_samples, progress=not args.no_progress, protect=protect,
                     notes=_progress)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    from .table import format_text

    print(format_text(result.rows, result.info["accuracy"]), end="")
    folder = result.out or out
    written = ["table.csv", "table.json"] + (["pareto.png"] if (folder / "pareto.png").is_file() else [])
    print(f"wrote {out}/: {', '.join(written)} ({result.computed} computed, {result.reused} reused)")
    mismatches = [r for r in result.rows if r["status"] == "mismatch"]
    return 1 if mismatches else 0
