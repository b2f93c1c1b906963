"""Bodies of ``snncompile verify``, ``simulate`` and ``export`` (the parsers live in :mod:`snncompile.cli`).

Each takes the parsed arguments and returns the exit code; errors are raised as
:class:`~snncompile.errors.SnnCompileError` and printed by ``cli.main``.
Results go to stdout, notes and progress to stderr.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import describe_os_error, write_file
from .data import DEFAULT_BATCH, Data, load_data, read_data
from .errors import InputError, OutputError
from .frontend.nir_read import Loaded, load, resolve
from .outdir import check_output_file, clean_beside, plan
from .quant.spec import QuantSpec

PROG = "snncompile"


def progress(message: str) -> None:
    """A note on stderr (``snncompile: <message>``); silenced by ``-q``."""
    from .console import note

    note(message)


def load_model(args: argparse.Namespace) -> Loaded:
    """The float model named by MODEL; a QGraph file written by ``export`` is refused with a clear message."""
    from .listing import is_qgraph

    path = resolve(args.model)
    if is_qgraph(path):
        raise InputError(f"'{args.model}' is a QGraph file (written by snncompile export); this command takes "
                         "the float model (.nir or a bundled model name)")
    loaded = load(args.model, convention=args.convention, dt=args.dt, discretization=args.discretization,
                  reset=args.reset, reset_delay=args.reset_delay, spikes=args.spikes)
    for warning in loaded.warnings:
        print(f"snncompile: warning: {warning}", file=sys.stderr)
    return loaded


def quant_spec(args: argparse.Namespace) -> QuantSpec:
    from .quant.spec import parse_layer_bits

    layers = tuple(parse_layer_bits(text) for text in getattr(args, "layer_bits", None) or ())
    return QuantSpec(weight_bits=args.bits, state_bits=args.state_bits, layers=layers,
                     rounding=getattr(args, "rounding", None) or QuantSpec().rounding)


def _spec_text(spec: QuantSpec) -> str:
    state = f"{spec.state_bits}-bit state" if spec.state_bits else "state widths from calibration"
    layers = "".join(f", layer {x.layer}: " + " ".join(f"{k}={v}" for k, v in x.overrides().items())
                     for x in spec.layers)
    rounding = "" if spec.rounding == QuantSpec().rounding else f", rounding {spec.rounding}"
    return f"{spec.weight_bits}-bit weights ({spec.granularity}, {spec.scale_rule}), {state}{rounding}{layers}"


# -- verify -----------------------------------------------------------------------------------------------------------

def cmd_verify(args: argparse.Namespace) -> int:
    from snncompile.backends import get

    from .console import Steps
    from .quant.targets import check_family_specs, shared_qgraph
    from .report.write import check_destinations, write_outputs
    from .verify import verify

    spec = quant_spec(args)
    targets = list(dict.fromkeys(args.target or ["bitsim"]))
    for target in targets:
        get(target)
    check_family_specs(spec, targets)
    check_destinations(args.report, args.plots)
    shared = shared_qgraph(spec, targets)  # verify runs one QGraph for all its targets: say which
    if shared:
        progress(f"warning: {shared[1]}")
    loaded = load_model(args)
    data = load_data(args.inputs, loaded.graph, loaded.path, timesteps=args.timesteps)
    if not 0 <= args.sample < data.batch:
        raise InputError(f"--sample {args.sample}: the inputs have {data.batch} samples (0..{data.batch - 1})")
    with Steps(3 + len(targets), "verify") as steps:
        report = verify(loaded.graph, inputs=data.inputs, labels=data.labels, source=data.source, spec=spec,
                        targets=targets, min_agreement=args.min_agreement, strict=args.strict,
                        progress=steps.start)
    report.info = {"model": f"{args.model} ({loaded.source})", "inputs": data.note,
                   "quantisation": shared[0] if shared else _spec_text(spec), **report.info}
    print(report.to_json() if args.json else report.format_table(), end="\n" if args.json else "")
    write_outputs(report, loaded.graph, reports=args.report, plots=args.plots, sample=args.sample, progress=progress)
    return 0 if report.passed else 1


# -- simulate ---------------------------------------------------------------------------------------------------------

def cmd_simulate(args: argparse.Namespace) -> int:
    from .reference import run as run_float

    spec = quant_spec(args) if args.fixed else None
    out = Path(args.output)
    if out.suffix not in (".npy", ".npz"):
        raise InputError(f"-o '{out}': the output must be a .npy or .npz file")
    if args.nodes and out.suffix != ".npz":
        raise InputError(f"-o '{out}': --nodes writes several traces; -o must name an .npz file")
    check_output_file(out, "-o")
    loaded = load_model(args)
    graph = loaded.graph
    nodes = _requested_nodes(graph, args.nodes)
    data = load_data(args.inputs, graph, loaded.path, timesteps=args.timesteps, spikes=args.fixed)
    if args.inputs is None:
        progress(f"inputs: {data.note}")
    if spec is not None:
        from snncompile.backends.bitsim import simulate_with_clamps

        from .quant.clamps import warn_clamps
        from .quant.quantize import quantize

        progress(f"quantising ({_spec_text(spec)}), calibrating on the inputs")
        traces, clamps = simulate_with_clamps(quantize(graph, spec, data.inputs), data.inputs,
                                              keep="outputs" if nodes is None else nodes,  # only what is written
                                              narrow=False)  # int64 as the file format
        warn_clamps(clamps)
        what = "bitsim"
    else:
        traces = run_float(graph, data.inputs)
        what = "float reference"
    if nodes is None:
        outputs = {name: traces[name]["out"] for name in graph.outputs}
    else:
        outputs = {f"{name}.{key}": arr for name in nodes for key, arr in traces.get(name, {}).items()}
    if out.suffix == ".npy" and len(outputs) != 1:
        raise InputError(f"the graph has {len(outputs)} outputs ({', '.join(outputs)}); -o must name an .npz file")
    _write_output(out, _npy_bytes(outputs, out.suffix), "-o")
    if nodes is None:
        for name, arr in outputs.items():
            print(f"wrote {out}: output '{name}' {list(arr.shape)} {arr.dtype} ({what})")
    else:
        print(f"wrote {out}: {len(outputs)} traces of {len(nodes)} node(s) ({what})")
        for key, arr in outputs.items():
            print(f"  {key}  {list(arr.shape)} {arr.dtype}")
    return 0


def _requested_nodes(graph: Any, names: list[str] | None) -> list[str] | None:
    """``--nodes``: None (only the outputs), every node for 'all', else the named ones (each must exist)."""
    if not names:
        return None
    if names == ["all"]:
        return list(graph.order)
    unknown = [n for n in names if n not in graph.nodes]
    if unknown:
        raise InputError(f"--nodes: the graph has no node '{unknown[0]}' (nodes: {', '.join(graph.order)}; or 'all')")
    return list(dict.fromkeys(names))


def _write_output(path: Path, data: bytes, option: str) -> None:
    """Write a result file atomically; an I/O failure is one OutputError line (exit 1), nothing left behind."""
    try:
        write_file(path, data)
    except OSError as exc:
        raise OutputError(f"{option} '{path}': {describe_os_error(exc)}") from None


def _npy_bytes(arrays: dict[str, np.ndarray], suffix: str) -> bytes:
    buf = io.BytesIO()
    if suffix == ".npy":
        np.save(buf, next(iter(arrays.values())))
    else:
        np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


# -- export -----------------------------------------------------------------------------------------------------------

class _ExportSteps:
    """export's progress lines as steps (quantising, then emit + check per target) of a bar; other lines as notes."""

    STEP_WORDS = ("quantising", "emitting", "checking")

    def __init__(self, targets: int) -> None:
        from .console import Steps

        self.steps = Steps(1 + 2 * targets, "export", echo=True)

    def __call__(self, message: str) -> None:
        if message.startswith(self.STEP_WORDS):
            self.steps.start(message)
        else:
            progress(message)

    def __enter__(self) -> _ExportSteps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.steps.__exit__(*exc)


def cmd_export(args: argparse.Namespace) -> int:
    from .export import ModelInfo, export

    spec = quant_spec(args)
    out = Path(args.output)
    protect = [p for p in (args.inputs, args.calib, args.core_spec) if p and Path(p).is_file()]
    for note in clean_beside(out):
        progress(note)
    plan(out, force=args.force, protect=[resolve(args.model), *protect])  # refuse before any work
    loaded = load_model(args)
    graph = loaded.graph
    data = load_data(args.inputs, graph, loaded.path, timesteps=args.timesteps)
    stimuli = data
    keep = getattr(args, "stimuli_samples", DEFAULT_BATCH)
    if keep and data.batch > keep:  # a 397-sample golden.bin is 23 MB; --stimuli-samples 0 keeps them all
        stimuli = Data(data.head(keep).inputs, None, None, f"first {keep} samples of {data.note}")
    if args.calib:
        calib = read_data(args.calib, graph)
        calib = Data(calib.inputs, None, None, f"--calib {calib.note}")
    else:
        calib = Data(data.inputs, None, None, data.note)
    progress(f"stimuli: {stimuli.note}")
    progress(f"calibration data: {calib.note}")
    hls_clock = args.clock_mhz if args.clock_mhz is not None else 200.0
    hls_options: dict[str, Any] = {"sparse": not args.dense_loops, "unroll": args.unroll, "clock_mhz": hls_clock,
                                   "csim": True}
    rtl_options: dict[str, Any] = {"lanes": args.lanes, "simulator": args.simulator, "device": args.device,
                                   "clock_mhz": args.clock_mhz if args.clock_mhz is not None else 100.0,
                                   "synthesise": args.synth or args.pnr, "pnr": args.pnr}
    if args.part:
        hls_options["part"] = args.part
    if getattr(args, "t_max", None) is not None:
        hls_options["t_max"] = args.t_max
    if getattr(args, "readout", None) is not None:
        hls_options["readout"] = rtl_options["readout"] = args.readout
    if getattr(args, "t_max", None) is not None:
        rtl_options["t_max"] = args.t_max
    if getattr(args, "hls_interface", "m_axi") != "m_axi":
        hls_options["interface"] = args.hls_interface
    with _ExportSteps(len(dict.fromkeys(args.target))) as steps:
        manifest = export(graph, out, model=ModelInfo(args.model, loaded.path, loaded.source),
                          targets=args.target, spec=spec, stimuli=stimuli, calib=calib, force=args.force,
                          progress=steps, protect=protect,
                          target_options={"hls": hls_options, "loihi": {"core_spec": args.core_spec},
                                          "rtl": rtl_options})
    print(f"wrote {out}/")
    for f in manifest["files"]:
        print(f"  {f['path']}  ({f['bytes']} bytes)")
    print("  manifest.json")
    for check in manifest["checks"]:
        print(f"check {check['name']}: {check['status']} ({check['message']})")
    for target, report in manifest.get("reports", {}).items():
        if "estimate" in report and target == "hls":
            from snncompile.backends.hls.estimate import format_table

            print(f"\n{target} estimate (--unroll {args.unroll}, {hls_clock:g} MHz):")
            print(format_table(report["estimate"]))
        if "table" in report:
            what = "cost (measured by simulation, yosys, nextpnr; the analytic estimate beside)" if target == "rtl" \
                else "mapping"
            print(f"\n{target} {what}:\n{report['table']}")
        if "float_models" in report:
            print(f"{target}: float discrete model also written: {', '.join(report['float_models'])}")
    return 0
