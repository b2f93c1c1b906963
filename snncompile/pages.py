"""``small_pages``: numpy's transparent-huge-page advice off while snncompile builds its large arrays.

numpy (>= 1.20, on Linux) advises the kernel to back every large array with 2 MiB huge pages
(``madvise(MADV_HUGEPAGE)``). Under the common ``defrag=madvise`` setting a fault on such an array may stall for
direct memory compaction, and on a long-running shared machine that compaction mostly fails: the export of a
6.3 M-synapse network spent ~0.7 s of *system* CPU in it (``NUMPY_MADVISE_HUGEPAGE=0`` measured 0.66-0.94 s of
system time instead of 1.31-1.88 s). With 4 KiB pages each fresh array costs ordinary page faults instead.

The command line runs every command inside it (``cli.main``); the loihi backend's entry points use it too, for
callers of the Python API.

The advice is process-wide state, so ``small_pages`` (a context manager and decorator) restores the previous
setting on exit; nesting is fine. Results never depend on it (it changes how memory is backed, not its contents).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ContextDecorator
from functools import cache
from typing import Any

__all__ = ["small_pages"]


@cache
def _setter() -> Callable[[bool], bool] | None:
    """numpy's switch (it returns the previous setting), imported on first use: ``import snncompile.cli`` and
    ``--help`` stay free of numpy. None when this numpy has none."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy < 2 names the module numpy.core
        try:
            from numpy.core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined,no-redef]
        except ImportError:
            return None
    return _set_madvise_hugepage  # type: ignore[no-any-return]


class small_pages(ContextDecorator):  # noqa: N801 - used like contextlib's lower-case helpers
    """numpy's huge-page advice off inside the block (module docstring); the previous setting back on exit."""

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> small_pages:
        setter = _setter()
        if setter is not None:
            self._previous.append(bool(setter(False)))
        return self

    def __exit__(self, *exc: Any) -> None:
        setter = _setter()
        if setter is not None and self._previous:
            setter(self._previous.pop())
