"""snncompile: a deployment compiler for spiking neural networks.

Public API (:mod:`snncompile.api`): :func:`load` (a ``.nir`` file, bundled model name or model folder to a
Graph), :func:`save` (Graph to ``.nir``), :func:`trace` (a torch/snnTorch module to a Graph),
:func:`simulate` (the float reference executor), :func:`format` (text dump), :func:`quantize` (Graph +
:class:`QuantSpec` to a fixed-point :class:`QGraph`), :func:`verify` (the verification ladder, a
:class:`~snncompile.verify.Report`), :func:`export` (quantise, emit every target, check, manifest),
:func:`run` / :func:`predict` (a QGraph, qgraph.nir or export folder on bitsim or a target), :func:`sweep`
(bit widths x targets on Ray, docs/sweep.md) and the error classes.

``import snncompile`` does not import torch: :func:`quantize` and :func:`verify` load on first use.
``snncompile.verify`` and ``snncompile.export`` are the functions; their modules are reached with
``from snncompile.verify import Report`` / ``from snncompile.export import build_manifest``
(``import snncompile.verify as m`` would bind the function).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

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
from .semantics import PRESETS, Semantics

__version__ = "0.1.0"

#: loaded on first use, so that ``import snncompile`` (and ``snncompile --help``) stays light: name -> (module,
#: attribute). quantize and verify import torch; the rest numpy.
_LAZY = {
    "Graph": ("snncompile.graph", "Graph"), "format": ("snncompile.graph", "format"),
    "QGraph": ("snncompile.quant.qnodes", "QGraph"), "QuantSpec": ("snncompile.quant.spec", "QuantSpec"),
    "LayerQuant": ("snncompile.quant.spec", "LayerQuant"),
    "quantize": ("snncompile.quant.quantize", "quantize"), "verify": ("snncompile.verify", "verify"),
    "sweep": ("snncompile.sweep", "sweep"),  # Ray is imported only when a sweep runs
    **{name: ("snncompile.api", name) for name in ("export", "load", "predict", "run", "save", "simulate", "trace")},
}
if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .api import export, load, predict, run, save, simulate, trace
    from .graph import Graph, format
    from .quant.qnodes import QGraph
    from .quant.quantize import quantize
    from .quant.spec import LayerQuant, QuantSpec
    from .sweep import sweep
    from .verify import verify

#: submodules whose name is also a public function: importing the submodule must not rebind the function
_SHADOWED = {"verify", "export", "sweep"}


def _lazy_attribute(name: str) -> Any:
    """The module ``__getattr__`` (PEP 562): a lazy public name, or a submodule not imported yet."""
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


if not TYPE_CHECKING:  # for type checkers the names above are real imports; a __getattr__ would blur them
    __getattr__ = _lazy_attribute


class _Package(types.ModuleType):
    """The package module, but the import system's ``setattr(snncompile, "verify", <module>)`` when the
    ``snncompile.verify`` submodule is first imported is dropped: ``snncompile.verify`` stays the function
    (from the module ``__getattr__``); the module is in ``sys.modules``."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BackendError", "Graph", "GraphError", "InputError", "LayerQuant", "OutputError", "PRESETS", "QGraph", "QuantSpec",
    "QuantizationError", "ResourceError", "Semantics", "SnnCompileError", "UnsupportedNodeError", "VerificationError",
    "errors", "export", "format", "load", "predict", "quantize", "run", "save", "semantics", "simulate", "sweep",
    "trace", "verify",
]
