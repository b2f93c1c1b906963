"""Backends, imported as ``snncompile.backends`` (package-dir mapping in pyproject).

The registry maps a target name to a lazy loader so that importing snncompile
does not import every backend. Backends land with their issues (bitsim, hls,
loihi, onnx); until then the registry is empty and ``available()`` says so.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from snncompile.errors import UnsupportedNodeError


class Backend(Protocol):
    name: str

    def check(self, qgraph: Any) -> None: ...

    def emit(self, qgraph: Any, out_dir: str) -> Any: ...

    def run(self, artifact: Any, inputs: Any) -> Any: ...


#: target name -> module path exposing ``BACKEND``
REGISTRY: dict[str, str] = {}


def available() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> Backend:
    try:
        module = REGISTRY[name]
    except KeyError:
        known = ", ".join(available()) or "none yet"
        raise UnsupportedNodeError(f"unknown target {name!r}; available targets: {known}") from None
    return importlib.import_module(module).BACKEND  # type: ignore[no-any-return]
