"""Property tests of the quantiser on random dense layers: widths, rules, granularities, extreme values."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import snncompile as sc
from snncompile import ir
from snncompile.errors import QuantizationError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QNeuron
from snncompile.quant.quantize import node_scale, quantize
from snncompile.quant.scales import round_half_away
from snncompile.quant.spec import QuantSpec

moderate = st.one_of(st.just(0.0), st.floats(1e-3, 2.0), st.floats(-2.0, -1e-3))
extreme = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


def layer_of(elements: st.SearchStrategy[float]) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    return st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
        lambda s: st.tuples(arrays(np.float64, s, elements=elements), arrays(np.float64, (s[0],), elements=elements))
    )


layers = layer_of(moderate)
specs = st.builds(
    QuantSpec, weight_bits=st.integers(2, 16), granularity=st.sampled_from(["channel", "tensor"]),
    scale_rule=st.sampled_from(["maxabs", "percentile", "pow2"]), percentile=st.floats(50.0, 100.0),
    rounding=st.sampled_from(["toward_zero", "floor", "nearest"]), overflow=st.sampled_from(["saturate", "wrap"]),
)


def dense_lif(w: np.ndarray, b: np.ndarray, theta: float) -> sc.Graph:
    n_out, n_in = w.shape
    return sc.Graph(
        {"x": Input(shape=(n_in,)), "fc": ir.Affine(weight=w, bias=b),
         "n": ir.LIF(shape=(n_out,), beta=0.5, threshold=theta), "y": Output()},
        [("x", "fc"), ("fc", "n"), ("n", "y")],
    )


@settings(max_examples=60, deadline=None)
@given(layer=layers, spec=specs)
def test_quantised_layer_invariants(layer: tuple[np.ndarray, np.ndarray], spec: QuantSpec) -> None:
    w, b = layer
    qg = quantize(dense_lif(w, b, 4.0), spec, timesteps=2, batch=1)
    fc, n = qg.nodes["fc"], qg.nodes["n"]
    assert isinstance(fc, QDense) and isinstance(n, QNeuron)
    q = (1 << (spec.weight_bits - 1)) - 1
    s = node_scale(qg, "fc")
    assert np.array_equal(s, node_scale(qg, "n")) and np.all(s > 0)
    assert np.abs(fc.weight).max() <= q
    assert np.array_equal(fc.weight, np.clip(round_half_away(w * s[:, None]), -q, q))
    assert np.array_equal(fc.bias, round_half_away(b * s)) and np.array_equal(n.threshold, round_half_away(4.0 * s))
    if spec.granularity == "tensor":
        assert np.unique(s).size == 1
    if spec.scale_rule != "percentile":
        assert np.all(np.abs(fc.weight - w * s[:, None]) <= 0.5)  # nothing saturates
    rows = np.abs(w).max(axis=1) if spec.granularity == "channel" else np.full(w.shape[0], np.abs(w).max())
    live = rows > 0
    if spec.scale_rule == "maxabs":
        np.testing.assert_allclose(s[live], q / rows[live], rtol=1e-12)
        assert np.all(np.abs(fc.weight).max(axis=1)[live] == q) if spec.granularity == "channel" else True
    if spec.scale_rule == "pow2":
        assert np.all(np.exp2(np.round(np.log2(s))) == s)
        assert np.all((s[live] <= q / rows[live]) & (q / rows[live] < 2 * s[live]))
    assert n.semantics.rounding == spec.rounding and n.semantics.overflow_v == spec.overflow


@settings(max_examples=30, deadline=None)
@given(layer=layers, k=st.integers(-6, 6), spec=specs)
def test_folding_is_invariant_to_a_power_of_two_rescaling(layer: tuple[np.ndarray, np.ndarray], k: int,
                                                         spec: QuantSpec) -> None:
    """Scaling W, b and theta of a neuron by 2^k gives the same float spikes, and the same integers."""
    w, b = layer
    base = quantize(dense_lif(w, b, 4.0), spec, timesteps=2, batch=1)
    scaled = quantize(dense_lif(w * 2.0**k, b * 2.0**k, 4.0 * 2.0**k), spec, timesteps=2, batch=1)
    for name in ("fc", "n"):
        for field in ("weight", "bias", "threshold"):
            if hasattr(base.nodes[name], field):
                assert np.array_equal(getattr(base.nodes[name], field), getattr(scaled.nodes[name], field))


@settings(max_examples=60, deadline=None)
@given(layer=layer_of(extreme), theta=st.floats(1e-6, 1e6), spec=specs)
def test_extreme_values_quantise_or_raise_a_clear_error(layer: tuple[np.ndarray, np.ndarray], theta: float,
                                                        spec: QuantSpec) -> None:
    """Tiny or huge weights, biases and thresholds: a valid QGraph or a QuantizationError naming a node."""
    w, b = layer
    try:
        qg = quantize(dense_lif(w, b, theta), spec, timesteps=3, batch=2)
    except QuantizationError as err:
        assert str(err).startswith(("node 'fc': ", "node 'n': ")), err
        return
    n = qg.nodes["n"]
    assert isinstance(n, QNeuron) and 1 <= n.threshold.min() and n.threshold.max() < 2 ** (n.v_bits - 1)
