"""Read any ``.nir`` file into a snncompile Graph.

The HDF5 file is parsed here (not with ``nir.read``) so that every defect gets
a precise, typed error: not HDF5, HDF5 but not NIR, unknown node type, missing
parameter, dangling edge, shape mismatch.

Where dt and the Semantics come from, in order:
1. snncompile metadata in the file (written by :mod:`.nir_write`): the discrete
   parameters, Semantics and dt are read back exactly;
2. the source convention the user names (``--from snntorch``, see :mod:`.conventions`), read by
   :mod:`.nir_import`; the user may state what the exporter did not write (``reset``, ``reset_delay``,
   ``spikes``, ``dt``, ``discretization``);
3. the canonical ``nir`` convention.
``Loaded.source`` says which was used; ``Loaded.warnings`` lists what the convention assumed because the file
does not hold it (and what the reader changed, e.g. a dropped batch dim).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import models  # type: ignore[attr-defined]  # snncompile.models maps to models/
from ..errors import GraphError, InputError, ParameterError, SnnCompileError
from ..graph import Graph
from ..nodes import Node
from . import signature
from .conventions import CONVENTIONS, Convention, convention
from .nir_import import read_nir_dict
from .nir_nodes import NEURON_TYPES, convert_node, node_from_snncompile_meta
from .nir_passes import flatten_subgraphs

META_KEY = "snncompile"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Loaded:
    """A read model: the graph, where its dt and semantics came from, the file, and what the convention
    filled in that the file does not hold (one line each, for ``inspect`` to print)."""

    graph: Graph
    source: str
    path: Path
    warnings: list[str] = field(default_factory=list)


def resolve(model: str | Path) -> Path:
    """A path to an existing file, the ``model.nir`` of a folder holding one, or of a bundled model of that name."""
    path = Path(model)
    if path.is_file():
        return path
    if path.is_dir() and (path / "model.nir").is_file():
        return path / "model.nir"
    bundled = models.path(str(model))
    if bundled is not None:
        return bundled
    known = ", ".join(models.names()) or "none"
    raise InputError(f"'{model}': no such file or bundled model (bundled models: {known})")


def _to_python(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.vectorize(lambda v: v.decode("utf8") if isinstance(v, bytes) else v, otypes=[object])(value)
    return value


def _read_group(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_group(item)
        else:
            out[key] = _to_python(item[()])
    return out


def read_raw(path: Path) -> tuple[dict[str, Any], str]:
    """The root graph of a NIR file as nested dicts, and the file's NIR version."""
    if not h5py.is_hdf5(path):
        raise InputError(f"'{path}' is not an HDF5 file (a .nir file is HDF5 written by nir.write)")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f or not isinstance(f["node"], h5py.Group) or "type" not in f["node"]:
                raise InputError(f"'{path}' is not a NIR file: it has no 'node' group holding a graph")
            root = _read_group(f["node"])
            version = _to_python(f["version"][()]) if "version" in f else "unknown"
    except (OSError, RuntimeError, KeyError, ValueError) as err:  # h5py's errors on damaged bytes
        detail = err.args[0] if isinstance(err, KeyError) and err.args else err  # str(KeyError) adds quotes
        raise InputError(f"'{path}' could not be read as HDF5: {' '.join(str(detail).split())}") from None
    if root.get("type") != "NIRGraph":
        raise InputError(f"'{path}' is not a NIR graph file: its root node has type {root.get('type')!r}")
    return root, str(version)


def _snncompile_meta(root: dict[str, Any]) -> dict[str, Any] | None:
    meta = root.get("metadata", {})
    raw = meta.get(META_KEY) if isinstance(meta, dict) else None
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        raise InputError(f"graph metadata '{META_KEY}' is not valid JSON") from None
    if not isinstance(data, dict):
        raise InputError(f"graph metadata '{META_KEY}' is a JSON {type(data).__name__}, not an object")
    if data.get("format") != FORMAT_VERSION:
        raise InputError(
            f"graph metadata '{META_KEY}' has format {data.get('format')!r}; this snncompile reads format "
            f"{FORMAT_VERSION}"
        )
    return dict(data)


def nir_graph_dict(graph: Any) -> dict[str, Any]:
    """An in-memory ``nir.NIRGraph`` as the nested dicts :func:`read_raw` gives for a file (what ``nir.write``
    would store), so a graph ``nir.write`` cannot store (e.g. mixed 0-d and (1,) parameters) still loads."""
    try:
        raw = graph.to_dict()
    except Exception as exc:  # a hand-built NIRGraph with a broken member
        raise InputError(f"in-memory nir.NIRGraph could not be serialised by its to_dict: {exc}") from None
    return _plain(raw)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | bytes):
        return _to_python(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, list | tuple) for v in value):
        return np.asarray([[_to_python(x) for x in v] for v in value], dtype=object)  # edges
    return np.asarray(value) if value is not None else value


def _root(model: Any) -> tuple[dict[str, Any], Path]:
    """The root graph (nested dicts) of a path, a bundled model name or an in-memory ``nir.NIRGraph``."""
    if isinstance(model, str | Path):
        path = resolve(model)
        return read_raw(path)[0], path
    if type(model).__name__ == "NIRGraph" and callable(getattr(model, "to_dict", None)):
        return nir_graph_dict(model), Path("<in-memory NIRGraph>")
    raise InputError(f"load: expected a .nir path, a bundled model name or a nir.NIRGraph, got "
                     f"{type(model).__name__}")


def load(
    model: str | Path | Any,
    *,
    convention: str | None = None,
    dt: float | None = None,
    discretization: str | None = None,
    reset: str | None = None,
    reset_delay: bool | None = None,
    spikes: str | None = None,
) -> Loaded:
    """Read MODEL (a path, a bundled model name or an in-memory ``nir.NIRGraph``) into a validated Graph.

    For files without snncompile metadata: ``convention`` names the source (default ``nir``); ``dt`` overrides
    its step; ``discretization`` ("euler"/"exact") overrides the decays of every neuron type (default: the
    convention's own, Euler where it has none); ``reset`` ("zero"/"subtract"/"none"), ``reset_delay``
    (snnTorch's flag: True = reset in the next step) and ``spikes`` ("binary"/"multi") state what an exporter
    did not write, replacing the convention's assumption for every neuron.
    """
    if discretization not in (None, "euler", "exact"):
        raise InputError(f"unknown discretization {discretization!r}; use 'euler' or 'exact'")
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise InputError(f"--dt must be a positive, finite number of seconds, got {dt}")
    root, path = _root(model)
    meta = _snncompile_meta(root)
    if meta is not None and meta.get("qgraph"):
        raise InputError(
            f"'{model}' is a QGraph file (fixed-point, written by snncompile export); read it with "
            "snncompile.quant.qnir.read_qgraph, or pass the float model"
        )
    if meta is not None:
        graph = _graph_from_snncompile(root, meta)
        note = "dt and semantics from snncompile metadata"
        if convention is not None or dt is not None:
            note += " (--from/--dt ignored: the file records its own)"
        if any(v is not None for v in (discretization, reset, reset_delay, spikes)):
            note += " (--discretization/--reset/--reset-delay/--spikes ignored: the file records its semantics)"
        return Loaded(graph, note, path)
    conv = _convention(convention)
    try:
        conv = conv.with_overrides(reset=reset, reset_delay=reset_delay, spikes=spikes)
    except GraphError as err:
        raise InputError(f"--from {conv.name}: {err}") from None
    stated = {k for k, v in (("reset", reset), ("reset_delay", reset_delay), ("spikes", spikes), ("dt", dt))
              if v is not None}
    try:
        read = read_nir_dict(root, conv, dt, discretization, stated)
    except SnnCompileError as err:
        if convention is None and err.args:  # name the --from the file's numbers point to
            extra = signature.hint(flatten_subgraphs(root)[0]) if isinstance(root.get("nodes"), dict) else ""
            if extra and not isinstance(err, ParameterError):
                err.args = (f"{err.args[0]}{extra}", *err.args[1:])
        raise
    origin = "--from" if convention is not None else "default, no snncompile metadata and no --from"
    note = f"convention '{conv.name}' ({origin}), dt={read.graph.dt:g} s ({read.dt_origin}), {read.method_text}"
    warnings = list(read.warnings)
    if convention is None and read.neuron_types:
        found = signature.guess(flatten_subgraphs(root)[0])
        named = (f"; this file looks exported by {found[0]} ({found[1]}): use --from {found[0]}" if found else
                 f" (--from {', '.join(sorted(set(CONVENTIONS) - {'nir'}))})")
        warnings.insert(0, "no --from given: read under the canonical 'nir' convention; a file exported by a "
                        f"framework needs its convention{named}")
    return Loaded(read.graph, note, path, warnings)


def _convention(name: str | None) -> Convention:
    return convention(name or "nir")


def graph_from_nir_dict(root: dict[str, Any], conv: Convention, dt: float, method: str | None) -> Graph:
    """A NIR graph (nested dicts) read under a source convention with a given dt."""
    return read_nir_dict(root, conv, dt, method, {"dt"}).graph


def header_dt(meta: dict[str, Any], what: str = f"graph metadata '{META_KEY}'") -> float:
    """The ``dt`` of a snncompile header: a finite number of seconds > 0 (JSON also admits Infinity and NaN)."""
    if "dt" not in meta:
        raise InputError(f"{what} has no 'dt'")
    dt = meta["dt"]
    if isinstance(dt, bool) or not isinstance(dt, int | float) or not (math.isfinite(dt) and dt > 0):
        raise InputError(f"{what}: dt {dt!r} is not a positive, finite number of seconds")
    return float(dt)


def header_order_and_metadata(meta: dict[str, Any], what: str = f"graph metadata '{META_KEY}'"
                              ) -> tuple[list[str], dict[str, Any]]:
    """The node ``order`` (a list of names) and the graph ``metadata`` (an object) of a snncompile header."""
    order = meta.get("order", [])
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise InputError(f"{what}: order {order!r} is not a list of node names")
    extra = meta.get("metadata", {})
    if not isinstance(extra, dict):
        raise InputError(f"{what}: metadata is a JSON {type(extra).__name__}, not an object")
    return order, extra


def _graph_from_snncompile(root: dict[str, Any], meta: dict[str, Any]) -> Graph:
    dt = header_dt(meta)
    order, extra = header_order_and_metadata(meta)
    raw_nodes, edges = flatten_subgraphs(root)
    conv = _convention("nir")
    nodes: dict[str, Node] = {}
    for name, data in raw_nodes.items():
        node_meta = data.get("metadata", {})
        if data.get("type") in NEURON_TYPES or (isinstance(node_meta, dict) and "sc.delay" in node_meta):
            nodes[name] = node_from_snncompile_meta(name, data)
        else:
            node, gain = convert_node(name, data, conv, dt, "euler")
            if gain is not None:  # cannot happen for stateless nodes; guard against hand-edited files
                raise GraphError(f"node '{name}': unexpected input gain in a snncompile-written file")
            nodes[name] = node
    order = [n for n in order if n in nodes]
    ordered = {n: nodes[n] for n in order} | {n: nodes[n] for n in nodes if n not in order}
    return Graph(ordered, edges, dt, extra)
