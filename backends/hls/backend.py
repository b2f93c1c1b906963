"""The hls backend object: ``check``, ``emit`` (a C99/Vitis HLS project) and ``run`` (the C as a simulator)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from snncompile.backends import per_graph
from snncompile.backends.bitsim import Traces, check_inputs, run_plain

import snncompile
from snncompile.atomic import FileContent, write_dir
from snncompile.errors import BackendError, InputError
from snncompile.quant.qnodes import QGraph
from snncompile.readout import compute as readout_compute
from snncompile.readout import plan as readout_plan
from snncompile.readout import words as readout_words

from . import binfmt, lint, project
from .csim import run_testbench
from .estimate import estimate, format_table
from .layers import EMITTERS
from .lower import Lowering, lower, trace_labels
from .runner import build, simulate
from .top import INTERFACES, TopOptions

DEFAULT_PART = "xc7z020clg400-1"
#: SNN_T_MAX of the simulator library built by run() (independent of T, so one build serves every T)
RUN_T_MAX = 1024
#: emit() without inputs: T x B seeded Bernoulli(p) spikes
RANDOM_INPUTS = {"timesteps": 16, "samples": 4, "p": 0.25, "seed": 0}
#: the library run() built for a live QGraph object (frozen, so its C never changes), per (sparse, unroll);
#: keyed by id() because graphs are unhashable, and dropped when the graph is collected
_LIBRARIES: dict[int, dict[tuple[bool, int], Path]] = {}


#: an FPGA part name as it is pasted into the Makefile and run_hls.tcl: nothing a shell or Tcl would interpret
PART_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def part_problem(part: object) -> str | None:
    """Why ``part`` cannot be written into the Makefile / run_hls.tcl, or None."""
    if isinstance(part, str) and PART_PATTERN.fullmatch(part):
        return None
    return (f"part {part!r} is not an FPGA part name (1 to 64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit)")


def _options(sparse: bool, unroll: int, clock_mhz: float, part: str = DEFAULT_PART) -> None:
    if not isinstance(unroll, int) or isinstance(unroll, bool) or unroll < 1:
        raise InputError(f"hls: unroll must be an int >= 1, got {unroll!r}")
    if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, int | float) or not (
            math.isfinite(clock_mhz) and clock_mhz > 0):
        raise InputError(f"hls: clock_mhz must be a finite number > 0, got {clock_mhz!r}")
    if not isinstance(sparse, bool):
        raise InputError(f"hls: sparse must be True or False, got {sparse!r}")
    problem = part_problem(part)
    if problem:
        raise InputError(f"hls: {problem}")


#: the README's verification paragraph, with and without the emit-time C simulation
CHECKED = ("snncompile built this project's testbench with gcc and ran every `make csim` check before writing "
           "the folder: every recorded value of every step through `snn_step`, the top function's outputs, and the "
           "readout / AXI4-Stream checks where the project has them, all equal to bitsim (project.json, `csim`).")
UNCHECKED = ("this folder was written by `emit` without its C simulation (`csim=False`); `snncompile export` runs "
             "it. Run `make csim` to check the C against bitsim.")

LINTED = ("The C passed\n  snncompile's HLS lint when it was written (no recursion, no dynamic allocation or "
          "library calls in the\n  design, statically bounded loops, constant array sizes).")
NOT_LINTED = ("The C was not\n  linted (snncompile's HLS lint needs pycparser: pip install 'snncompile[hls]').")

#: the largest t_max emit accepts (the m_axi depth t_max * n_in must stay a sane 32-bit number)
MAX_T_MAX = 1 << 20


def _t_max(t_max: object, timesteps: int) -> int:
    """``t_max`` checked against the stimuli's T: the testbench runs snn_run over T steps, so T <= t_max."""
    if t_max is None:
        return timesteps
    if isinstance(t_max, bool) or not isinstance(t_max, int) or not 1 <= t_max <= MAX_T_MAX:
        raise InputError(f"hls: t_max must be an int in 1..{MAX_T_MAX}, got {t_max!r}")
    if t_max < timesteps:
        raise InputError(f"hls: t_max {t_max} is below the stimuli's {timesteps} timesteps; the testbench runs "
                         f"snn_run over all of them (give t_max >= {timesteps} or fewer timesteps)")
    return t_max


def _random_inputs(graph: QGraph) -> dict[str, np.ndarray]:
    r = RANDOM_INPUTS
    rng = np.random.default_rng(int(r["seed"]))
    steps, samples = int(r["timesteps"]), int(r["samples"])
    return {n: (rng.random((steps, samples, *graph.shapes[n])) < r["p"]).astype(np.int64)
            for n in graph.inputs}


def pack_stimuli(names: list[str], shapes: list[tuple[int, ...]], inputs: Any) -> np.ndarray:
    """Inputs ([T, B, *shape] per Input node, or one array) as uint8 [B, T, n_in]."""
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise InputError(f"hls: the network has {len(names)} inputs ({', '.join(names)}); pass a dict of arrays")
        inputs = {names[0]: inputs}
    parts = []
    for name, shape in zip(names, shapes, strict=True):
        if name not in inputs:
            raise InputError(f"hls: no data for input node '{name}'")
        arr = np.asarray(inputs[name])
        if arr.ndim != len(shape) + 2 or tuple(arr.shape[2:]) != tuple(shape):
            raise InputError(f"hls: input '{name}': data of shape {arr.shape} does not match [T, B, *{shape}]")
        if arr.size and (arr.min() < 0 or arr.max() > 1 or np.any(arr != np.rint(arr))):
            raise InputError(f"hls: input '{name}': values must be spikes (0 or 1)")
        parts.append(arr.reshape(arr.shape[0], arr.shape[1], -1).astype(np.uint8))
    if len({p.shape[:2] for p in parts}) != 1:
        raise InputError("hls: the inputs disagree on T or B")
    return np.ascontiguousarray(np.concatenate(parts, axis=2).transpose(1, 0, 2))


@dataclass(frozen=True)
class HlsBackend:
    """C99 + Vitis HLS backend (docs/hls.md); bit-exact with bitsim, proven by gcc C-simulation."""

    name: str = "hls"

    def lower(self, qgraph: QGraph, *, sparse: bool = True, unroll: int = 1) -> Lowering:
        _options(sparse, unroll, 1.0)
        if not isinstance(qgraph, QGraph):
            raise InputError(f"hls: expected a QGraph, got {type(qgraph).__name__}")
        return lower(qgraph, EMITTERS, sparse=sparse, unroll=unroll)

    def check(self, qgraph: QGraph) -> None:
        """Raise UnsupportedNodeError (node, backend, what) for anything the C cannot reproduce exactly."""
        self.lower(qgraph)

    def estimate(self, qgraph: QGraph, *, sparse: bool = True, unroll: int = 1, clock_mhz: float = 200.0,
                 timesteps: int = 1, activity: float = 1.0) -> dict[str, Any]:
        """The analytic estimate (:mod:`.estimate`) without writing anything."""
        _options(sparse, unroll, clock_mhz)
        lw = self.lower(qgraph, sparse=sparse, unroll=unroll)
        return estimate(lw, unroll=unroll, clock_mhz=clock_mhz, timesteps=timesteps, activity=activity)

    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Any = None, *, sparse: bool = True,
             unroll: int = 1, clock_mhz: float = 200.0, part: str = DEFAULT_PART,
             t_max: int | None = None, readout: str | None = None, interface: str = "m_axi",
             csim: bool = False, golden: Traces | None = None) -> dict[str, Any]:
        """Write the project into ``out_dir`` (replaced atomically); returns its files and the estimate.

        ``golden``: bitsim's traces on ``inputs`` when already computed (written as golden.bin).

        ``inputs``: spikes [T, B, *shape] (or a dict per Input node) for stimuli.bin and golden.bin;
        None uses seeded random spikes (RANDOM_INPUTS), reported as ``"stimuli": "random"``.
        ``t_max``: the most timesteps one ``snn_run`` call takes (SNN_T_MAX, the m_axi depths); T itself is a
        run-time argument. None: the stimuli's T. Must be an int in T..MAX_T_MAX.
        ``readout``: None, "counts", "argmax" or "max-v" (:mod:`snncompile.readout`): adds ``snn_classify``
        and readout.bin. ``interface``: "m_axi" (snn_run / snn_classify are the top) or "axis" (``snn_stream``,
        AXI4-Stream with packed spikes, :mod:`.top`). ``csim``: build the testbench with gcc and run every
        ``make csim`` check before writing (:mod:`.csim`; BackendError on a mismatch); the README says whether it
        ran. ``snncompile export`` sets it.
        """
        _options(sparse, unroll, clock_mhz, part)
        lw = self.lower(qgraph, sparse=sparse, unroll=unroll)
        data = check_inputs(qgraph, _random_inputs(qgraph) if inputs is None else inputs)
        traces = run_plain(qgraph, data) if golden is None or inputs is None else golden
        layout = project.layout(lw)
        if {(t.node, t.key) for t in layout} != {(n, k) for n, r in traces.items() for k in r}:
            raise BackendError("hls: internal error: the C trace table does not match bitsim's traces")
        first = next(iter(data.values()))
        T, B = int(first.shape[0]), int(first.shape[1])
        t_max = _t_max(t_max, T)
        if interface not in INTERFACES:
            raise InputError(f"hls: interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
        plan = None if readout is None else readout_plan(qgraph, readout, t_max)
        opts = TopOptions(plan, interface)
        names = list(qgraph.inputs)
        stim = pack_stimuli(names, [qgraph.shapes[n] for n in names], data)
        est = estimate(lw, unroll=unroll, clock_mhz=clock_mhz, timesteps=T)
        ports = project.ports(lw)
        files: dict[str, FileContent] = dict(project.sources(lw, t_max, opts))
        linted = lint.available()
        if linted:  # HLS's synthesis rules, checked on the parsed C (LintError: nothing is written)
            lint.check(files)
        files.update(project.render_templates({
            "version": snncompile.__version__, "cflags": project.CFLAGS, "part": part,
            "period_ns": f"{1000.0 / clock_mhz:.4g}", "clock_mhz": f"{clock_mhz:g}", "samples": str(B),
            "timesteps": str(T), "t_max": str(t_max), "n_in": str(stim.shape[2]), "estimate": format_table(est),
            "title": f"snncompile HLS project ({len(qgraph.nodes)} nodes)",
            "options": f"sparse={sparse}, unroll={unroll}, clock {clock_mhz:g} MHz, part {part}, t_max {t_max}",
            "inputs": ", ".join(f"'{n}' {qgraph.shapes[n]}" for n in names),
            "outputs": ", ".join(f"`{p.arg}` ({p.size} x {p.ctype}, node '{p.node}')" for p in ports),
            "out_args": ", ".join(p.arg for p in ports), **project.top_values(lw, opts),
            "checked": CHECKED if csim else UNCHECKED, "lint": LINTED if linted else NOT_LINTED,
        }))
        files["stimuli.bin"] = binfmt.stimuli_bytes([lw.labels[n] for n in names],
                                                    [int(np.prod(qgraph.shapes[n])) for n in names], stim)
        files["golden.bin"] = binfmt.golden_bytes(layout, traces)
        if plan is not None:
            values = readout_compute(plan, traces[plan.output]["out"])
            files["readout.bin"] = binfmt.readout_bytes(T, readout_words(plan, values))
        info = {
            "format": 1, "snncompile": snncompile.__version__, "backend": self.name, **project.graph_summary(qgraph),
            "traces": [{"node": t.node, "label": t.label, "key": t.key, "shape": list(t.shape)} for t in layout],
            "options": {"sparse": sparse, "unroll": unroll, "clock_mhz": clock_mhz, "part": part, "t_max": t_max,
                        "readout": readout, "interface": interface, "top": opts.top_name},
            "stimuli": "random" if inputs is None else "given", "samples": B, "timesteps": T, "estimate": est,
        }
        info["lint"] = "clean" if linted else "not run (pycparser is not installed)"
        if csim:
            info["csim"] = run_testbench(files, project.csim_commands(opts))
        files["project.json"] = json.dumps(info, indent=2) + "\n"
        write_dir(out_dir, files)
        result = {"files": sorted(files), "estimate": est, "dir": str(Path(out_dir).resolve()),
                  "stimuli": info["stimuli"]}
        if csim:  # the testbench's PASS lines: it compared every value of the C with golden.bin
            result["csim"] = info["csim"]
        return result

    def run(self, artifact: QGraph | str | Path | Mapping[str, Any], inputs: Any, *, sparse: bool = True,
            unroll: int = 1) -> Traces:
        """bitsim's traces computed by the compiled C: a QGraph (built into the cache) or an emitted project."""
        if isinstance(artifact, QGraph):
            data = check_inputs(artifact, inputs)
            names = list(artifact.inputs)
            stim = pack_stimuli(names, [artifact.shapes[n] for n in names], data)
            built = per_graph(_LIBRARIES, artifact)
            if (sparse, unroll) not in built or not built[sparse, unroll].is_file():
                lw = self.lower(artifact, sparse=sparse, unroll=unroll)
                built[sparse, unroll] = build(project.sources(lw, RUN_T_MAX))
            labels = trace_labels(list(artifact.nodes))
            return simulate(built[sparse, unroll], stim, {label: name for name, label in labels.items()})
        folder = Path(artifact["dir"] if isinstance(artifact, Mapping) else artifact)
        try:
            info = json.loads((folder / "project.json").read_text())
            files: dict[str, FileContent] = {
                n: (folder / n).read_text() for n in ("snn.c", "snn.h", "weights.h", *project.RUNTIME_FILES)}
            if (folder / project.BLOB_FILES[0]).is_file():
                files.update({n: (folder / n).read_bytes() for n in project.BLOB_FILES[:2]})
                files[project.BLOB_FILES[2]] = (folder / project.BLOB_FILES[2]).read_text()
        except (OSError, ValueError) as exc:
            raise InputError(f"hls: {folder} is not an emitted hls project: {exc}") from None
        ins = info["inputs"]
        stim = pack_stimuli([i["name"] for i in ins], [tuple(i["shape"]) for i in ins], inputs)
        labels = {t.get("label") or t["node"]: t["node"] for t in info["traces"]}
        return simulate(build(files), stim, labels)


def read_golden_traces(folder: str | Path) -> Traces:
    """An emitted project's golden.bin as ``{node: {key: int64 [T, B, ...]}}`` (labels mapped to node names by
    project.json)."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "project.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"hls: {folder} is not an emitted hls project: {exc}") from None
    names = {t.get("label") or t["node"]: t["node"] for t in info["traces"]}
    layout, values = binfmt.golden_values(folder / "golden.bin")
    return {names.get(label, label): rec for label, rec in binfmt.split_traces(layout, values).items()}


BACKEND = HlsBackend()
