"""``snncompile export``: quantise once, emit every target, check it, write a manifest -- atomically.

Everything is built in a staging folder next to OUT (``.<OUT>.<random>.tmp``)
and renamed to OUT at the end; a failure removes the staging folder, so it
leaves no OUT (and an existing OUT untouched). With ``force`` an existing OUT is
replaced only if it is an earlier export; what may be replaced, and how the
rename decides atomically, is :mod:`snncompile.outdir`.

OUT holds one folder per target (the backend's ``emit`` files) and
``manifest.json``:

    snncompile, versions {python, numpy, torch, nir, h5py}, model {argument, path, sha256, source},
    inputs {note, sha256, timesteps, batch}, calibration {note, sha256, report}, quant_spec,
    semantics {neuron node: Semantics dict}, targets, files [{path, bytes, sha256}],
    checks [ladder rung dicts: the fixed<->T rung of every target on the stimuli],
    overflow [the register clamp events of bitsim on the stimuli, snncompile.quant.clamps.ClampEvent.to_dict;
              empty when no register saturated or wrapped; each is also a SaturationWarning],
    reports {target: what the backend reports about itself: the HLS resource/latency estimate, the Loihi
             mapping summary} (printed by the CLI as well)

Target options (``target_options[name]``) are passed to that backend's ``emit`` as
keywords (hls: sparse, unroll, clock_mhz, part; loihi: core_spec). The onnx
target also gets the float discrete model (``emit_float``) next to the integer one.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, outdir
from .data import Data, array_sha256
from .errors import VerificationError
from .graph import Graph
from .quant.clamps import warn_clamps
from .quant.qnodes import QGraph, QNeuron
from .quant.spec import QuantSpec
from .verify import FAIL, Rung, backend_rung, jsonable

MANIFEST = outdir.MANIFEST


@dataclass(frozen=True)
class ModelInfo:
    """Where the float model came from (recorded in the manifest)."""

    argument: str
    path: Path
    source: str


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    import h5py
    import nir
    import numpy
    import torch

    return {"python": platform.python_version(), "numpy": numpy.__version__, "torch": torch.__version__,
            "nir": getattr(nir, "version", "unknown"), "h5py": h5py.__version__}


def _quiet(message: str) -> None:
    del message


def export(
    graph: Graph,
    out: str | Path,
    *,
    model: ModelInfo,
    targets: Sequence[str],
    spec: QuantSpec,
    stimuli: Data,
    calib: Data,
    force: bool = False,
    progress: Callable[[str], None] = _quiet,
    target_options: Mapping[str, Mapping[str, Any]] | None = None,
    protect: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """Build OUT (see the module docstring); returns the manifest. Raises VerificationError when a check fails.

    ``protect``: further input files (besides the model) that a replaced OUT must not hold.
    """
    from snncompile.backends import get

    from .exportcheck import golden_traces, target_traces
    from .quant.targets import (
        LOIHI,
        XYLO,
        check_family_specs,
        families,
        loihi_warning,
        quantize_family,
        target_family,
    )

    out = Path(out)
    backends = {t: get(t) for t in dict.fromkeys(targets)}  # unknown targets fail before any work
    check_family_specs(spec, backends)
    for note in outdir.clean_beside(out):
        progress(note)
    dest = outdir.plan(out, force=force, protect=[model.path, *protect])
    qgraphs: dict[str, QGraph] = {}  # one QGraph per target family (quant.targets): loihi gets its own
    goldens: dict[str, Any] = {}
    clamps: list[Any] = []
    for family in families(backends):
        what = f"Loihi encodings ({spec.weight_bits}-bit mantissas)" if family == LOIHI \
            else "Xylo registers (int8 weights, 16-bit states, bit-shift decays, xylo semantics)" if family == XYLO \
            else f"{spec.weight_bits}-bit weights"
        if family == LOIHI:
            progress(loihi_warning(spec))
        progress(f"quantising ({what}), calibrating on {calib.batch} samples x {calib.timesteps} steps")
        qgraphs[family] = quantize_family(graph, spec, calib.inputs, family)
        goldens[family], family_clamps = golden_traces(qgraphs[family], stimuli.inputs)  # one bitsim run
        warn_clamps(family_clamps)
        clamps += family_clamps
    with outdir.staged(dest) as tmp:
        checks: list[Rung] = []
        reports: dict[str, Any] = {}
        for name, backend in backends.items():
            qgraph, golden = qgraphs[target_family(name)], goldens[target_family(name)]
            progress(f"emitting {name} into {out / name}")
            emitted = backend.emit(qgraph, tmp / name, stimuli.inputs, golden=golden,  # emit checks the graph
                                   **dict((target_options or {}).get(name, {})))
            report = _backend_report(name, graph, tmp / name, emitted)
            if report:
                reports[name] = report
            progress(f"checking fixed<->{name} on the stimuli ({stimuli.batch} samples x {stimuli.timesteps} steps)")
            got, note = target_traces(name, backend, qgraph, tmp / name, stimuli.inputs, emitted)
            rung = backend_rung(qgraph, name, golden, got, note)
            checks.append(rung)
            if rung.status == FAIL:
                detail = rung.first_mismatch.text() if rung.first_mismatch else rung.message
                raise VerificationError(f"export check failed, nothing written: {detail}")
        first = next(iter(qgraphs.values()))
        manifest = build_manifest(first, tmp, model=model, targets=list(backends), stimuli=stimuli, calib=calib,
                                  checks=checks)
        manifest["qgraphs"] = {n: {"family": target_family(n), "quant_spec": _spec_of(qgraphs[target_family(n)])}
                               for n in backends}
        manifest["reports"] = jsonable(reports)
        manifest["overflow"] = jsonable([e.to_dict() for e in clamps])
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
        outdir.commit(dest, tmp)
    return manifest


def _spec_of(qgraph: QGraph) -> Any:
    return jsonable(qgraph.spec.to_dict() if qgraph.spec is not None else qgraph.metadata.get("quant_spec"))


def _backend_report(name: str, graph: Graph, folder: Path, emitted: Any) -> dict[str, Any]:
    """What a backend says about its artifacts (estimate, mapping summary); the float ONNX model for onnx."""
    report: dict[str, Any] = {}
    if name == "onnx":
        from snncompile.backends.onnx.backend import emit_float

        files = emit_float(graph, folder / "float")
        report["float_models"] = sorted(f"float/{f}" for f in files)
    if isinstance(emitted, Mapping):
        for key in ("estimate", "summary", "table", "report"):
            if key in emitted:
                report[key] = emitted[key]
    return report


def build_manifest(qgraph: QGraph, folder: Path, *, model: ModelInfo, targets: list[str], stimuli: Data,
                   calib: Data, checks: list[Rung]) -> dict[str, Any]:
    """The manifest of an export folder whose target subfolders are already written."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return jsonable({  # type: ignore[no-any-return]
        "snncompile": __version__,
        "versions": versions(),
        "model": {"argument": model.argument, "path": str(model.path), "sha256": file_sha256(model.path),
                  "source": model.source},
        "inputs": {"note": stimuli.note, "sha256": array_sha256(stimuli.inputs), "timesteps": stimuli.timesteps,
                   "batch": stimuli.batch},
        "calibration": {"note": calib.note, "sha256": array_sha256(calib.inputs),
                        "report": qgraph.metadata.get("calibration")},
        "quant_spec": qgraph.spec.to_dict() if qgraph.spec is not None else qgraph.metadata.get("quant_spec"),
        "semantics": {n: nd.semantics.to_dict() for n, nd in qgraph.nodes.items() if isinstance(nd, QNeuron)},
        "targets": targets,
        "files": [{"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
                  for p in files],
        "checks": [r.to_dict() for r in checks],
    })
