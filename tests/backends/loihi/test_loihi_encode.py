"""quantize_for_loihi: float graphs in Loihi's register encodings, and the errors for what cannot be encoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snncompile.backends.bitsim import simulate
from snncompile.backends.loihi import BACKEND
from snncompile.backends.loihi.encode import loihi_float_graph, quantize_for_loihi

import snncompile as sc
from snncompile.errors import QuantizationError, UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import IF, LI, LIF, Affine, AvgPool2d, CubaLIF, Input, Linear, Output
from snncompile.reference import run as run_float
from snncompile.semantics import PRESETS
from snncompile.verify import fixed_rung

DIGITS = Path(__file__).resolve().parents[3] / "models" / "digits-mlp" / "test.npz"


def _one_layer(neuron: object, weight: np.ndarray | None = None, bias: np.ndarray | None = None) -> Graph:
    w = np.array([[0.5, -0.25, 0.125, 0.3], [0.2, 0.4, -0.1, 0.05]]) if weight is None else weight
    fc = Affine(weight=w, bias=np.zeros(w.shape[0]) if bias is None else bias)
    return Graph({"input": Input(shape=(w.shape[1],)), "fc": fc, "n": neuron, "output": Output()},
                 [("input", "fc"), ("fc", "n"), ("n", "output")])


@pytest.fixture(scope="module")
def digits() -> tuple[sc.Graph, sc.QGraph, np.ndarray, np.ndarray]:
    d = np.load(DIGITS)
    graph = sc.load("digits-mlp")
    return graph, quantize_for_loihi(graph, d["inputs"][:, :64]), d["inputs"][:, :48], d["labels"][:48]


def test_digits_mlp_encodings(digits: tuple) -> None:
    graph, q, _, _ = digits
    BACKEND.check(q)
    for name in ("1", "3"):
        node = q.nodes[name]
        assert node.kind == "CubaLIF" and node.semantics == PRESETS["loihi"]
        assert (node.alpha == 0).all() and (4096 - node.beta == 410).all()  # LIF beta 0.9: du 4095, dv 410
        assert (node.threshold % 64 == 0).all() and (node.threshold >> 6).max() <= 131071
    for name in ("0", "2"):
        w = q.nodes[name].weight
        assert (w % 2 == 0).all() and w.min() >= -256 and w.max() <= 254 and -7 <= q.nodes[name].shift <= 7
        assert np.abs(w).max() == 254  # the mantissa range is used
        assert q.metadata["loihi"]["weights"][name]["sign_mode"] == "mixed"
    changed = q.metadata["loihi"]["semantics_changed"]["1"]
    assert changed == {"reset": ["subtract", "zero"], "timing": ["delayed", "immediate"], "synapse_delay": [0, 1]}
    assert q.metadata["quant_target"] == "loihi"


def test_digits_mlp_float_fixed_agreement(digits: tuple) -> None:
    """Quantisation alone (float with Loihi timing vs fixed) loses little; the timing change is measured too."""
    graph, q, x, y = digits
    fixed = simulate(q, x)
    quant = fixed_rung(loihi_float_graph(graph), q, run_float(loihi_float_graph(graph), x), fixed, labels=y)
    assert quant.summary["min_layer_agreement"] > 0.95
    assert quant.summary["prediction_agreement"] > 0.95
    total = fixed_rung(graph, q, run_float(graph, x), fixed, labels=y)
    assert total.summary["prediction_agreement"] > 0.9
    assert total.summary["min_layer_agreement"] < quant.summary["min_layer_agreement"]  # the timing change shows


def test_neuron_kinds_become_cubalif_registers() -> None:
    cases = [
        (LIF(shape=(2,), beta=0.5, threshold=1.0), 0, 4096 - 2048),
        (IF(shape=(2,), threshold=1.0), 0, 4096),
        (CubaLIF(shape=(2,), alpha=0.75, beta=0.0, threshold=1.0), 3072, 1),  # beta 0 -> dv 4095
        (CubaLIF(shape=(2,), alpha=1.0, beta=1.0, threshold=1.0), 4095, 4096),  # alpha 1 -> du 0 (4095/4096)
    ]
    for neuron, alpha, beta in cases:
        q = quantize_for_loihi(_one_layer(neuron))
        BACKEND.check(q)
        assert (q.nodes["n"].alpha == alpha).all() and (q.nodes["n"].beta == beta).all(), neuron


def test_weight_layer_bias_moves_into_the_neuron() -> None:
    g = _one_layer(LIF(shape=(2,), beta=0.9, threshold=1.0), bias=np.array([0.25, -0.125]))
    q = quantize_for_loihi(g)
    BACKEND.check(q)
    assert (q.nodes["fc"].bias == 0).all()
    scale = np.asarray(q.metadata["scales"]["n"])
    np.testing.assert_allclose(q.nodes["n"].bias / scale, [0.25, -0.125], rtol=0.02)
    assert isinstance(loihi_float_graph(g).nodes["fc"], Linear)


def test_excitatory_layers_keep_odd_mantissas() -> None:
    w = np.array([[0.5, 0.25, 0.3, 0.7], [0.2, 0.1, 0.05, 0.9]])
    q = quantize_for_loihi(_one_layer(LIF(shape=(2,), beta=0.9, threshold=1.0), weight=w))
    assert q.metadata["loihi"]["weights"]["fc"]["sign_mode"] == "excitatory"
    assert (q.nodes["fc"].weight % 2 == 1).any() and q.nodes["fc"].weight.max() == 255


def test_unrepresentable_values_name_node_and_value() -> None:
    lif = LIF(shape=(2,), beta=0.9, threshold=1.0, v_reset=np.array([0.0, 0.5]))
    with pytest.raises(QuantizationError, match=r"node 'n': v_reset 0.5 at \(1,\) cannot be represented: Loihi "
                                                r"resets v to 0"):
        quantize_for_loihi(_one_layer(lif))
    with pytest.raises(QuantizationError, match=r"node 'n': threshold -1 at \(0,\) must be >= 0"):
        quantize_for_loihi(_one_layer(LIF(shape=(2,), beta=0.9, threshold=np.array([-1.0, 1.0]))))
    with pytest.raises(QuantizationError, match=r"node 'n': beta=1.5 is outside \[0, 1\]"):
        quantize_for_loihi(_one_layer(LIF(shape=(2,), beta=1.5, threshold=1.0)))
    tiny = LIF(shape=(2,), beta=0.9, threshold=1e-6)  # weights 10^5 x threshold: vth would round to 0
    with pytest.raises(QuantizationError, match=r"node 'n': threshold 1e-06 x scale .* gives vth 0"):
        quantize_for_loihi(_one_layer(tiny))


def test_unsupported_nodes() -> None:
    with pytest.raises(UnsupportedNodeError, match=r"node 'n' \(LI\): quantize_for_loihi takes LIF, CubaLIF and IF"):
        quantize_for_loihi(_one_layer(LI(shape=(2,), beta=0.9)))
    g = Graph({"input": Input(shape=(1, 4, 4)), "pool": AvgPool2d(kernel_size=2, stride=2), "output": Output()},
              [("input", "pool"), ("pool", "output")])
    with pytest.raises(UnsupportedNodeError, match=r"node 'pool' \(AvgPool2d\)"):
        quantize_for_loihi(g)


def test_generic_quantisation_is_rejected_by_check(digits: tuple) -> None:
    graph = digits[0]
    with pytest.raises(QuantizationError, match=r"node '0': weight-layer bias -?\d+; Loihi's Dense has none"):
        BACKEND.check(sc.quantize(graph, sc.QuantSpec()))  # the first node in graph order that Loihi cannot hold
    with pytest.raises(UnsupportedNodeError, match="backend 'loihi' takes a QGraph, got Graph"):
        BACKEND.check(graph)  # type: ignore[arg-type]
