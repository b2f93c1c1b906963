"""The ``snncompile`` command line (docs/cli.md).

Every :class:`~snncompile.errors.SnnCompileError` becomes one line on stderr,
``snncompile: error: <message>``, and the exit code of its class (2 for bad
input); usage errors exit 2 as argparse does. No traceback for either. Every
:class:`~snncompile.errors.SnnCompileWarning` a command issues becomes one line
on stderr, ``snncompile: warning: <message>``, each time it is issued.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .atomic import os_reason
from .errors import OutputError, SnnCompileError, SnnCompileWarning

if TYPE_CHECKING:
    from .graph import Graph

PROG = "snncompile"


def _positive_number(unit: str, must: str) -> Any:
    """An argparse type: a finite number > 0 of ``unit``; ``must`` completes the message for one that is not."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{text!r} must be {must}")
        return value
    return parse


_positive_seconds = _positive_number("seconds", "a positive number of seconds")
_clock_mhz = _positive_number("MHz", "a finite number of MHz > 0")


def _targets() -> list[str]:
    from .backends import available  # the registry only: no backend is imported

    return available()


def _part(text: str) -> str:
    from .backends.hls.backend import part_problem  # only when --part is given: the hls backend is heavy

    problem = part_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Deployment compiler for spiking neural networks (NIR / PyTorch in)."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "inspect", help="show a model's nodes, shapes, semantics and sizes",
        description="Read MODEL and print its nodes, shapes, neuron semantics and totals. MODEL may also be a "
                    "QGraph file written by export (OUT/bitsim/qgraph.nir): then its integer nodes and widths.",
    )
    _model_args(p, quant=False)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _verbosity(p)
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("models", help="list the bundled models (names usable as MODEL)",
                       description="List the bundled models: name, test set, float accuracy, architecture.")
    p.add_argument("--json", action="store_true", help="print a JSON list (with each model's card) instead")
    p.set_defaults(func=cmd_models)
    _add_verify(sub)
    _add_simulate(sub)
    _add_export(sub)
    from .sweep.cli import add_parser as add_sweep  # docs/sweep.md; Ray is imported only when it runs

    add_sweep(sub)
    return parser


def _verbosity(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("output").add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="only results, warnings and errors on the terminal")
    group.add_argument("-v", "--verbose", action="store_true", help="also every step with its duration (stderr)")


def _int_range(lo: int, hi: int | None = None) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {lo}" + (f" and <= {hi}" if hi else ""))
        return value
    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _model_args(p: argparse.ArgumentParser, *, quant: bool = True) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="a .nir file, a folder holding model.nir, or a bundled model name (snncompile models)")
    src = p.add_argument_group("source convention (files without snncompile metadata; docs/interop.md)")
    src.add_argument("--from", dest="convention", metavar="CONVENTION",
                     help="nir (default), snntorch, norse, norse-seconds, sinabs, rockpool, lava-dl, spyx")
    src.add_argument("--dt", type=_positive_seconds, metavar="SECONDS", help="time step (default: the convention's)")
    src.add_argument("--discretization", choices=("euler", "exact"), default=None,
                     help="continuous -> per-step decays (default: the convention's rule)")
    src.add_argument("--reset", choices=("zero", "subtract", "none"), default=None,
                     help="state the reset mechanism the exporter did not record (default: the convention's)")
    src.add_argument("--reset-delay", action=argparse.BooleanOptionalAction, default=None,
                     help="state snnTorch's reset_delay, not recorded by its exporter (default: the convention's)")
    src.add_argument("--spikes", choices=("binary", "multi"), default=None,
                     help="state single or multi-spike output, e.g. Sinabs SingleSpike (default: the convention's)")
    if quant:
        # plain int here: QuantSpec checks the range and its message is the one users see (exit 2)
        p.add_argument("--bits", type=int, default=8, metavar="N",
                       help="weight bits, 2..16 (default: 8; the loihi target fixes its own widths)")
        p.add_argument("--state-bits", type=int, default=None, metavar="N",
                       help="v/i register bits, 8..32 (default: sized from calibration)")
        p.add_argument("--rounding", choices=("toward_zero", "floor", "nearest", "shift_subtract"),
                       default="toward_zero",
                       help="how the fixed-point decays round (docs/semantics.md); shift_subtract is the "
                            "multiplier-free leak v - (v >> k) and needs decays 1 - 2^-k (default: toward_zero)")
        p.add_argument("--layer-bits", action="append", default=[], metavar="LAYER=BITS",
                       help="per-layer precision (repeatable): LAYER a node name or @N (N-th neuron layer); BITS "
                            "N (weight bits) or wN,sN,dN (weight, state, decay fractional bits), e.g. 3=4, "
                            "@0=w6,s16 (docs/quantisation.md; default: none, every layer takes --bits / --state-bits)")


def _add_verify(sub: Any) -> None:
    p = sub.add_parser(
        "verify", help="run the verification ladder: source<->float, float<->fixed, fixed<->each target",
        description="Quantise MODEL and check every rung of the ladder on the same inputs (docs/verify.md). "
                    "Exit 0 when no rung fails, 1 when one does.",
    )
    _model_args(p)
    p.add_argument("--target", action="append", metavar="T",
                   help=f"a backend to check, repeatable: {', '.join(_targets())} (default: bitsim)")
    p.add_argument("--inputs", metavar="DATA",
                   help=".npy [T, B, ...] or .npz with inputs, labels, spk_<node> (default: the model's test.npz "
                        "when it has one, else seeded random spikes)")
    p.add_argument("--timesteps", type=_int_range(1), default=32, metavar="T",
                   help="steps of the seeded random spikes used without --inputs (default: 32)")
    p.add_argument("--min-agreement", type=_fraction, metavar="F",
                   help="make float<->fixed PASS/FAIL: lowest per-layer spike agreement must be >= F")
    p.add_argument("--strict", action="store_true",
                   help="make 'overflow' PASS/FAIL: FAIL when a register saturates or wraps on the inputs")
    out = p.add_argument_group("report")
    out.add_argument("--report", action="append", default=[], metavar="FILE",
                     help="also write the report: FILE.json (the JSON report) or FILE.html (one self-contained "
                          "page with figures); repeatable")
    out.add_argument("--plots", metavar="DIR", help="also write the figures as PNGs into DIR (new or empty)")
    out.add_argument("--sample", type=_int_range(0), default=0, metavar="N",
                     help="the sample whose rasters and membrane traces are drawn (default: 0)")
    out.add_argument("--json", action="store_true", help="print the JSON report on stdout instead of the table")
    _verbosity(p)
    p.set_defaults(func=_run("cmd_verify"))


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser(
        "simulate", help="run a model on inputs and save the output trace",
        description="Run MODEL on DATA with the float reference executor (or bitsim with --fixed) and write the "
                    "output node's trace [T, B, ...] (an .npz keyed by output name for several outputs).",
    )
    _model_args(p)
    p.add_argument("--inputs", metavar="DATA",
                   help=".npy [T, B, ...] or .npz with 'inputs' (default: the model's test.npz when it has one, "
                        "else seeded random spikes of --timesteps steps)")
    p.add_argument("--timesteps", type=_int_range(1), default=32, metavar="T",
                   help="steps of the seeded random spikes used without --inputs (default: 32)")
    p.add_argument("-o", "--output", metavar="OUT.npy", required=True,
                   help="where to write the trace (.npy, or .npz: needed for several outputs and --nodes)")
    p.add_argument("--fixed", action="store_true", help="quantise and run bitsim (int64 traces; default: float)")
    p.add_argument("--nodes", nargs="+", metavar="NAME",
                   help="write every trace (out, v, i) of these nodes, or of 'all', into the .npz as "
                        "'<node>.<trace>' (default: only the output nodes' out)")
    _verbosity(p)
    p.set_defaults(func=_run("cmd_simulate"))


def _add_export(sub: Any) -> None:
    p = sub.add_parser(
        "export", help="quantise and write each target's artifacts plus a manifest",
        description="Quantise MODEL, write OUT/<target>/ for each target and OUT/manifest.json, after checking "
                    "each target against bitsim on the stimuli. Atomic: a failure leaves no OUT.",
    )
    _model_args(p)
    p.add_argument("--target", action="append", metavar="T", required=True,
                   help=f"a backend, repeatable: {', '.join(_targets())} (no default: name at least one)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="output folder (must not exist, or be an earlier export with --force)")
    p.add_argument("--calib", metavar="DATA",
                   help="calibration data (default: --inputs, else the model's whole test set, else the random "
                        "spikes)")
    p.add_argument("--inputs", metavar="DATA",
                   help="stimuli for the golden traces and the check (default: the first 8 samples of the "
                        "model's test.npz when it has one, else 8 seeded random spike trains of --timesteps steps)")
    p.add_argument("--timesteps", type=_int_range(1), default=32, metavar="T",
                   help="steps of the seeded random spikes used without --inputs (default: 32)")
    p.add_argument("--force", action="store_true",
                   help="replace OUT if it is a folder an earlier export wrote (default: refuse an existing OUT)")
    p.add_argument("--stimuli-samples", type=_int_range(0), default=8, metavar="N",
                   help="samples of the data written as stimuli/golden files and used by the export checks "
                        "(default: 8; 0: all)")
    p.add_argument("--readout", choices=("counts", "argmax", "max-v"), default=None,
                   help="on-chip classifier head in the hls and rtl targets: spike counts, argmax of counts, or "
                        "max membrane of an LI readout (docs/hls.md, docs/rtl.md; default: none)")
    hls = p.add_argument_group("hls target")
    hls.add_argument("--hls-interface", choices=("m_axi", "axis"), default="m_axi",
                     help="HLS top: m_axi arrays (snn_run/snn_classify, default) or AXI4-Stream with packed spikes "
                          "(snn_stream)")
    hls.add_argument("--t-max", type=_int_range(1, 1 << 20), default=None, metavar="T",
                     help="most timesteps one snn_run call takes (SNN_T_MAX, m_axi depths; T is set at run time; "
                          "default: the stimuli's T)")
    hls.add_argument("--unroll", type=_int_range(1), default=1, metavar="N",
                     help="parallel accumulators per layer (cycle estimate, pragmas; default: 1)")
    hls.add_argument("--clock-mhz", type=_clock_mhz, default=None, metavar="F",
                     help="clock in MHz: hls latency estimate (default 200), rtl place-and-route constraint (100)")
    hls.add_argument("--dense-loops", action="store_true",
                     help="dense inner loops instead of spike-sparse ones (default: sparse)")
    hls.add_argument("--part", type=_part, metavar="PART",
                     help="FPGA part for run_hls.tcl (default: xc7z020clg400-1; letters, digits, '_', '.', '-')")
    rtl = p.add_argument_group("rtl target (docs/rtl.md)")
    rtl.add_argument("--lanes", type=_int_range(1, 64), default=8, metavar="P",
                     help="parallel neuron lanes per layer engine (default: 8)")
    rtl.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                     help="simulator that proves the Verilog against bitsim (default: verilator)")
    rtl.add_argument("--synth", action="store_true",
                     help="also synthesise with yosys (ECP5, Xilinx 7-series; default: off)")
    rtl.add_argument("--pnr", action="store_true",
                     help="also place and route with nextpnr-ecp5 (implies --synth; default: off)")
    rtl.add_argument("--device", choices=("12k", "25k", "45k", "85k"), default="25k",
                     help="ECP5 device for the fit check and nextpnr (default: 25k)")
    loihi = p.add_argument_group("loihi target")
    loihi.add_argument("--core-spec", default="loihi1", metavar="SPEC",
                       help="loihi1 (default), loihi2, or a CoreSpec JSON file (docs/loihi.md)")
    _verbosity(p)
    p.set_defaults(func=_run("cmd_export"))


def _run(name: str) -> Any:
    """A lazy command: import :mod:`snncompile.commands` only when the command runs."""
    def call(args: argparse.Namespace) -> int:
        from . import commands

        return int(getattr(commands, name)(args))
    return call


def main(argv: Sequence[str] | None = None) -> int:
    _ignore_file_size_signal()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage error (2), --help / --version (0)
        return exc.code if isinstance(exc.code, int) else 0
    from . import console

    console.set_level(console.QUIET if getattr(args, "quiet", False) else
                      console.VERBOSE if getattr(args, "verbose", False) else console.NORMAL)
    from .pages import small_pages

    try:
        with _warnings_as_lines(), small_pages():  # snncompile.pages: 4 KiB pages for the large arrays
            return int(args.func(args))
    except SnnCompileError as err:
        return _fail(str(err), err.exit_code)
    except OSError as err:  # an I/O failure no command turned into an OutputError: still one line, exit 1
        where = f" on '{err.filename}'" if err.filename else ""
        return _fail(f"I/O error{where}: {os_reason(err)}", OutputError.exit_code)


def _ignore_file_size_signal() -> None:
    """Past a file size limit (ulimit -f) a write then fails with EFBIG, reported as one line, instead of
    SIGXFSZ killing the process (CPython ignores it at start-up too; a program embedding it may not)."""
    if hasattr(signal, "SIGXFSZ"):
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread: leave the process's setting alone
            pass


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message holds
    return code


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """snncompile's warnings as ``snncompile: warning: <message>`` lines on stderr (no file/line); others as usual."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", SnnCompileWarning)
        show = warnings.showwarning

        def one_line(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, SnnCompileWarning):
                print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)
            else:
                show(message, category, *args, **kwargs)

        warnings.showwarning = one_line
        yield


# -- inspect ---------------------------------------------------------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    from .listing import format_models, model_cards

    cards = model_cards()
    print(json.dumps(cards, indent=2) if args.json else format_models(cards), end="\n" if args.json else "")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from .commands import load_model
    from .frontend.nir_read import resolve
    from .listing import is_qgraph

    path = resolve(args.model)
    if is_qgraph(path):  # written by export: its integers, widths and semantics
        from .listing import format_qgraph, qgraph_report
        from .quant.qnir import read_qgraph

        report = qgraph_report(read_qgraph(path), model=args.model, path=str(path))
        print(json.dumps(report, indent=2) if args.json else format_qgraph(report), end="\n" if args.json else "")
        return 0
    loaded = load_model(args)
    if args.json:
        report = inspect_report(loaded.graph, model=args.model, source=loaded.source, path=str(loaded.path))
        report["warnings"] = list(loaded.warnings)
        print(json.dumps(report, indent=2))
    else:
        print(format_inspect(loaded.graph, model=args.model, source=loaded.source, path=str(loaded.path)), end="")
    return 0


def _number(value: Any) -> float | int | bool | None:
    import numpy as np

    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no inf/nan
    return value  # type: ignore[no-any-return]


def _array_summary(a: Any) -> dict[str, Any]:
    empty = a.size == 0
    return {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "min": None if empty else _number(a.min()),
        "max": None if empty else _number(a.max()),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return _number(value)


def inspect_report(graph: Graph, *, model: str, source: str, path: str) -> dict[str, Any]:
    """The ``inspect --json`` object (schema in docs/cli.md)."""
    from . import stats
    from .nodes import NeuronNode

    nodes = []
    for name in graph.order:
        node = graph.nodes[name]
        arrays = stats.node_arrays(node)
        attrs = {k: _plain(v) for k, v in node.params().items() if k not in arrays and v is not None}
        nodes.append({
            "name": name,
            "type": node.type_name,
            "shape_out": list(graph.shapes[name]),
            "params": {k: _array_summary(a) for k, a in arrays.items()},
            "attrs": attrs,
            "semantics": node.semantics.to_dict() if isinstance(node, NeuronNode) else None,
            "neurons": stats.neuron_count(node),
            "synapses": stats.synapse_count(graph, name),
        })
    t = stats.totals(graph)
    return {
        "model": model,
        "path": path,
        "source": source,
        "dt": graph.dt,
        "nodes": nodes,
        "edges": [list(e) for e in graph.edges],
        "recurrent_edges": [list(e) for e in stats.recurrent_edges(graph)],
        "totals": {
            "neurons": t.neurons,
            "neurons_by_type": stats.neurons_by_type(graph),
            "synapses": t.synapses,
            "parameters": t.parameters,
            "parameter_bytes": t.parameter_bytes,
        },
    }


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape) if shape else "scalar"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _bytes_text(n: int) -> str:
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n} bytes = {n / size:.1f} {unit}"
    return f"{n} bytes"


def format_inspect(graph: Graph, *, model: str, source: str, path: str) -> str:
    """The human ``inspect`` output: plain aligned text, stable for tests and diffs."""
    from . import stats
    from .nodes import NeuronNode

    where = model if path in (model, str(Path(model).resolve())) else f"{model} ({path})"
    lines = [f"model: {where}", f"source: {source}", f"dt: {graph.dt:.6g} s", ""]
    rows = [["name", "type", "output", "params", "semantics"]]
    for name in graph.order:
        node = graph.nodes[name]
        sem = node.semantics.describe() if isinstance(node, NeuronNode) else ""
        rows.append([name, node.type_name, _shape_text(graph.shapes[name]), str(stats.parameter_count(node)), sem])
    lines += _table(rows)
    lines.append("")
    recurrent = stats.recurrent_edges(graph)
    lines.append("recurrent edges: " + (", ".join(f"{a} -> {b}" for a, b in recurrent) if recurrent else "none"))
    t = stats.totals(graph)
    by_type = stats.neurons_by_type(graph)
    detail = " + ".join(f"{k} {v}" for k, v in by_type.items()) or "no neuron nodes"
    total_rows = [
        ["neurons", str(t.neurons), f"({detail}; Threshold nodes count as neurons)"],
        ["synapses", str(t.synapses), "(Affine/Linear weights, Scale elements, connected conv taps)"],
        ["parameters", str(t.parameters), f"({_bytes_text(t.parameter_bytes)})"],
    ]
    lines.append("totals:")
    lines += ["  " + line for line in _table(total_rows)]
    return "\n".join(lines) + "\n"
