"""Per-object caches that live as long as the object: prepared weights and analyses, built once, not per call.

A QGraph and its nodes are frozen and their weight arrays read-only (:mod:`snncompile.quant.qnodes`), so
what is derived from them (transposed narrow weights, value ranges, trace dtypes, kernel plans) stays
valid for the object's lifetime. Entries are keyed by ``id`` and dropped by a weak reference's callback
when the object goes, so a cache never keeps a graph alive and a new object at a reused id never sees a
stale entry (the entry's weak reference must still point at the object itself).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np

from snncompile.quant.ranges import by_rows

T = TypeVar("T")

_CACHE: dict[tuple[int, Hashable], tuple[weakref.ref[Any], Any]] = {}


def cached(owner: object, what: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s result for (``owner``, ``what``), computed on first use and kept while ``owner`` lives."""
    key = (id(owner), what)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is owner:
        return hit[1]  # type: ignore[no-any-return]
    value = build()
    cache = _CACHE  # bound now: at interpreter exit the module global may already be gone

    def drop(_: weakref.ref[Any]) -> None:
        cache.pop(key, None)

    _CACHE[key] = (weakref.ref(owner, drop), value)
    return value


def transposed(weight: np.ndarray, dtype: type[np.integer]) -> np.ndarray:
    """``weight`` [out, in] as a contiguous ``dtype`` W^T [in, out] (values unchanged: the caller checks they fit)."""
    w = weight.reshape(weight.shape[0], -1)
    return cached(weight, ("T", np.dtype(dtype).str), lambda: np.ascontiguousarray(w.T, dtype=dtype))


def abs_row_sums(weight: np.ndarray) -> np.ndarray:
    """Per output row, sum_j |W_ij| (int64)."""
    return cached(weight, "abs_rows", lambda: by_rows(weight, lambda w: np.abs(w).sum(axis=1)))
