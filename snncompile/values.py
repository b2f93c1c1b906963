"""What makes a number usable: real, finite, and (for shapes and counts) whole.

Each check returns ``None`` when the value is fine, else the end of a sentence that the caller prefixes
with what and where (``"node 'fc' (Affine): parameter 'weight' " + problem``), so every front end --
node constructors, the NIR reader, data loading, the reference executor -- says it the same way:

    is NaN at index (0, 1)
    is infinite (-inf) at index 2
    is complex (complex64); parameters are real numbers
    has dtype <U3, not numbers
    shape [4.7]: entry 4.7 is not a whole number
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ParameterError


def index_text(idx: tuple[Any, ...]) -> str:
    """``2`` for a vector's index, ``(0, 1)`` for more dims, ``()`` for a scalar."""
    idx = tuple(int(i) for i in idx)
    return str(idx[0]) if len(idx) == 1 else str(idx)


def where(idx: tuple[int, ...]) -> str:
    """`` at index 2`` (a vector), `` at index (0, 1)`` (more dims), nothing for a scalar."""
    return f" at index {index_text(idx)}" if idx else ""


def first(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True entry of ``mask`` (which has one)."""
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def number_problem(value: Any, *, allow_inf: bool = False) -> str | None:
    """Why ``value`` (a number or array) is not an array of finite real numbers, or None.

    Booleans and integers are fine; ``allow_inf`` admits +-inf (an infinite time constant: no decay).
    """
    arr = np.asarray(value)
    kind = arr.dtype.kind
    if kind == "c":
        return f"is complex ({arr.dtype}); parameters are real numbers"
    if kind not in "biuf":
        return f"has dtype {arr.dtype}, not numbers"
    if kind != "f" or arr.size == 0:
        return None
    nan = np.isnan(arr)
    if nan.any():
        return f"is NaN{where(first(nan))}"
    if not allow_inf:
        inf = np.isinf(arr)
        if inf.any():
            idx = first(inf)
            return f"is infinite ({arr[idx] if idx else arr.item()}){where(idx)}"
    return None


def whole_problem(value: Any, *, low: int = 0) -> str | None:
    """Why ``value`` is not a whole number >= ``low`` (a shape dim, a stride, a count), or None."""
    if isinstance(value, bool | np.bool_ | str | bytes):
        return "is not a whole number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "is not a whole number"
    if not np.isfinite(number) or number != int(number):
        return "is not a whole number"
    if int(number) < low:
        return f"is below {low}"
    return None


def whole_tuple_problem(what: str, value: Any, *, low: int = 0) -> str | None:
    """Why ``value`` (a number or a sequence) is not whole numbers >= ``low``, naming it ``what``; or None."""
    items = [v.item() if isinstance(v, np.generic) else v for v in np.asarray(value, dtype=object).reshape(-1)]
    for item in items:
        problem = whole_problem(item, low=low)
        if problem is not None:
            return f"{what} {items}: entry {item!r} {problem}"
    return None


def whole_tuple(value: Any) -> tuple[int, ...]:
    """``value`` as a tuple of ints; check it with :func:`whole_tuple_problem` first."""
    return tuple(int(float(v)) for v in np.asarray(value, dtype=object).reshape(-1))


def position(idx: tuple[int, ...]) -> str:
    """Where an entry of time-major data ``[T, B, *shape]`` is: ``timestep 1, batch 0, index 7``."""
    if len(idx) < 2:
        return f"index {idx[0] if len(idx) == 1 else ()}"
    neuron: Any = idx[2] if len(idx) == 3 else idx[2:]
    return f"timestep {idx[0]}, batch {idx[1]}, index {neuron}"


def data_problem(value: Any) -> str | None:
    """Why time-major data is not finite real numbers (naming the first bad entry), or None."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        return f"dtype {arr.dtype} is complex; inputs are real numbers"
    if arr.dtype.kind not in "biuf":
        return f"dtype {arr.dtype} is not numeric"
    if arr.dtype.kind == "f" and arr.size:
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = first(bad)
            return f"value {arr[idx].item()!r} at {position(idx)} is not a finite number"
    return None


# -- node constructors: ParameterError("<Type>", ...) -------------------------------------------------------------

def real_array(owner: str, field: str, value: Any) -> np.ndarray:
    """``value`` as a read-only array of finite real numbers; ParameterError naming ``field`` otherwise."""
    problem = number_problem(value)
    if problem is not None:
        raise ParameterError(owner, f"parameter '{field}' {problem}")
    arr = np.array(value, copy=True)
    arr.setflags(write=False)
    return arr


def whole_shape(owner: str, field: str, value: Any) -> tuple[int, ...]:
    """``value`` as a tuple of ints >= 0 (a shape); ParameterError naming ``field`` otherwise."""
    problem = whole_tuple_problem(field, value)
    if problem is not None:
        raise ParameterError(owner, problem)
    return whole_tuple(value)


def int_pair(value: Any, owner: str, field: str) -> tuple[int, ...]:
    """An int or an (h, w) pair of ints >= 0 as an (h, w) pair."""
    arr = whole_shape(owner, field, value)
    if len(arr) == 1:
        arr = arr * 2
    if len(arr) != 2:
        raise ParameterError(owner, f"{field}: expected an int or a pair, got {value!r}")
    return arr
