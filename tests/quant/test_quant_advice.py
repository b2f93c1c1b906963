"""When a value does not fit, the QuantizationError names the real cause and the weight width that fixes it, or says
that none does (issue 11, item 10): a threshold of 0 is not cured by more bits, a huge weight is not a rounding
problem, and weights scaled down by time constants in the wrong unit are not cured by fewer bits."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.errors import QuantizationError
from snncompile.frontend.nir_read import load
from snncompile.nodes import Input, Output
from snncompile.quant.advice import bits_to_fit, bits_to_reach_one
from snncompile.quant.qnodes import QNeuron
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec
from snncompile.semantics import Semantics

W = np.array([[0.5, -0.25], [0.1, 0.2]])
UNIT_HINT = ("weights that small next to it usually come from an input gain dt*r/tau computed with time constants "
             "in another unit than the reader assumed (check the reader's warnings, --from and --dt)")


def dense_lif(weight: np.ndarray = W, bias: float = 0.0, threshold: object = 1.0) -> sc.Graph:
    return sc.Graph({"x": Input(shape=(2,)), "fc": ir.Affine(weight=weight, bias=np.full(2, bias)),
                     "n": ir.LIF(shape=(2,), beta=0.5, threshold=threshold), "y": Output()},
                    [("x", "fc"), ("fc", "n"), ("n", "y")])


def message(graph: sc.Graph, **spec: object) -> str:
    with pytest.raises(QuantizationError) as err:
        quantize(graph, QuantSpec(**spec), timesteps=8, batch=4)  # type: ignore[arg-type]
    return str(err.value)


def test_threshold_zero_is_kept_for_a_binary_gt_neuron() -> None:
    """Threshold 0 is legal with compare="gt" and binary spikes (fires iff v > 0; Lava's vth = 0)."""
    qgraph = quantize(dense_lif(threshold=np.array([1.0, 0.0])), QuantSpec(weight_bits=8), timesteps=8, batch=4)
    theta = np.asarray(qgraph.nodes["n"].threshold)  # type: ignore[attr-defined]
    assert theta[1] == 0 and theta[0] >= 1


@pytest.mark.parametrize("theta", [-0.5, -2.0])
def test_threshold_not_positive_in_the_float_model(theta: float) -> None:
    """It used to say 'use more weight bits', which no width fulfils."""
    assert message(dense_lif(threshold=np.array([1.0, theta])), weight_bits=16) == (
        f"node 'n': threshold is {theta:g} in the float model (neuron 1); no weight width turns it into the integer "
        "threshold >= 1 a spiking neuron needs: give the neuron a threshold > 0")


def test_huge_weight_is_not_a_rounding_problem() -> None:
    """A weight 1e30 times the threshold (an Inf weight used to end here as 'scale 0'; it is refused at load now)."""
    assert message(dense_lif(weight=np.array([[1e30, 0.0], [0.0, 1.0]]))) == (
        "node 'n': threshold rounds to 0 (theta=1, scale 1.27e-28); it must be >= 1, which no weight width up to "
        "16 bits gives: the largest weight into the neuron (1e+30, float gains folded in) is 1e+30 times theta; "
        "scale the weights down or the threshold up")


def test_bias_beyond_int32_names_the_ratio_and_the_width() -> None:
    assert message(dense_lif(weight=np.full((2, 2), 1e-6), bias=1000.0), weight_bits=16) == (
        "node 'fc': bias rounds to 32767000000000 (b=1000 x scale 3.2767e+10), which does not fit int32 "
        "[-2147483647, 2147483647]: the bias 1000 is 1e+09 times the largest weight sharing its scale (1e-06), so it "
        f"fits only with 2 weight bits; {UNIT_HINT}")


def test_threshold_beyond_int32_with_a_plausible_ratio_suggests_fewer_bits_only() -> None:
    assert message(dense_lif(weight=np.full((2, 2), 1e-4), threshold=10.0), weight_bits=16) == (
        "node 'n': threshold reaches 3276700000 in integer units, which needs int33; the widest register is int32 "
        "(max 2147483647): the threshold 10 is 1e+05 times the largest weight sharing its scale (0.0001), so it fits "
        "with 15 or fewer weight bits")


def test_time_constants_not_in_seconds(tmp_path: Path) -> None:
    """An older Norse file (tau in seconds) read with --from norse (tau as dt*tau): the input gain dt*r/tau shrinks
    the weights 1e4-fold; 'use fewer weight bits' would have 'fixed' it into a model that never spikes."""
    lif = nir.LIF(tau=np.full(3, 20.0), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                                "fc": nir.Affine(weight=np.eye(3) * 0.5, bias=np.zeros(3)), "lif": lif,
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    path = tmp_path / "old_norse.nir"
    nir.write(path, graph)
    loaded = load(path, convention="norse")
    assert any("a written time constant >= dt" in w for w in loaded.warnings)
    assert message(loaded.graph) == (
        "node 'lif': threshold reaches 5080000000 in integer units, which needs int34; the widest register is int32 "
        "(max 2147483647): the threshold 1 is 4e+07 times the largest weight sharing its scale (2.5e-08), so it fits "
        f"with 6 or fewer weight bits; {UNIT_HINT}")


def test_folded_gains_that_overflow_float64() -> None:
    graph = sc.Graph({"x": Input(shape=(2,)), "s": ir.Scale(scale=[1e300, 1e300]),
                      "fc": ir.Affine(weight=np.full((2, 2), 1e300), bias=np.zeros(2)),
                      "n": ir.LIF(shape=(2,), beta=0.5, threshold=1.0), "y": Output()},
                     [("x", "s"), ("s", "fc"), ("fc", "n"), ("n", "y")])
    assert message(graph) == ("node 'fc': its weights or bias times the float gains folded into them (Scale, "
                              "AvgPool2d) overflow float64")


def test_hand_built_qneuron_threshold() -> None:
    with pytest.raises(QuantizationError) as err:
        QNeuron(name="n", kind="LIF", shape=(1,), threshold=0, semantics=Semantics(compare="ge"))
    assert str(err.value) == ("node 'n': threshold 0 is below 1; a spiking LIF QNeuron with compare='ge', "
                              "spikes='binary' needs an integer threshold >= 1")


@pytest.mark.parametrize(("rule", "scaled", "bits"),
                         [("maxabs", 0.014, 9), ("pow2", 0.014, 10), ("maxabs", 0.0001, None)])
def test_bits_to_reach_one(rule: str, scaled: float, bits: int | None) -> None:
    """At 4 bits (q = 7) a value scaled to 0.014 needs q >= 250 (9 bits); pow2 may halve the scale: one bit more."""
    assert bits_to_reach_one(scaled, QuantSpec(weight_bits=4, scale_rule=rule)) == bits


def test_bits_to_fit() -> None:
    spec = QuantSpec(weight_bits=16)  # q = 32767
    assert bits_to_fit(32767 * 1e5, spec, 2**31 - 1) == 15
    assert bits_to_fit(32767 * 3e9, spec, 2**31 - 1) is None
