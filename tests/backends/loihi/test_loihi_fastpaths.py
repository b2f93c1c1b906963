"""The export's fast paths equal the definitions they replace (docs/loihi.md, "Export cost"): each test computes
the old way (kept here as the reference) and the new way on random inputs and compares the integers with ==."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snncompile.backends.loihi.cost import SynapseLists, _runs
from snncompile.backends.loihi.encode import _mantissas, _row_abs_max, _step
from snncompile.backends.loihi.mapfile import entry_compartments
from snncompile.backends.loihi.netlist import Projection, Tap, dense_synapses
from snncompile.backends.loihi.netx import _effective_weights
from snncompile.backends.loihi.rules import LoihiRuleError
from snncompile.backends.loihi.tables import _entry_positions

FAST = settings(max_examples=60, deadline=None)


def _matrix(seed: int, n_out: int, n_in: int, zeros: float, scale: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.integers(-scale, scale + 1, (n_out, n_in), dtype=np.int64)
    w[rng.random((n_out, n_in)) < zeros] = 0
    return w


def _projection(w: np.ndarray, exp: int) -> Projection:
    pre, post, weight = dense_synapses(w)
    return Projection(name="fc->lif", weights="fc", target="lif", taps=(Tap("input", 0),), pre=pre, post=post,
                      weight=weight, weight_exp=exp, delay=1, sign_mode="mixed", num_weight_bits=8,
                      out_shape=(w.shape[0],))


def _outcome(fn: object, *args: object) -> tuple[str, object]:
    try:
        return "ok", fn(*args)  # type: ignore[operator]
    except LoihiRuleError as exc:
        return "error", str(exc)


@FAST
@given(seed=st.integers(0, 2**31), n_out=st.integers(1, 9), n_in=st.integers(1, 9),
       zeros=st.sampled_from([0.0, 0.3, 0.9, 1.0]), scale=st.sampled_from([1, 3, 40, 127, 300]),
       exp=st.integers(-3, 3), excitatory=st.booleans())
def test_netx_matrix_path_equals_the_scatter(seed: int, n_out: int, n_in: int, zeros: float, scale: int, exp: int,
                                             excitatory: bool) -> None:
    """netx's dense matrix from the QDense matrix == scattering the netlist's synapses back (or the same error)."""
    w = _matrix(seed, n_out, n_in, zeros, scale)
    if excitatory:
        w = np.abs(w)
    p = _projection(w, exp)
    old = _outcome(_effective_weights, p, n_in, n_out)
    new = _outcome(_effective_weights, p, n_in, n_out, w)
    assert old[0] == new[0]
    if old[0] == "ok":
        a, b = old[1], new[1]
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        assert a.dtype == b.dtype == np.int64 and a.shape == b.shape and np.array_equal(a, b)
        assert not b.flags.writeable
    else:
        assert old[1] == new[1]


def test_netx_matrix_path_leaves_the_qgraph_matrix_alone() -> None:
    w = _matrix(1, 5, 7, 0.2, 100)
    before = w.copy()
    out = _effective_weights(_projection(w, 0), 7, 5, w)
    with pytest.raises(ValueError):
        out[0, 0] = 1
    assert np.array_equal(w, before) and w.flags.writeable


def _old_dense_synapses(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = np.flatnonzero(weight).astype(np.int64, copy=False)
    post = np.repeat(np.arange(weight.shape[0], dtype=np.int64), np.count_nonzero(weight, axis=1))
    return flat - post * weight.shape[1], post, weight.reshape(-1)[flat].astype(np.int64, copy=False)


@FAST
@given(seed=st.integers(0, 2**31), n_out=st.integers(1, 12), n_in=st.integers(1, 12),
       zeros=st.sampled_from([0.0, 0.5, 0.95, 1.0]), dtype=st.sampled_from([np.int64, np.int32, np.int8]))
def test_dense_synapses_equal_the_flatnonzero_definition(seed: int, n_out: int, n_in: int, zeros: float,
                                                         dtype: type) -> None:
    w = _matrix(seed, n_out, n_in, zeros, 100).astype(dtype)
    for got, want in zip(dense_synapses(w), _old_dense_synapses(w), strict=True):
        assert got.dtype == want.dtype == np.int64 and np.array_equal(got, want)


def _old_mantissas(w: np.ndarray, mode: str, bits: int = 8) -> np.ndarray:
    step = _step(mode, bits)
    lo, hi = {"mixed": (-256, 256 - step), "excitatory": (0, 256 - step), "inhibitory": (-(256 - step), 0)}[mode]
    x = np.divide(w, step, dtype=np.float64)
    np.clip(x, -1024.0, 1024.0, out=x)
    x += np.copysign(0.5, x)
    np.trunc(x, out=x)
    q = x.astype(np.int64)
    q *= step
    return np.clip(q, lo, hi, out=q)


_HALVES = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.0, -0.0, 1e300, -1e300, 1023.5, -1024.5, 3e-320, -3e-320])


@FAST
@given(seed=st.integers(0, 2**31), n=st.integers(0, 40), spread=st.sampled_from([1.0, 100.0, 600.0]),
       mode=st.sampled_from(["mixed", "excitatory", "inhibitory"]), bits=st.integers(1, 8), half=st.booleans())
def test_mantissas_in_place_equal_the_copysign_definition(seed: int, n: int, spread: float, mode: str, bits: int,
                                                          half: bool) -> None:
    """The in-place rounding (sign mask, floor of |x| + 0.5, the division as a product) == trunc(x + copysign(0.5,
    x)) after x = w / step, ties and -0.0 included; the weights are left alone (read-only and float32 ones too)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, spread, n)
    if half:  # exact ties at every step size, signed zeros, huge and subnormal values
        w = np.concatenate([w, _HALVES * _step(mode, bits)])
    want = _old_mantissas(w, mode, bits)
    buf = w.copy()
    got = _mantissas(buf, mode, bits)
    assert got.dtype == np.int64 and np.array_equal(got, want) and np.array_equal(buf, w)
    frozen = w.copy()
    frozen.flags.writeable = False
    assert np.array_equal(_mantissas(frozen, mode, bits), want)
    with np.errstate(over="ignore"):  # 1e300 as float32 is inf: it clips like any large value
        single = w.astype(np.float32)
    assert np.array_equal(_mantissas(single, mode, bits), _old_mantissas(single, mode, bits))


@FAST
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 5), cols=st.integers(0, 9),
       mode=st.sampled_from(["mixed", "excitatory", "inhibitory"]), bits=st.integers(1, 8),
       exp=st.integers(-8, 7), scale_log2=st.floats(-40.0, 40.0), extreme=st.booleans())
def test_scaled_mantissas_equal_scaling_then_rounding(seed: int, rows: int, cols: int, mode: str, bits: int, exp: int,
                                                      scale_log2: float, extreme: bool) -> None:
    """The encoder's one product W * (s / 2^(e+6)) rounds to the integers of (s * W) / 2^(e+6) then rounding, as
    the quantiser computed them before: per-channel scales, every weight_exp, huge, tiny and tied values."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 1.0, (rows, cols))
    s = 2.0 ** (scale_log2 + rng.normal(0.0, 0.5, (rows, 1)))
    if extreme and cols:
        w[0, 0], w[-1, -1] = 1e300, -3e-320
        tie = (0.5 + int(rng.integers(-300, 300))) * 2.0 ** (exp + 6) * _step(mode, bits)
        w[rows // 2, cols // 2] = tie / s[rows // 2, 0]
    with np.errstate(over="ignore", under="ignore"):
        old_scaled = s * w
        old_scaled /= 2.0 ** (exp + 6)
        want = _old_mantissas(old_scaled, mode, bits)
        got = _mantissas(w, mode, bits, scale=s / 2.0 ** (exp + 6))
    assert got.dtype == np.int64 and np.array_equal(got, want)


@FAST
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), cols=st.integers(0, 7), signs=st.sampled_from([-1, 0, 1]))
def test_row_abs_max_equals_abs_then_max(seed: int, rows: int, cols: int, signs: int) -> None:
    w = np.random.default_rng(seed).normal(0.0, 3.0, (rows, cols, 2))
    if signs:
        w = signs * np.abs(w)
    want = np.abs(w).reshape(rows, -1).max(axis=1, initial=0.0)
    assert np.array_equal(_row_abs_max(w), want)


@FAST
@given(values=st.lists(st.integers(-3, 60), max_size=40))
def test_runs_equal_unique_of_the_sorted_array(values: list[int]) -> None:
    ordered = np.sort(np.asarray(values, np.int64))
    got = _runs(ordered)
    want = np.unique(ordered, return_index=True, return_counts=True)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w)


def _random_lists(seed: int, n_lists: int, dense_p: float) -> tuple[SynapseLists, np.ndarray]:
    """Lists as tables._synapse_lists sees them: per list ascending distinct targets; post in list order."""
    rng = np.random.default_rng(seed)
    posts = [np.sort(rng.choice(50, int(rng.integers(1, 8)), replace=False)) for _ in range(n_lists)]
    count = np.asarray([len(p) for p in posts], np.int64)
    low = np.asarray([p[0] for p in posts], np.int64)
    span = np.asarray([p[-1] - p[0] + 1 for p in posts], np.int64)
    dense = rng.random(n_lists) < dense_p
    start = np.cumsum(count) - count
    lists = SynapseLists(np.arange(n_lists, dtype=np.int64), np.arange(int(count.sum())), start, count, low, span,
                         dense, np.zeros(n_lists, np.int64))
    return lists, np.concatenate([np.zeros(0, np.int64), *posts]).astype(np.int64)


@FAST
@given(seed=st.integers(0, 2**31), n_lists=st.integers(0, 12), dense_p=st.sampled_from([0.0, 0.5, 1.0]),
       shift=st.integers(-5, 5))
def test_entry_positions_equal_the_general_formula(seed: int, n_lists: int, dense_p: float, shift: int) -> None:
    lists, post = _random_lists(seed, n_lists, dense_p)
    length = np.where(lists.dense, lists.span, lists.count)
    head = np.cumsum(length) - length
    rank = np.arange(len(post)) - np.repeat(lists.start, lists.count)
    dense = np.repeat(lists.dense, lists.count)
    want_at = np.repeat(head, lists.count) + np.where(dense, post - np.repeat(lists.low, lists.count), rank)
    want_local = post[~dense] - shift
    at, local = _entry_positions(lists, head, post, shift)
    assert at.dtype == want_at.dtype and np.array_equal(at, want_at)
    assert local.dtype == want_local.dtype and np.array_equal(local, want_local)


def _old_entry_compartments(arrays: dict[str, np.ndarray]) -> np.ndarray:
    length = np.asarray(arrays["list_length"], np.int64)
    dense = np.asarray(arrays["list_dense"], bool)
    start = np.cumsum(length) - length
    pos = np.arange(int(length.sum()), dtype=np.int64) - np.repeat(start, length)
    out = np.repeat(np.asarray(arrays["list_base"], np.int64), length) + pos
    out[np.repeat(~dense, length)] = np.asarray(arrays["sparse_compartment"], np.int64)
    return out


@FAST
@given(seed=st.integers(0, 2**31), n_lists=st.integers(0, 12), dense_p=st.sampled_from([0.0, 0.5, 1.0]),
       dtype=st.sampled_from([np.int8, np.int16, np.int64]))
def test_entry_compartments_equal_the_two_repeat_definition(seed: int, n_lists: int, dense_p: float,
                                                            dtype: type) -> None:
    rng = np.random.default_rng(seed)
    length = rng.integers(1, 6, n_lists)
    dense = rng.random(n_lists) < dense_p
    arrays = {"list_length": length.astype(dtype), "list_dense": dense.astype(dtype),
              "list_base": rng.integers(0, 60, n_lists).astype(dtype),
              "sparse_compartment": rng.integers(0, 60, int(length[~dense].sum())).astype(dtype)}
    got, want = entry_compartments(arrays), _old_entry_compartments(arrays)
    assert got.dtype == want.dtype == np.int64 and np.array_equal(got, want)
