"""The public Python API (re-exported by :mod:`snncompile`): every step of the command line as a function.

    load / save / trace          a model in and out (NIR file, bundled model name, torch module)
    simulate                     the float reference executor
    export                       ``snncompile export`` as a call: quantise, emit, check, manifest
    run / predict                ``snncompile simulate --fixed`` on a QGraph, a qgraph.nir or an export folder

Nothing here imports torch at module level: ``import snncompile`` stays fast and ``snncompile --help`` never
loads it. Each function imports what it needs when it is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError
from .graph import Graph
from .quant.qnodes import QGraph
from .quant.spec import QuantSpec

if TYPE_CHECKING:
    from .data import Data

Traces = dict[str, dict[str, np.ndarray]]
InputsLike = np.ndarray | Mapping[str, np.ndarray] | str | Path


def load(
    model: str | Path | Any,
    *,
    convention: str | None = None,
    dt: float | None = None,
    discretization: str | None = None,
    reset: str | None = None,
    reset_delay: bool | None = None,
    spikes: str | None = None,
) -> Graph:
    """Read MODEL into a validated :class:`Graph`.

    MODEL is a ``.nir`` file, a bundled model name (``"digits-mlp"``; ``snncompile models`` lists them), a
    folder holding a ``model.nir``, or an in-memory ``nir.NIRGraph`` (for graphs ``nir.write`` cannot store).
    A file snncompile wrote (:func:`save`) carries its dt and semantics and is
    read back exactly; the keywords below are then ignored.

    For files other exporters wrote: ``convention`` names the source framework (``"nir"`` by default;
    ``"snntorch"``, ``"norse"``, ``"norse-seconds"``, ``"sinabs"``, ``"rockpool"``, ``"lava-dl"``,
    ``"spyx"``; docs/interop.md), ``dt`` overrides its time step in seconds, ``discretization``
    (``"euler"`` / ``"exact"``) how continuous time constants become per-step decays, and ``reset``
    (``"zero"`` / ``"subtract"`` / ``"none"``), ``reset_delay`` (snnTorch's flag) and ``spikes``
    (``"binary"`` / ``"multi"``) state what the exporter did not record.

    Raises InputError (no such file, not NIR, a QGraph file) or GraphError (a defect in the graph), each
    naming the node and the value. ``snncompile.frontend.nir_read.load`` also returns where the semantics
    came from and what the convention assumed.
    """
    from .frontend.nir_read import load as _load

    return _load(model, convention=convention, dt=dt, discretization=discretization, reset=reset,
                 reset_delay=reset_delay, spikes=spikes).graph


def save(graph: Graph, path: str | Path) -> None:
    """Write ``graph`` to ``path`` as NIR with snncompile metadata: :func:`load` reads it back exactly (dt, every
    Semantics field, discrete parameters), and other NIR tools read the standard nodes."""
    from .frontend.nir_write import write

    write(graph, path)


def trace(module: Any, sample: Any, *, dt: float = 1e-4, name_prefix: str = "") -> Graph:
    """The IR graph of a torch module built from snnTorch (and torch.nn) layers, with each layer's exact
    discrete-time semantics read from its arguments.

    ``sample`` is one timestep of input with a batch dim, e.g. ``torch.zeros(1, 64)`` (a sequence of tensors
    for a forward with several inputs); Input shapes exclude the batch. ``dt`` is only stored on the graph
    (NIR export). ``name_prefix`` is prepended to every node made from a module.

    Supported: ``nn.Linear``, ``nn.Conv1d/2d``, ``nn.AvgPool2d``, ``nn.MaxPool2d`` on spikes (a logical OR
    over the window), ``nn.Flatten``, ``nn.Dropout`` (identity), and snnTorch ``Leaky``, ``Synaptic``,
    ``RLeaky`` ... built with ``init_hidden=True``, or written in the tutorial style (``init_hidden=False``
    and a ``forward(x)`` that calls each neuron with its membrane: see docs/nn.md and the README). A last
    neuron with ``output=True`` whose membrane is the readout is traced as an LI readout with the same
    numbers. Use ``trace`` + :func:`save` instead of snnTorch's ``export_to_nir``, which mishandles scalar
    ``beta`` and batch dims.

    Sinabs, Rockpool and Norse models are read by their own tracers (:mod:`snncompile.frontend.trace_frameworks`,
    docs/interop.md), which keep what those frameworks' NIR exporters drop (biases, ``w_rec``, ``min_v_mem``,
    spike and reset functions); their ``dt`` is the model's own.

    Raises UnsupportedNodeError for a module, argument or operation without an exact IR equivalent (its
    message says what to change), GraphError when the sample does not fit.
    """
    from .frontend.torch_trace import trace as _trace

    return _trace(module, sample, dt=dt, name_prefix=name_prefix)


def simulate(graph: Graph, inputs: np.ndarray | Mapping[str, np.ndarray]) -> Traces:
    """Run the float reference executor (float64) on ``[T, B, *shape]`` inputs (``{input: array}`` for several
    Input nodes); per-node traces ``{node: {"out", "v"[, "i"]}: array [T, B, ...]}``. ``out`` is spikes (or
    counts) for spiking neurons and v for readouts."""
    from .reference import run

    return run(graph, inputs)


# -- inputs -----------------------------------------------------------------------------------------------------------

def _inputs(inputs: InputsLike, graph: Graph | QGraph) -> dict[str, np.ndarray]:
    """Arrays per Input node from an array, a mapping or a DATA file (.npy / .npz)."""
    if isinstance(inputs, (str, Path)):
        from .data import read_data

        return read_data(inputs, graph).inputs  # type: ignore[arg-type]
    if isinstance(inputs, Mapping):
        return {str(k): np.asarray(v) for k, v in inputs.items()}
    if len(graph.inputs) != 1:
        raise InputError(f"the graph has {len(graph.inputs)} Input nodes ({', '.join(graph.inputs)}); pass inputs "
                         "as {input_name: array}")
    return {graph.inputs[0]: np.asarray(inputs)}


def _data(inputs: InputsLike | None, graph: Graph, model_path: Path | None, note: str, timesteps: int) -> Data:
    from .data import Data, load_data

    if inputs is None or isinstance(inputs, (str, Path)):
        return load_data(inputs, graph, model_path or Path("."), timesteps=timesteps)
    arrays = _inputs(inputs, graph)
    return Data(arrays, None, None, note)


# -- export -----------------------------------------------------------------------------------------------------------

def export(
    model: Graph | str | Path | Any,
    out: str | Path,
    *,
    targets: Sequence[str] = ("bitsim",),
    inputs: InputsLike | None = None,
    calib: InputsLike | None = None,
    bits: int = 8,
    state_bits: int | None = None,
    spec: QuantSpec | None = None,
    timesteps: int = 32,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    hls: Mapping[str, Any] | None = None,
    rtl: Mapping[str, Any] | None = None,
    loihi: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``snncompile export`` as a call: quantise ``model``, write ``out/<target>/`` for each target and
    ``out/manifest.json`` after checking every target bit-exactly against bitsim; returns the manifest (a dict).

    ``model``: a :class:`Graph`, a ``.nir`` file / bundled model name / model folder (as :func:`load`), or a
    torch module (traced with :func:`trace` on one step of ``inputs``, which is then required).
    ``targets``: backend names (``snncompile.backends.available()``: bitsim, hls, loihi, onnx, rtl).
    ``inputs``: stimuli ``[T, B, *shape]`` (array, ``{input: array}`` or a .npy/.npz path) for the golden
    traces and the checks; default: a bundled model's test set (its first 8 samples), else seeded
    Bernoulli(0.2) spikes of ``timesteps`` steps. ``calib``: calibration data (default: the inputs).
    ``bits`` / ``state_bits``: the weight and v/i register widths (``spec`` instead gives a full
    :class:`QuantSpec`). ``force``: replace ``out`` if an earlier export wrote it. ``progress``: called
    with one line per step (default: silent). ``hls`` / ``rtl`` / ``loihi``: that backend's options as on
    the command line (hls: sparse, unroll, clock_mhz, part; rtl: lanes, simulator, device, clock_mhz,
    synthesise, pnr; loihi: core_spec).

    Atomic: a failure (VerificationError when a target differs from bitsim, ResourceError exit 3 ...) leaves
    no ``out``.
    """
    import tempfile

    from .data import DEFAULT_BATCH, Data
    from .export import export as _export

    spec = spec if spec is not None else QuantSpec(weight_bits=bits, state_bits=state_bits)
    with tempfile.TemporaryDirectory(prefix="snncompile-api-") as tmp:
        graph, info = _as_graph(model, inputs, Path(tmp))
        data = _data(inputs, graph, info.path, "inputs given to snncompile.export", timesteps)
        stimuli = data
        if inputs is None and data.batch > DEFAULT_BATCH:
            stimuli = Data(data.head(DEFAULT_BATCH).inputs, None, None,
                           f"first {DEFAULT_BATCH} samples of {data.note}")
        calib_data = Data(_inputs(calib, graph), None, None, "calib given to snncompile.export") \
            if calib is not None else Data(data.inputs, None, None, data.note)
        options = {"hls": dict(hls or {}), "rtl": dict(rtl or {}), "loihi": dict(loihi or {})}
        return _export(graph, out, model=info, targets=list(targets), spec=spec, stimuli=stimuli, calib=calib_data,
                       force=force, progress=progress or _silent, target_options=options)


def _silent(message: str) -> None:
    del message


def _as_graph(model: Any, inputs: InputsLike | None, tmp: Path) -> tuple[Graph, Any]:
    """The float Graph of ``model`` and its manifest record (an in-memory graph is saved to ``tmp`` to hash)."""
    from .export import ModelInfo
    from .frontend.nir_read import load as _load
    from .frontend.nir_read import resolve

    if isinstance(model, (str, Path)):
        loaded = _load(model)
        return loaded.graph, ModelInfo(str(model), resolve(model), loaded.source)
    if not isinstance(model, Graph):
        if not hasattr(model, "forward"):
            raise InputError(f"export: model must be a Graph, a .nir path, a bundled model name or a torch module, "
                             f"got {type(model).__name__}")
        if inputs is None or isinstance(inputs, (str, Path, Mapping)):
            raise InputError("export: a torch module is traced on one step of `inputs`; pass inputs as an array "
                             "[T, B, *shape] (or trace it yourself: snncompile.trace(module, sample))")
        import torch

        first = np.asarray(inputs)[0, :1]
        model = trace(model, torch.as_tensor(first, dtype=torch.float32))
    path = tmp / "model.nir"
    save(model, path)
    return model, ModelInfo("<in-memory Graph>", path, "in-memory Graph (hashed as saved by snncompile.save)")


# -- run / predict ----------------------------------------------------------------------------------------------------

def _qgraph_and_dir(model: QGraph | str | Path, target: str) -> tuple[QGraph, Path | None]:
    """The QGraph to run and, for an export folder, the target's artifact folder."""
    from .quant.qnir import read_qgraph

    if isinstance(model, QGraph):
        return model, None
    path = Path(model)
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.is_file():
            raise InputError(f"'{path}' is a folder without manifest.json, not an export folder (snncompile export)")
        import json

        targets = json.loads(manifest.read_text()).get("targets", [])
        qnir = next((path / t / "qgraph.nir" for t in ["bitsim", *targets] if (path / t / "qgraph.nir").is_file()),
                    None)
        if qnir is None:
            raise InputError(f"export folder '{path}' holds no qgraph.nir (targets: {', '.join(targets)})")
        if target != "bitsim" and target not in targets:
            raise InputError(f"export folder '{path}' has no target '{target}' (it has: {', '.join(targets)})")
        return read_qgraph(qnir), (path / target if target != "bitsim" else None)
    if path.is_file():
        return read_qgraph(path), None
    raise InputError(f"'{model}': not a QGraph, a qgraph.nir file or an export folder")


def run(
    model: QGraph | Graph | str | Path,
    inputs: InputsLike,
    *,
    target: str = "bitsim",
) -> Traces:
    """Run a fixed-point model: per-node int64 traces ``{node: {"out", "v"[, "i"]}: [T, B, ...]}``.

    ``model``: a :class:`QGraph` (:func:`quantize`), a ``qgraph.nir`` file, or an export folder (then the
    QGraph its bitsim/ (or first target's) folder holds; with ``target`` other than bitsim, that target's
    artifacts in the folder are executed). A float :class:`Graph` runs the float reference instead, with
    ``target="float"``.

    ``target``: ``"bitsim"`` (default, the bit-exact integer simulator) or any backend that can execute its
    artifacts (hls: compiled C; onnx: onnxruntime; loihi: core simulator; rtl: Verilator/Icarus); for a
    QGraph the artifacts are emitted into a temporary folder first. Every target's traces equal bitsim's.
    ``inputs``: spikes ``[T, B, *shape]`` (array, ``{input: array}``, or a .npy/.npz path).
    """
    if isinstance(model, Graph) and not isinstance(model, QGraph):
        if target != "float":
            raise InputError("run: a float Graph runs on target='float' (the reference executor); quantise it "
                             "first (snncompile.quantize) to run it on a fixed-point target")
        return simulate(model, _inputs(inputs, model))
    if target == "float":
        raise InputError("run: target='float' needs a float Graph; a QGraph runs on 'bitsim' or a backend")
    qgraph, folder = _qgraph_and_dir(model, target)
    arrays = _inputs(inputs, qgraph)
    from snncompile.backends import get

    if target == "bitsim":
        from snncompile.backends.bitsim import simulate as bitsim

        return bitsim(qgraph, arrays)
    backend = get(target)
    if folder is not None:
        return backend.run(folder, arrays)  # type: ignore[no-any-return]
    import tempfile

    backend.check(qgraph)
    with tempfile.TemporaryDirectory(prefix=f"snncompile-run-{target}-") as tmp:
        backend.emit(qgraph, tmp, arrays)
        return backend.run(tmp, arrays)  # type: ignore[no-any-return]


def predict(model: QGraph | Graph | str | Path, inputs: InputsLike, *, target: str = "bitsim") -> np.ndarray:
    """The class of each sample ``[B]``: argmax over the first Output of its spike counts summed over time, or of
    its final value for a non-spiking readout (the rule ``verify`` scores accuracy with). Arguments as :func:`run`.
    """
    traces = run(model, inputs, target=target)
    graph = model if isinstance(model, Graph) else _qgraph_and_dir(model, target)[0]  # a QGraph is a Graph
    if not graph.outputs:
        raise InputError("predict: the graph has no Output node")
    out = np.asarray(traces[graph.outputs[0]]["out"])
    spiking = _output_spiking(graph)
    score = out.sum(axis=0) if spiking else out[-1]
    return np.asarray(np.argmax(score.reshape(score.shape[0], -1), axis=1))


def _output_spiking(graph: Graph | QGraph) -> bool:
    from .nodes import NeuronNode, Output
    from .quant.qnodes import QNeuron

    name = graph.outputs[0]
    while isinstance(graph.nodes[name], Output):
        preds = graph.predecessors(name)
        if len(preds) != 1:
            return True
        name = preds[0]
    node = graph.nodes[name]
    return isinstance(node, (NeuronNode, QNeuron)) and bool(node.SPIKING)
