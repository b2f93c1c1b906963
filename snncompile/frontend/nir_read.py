"""Read any ``.nir`` file into a snncompile Graph.

The HDF5 file is parsed here (not with ``nir.read``) so that every defect gets
a precise, typed error: not HDF5, HDF5 but not NIR, unknown node type, missing
parameter, dangling edge, shape mismatch.

Where dt and the Semantics come from, in order:
1. snncompile metadata in the file (written by :mod:`.nir_write`): the discrete
   parameters, Semantics and dt are read back exactly;
2. the source convention the user names (``--from snntorch``);
3. the canonical ``nir`` convention.
``Loaded.source`` says which was used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import models  # type: ignore[attr-defined]  # snncompile.models maps to models/
from ..errors import GraphError, InputError
from ..graph import Graph
from ..nodes import Node
from .conventions import Convention, convention
from .nir_nodes import NEURON_TYPES, convert_node, node_from_snncompile_meta
from .nir_passes import apply_gains, flatten_subgraphs

META_KEY = "snncompile"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Loaded:
    graph: Graph
    source: str
    path: Path


def resolve(model: str | Path) -> Path:
    """A path to an existing file, or the ``model.nir`` of a bundled model of that name."""
    path = Path(model)
    if path.is_file():
        return path
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
    except OSError as err:
        raise InputError(f"'{path}' could not be read as HDF5: {err}") from None
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
    if data.get("format") != FORMAT_VERSION:
        raise InputError(
            f"graph metadata '{META_KEY}' has format {data.get('format')!r}; this snncompile reads format "
            f"{FORMAT_VERSION}"
        )
    return dict(data)


def load(
    model: str | Path,
    *,
    convention: str | None = None,
    dt: float | None = None,
    discretization: str = "euler",
) -> Loaded:
    """Read MODEL (a path or a bundled model name) into a validated Graph."""
    if discretization not in ("euler", "exact"):
        raise InputError(f"unknown discretization {discretization!r}; use 'euler' or 'exact'")
    if dt is not None and not dt > 0:
        raise InputError(f"--dt must be a positive number of seconds, got {dt}")
    path = resolve(model)
    root, _version = read_raw(path)
    meta = _snncompile_meta(root)
    if meta is not None:
        graph = _graph_from_snncompile(root, meta)
        note = "dt and semantics from snncompile metadata"
        if convention is not None or dt is not None:
            note += " (--from/--dt ignored: the file records its own)"
        return Loaded(graph, note, path)
    conv = _convention(convention)
    step = dt if dt is not None else conv.dt
    graph = graph_from_nir_dict(root, conv, step, discretization)
    origin = "--from" if convention is not None else "default, no snncompile metadata and no --from"
    dt_origin = "--dt" if dt is not None else f"'{conv.name}' default"
    note = (
        f"convention '{conv.name}' ({origin}), dt={step:g} s ({dt_origin}), {discretization} discretization"
    )
    return Loaded(graph, note, path)


def _convention(name: str | None) -> Convention:
    return convention(name or "nir")


def _nodes_and_edges(root: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    nodes, edges = flatten_subgraphs(root)
    return nodes, edges


def graph_from_nir_dict(root: dict[str, Any], conv: Convention, dt: float, method: str) -> Graph:
    """A NIR graph (nested dicts) read under a source convention."""
    raw_nodes, edges = _nodes_and_edges(root)
    nodes: dict[str, Node] = {}
    gains: dict[str, np.ndarray] = {}
    for name, data in raw_nodes.items():
        node, gain = convert_node(name, data, conv, dt, method)
        nodes[name] = node
        if gain is not None:
            gains[name] = gain
    if gains:
        Graph(nodes, edges, dt)  # validate first, so shape errors name the source's nodes, not gain nodes
        nodes, edges = apply_gains(nodes, edges, gains)
    return Graph(nodes, edges, dt, {"source": f"nir convention={conv.name} discretization={method}"})


def _graph_from_snncompile(root: dict[str, Any], meta: dict[str, Any]) -> Graph:
    raw_nodes, edges = _nodes_and_edges(root)
    conv = _convention("nir")
    dt = float(meta["dt"])
    nodes: dict[str, Node] = {}
    for name, data in raw_nodes.items():
        node_meta = data.get("metadata", {})
        if data["type"] in NEURON_TYPES or "sc.delay" in node_meta:
            nodes[name] = node_from_snncompile_meta(name, data)
        else:
            node, gain = convert_node(name, data, conv, dt, "euler")
            if gain is not None:  # cannot happen for stateless nodes; guard against hand-edited files
                raise GraphError(f"node '{name}': unexpected input gain in a snncompile-written file")
            nodes[name] = node
    order = [n for n in meta.get("order", []) if n in nodes]
    ordered = {n: nodes[n] for n in order} | {n: nodes[n] for n in nodes if n not in order}
    return Graph(ordered, edges, dt, dict(meta.get("metadata", {})))
