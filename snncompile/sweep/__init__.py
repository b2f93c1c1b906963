"""Design-space sweeps: bit widths x targets -> accuracy, agreement, bit-exactness, resources, latency (docs/sweep.md).

:func:`sweep` is the Python entry point (``snncompile.sweep`` at the top level); ``snncompile sweep`` the
command. Ray is an optional dependency (``pip install 'snncompile[sweep]'``), imported only when a sweep runs.

Modules: :mod:`.space` (the grid, configuration hashes), :mod:`.tasks` (one point, one configuration),
:mod:`.runner` (Ray orchestration, cache and resume), :mod:`.folder` (the output folder), :mod:`.table` (CSV,
JSON, text), :mod:`.pareto` (fronts and the plot), :mod:`.cli` (the subcommand).

As with ``snncompile.verify``, the top-level name ``snncompile.sweep`` is the function: reach the modules with
``from snncompile.sweep.runner import run`` (``import snncompile.sweep.runner as m`` resolves through the function).
"""

from __future__ import annotations

from typing import Any

__all__ = ["INSTALL", "Space", "SweepResult", "sweep"]

#: loaded on first use: ``snncompile --help`` builds the sweep subcommand's parser (:mod:`.cli`) without numpy or
#: the runner; name -> submodule
_LAZY = {"sweep": "api", "INSTALL": "runner", "SweepResult": "runner", "Space": "space"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
