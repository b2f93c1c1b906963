"""The export's fast paths equal the definitions they replace (docs/loihi.md, "Export cost"): each test computes
the old way (kept here as the reference) and the new way on random inputs and compares the integers with ==."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snncompile.backends.loihi.netlist import Projection, Tap, dense_synapses
from snncompile.backends.loihi.netx import _effective_weights
from snncompile.backends.loihi.rules import LoihiRuleError

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
