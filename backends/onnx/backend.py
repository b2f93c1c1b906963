"""The onnx backend object (``check``, ``emit``, ``run``) and the float baseline (``emit_float``, ``run_float``).

``emit`` writes into ``out_dir`` (all files are built in memory and checked with
``onnx.checker`` first, then written into a temporary folder beside ``out_dir``
and moved in, so a failure writes nothing):

* ``step.onnx`` -- one timestep with explicit state (see :mod:`.assemble`);
* ``scan.onnx`` -- all T steps with Scan, initial states built in;
* ``initial_state.npz`` -- every state input of ``step.onnx`` at t=0, ``[1, ...]`` (same for every sample);
* with ``inputs``: the stimuli and bitsim's golden traces in the bitsim backend's format.

``emit_float`` writes ``float_step.onnx``, ``float_scan.onnx`` and ``float_initial_state.npz``
for the float discrete-time graph.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from snncompile.errors import InputError, UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import (
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Delay,
    Flatten,
    Input,
    Linear,
    Output,
    Scale,
    SumPool2d,
)
from snncompile.quant.limits import check_int64
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale
from snncompile.quant.ranges import analyse

from .assemble import StepGraph, check_model, lower_step, scan_model, step_model
from .builder import I64
from .context import Lowering, StepContext
from .lower_common import lower_delay, lower_flatten, lower_identity
from .lower_float import FLOAT_NEURONS, lower_affine, lower_conv, lower_float_neuron, lower_pool, lower_scale
from .lower_int import lower_qconv, lower_qdense, lower_qscale, lower_sumpool_int
from .lower_neuron import lower_qneuron
from .runtime import Traces, run_scan, run_step, session

Inputs = np.ndarray | Mapping[str, np.ndarray]
STEP, SCAN, INITIAL = "step.onnx", "scan.onnx", "initial_state.npz"
FLOAT_STEP, FLOAT_SCAN, FLOAT_INITIAL = "float_step.onnx", "float_scan.onnx", "float_initial_state.npz"
#: protobuf cannot serialise a model of 2 GiB or more
MAX_MODEL_BYTES = (1 << 31) - (1 << 20)

INT_LOWERINGS: dict[type, Lowering] = {
    Output: lower_identity, Flatten: lower_flatten, Delay: lower_delay, SumPool2d: lower_sumpool_int,
    QDense: lower_qdense, QConv1d: lower_qconv, QConv2d: lower_qconv, QScale: lower_qscale, QNeuron: lower_qneuron,
}
FLOAT_LOWERINGS: dict[type, Lowering] = {
    Output: lower_identity, Flatten: lower_flatten, Delay: lower_delay, Affine: lower_affine, Linear: lower_affine,
    Scale: lower_scale, Conv1d: lower_conv, Conv2d: lower_conv, SumPool2d: lower_pool, AvgPool2d: lower_pool,
    **{t: lower_float_neuron for t in FLOAT_NEURONS},
}


def lower_qgraph(qgraph: QGraph) -> StepGraph:
    """The integer step of ``qgraph`` (after :meth:`OnnxBackend.check`'s checks)."""
    from snncompile.backends.bitsim.neuron import IntNeuronState
    from snncompile.backends.bitsim.plain import initial_outputs

    ranges = analyse(qgraph)
    check_int64(qgraph, ranges)
    states = {n: IntNeuronState.fresh(nd, 1) for n, nd in qgraph.nodes.items() if isinstance(nd, QNeuron)}
    start = initial_outputs(qgraph, states, 1)
    return lower_step(StepContext(qgraph, I64, ranges), INT_LOWERINGS, np.dtype(np.uint8), start, "integer")


def lower_float_graph(graph: Graph, dtype: str = "float64") -> StepGraph:
    """The float step of ``graph`` in ``dtype`` (float32 or float64)."""
    from snncompile.nodes import NeuronNode
    from snncompile.reference import NeuronState, _initial_outputs

    if dtype not in ("float32", "float64"):
        raise InputError(f"float model dtype {dtype!r} is not 'float32' or 'float64'")
    for name, node in graph.nodes.items():
        if type(node) not in FLOAT_LOWERINGS and not isinstance(node, Input):
            raise UnsupportedNodeError(f"node '{name}' ({node.type_name}): backend 'onnx' has no float lowering")
    tdt = torch.float64 if dtype == "float64" else torch.float32
    states = {n: NeuronState.fresh(nd, 1, tdt) for n, nd in graph.nodes.items() if isinstance(nd, NeuronNode)}
    with torch.no_grad():
        start = {k: v.numpy() for k, v in _initial_outputs(graph, states, 1, tdt).items()}
    return lower_step(StepContext(graph, np.dtype(dtype), None), FLOAT_LOWERINGS, np.dtype(dtype), start, dtype)


def build_models(sg: StepGraph) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    """(step model, scan model), both passing onnx.checker; UnsupportedNodeError when too large to serialise."""
    step, scan, _ = _checked_models(sg)
    return step, scan


def _checked_models(sg: StepGraph) -> tuple[onnx.ModelProto, onnx.ModelProto, tuple[bytes, bytes]]:
    """build_models plus the serialised models: each is serialised once, and those bytes are what onnx.checker
    checks and what the files hold (a 6.3 M-weight model is ~50 MB of protobuf per serialisation)."""
    size = sum(t.ByteSize() for t in sg.initializers)
    if size > MAX_MODEL_BYTES:
        raise UnsupportedNodeError(f"backend 'onnx': the {sg.label} model's constants take {size} bytes; "
                                   f"a single ONNX file holds less than 2 GiB")
    step, scan = step_model(sg), scan_model(sg)
    blobs = step.SerializeToString(), scan.SerializeToString()
    for blob in blobs:
        check_model(blob)
    return step, scan, blobs


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def write_atomically(out_dir: str | Path, write: Callable[[Path], None]) -> dict[str, Path]:
    """Run ``write(tmp)`` into a fresh folder beside ``out_dir``, then move its files into ``out_dir``.

    A new ``out_dir`` is the renamed folder itself; into an existing one each file is
    moved with ``os.replace``. On any error nothing reaches ``out_dir``.
    """
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        write(tmp)
        names = sorted(p.name for p in tmp.iterdir())
        if out.exists():
            for name in names:
                os.replace(tmp / name, out / name)
            tmp.rmdir()
        else:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o777 & ~mask)  # mkdtemp made it 0700
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out / name for name in names}


def _write_models(models: tuple[bytes, bytes], sg: StepGraph, names: tuple[str, str, str]) -> Callable[[Path], None]:
    blobs = {names[0]: models[0], names[1]: models[1], names[2]: _npz_bytes({s.name: s.init for s in sg.states})}

    def write(folder: Path) -> None:
        for name, blob in blobs.items():
            (folder / name).write_bytes(blob)

    return write


def _artifact_dir(artifact: Any) -> Path:
    if isinstance(artifact, Mapping):  # the dict ``emit`` returned
        paths = [Path(p) for p in artifact.values()]
        if not paths:
            raise InputError("the artifact dict is empty")
        return paths[0].parent
    return Path(artifact)


def _load_initial(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@dataclass(frozen=True)
class OnnxBackend:
    """Integer ONNX models of a QGraph, run by onnxruntime; ``threads``: intra-op threads of ``run``."""

    name: str = "onnx"
    threads: int = 1

    def check(self, qgraph: Graph) -> None:
        """Raise UnsupportedNodeError for a graph the integer models cannot reproduce exactly."""
        if not isinstance(qgraph, QGraph):
            raise UnsupportedNodeError(f"backend '{self.name}' takes a QGraph, got {type(qgraph).__name__}; "
                                       "quantise the graph first (emit_float writes the float model)")
        for name in qgraph.order:
            node = qgraph.nodes[name]
            if type(node) not in INT_LOWERINGS and not isinstance(node, Input):
                raise UnsupportedNodeError(f"node '{name}' ({node.type_name}): backend 'onnx' has no integer "
                                           "lowering for it")
        check_int64(qgraph, analyse(qgraph))

    def build(self, qgraph: QGraph) -> tuple[onnx.ModelProto, onnx.ModelProto, StepGraph]:
        """(step model, scan model, lowered step) in memory, checked."""
        self.check(qgraph)
        sg = lower_qgraph(qgraph)
        step, scan = build_models(sg)
        return step, scan, sg

    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Inputs | None = None, *,
             golden: Traces | None = None) -> dict[str, Path]:
        """Write step.onnx, scan.onnx, initial_state.npz (and stimuli + golden traces when ``inputs`` is given;
        ``golden``: bitsim's traces on them when already computed)."""
        self.check(qgraph)
        sg = lower_qgraph(qgraph)
        write_models = _write_models(_checked_models(sg)[2], sg, (STEP, SCAN, INITIAL))
        if inputs is None:
            golden = None
        elif golden is None:
            from snncompile.backends.bitsim import run_plain

            golden = run_plain(qgraph, inputs)

        def write(folder: Path) -> None:
            write_models(folder)
            if inputs is not None and golden is not None:  # the bitsim backend's stimuli and golden formats
                from snncompile.backends.bitsim.backend import GOLDEN_FILE, write_golden, write_stimuli

                write_stimuli(qgraph, inputs, folder)
                write_golden(golden, folder / GOLDEN_FILE)

        return write_atomically(out_dir, write)

    def run(self, artifact: QGraph | str | Path | Mapping[str, Path], inputs: Inputs | None = None, *,
            model: str = "scan") -> Traces:
        """Traces of onnxruntime running the scan model (``model="step"``: the step model in a Python loop).

        ``artifact`` is a QGraph (models built in memory) or an ``emit`` folder (or its
        returned dict); without ``inputs`` the folder's stimuli are used.
        """
        if model not in ("scan", "step"):
            raise InputError(f"model {model!r} is not 'scan' or 'step'")
        if isinstance(artifact, QGraph):
            if inputs is None:
                raise InputError("running a QGraph needs inputs")
            from snncompile.backends.bitsim import check_inputs

            data: Inputs = check_inputs(artifact, inputs)
            step, scan, sg = self.build(artifact)
            if model == "scan":
                return run_scan(session(scan, self.threads), data, np.int64)
            initial = {s.name: s.init for s in sg.states}
            return run_step(session(step, self.threads), data, initial, np.int64)
        folder = _artifact_dir(artifact)
        if inputs is None:
            from snncompile.backends.bitsim.backend import read_stimuli

            inputs = read_stimuli(folder)
        if model == "scan":
            return run_scan(session(folder / SCAN, self.threads), inputs, np.int64)
        return run_step(session(folder / STEP, self.threads), inputs, _load_initial(folder / INITIAL), np.int64)


def emit_float(graph: Graph, out_dir: str | Path, *, dtype: str = "float64") -> dict[str, Path]:
    """Write the float discrete-time model: float_step.onnx, float_scan.onnx, float_initial_state.npz."""
    sg = lower_float_graph(graph, dtype)
    return write_atomically(out_dir, _write_models(_checked_models(sg)[2], sg, (FLOAT_STEP, FLOAT_SCAN, FLOAT_INITIAL)))


def run_float(artifact: Graph | str | Path | Mapping[str, Path], inputs: Inputs, *, model: str = "scan",
              dtype: str = "float64", threads: int = 1) -> Traces:
    """Float traces from onnxruntime, in the float reference executor's format (float64 arrays)."""
    if isinstance(artifact, Graph):
        sg = lower_float_graph(artifact, dtype)
        step, scan = build_models(sg)
        if model == "scan":
            return run_scan(session(scan, threads), inputs, np.float64)
        return run_step(session(step, threads), inputs, {s.name: s.init for s in sg.states}, np.float64)
    folder = _artifact_dir(artifact)
    if model == "scan":
        return run_scan(session(folder / FLOAT_SCAN, threads), inputs, np.float64)
    return run_step(session(folder / FLOAT_STEP, threads), inputs, _load_initial(folder / FLOAT_INITIAL),
                    np.float64)


BACKEND = OnnxBackend()
