"""Every error the quantiser raises, with its message pinned: what, where, the value and the limit."""

from __future__ import annotations

import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.errors import GraphError, QuantizationError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.calibrate import OverflowRiskWarning
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec

W = np.array([[0.5, -0.25], [0.1, 0.2]])


def graph(nodes: dict, edges: list) -> sc.Graph:
    return sc.Graph({"x": Input(shape=(2,)), **nodes}, edges)


def lif(threshold: float = 1.0, **kw: object) -> ir.LIF:
    return ir.LIF(shape=(2,), beta=kw.pop("beta", 0.5), threshold=threshold, **kw)  # type: ignore[arg-type]


def dense_lif(weight: np.ndarray = W, bias: object = 0.0, **kw: object) -> sc.Graph:
    return graph({"fc": ir.Affine(weight=weight, bias=np.broadcast_to(bias, (2,))), "n": lif(**kw), "y": Output()},
                 [("x", "fc"), ("fc", "n"), ("n", "y")])


def quant(g: sc.Graph, **spec: object) -> object:
    return quantize(g, QuantSpec(**spec), timesteps=8, batch=4)  # type: ignore[arg-type]


# --- what cannot be folded: UnsupportedNodeError -------------------------------------------------------------
def test_neuron_fed_by_input() -> None:
    g = graph({"n": lif(), "y": Output()}, [("x", "n"), ("n", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'n' \(LIF\) is fed by Input 'x' without a weight layer "
                                                    r"in between; .* put an Affine/Linear"):
        quant(g)


def test_neuron_fed_by_neuron() -> None:
    g = graph({"fc": ir.Linear(weight=W), "a": lif(), "b": lif(), "y": Output()},
              [("x", "fc"), ("fc", "a"), ("a", "b"), ("b", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'b' \(LIF\) is fed by LIF 'a' without a weight layer"):
        quant(g)


def test_readout_feeding_a_layer() -> None:
    g = graph({"fc": ir.Linear(weight=W), "li": ir.LI(shape=(2,), beta=0.5), "fc2": ir.Linear(weight=W),
               "n": lif(), "y": Output()},
              [("x", "fc"), ("fc", "li"), ("li", "fc2"), ("fc2", "n"), ("n", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'li' \(LI\) is a non-spiking readout but feeds 'fc2' "
                                                    r"\(Linear\); .* may only feed Output nodes"):
        quant(g)


def test_fan_out_through_different_gains() -> None:
    g = graph({"fc": ir.Linear(weight=W), "s": ir.Scale(scale=[2.0, 2.0]), "a": lif(), "b": lif(),
               "ya": Output(), "yb": Output()},
              [("x", "fc"), ("fc", "a"), ("fc", "s"), ("s", "b"), ("a", "ya"), ("b", "yb")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'fc' \(Linear\) feeds neurons 'a' and 'b' through "
                                                    r"different float gains \(channel 0: 1 vs 2\)"):
        quant(g)


def test_scale_not_per_channel_after_conv() -> None:
    g = sc.Graph(
        {"x": Input(shape=(1, 2, 2)), "conv": ir.Conv2d(weight=np.ones((2, 1, 1, 1)), bias=np.zeros(2)),
         "s": ir.Scale(scale=np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]).reshape(2, 2, 2)),
         "n": ir.LIF(shape=(2, 2, 2), beta=0.5, threshold=1.0), "y": Output()},
        [("x", "conv"), ("conv", "s"), ("s", "n"), ("n", "y")],
    )
    with pytest.raises(UnsupportedNodeError, match=r"^node 's' \(Scale\) multiplies output channel 0 of weight "
                                                    r"layer 'conv' by different values \(1 and 2\); only a "
                                                    r"per-channel Scale"):
        quant(g)


def test_input_scale_not_per_channel_before_conv() -> None:
    g = sc.Graph(
        {"x": Input(shape=(1, 2, 2)), "s": ir.Scale(scale=np.array([1.0, 2.0, 1.0, 1.0]).reshape(1, 2, 2)),
         "conv": ir.Conv2d(weight=np.ones((2, 1, 1, 1)), bias=np.zeros(2)),
         "n": ir.LIF(shape=(2, 2, 2), beta=0.5, threshold=1.0), "y": Output()},
        [("x", "s"), ("s", "conv"), ("conv", "n"), ("n", "y")],
    )
    with pytest.raises(UnsupportedNodeError, match=r"^node 'conv' \(Conv2d\): the Scale before it differs within "
                                                    r"an input channel"):
        quant(g)


def test_weight_layer_to_output() -> None:
    g = graph({"fc": ir.Linear(weight=W), "y": Output()}, [("x", "fc"), ("fc", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'fc' \(Linear\) feeds no neuron"):
        quant(g)
    g = graph({"fc": ir.Linear(weight=W), "n": lif(), "y": Output(), "z": Output()},
              [("x", "fc"), ("fc", "n"), ("n", "y"), ("fc", "z")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'fc' \(Linear\) reaches Output 'z' without a neuron"):
        quant(g)


def test_weight_layer_fed_by_weight_layer() -> None:
    g = graph({"a": ir.Linear(weight=W), "b": ir.Linear(weight=W), "n": lif(), "y": Output()},
              [("x", "a"), ("a", "b"), ("b", "n"), ("n", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'a' \(Linear\) feeds no neuron"):
        quant(g)
    g = graph({"a": ir.Linear(weight=W), "b": ir.Linear(weight=W), "m": lif(), "n": lif(), "y": Output()},
              [("x", "a"), ("a", "m"), ("a", "b"), ("b", "n"), ("m", "y"), ("n", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 'b' \(Linear\) is fed by weight layer 'a' without a "
                                                    r"neuron in between"):
        quant(g)


def test_gain_node_before_output() -> None:
    g = graph({"fc": ir.Linear(weight=W), "n": lif(), "s": ir.Scale(scale=[0.5, 0.5]), "y": Output()},
              [("x", "fc"), ("fc", "n"), ("n", "s"), ("s", "y")])
    with pytest.raises(UnsupportedNodeError, match=r"^node 's' \(Scale\) lies between 'n' and Output 'y'"):
        quant(g)


# --- what does not fit: QuantizationError --------------------------------------------------------------------
def test_threshold_rounds_to_zero() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'n': threshold rounds to 0 \(theta=0.001, scale 14\); it "
                                                 r"must be >= 1; use 9 or more weight bits$"):
        quant(dense_lif(threshold=0.001), weight_bits=4)


def test_decay_outside_unit_interval() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'n': beta=1.01 rounds to 4137 with frac_bits=12, outside "
                                                 r"0..4096; a decay must lie in \[0, 1\]"):
        quant(dense_lif(beta=1.01))


def test_register_wider_than_32_bits() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'n': threshold reaches 32767000000 in integer units, which "
                                                 r"needs int36; the widest register is int32 \(max 2147483647\)"):
        quant(dense_lif(weight=np.full((2, 2), 1e-6)), weight_bits=16)


def test_bias_does_not_fit_int32() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'fc': bias rounds to 32767000000000 \(b=1000 x scale "
                                                 r"3.2767e\+10\), which does not fit int32"):
        quant(dense_lif(weight=np.full((2, 2), 1e-6), bias=1000.0), weight_bits=16)


def test_parameter_does_not_fit_fixed_state_bits() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'n': threshold 65534 \(integer units\) does not fit int16 "
                                                 r"\[-32767, 32767\]; use fewer weight bits or more state bits"):
        quant(dense_lif(weight=np.full((2, 2), 0.5)), weight_bits=16, state_bits=16)


def strong() -> sc.Graph:
    """v climbs far above its threshold: no reset, constant positive drive."""
    return dense_lif(weight=np.full((2, 2), 1.0), bias=3.0, beta=1.0, threshold=1.0,
                     semantics=sc.PRESETS["nir"].with_(reset="none"))


def test_calibrated_state_overflows_wrap_is_an_error() -> None:
    with pytest.raises(QuantizationError, match=r"^node 'n': calibration shows v reaching \d+, which does not fit "
                                                 r"int8 \[-127, 127\]; with overflow='wrap' it would wrap around"):
        quant(strong(), weight_bits=4, state_bits=8, overflow="wrap")


def test_calibrated_state_overflows_saturate_is_a_warning() -> None:
    with pytest.warns(OverflowRiskWarning, match=r"^node 'n': calibration shows v reaching \d+, beyond int8 "
                                                  r"\[-127, 127\]; saturation will clip it"):
        qg = quant(strong(), weight_bits=4, state_bits=8)
    assert qg.nodes["n"].v_bits == 8  # type: ignore[attr-defined]
    assert qg.metadata["calibration"]["nodes"]["n"]["headroom_bits"] < 0  # type: ignore[attr-defined]


def test_calibration_data_of_the_wrong_shape() -> None:
    with pytest.raises(GraphError, match=r"input 'x': data of shape \(4, 2, 3\) does not match \[T, B, \*\(2,\)\]"):
        quantize(dense_lif(), QuantSpec(), np.zeros((4, 2, 3)))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("weight_bits", 1, r"weight_bits=1 is outside 2..16"),
        ("weight_bits", 17, r"weight_bits=17 is outside 2..16"),
        ("state_bits", 7, r"state_bits=7 is outside 8..32 \(or None for auto\)"),
        ("state_bits", 33, r"state_bits=33 is outside 8..32"),
        ("frac_bits", 3, r"frac_bits=3 is outside 4..16"),
        ("headroom_bits", 9, r"headroom_bits=9 is outside 0..8"),
        ("percentile", 49.0, r"percentile=49.0 is outside 50..100"),
        # found by tests/fuzz: float('abc') escaped as a ValueError, float(None) as a TypeError, '99' passed
        ("percentile", "abc", r"percentile='abc' is not a number \(50..100\)$"),
        ("percentile", None, r"percentile=None is not a number \(50..100\)$"),
        ("percentile", "99", r"percentile='99' is not a number \(50..100\)$"),
        ("percentile", 1j, r"percentile=1j is not a number \(50..100\)$"),
        ("granularity", "row", r"granularity='row' is not one of 'channel', 'tensor'"),
        ("scale_rule", "mse", r"scale_rule='mse' is not one of 'maxabs', 'percentile', 'pow2'"),
        ("overflow", "clip", r"overflow='clip' is not one of 'saturate', 'wrap'"),
    ],
)
def test_quant_spec_out_of_range(field: str, value: object, message: str) -> None:
    with pytest.raises(QuantizationError, match="^QuantSpec: " + message):
        QuantSpec(**{field: value})  # type: ignore[arg-type]


def test_quant_spec_numpy_percentile() -> None:
    assert QuantSpec(percentile=np.float32(90.0)).percentile == 90.0
