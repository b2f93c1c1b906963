"""bitsim as a backend: ``check``, ``emit``, ``run``.

The artifact folder holds

* ``qgraph.nir``: the QGraph (:mod:`snncompile.quant.qnir`, read back exactly);
* ``stimuli.npy``: the integer input spikes ``[T, B, *shape]`` (int64); a graph
  with several Input nodes gets ``stimuli.npz`` with one array per Input node name;
* ``golden.npz``: bitsim's traces ``[T, B, ...]`` (``emit`` computes them with the plain definition unless
  given; ``export`` passes its one fast-path run), under ``<node>.out`` for every node and ``<node>.v`` /
  ``<node>.i`` for neurons, each stored in the narrowest integer type that holds it (read back as int64).

``run`` reads ``qgraph.nir`` back and executes it with :func:`simulate` on the
fast path (``path="auto"``), so the ladder's ``fixed<->bitsim`` rung (``verify``) compares
the round-tripped file on the fast path against the plain definition; ``export``'s check
(:mod:`snncompile.exportcheck`) reads the files back instead of simulating again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile.atomic import write_file
from snncompile.errors import InputError, UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.quant.qnir import read_qgraph, write_qgraph
from snncompile.quant.qnodes import INTEGER_NODE_TYPES, QGraph

from . import simulate
from .plain import Traces, check_inputs, run_plain

QGRAPH_FILE = "qgraph.nir"
STIMULI_NPY = "stimuli.npy"
STIMULI_NPZ = "stimuli.npz"
GOLDEN_FILE = "golden.npz"

Inputs = np.ndarray | Mapping[str, np.ndarray]


def _save(path: Path, save: Callable[[io.BytesIO], None]) -> Path:
    """numpy's file built in memory, then written atomically (an I/O failure is an OSError naming ``path``)."""
    buf = io.BytesIO()
    save(buf)
    write_file(path, buf.getvalue())
    return path


def write_stimuli(qgraph: QGraph, inputs: Inputs, out_dir: Path) -> Path:
    """The inputs as int64: ``stimuli.npy`` for one Input node, else ``stimuli.npz`` keyed by node name."""
    data = check_inputs(qgraph, inputs)
    if len(data) == 1:
        return _save(out_dir / STIMULI_NPY, lambda f: np.save(f, next(iter(data.values()))))
    return _save(out_dir / STIMULI_NPZ, lambda f: np.savez(f, **data))  # type: ignore[arg-type]


def read_stimuli(artifact_dir: str | Path) -> np.ndarray | dict[str, np.ndarray]:
    """The stimuli an ``emit`` wrote (an array, or a dict per Input node)."""
    folder = Path(artifact_dir)
    if (folder / STIMULI_NPY).is_file():
        return np.load(folder / STIMULI_NPY, allow_pickle=False)  # type: ignore[no-any-return]
    if (folder / STIMULI_NPZ).is_file():
        with np.load(folder / STIMULI_NPZ, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    raise InputError(f"'{folder}' holds no {STIMULI_NPY} or {STIMULI_NPZ}")


def _narrowest(a: np.ndarray) -> np.ndarray:
    """``a`` in the narrowest of int8/16/32/64 that holds every value (exact; read back as int64)."""
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max):
            return a.astype(dtype)
    return np.asarray(a, np.int64)


def write_golden(traces: Traces, path: Path) -> Path:
    """Every trace as ``<node>.<key>`` in an uncompressed ``.npz``, each in the narrowest integer type that holds it
    (spikes int8): 5x smaller than int64 and ~100x faster to write than compressing it (6.3 M-synapse network)."""
    arrays = {f"{node}.{key}": _narrowest(np.asarray(arr)) for node, rec in traces.items() for key, arr in rec.items()}
    _save(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
    return path


def read_golden(path: str | Path) -> Traces:
    """``golden.npz`` back as ``{node: {"out"|"v"|"i": int64 [T, B, ...]}}``."""
    out: Traces = {}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            node, _, trace = key.rpartition(".")
            out.setdefault(node, {})[trace] = z[key].astype(np.int64)
    return out


@dataclass(frozen=True)
class BitsimBackend:
    """The bit-exact integer simulator as a target; ``path`` is the simulate path ``run`` uses."""

    name: str = "bitsim"
    path: str = "auto"

    def check(self, qgraph: Graph) -> None:
        """Raise UnsupportedNodeError naming the first node that is not an integer node."""
        for name, node in qgraph.nodes.items():
            if not isinstance(node, INTEGER_NODE_TYPES):
                known = ", ".join(t.__name__ for t in INTEGER_NODE_TYPES)
                raise UnsupportedNodeError(
                    f"node '{name}' ({node.type_name}): backend '{self.name}' runs integer nodes only ({known}); "
                    "quantise the graph first"
                )
        if not isinstance(qgraph, QGraph):
            raise UnsupportedNodeError(f"backend '{self.name}' takes a QGraph, got {type(qgraph).__name__}")

    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Inputs, *,
             golden: Traces | None = None) -> dict[str, Path]:
        """Write qgraph.nir, the stimuli and golden.npz into ``out_dir``; file name -> path.

        ``golden`` may pass bitsim's traces already computed on the same inputs.
        """
        self.check(qgraph)
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        files = {QGRAPH_FILE: write_qgraph(qgraph, folder / QGRAPH_FILE)}
        stimuli = write_stimuli(qgraph, inputs, folder)
        files[stimuli.name] = stimuli
        traces = golden if golden is not None else run_plain(qgraph, inputs)
        files[GOLDEN_FILE] = write_golden(traces, folder / GOLDEN_FILE)
        return files

    def run(self, artifact_dir: str | Path, inputs: Inputs | None = None) -> Traces:
        """Read ``qgraph.nir`` from the artifact folder and simulate it (the emitted stimuli by default)."""
        qgraph = read_qgraph(Path(artifact_dir) / QGRAPH_FILE)
        data = read_stimuli(artifact_dir) if inputs is None else inputs
        return simulate(qgraph, data, path=self.path)


BACKEND = BitsimBackend()
