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
from snncompile.atomic import write_dir
from snncompile.errors import BackendError, InputError
from snncompile.quant.qnodes import QGraph

from . import binfmt, project
from .estimate import estimate, format_table
from .layers import EMITTERS
from .lower import Lowering, lower, trace_labels
from .runner import build, simulate

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
             unroll: int = 1, clock_mhz: float = 200.0, part: str = DEFAULT_PART) -> dict[str, Any]:
        """Write the project into ``out_dir`` (replaced atomically); returns its files and the estimate.

        ``inputs``: spikes [T, B, *shape] (or a dict per Input node) for stimuli.bin and golden.bin;
        None uses seeded random spikes (RANDOM_INPUTS), reported as ``"stimuli": "random"``.
        """
        _options(sparse, unroll, clock_mhz, part)
        lw = self.lower(qgraph, sparse=sparse, unroll=unroll)
        data = check_inputs(qgraph, _random_inputs(qgraph) if inputs is None else inputs)
        traces = run_plain(qgraph, data)
        layout = project.layout(lw)
        if {(t.node, t.key) for t in layout} != {(n, k) for n, r in traces.items() for k in r}:
            raise BackendError("hls: internal error: the C trace table does not match bitsim's traces")
        first = next(iter(data.values()))
        T, B = int(first.shape[0]), int(first.shape[1])
        names = list(qgraph.inputs)
        stim = pack_stimuli(names, [qgraph.shapes[n] for n in names], data)
        est = estimate(lw, unroll=unroll, clock_mhz=clock_mhz, timesteps=T)
        ports = project.ports(lw)
        files: dict[str, str | bytes] = dict(project.sources(lw, T))
        files.update(project.render_templates({
            "version": snncompile.__version__, "cflags": project.CFLAGS, "part": part,
            "period_ns": f"{1000.0 / clock_mhz:.4g}", "clock_mhz": f"{clock_mhz:g}", "samples": str(B),
            "timesteps": str(T), "n_in": str(stim.shape[2]), "estimate": format_table(est),
            "title": f"snncompile HLS project ({len(qgraph.nodes)} nodes)",
            "options": f"sparse={sparse}, unroll={unroll}, clock {clock_mhz:g} MHz, part {part}",
            "inputs": ", ".join(f"'{n}' {qgraph.shapes[n]}" for n in names),
            "outputs": ", ".join(f"`{p.arg}` ({p.size} x {p.ctype}, node '{p.node}')" for p in ports),
            "out_args": ", ".join(p.arg for p in ports),
        }))
        files["stimuli.bin"] = binfmt.stimuli_bytes([lw.labels[n] for n in names],
                                                    [int(np.prod(qgraph.shapes[n])) for n in names], stim)
        files["golden.bin"] = binfmt.golden_bytes(layout, traces)
        info = {
            "format": 1, "snncompile": snncompile.__version__, "backend": self.name, **project.graph_summary(qgraph),
            "traces": [{"node": t.node, "label": t.label, "key": t.key, "shape": list(t.shape)} for t in layout],
            "options": {"sparse": sparse, "unroll": unroll, "clock_mhz": clock_mhz, "part": part},
            "stimuli": "random" if inputs is None else "given", "samples": B, "timesteps": T, "estimate": est,
        }
        files["project.json"] = json.dumps(info, indent=2) + "\n"
        write_dir(out_dir, files)
        return {"files": sorted(files), "estimate": est, "dir": str(Path(out_dir).resolve()),
                "stimuli": info["stimuli"]}

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
            files = {n: (folder / n).read_text() for n in ("snn.c", "snn.h", "weights.h", *project.RUNTIME_FILES)}
        except (OSError, ValueError) as exc:
            raise InputError(f"hls: {folder} is not an emitted hls project: {exc}") from None
        ins = info["inputs"]
        stim = pack_stimuli([i["name"] for i in ins], [tuple(i["shape"]) for i in ins], inputs)
        labels = {t.get("label") or t["node"]: t["node"] for t in info["traces"]}
        return simulate(build(files), stim, labels)


BACKEND = HlsBackend()
