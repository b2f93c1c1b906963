"""Backends, imported as ``snncompile.backends`` (package-dir mapping in pyproject).

The registry maps a target name to a lazy loader so that importing snncompile
does not import every backend. Backends land with their issues (hls, loihi,
onnx); ``bitsim`` is the first.

A backend is an object with a ``name`` and

* ``check(qgraph)``: raise a typed error (UnsupportedNodeError, ResourceError)
  naming the node, the limit and the value;
* ``emit(qgraph, out_dir, inputs) -> dict[str, Path]``: write the artifacts
  (including the stimuli and bitsim's golden traces) and return them by file name;
* ``run(artifact_dir, inputs) -> traces``: execute the artifacts; traces are
  ``{node: {"out"|"v"|"i": int64 [T, B, ...]}}`` and must equal bitsim's exactly.
"""

from __future__ import annotations

import importlib
import weakref
from typing import Any, Protocol

from snncompile.errors import UnsupportedNodeError


class Backend(Protocol):
    name: str

    def check(self, qgraph: Any) -> None: ...

    def emit(self, qgraph: Any, out_dir: Any, inputs: Any) -> dict[str, Any]: ...

    def run(self, artifact_dir: Any, inputs: Any) -> Any: ...


#: target name -> module path exposing ``BACKEND``
REGISTRY: dict[str, str] = {
    "bitsim": "snncompile.backends.bitsim.backend",
    "hls": "snncompile.backends.hls",
    "loihi": "snncompile.backends.loihi.backend",
    "onnx": "snncompile.backends.onnx.backend",
    "rtl": "snncompile.backends.rtl",
    "xylo": "snncompile.backends.xylo.backend",
}


def per_graph(store: dict[int, dict[Any, Any]], graph: object) -> dict[Any, Any]:
    """The entry of ``store`` for a live graph object (what a backend built for it: frozen graphs never change),
    keyed by id() because graphs are unhashable, and dropped when the graph is collected."""
    key = id(graph)
    if key not in store:
        store[key] = {}
        weakref.finalize(graph, store.pop, key, None)
    return store[key]


def available() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Backend:
    try:
        module = REGISTRY[name]
    except KeyError:
        known = ", ".join(available()) or "none yet"
        raise UnsupportedNodeError(f"unknown target {name!r}; available targets: {known}") from None
    return importlib.import_module(module).BACKEND  # type: ignore[no-any-return]
