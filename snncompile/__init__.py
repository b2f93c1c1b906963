"""snncompile: a deployment compiler for spiking neural networks.

Public API (:mod:`snncompile.api`): :func:`load` (a ``.nir`` file, bundled model name or model folder to a
Graph), :func:`save` (Graph to ``.nir``), :func:`trace` (a torch/snnTorch module to a Graph),
:func:`simulate` (the float reference executor), :func:`format` (text dump), :func:`quantize` (Graph +
:class:`QuantSpec` to a fixed-point :class:`QGraph`), :func:`verify` (the verification ladder, a
:class:`~snncompile.verify.Report`), :func:`export` (quantise, emit every target, check, manifest),
:func:`run` / :func:`predict` (a QGraph, qgraph.nir or export folder on bitsim or a target) and the error
classes.

``import snncompile`` does not import torch: :func:`quantize` and :func:`verify` load on first use.
``snncompile.verify`` and ``snncompile.export`` are the functions; their modules are reached with
``from snncompile.verify import Report`` / ``from snncompile.export import build_manifest``
(``import snncompile.verify as m`` would bind the function).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from . import errors, semantics
from .errors import (
    BackendError,
    GraphError,
    InputError,
    OutputError,
    QuantizationError,
    ResourceError,
    SnnCompileError,
    UnsupportedNodeError,
    VerificationError,
)
from .graph import Graph, format
from .semantics import PRESETS, Semantics

__version__ = "0.1.0"

from .api import export, load, predict, run, save, simulate, trace  # noqa: E402 - after __version__
from .quant.qnodes import QGraph  # noqa: E402 - after __version__, which submodules read
from .quant.spec import QuantSpec  # noqa: E402

#: functions loaded on first use (their modules import torch): name -> (module, attribute)
_LAZY = {"quantize": ("snncompile.quant.quantize", "quantize"), "verify": ("snncompile.verify", "verify")}
#: submodules whose name is also a public function: importing the submodule must not rebind the function
_SHADOWED = {"verify", "export"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    if not name.startswith("__"):  # a submodule not imported yet (sc.models, sc.backends ...), as before
        import importlib

        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'snncompile' has no attribute {name!r}")


class _Package(types.ModuleType):
    """The package module, but the import system's ``setattr(snncompile, "verify", <module>)`` when the
    ``snncompile.verify`` submodule is first imported keeps the function bound (the module is in sys.modules)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            if name in _LAZY and name not in self.__dict__:
                super().__setattr__(name, getattr(value, _LAZY[name][1]))
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BackendError", "Graph", "GraphError", "InputError", "OutputError", "PRESETS", "QGraph", "QuantSpec",
    "QuantizationError", "ResourceError", "Semantics", "SnnCompileError", "UnsupportedNodeError", "VerificationError",
    "errors", "export", "format", "load", "predict", "quantize", "run", "save", "semantics", "simulate", "trace",
    "verify",
]
