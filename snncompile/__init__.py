"""snncompile: a deployment compiler for spiking neural networks.

Public API: :func:`load` (a ``.nir`` file or bundled model name to a Graph),
:func:`save` (Graph to ``.nir``), :func:`trace` (a torch/snnTorch module to a
Graph), :func:`simulate` (the float reference executor), :func:`format` (text
dump), :func:`quantize` (Graph + :class:`QuantSpec` to a fixed-point
:class:`QGraph`), :func:`verify` (the verification ladder, a
:class:`~snncompile.verify.Report`), :func:`sweep` (bit widths x targets on Ray, docs/sweep.md) and the
error classes.

``snncompile.verify`` is the function; its module is reached with
``from snncompile.verify import Report`` (``import snncompile.verify as m``
would bind the function).
"""

from __future__ import annotations

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
from .reference import run as simulate
from .semantics import PRESETS, Semantics

__version__ = "0.1.0"

from .quant.qnodes import QGraph  # noqa: E402 - after __version__, which submodules read
from .quant.quantize import quantize  # noqa: E402
from .quant.spec import QuantSpec  # noqa: E402
from .sweep import sweep  # noqa: E402 - the function, as for verify (Ray is imported only when a sweep runs)
from .verify import verify  # noqa: E402 - binds the function over the submodule attribute, on purpose


def load(model: str, **kwargs: Any) -> Graph:
    """Read a ``.nir`` file or bundled model; see :func:`snncompile.frontend.nir_read.load`."""
    from .frontend.nir_read import load as _load

    return _load(model, **kwargs).graph


def save(graph: Graph, path: str) -> None:
    """Write ``graph`` to ``path`` as NIR with snncompile metadata (exact round trip)."""
    from .frontend.nir_write import write

    write(graph, path)


def trace(module: Any, sample: Any, **kwargs: Any) -> Graph:
    """Trace a torch module built from snnTorch layers; see :mod:`snncompile.frontend.torch_trace`."""
    from .frontend.torch_trace import trace as _trace

    return _trace(module, sample, **kwargs)


__all__ = [
    "BackendError", "Graph", "GraphError", "InputError", "OutputError", "PRESETS", "QGraph", "QuantSpec",
    "QuantizationError", "ResourceError", "Semantics", "SnnCompileError", "UnsupportedNodeError", "VerificationError",
    "errors", "format", "load", "quantize", "save", "semantics", "simulate", "sweep", "trace", "verify",
]
