"""Input data for the command line: DATA files, bundled test sets and seeded spikes.

DATA (docs/cli.md) is one of:

* ``.npy``: the inputs, time-major ``[T, B, *shape]``;
* ``.npz``: ``inputs`` (or ``input``) ``[T, B, *shape]``, optional ``labels`` ``[B]`` (integer classes)
  and optional ``spk_<node>`` arrays ``[T, B, ...]``: a source framework's own recorded spikes of node
  ``<node>`` (as in ``tests/data/frameworks/*/data.npz``), used by the ``source<->float`` rung.
  A graph with several Input nodes takes one array per input, ``inputs_<node>``.

Without DATA, a bundled model (or any ``model.nir`` with a ``test.npz`` beside it) uses that ``test.npz``;
any other model gets seeded
Bernoulli(0.2) spikes. :attr:`Data.note` says which, in one sentence.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import models  # type: ignore[attr-defined]  # snncompile.models maps to models/
from .errors import InputError
from .graph import Graph
from .values import data_problem, first, position

SPIKE_RATE = 0.2
DEFAULT_TIMESTEPS = 32
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class Data:
    """Inputs per Input node ``[T, B, *shape]``, optional labels ``[B]`` and source recordings per node."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    source: dict[str, np.ndarray] | None = None
    note: str = ""

    @property
    def timesteps(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])

    @property
    def batch(self) -> int:
        return int(next(iter(self.inputs.values())).shape[1])

    def describe(self) -> str:
        """``(T=.., B=..[, with labels][, source spikes of N layer(s)])``."""
        extras = (", with labels" if self.labels is not None else "") + (
            f", source spikes of {len(self.source)} layer(s)" if self.source else "")
        return f"(T={self.timesteps}, B={self.batch}{extras})"

    def head(self, batch: int) -> Data:
        """The first ``batch`` samples (all of them when there are fewer)."""
        cut = {k: v[:, :batch] for k, v in self.inputs.items()}
        labels = None if self.labels is None else self.labels[:batch]
        source = None if self.source is None else {k: v[:, :batch] for k, v in self.source.items()}
        return Data(cut, labels, source, self.note)


def _numeric(where: str, arr: np.ndarray) -> np.ndarray:
    problem = data_problem(arr)
    if problem is not None:
        raise InputError(f"{where}: {problem}")
    return arr


def check_shape(where: str, graph: Graph, name: str, arr: np.ndarray) -> None:
    """``arr`` must be ``[T, B, *shape]`` of Input node ``name`` with T, B >= 1."""
    want = tuple(graph.nodes[name].shape)  # type: ignore[attr-defined]
    if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != want or 0 in arr.shape[:2]:
        dims = ", ".join(["T", "B", *(str(s) for s in want)])
        raise InputError(f"{where}: shape {tuple(arr.shape)} does not match [{dims}] of input '{name}'")


def check_spikes(where: str, arr: np.ndarray) -> None:
    """Every value must be 0 or 1; the message names the first one that is not."""
    bad = (arr != 0) & (arr != 1)
    if np.any(bad):
        idx = first(bad)
        raise InputError(f"{where}: value {arr[idx].item()!r} at {position(idx)} is not a spike (0 or 1)")


def _load_file(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"'{path}': no such data file")
    try:
        if path.suffix == ".npy":
            return {"inputs": np.load(path, allow_pickle=False)}
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            for key, value in arrays.items():
                if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of any other member
                    raise InputError(f"'{path}': member '{key}' is not a .npy array (an .npz holds .npy arrays)")
            return arrays
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"'{path}' could not be read as {path.suffix}: {' '.join(str(err).split())}") from None
    raise InputError(f"'{path}': DATA must be a .npy or .npz file, got '{path.suffix or path.name}'")


def _pick_inputs(path: Path, graph: Graph, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = graph.inputs
    keys = ", ".join(sorted(arrays)) or "none"
    if len(names) == 1:
        key = "inputs" if "inputs" in arrays else "input" if "input" in arrays else None
        if key is None:
            raise InputError(f"'{path}' has no 'inputs' (or 'input') array; its keys: {keys}")
        return {names[0]: arrays[key]}
    out = {}
    for name in names:
        if f"inputs_{name}" not in arrays:
            raise InputError(f"'{path}' has no 'inputs_{name}' array for input node '{name}'; its keys: {keys}")
        out[name] = arrays[f"inputs_{name}"]
    return out


def read_data(path: str | Path, graph: Graph, *, spikes: bool = True) -> Data:
    """DATA for ``graph``: shapes checked, values numeric (and 0/1 spikes unless ``spikes=False``)."""
    path = Path(path)
    arrays = _load_file(path)
    inputs = _pick_inputs(path, graph, arrays)
    T = B = None
    for name, arr in inputs.items():
        where = f"'{path}'" if len(inputs) == 1 else f"'{path}' input '{name}'"
        _numeric(where, arr)
        check_shape(where, graph, name, arr)
        if spikes:
            check_spikes(where, arr)
        if T is not None and arr.shape[:2] != (T, B):
            raise InputError(f"{where}: [T, B] = {list(arr.shape[:2])} differs from the other inputs' [{T}, {B}]")
        T, B = arr.shape[:2]
    labels = None
    if "labels" in arrays:
        labels = _numeric(f"'{path}' labels", arrays["labels"])
        if labels.shape != (B,):
            raise InputError(f"'{path}': labels must be {B} integer classes [B], got shape {labels.shape}")
        fractional = labels != np.rint(labels)
        if fractional.any():
            k = int(np.argmax(fractional))
            raise InputError(f"'{path}': labels must be integer classes; label {labels[k].item()!r} of sample {k} "
                             "is not a whole number")
        labels = labels.astype(np.int64)
    source = {k[4:]: _numeric(f"'{path}' {k}", v) for k, v in arrays.items() if k.startswith("spk_")} or None
    data = Data(inputs, labels, source)
    return Data(inputs, labels, source, f"{path} {data.describe()}")


def bundled_test_set(model_path: Path) -> Path | None:
    """The ``test.npz`` beside a ``model.nir``: a bundled model's (``models/<name>/``), or of any folder laid out
    like one (a copy of a bundled model's folder, a model folder of your own)."""
    model_path = Path(model_path).resolve()
    test = model_path.parent / "test.npz"
    if model_path.name == "model.nir" and test.is_file():
        return test
    return None


def random_spikes(graph: Graph, *, timesteps: int = DEFAULT_TIMESTEPS, batch: int = DEFAULT_BATCH,
                  seed: int = 0, rate: float = SPIKE_RATE) -> dict[str, np.ndarray]:
    """Seeded Bernoulli(rate) spikes ``[T, B, *shape]`` (uint8) for every Input node, in node order."""
    if timesteps < 1:
        raise InputError(f"--timesteps must be >= 1, got {timesteps}")
    rng = np.random.default_rng(seed)
    return {name: (rng.random((timesteps, batch, *graph.nodes[name].shape)) < rate).astype(np.uint8)  # type: ignore
            for name in graph.inputs}


def load_data(path: str | Path | None, graph: Graph, model_path: Path, *, timesteps: int = DEFAULT_TIMESTEPS,
              batch: int = DEFAULT_BATCH, seed: int = 0, spikes: bool = True) -> Data:
    """DATA when given; else a bundled model's test set; else seeded Bernoulli(0.2) spikes. ``note`` says which."""
    if path is not None:
        return read_data(path, graph, spikes=spikes)
    test = bundled_test_set(model_path)
    if test is not None:
        data = read_data(test, graph, spikes=spikes)
        bundled = test.parent.parent == Path(models.ROOT).resolve()
        where = f"bundled test set {test.parent.name}/{test.name}" if bundled else f"test set beside the model {test}"
        note = f"{where} {data.describe()}; no --inputs given"
        return Data(data.inputs, data.labels, data.source, note)
    inputs = random_spikes(graph, timesteps=timesteps, batch=batch, seed=seed)
    return Data(inputs, None, None, f"seeded random spikes (Bernoulli({SPIKE_RATE}), T={timesteps}, B={batch}, "
                                    f"seed={seed}); no --inputs given")


def array_sha256(inputs: dict[str, np.ndarray]) -> str:
    """A hash of the inputs' names, shapes, dtypes and bytes (for manifests)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(inputs):
        arr = np.ascontiguousarray(inputs[name])
        h.update(f"{name}:{arr.dtype.str}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()
