"""The quantiser: scale rules and folding on hand-computed layers, lowering, calibration report, every error."""

from __future__ import annotations

import numpy as np
import pytest
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile import ir
from snncompile.nodes import Delay, Flatten, Input, Output, SumPool2d
from snncompile.quant.calibrate import bits_for
from snncompile.quant.qnodes import QConv2d, QDense, QNeuron, QScale
from snncompile.quant.quantize import dequantize_state, node_scale, quantize
from snncompile.quant.scales import round_half_away
from snncompile.quant.spec import QuantSpec
from snncompile.reference import run

SNN = sc.PRESETS["snntorch"]
W = np.array([[0.5, -0.25], [0.1, 0.2]])
B_ = np.array([0.05, -0.1])


def dense_lif(weight: np.ndarray = W, bias: np.ndarray = B_, **lif: object) -> sc.Graph:
    n_out, n_in = weight.shape
    params: dict = {"beta": 0.75, "threshold": 1.0, "semantics": SNN, **lif}
    return sc.Graph(
        {"x": Input(shape=(n_in,)), "fc": ir.Affine(weight=weight, bias=bias),
         "lif": ir.LIF(shape=(n_out,), **params), "y": Output()},
        [("x", "fc"), ("fc", "lif"), ("lif", "y")],
    )


def q(graph: sc.Graph, **spec: object) -> sc.Graph:
    return quantize(graph, QuantSpec(**spec), timesteps=4, batch=2)  # type: ignore[arg-type]


def ints(node: object, field: str) -> list:
    return np.asarray(getattr(node, field)).tolist()


# --- scale rules on a hand-computed layer (weight_bits=4: q = 7) --------------------------------------------
@pytest.mark.parametrize(
    ("rule", "granularity", "weight", "bias", "threshold"),
    [
        # s = 7/0.5 = 14 and 7/0.2 = 35 per neuron; -3.5 rounds away from zero to -4
        ("maxabs", "channel", [[7, -4], [4, 7]], [1, -4], [14, 35]),
        # one s = 14 for the layer
        ("maxabs", "tensor", [[7, -4], [1, 3]], [1, -1], [14, 14]),
        # s = 2^floor(log2(14)) = 8 and 2^floor(log2(35)) = 32
        ("pow2", "channel", [[4, -2], [3, 6]], [0, -3], [8, 32]),
        # 50th percentile of |w| per row: 0.375 and 0.15 -> s = 18.667, 46.667; larger weights saturate at 7
        ("percentile", "channel", [[7, -5], [5, 7]], [1, -5], [19, 47]),
    ],
)
def test_scale_rule_exact_integers(rule: str, granularity: str, weight: list, bias: list, threshold: list) -> None:
    qg = q(dense_lif(), weight_bits=4, scale_rule=rule, granularity=granularity, percentile=50.0)
    fc, lif = qg.nodes["fc"], qg.nodes["lif"]
    assert isinstance(fc, QDense) and isinstance(lif, QNeuron)
    assert (ints(fc, "weight"), ints(fc, "bias"), ints(lif, "threshold")) == (weight, bias, threshold)
    assert fc.w_bits == 4 and fc.b_bits == 32 and fc.name == "fc" and lif.name == "lif" and lif.kind == "LIF"


def test_round_half_away_from_zero() -> None:
    assert round_half_away(np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49])).tolist() == [1, 2, 3, -1, -3, 0]


def test_pow2_scale_recorded_exactly() -> None:
    qg = q(dense_lif(), weight_bits=4, scale_rule="pow2")
    assert node_scale(qg, "lif").tolist() == [8.0, 32.0] == node_scale(qg, "fc").tolist()
    assert qg.metadata["calibration"]["nodes"]["lif"]["scale"] == {"min": 8.0, "max": 32.0}


def test_decays_and_semantics() -> None:
    g = sc.Graph(
        {"x": Input(shape=(2,)), "fc": ir.Linear(weight=W),
         "n": ir.CubaLIF(shape=(2,), alpha=0.5, beta=[0.9, 0.1], threshold=1.0, bias=0.25, v_reset=-0.5,
                         semantics=sc.PRESETS["nir"]), "y": Output()},
        [("x", "fc"), ("fc", "n"), ("n", "y")],
    )
    qg = q(g, weight_bits=4, frac_bits=12, rounding="nearest", overflow="wrap")
    n = qg.nodes["n"]
    assert isinstance(n, QNeuron)
    assert ints(n, "alpha") == [2048, 2048] and ints(n, "beta") == [3686, 410]  # 0.9*4096 = 3686.4, 409.6
    assert ints(n, "bias") == [4, 9] and ints(n, "v_reset") == [-7, -18]  # 0.25*[14, 35], -0.5*[14, 35]
    assert ints(n, "v_init") == [0, 0] and n.frac_bits == 12 and n.input_shift == 0
    assert n.semantics == sc.PRESETS["nir"].with_(rounding="nearest", overflow_i="wrap", overflow_v="wrap")
    assert ints(qg.nodes["fc"], "bias") == [0, 0]
    assert ints(q(g, weight_bits=4, frac_bits=4).nodes["n"], "beta") == [14, 2]  # 14.4, 1.6


def test_v_init_is_scaled_only_when_used() -> None:
    sem = SNN.with_(initial_v="v_init")
    assert ints(q(dense_lif(v_init=0.5, semantics=sem), weight_bits=4).nodes["lif"], "v_init") == [7, 18]
    assert ints(q(dense_lif(v_init=0.5), weight_bits=4).nodes["lif"], "v_init") == [0, 0]


def test_every_neuron_kind_lowers() -> None:
    kinds = {
        "IF": ir.IF(shape=(2,), threshold=1.0), "LIF": ir.LIF(shape=(2,), beta=0.5, threshold=1.0),
        "CubaLIF": ir.CubaLIF(shape=(2,), alpha=0.5, beta=0.5, threshold=1.0),
        "Threshold": ir.Threshold(shape=(2,), threshold=0.3),
        "I": ir.I(shape=(2,)), "LI": ir.LI(shape=(2,), beta=0.5), "CubaLI": ir.CubaLI(shape=(2,), alpha=0.5, beta=0.5),
    }
    for kind, node in kinds.items():
        g = sc.Graph({"x": Input(shape=(2,)), "fc": ir.Affine(weight=W, bias=B_), "n": node, "y": Output()},
                     [("x", "fc"), ("fc", "n"), ("n", "y")])
        qn = q(g, weight_bits=4).nodes["n"]
        assert isinstance(qn, QNeuron) and qn.kind == kind
        if kind in ("I", "IF"):
            assert ints(qn, "beta") == [4096, 4096]


# --- folding -------------------------------------------------------------------------------------------------
def conv_pool_lif(pool: type = ir.AvgPool2d) -> sc.Graph:
    w = np.array([0.5, -0.25]).reshape(2, 1, 1, 1)
    return sc.Graph(
        {"x": Input(shape=(1, 4, 4)), "conv": ir.Conv2d(weight=w, bias=[0.0, 0.1]),
         "pool": pool(kernel_size=2, stride=2), "lif": ir.LIF(shape=(2, 2, 2), beta=0.5, threshold=1.0),
         "y": Output()},
        [("x", "conv"), ("conv", "pool"), ("pool", "lif"), ("lif", "y")],
    )


def test_avgpool_becomes_sumpool_and_its_divisor_goes_into_the_scale() -> None:
    qg = q(conv_pool_lif(), weight_bits=8)
    pool, conv, lif = qg.nodes["pool"], qg.nodes["conv"], qg.nodes["lif"]
    assert type(pool) is SumPool2d and pool.kernel_size == (2, 2) and pool.stride == (2, 2)
    assert isinstance(conv, QConv2d) and isinstance(lif, QNeuron)
    # effective weights W/4 = 0.125, -0.0625 -> s = 1016, 2032 per channel; b_q = 0.1/4 * 2032 = 50.8
    assert ints(conv, "weight") == [[[[127]]], [[[-127]]]] and ints(conv, "bias") == [0, 51]
    assert np.array_equal(lif.threshold, np.broadcast_to(np.array([1016, 2032]).reshape(2, 1, 1), (2, 2, 2)))
    assert node_scale(qg, "lif").shape == (2, 2, 2) and qg.metadata["scales"]["lif"] == [[[1016.0]], [[2032.0]]]


def test_conv_per_tensor_shares_one_scale() -> None:
    qg = q(conv_pool_lif(), weight_bits=8, granularity="tensor")
    assert ints(qg.nodes["conv"], "weight") == [[[[127]]], [[[-64]]]]  # -0.0625*1016 = -63.5
    assert np.all(qg.nodes["lif"].threshold == 1016) and qg.nodes["lif"].out_scale == 1016.0


def test_sumpool_keeps_the_scale() -> None:
    qg = q(conv_pool_lif(ir.SumPool2d), weight_bits=8)
    assert ints(qg.nodes["conv"], "weight") == [[[[127]]], [[[-127]]]]
    assert np.array_equal(qg.nodes["lif"].threshold[:, 0, 0], [254, 508])


def spike_agreement(graph: sc.Graph, spec: QuantSpec, shape: tuple[int, ...], seed: int = 0) -> dict[str, float]:
    x = (np.random.default_rng(seed).random((20, 8, *shape)) < 0.3).astype(np.float64)
    ref, fixed = run(graph, x), run_plain(quantize(graph, spec, x), x)
    return {n: float(np.mean(ref[n]["out"] == fixed[n]["out"])) for n, nd in graph.nodes.items()
            if isinstance(nd, ir.NeuronNode)}


def test_scales_delays_and_flatten_fold_and_keep_the_spikes() -> None:
    rng = np.random.default_rng(1)
    g = sc.Graph(
        {"x": Input(shape=(6,)), "gain": ir.Scale(scale=rng.uniform(0.5, 2.0, 6)),
         "fc": ir.Affine(weight=rng.normal(0, 0.5, (4, 6)), bias=np.zeros(4)),
         "s": ir.Scale(scale=[1.5, 0.5, 2.0, -1.0]), "d": Delay(delay=np.ones(4, np.int64)),
         "lif": ir.LIF(shape=(4,), beta=0.9, threshold=0.5), "y": Output()},
        [("x", "gain"), ("gain", "fc"), ("fc", "s"), ("s", "d"), ("d", "lif"), ("lif", "y")],
    )
    qg = quantize(g, QuantSpec(weight_bits=16, frac_bits=16))
    for name in ("gain", "s"):
        assert isinstance(qg.nodes[name], QScale) and np.all(qg.nodes[name].weight == 1)
    assert qg.nodes["d"] is g.nodes["d"] and set(qg.edges) == set(g.edges)
    assert min(spike_agreement(g, QuantSpec(weight_bits=16, frac_bits=16), (6,)).values()) >= 0.999


def test_conv_flatten_dense_network_matches_float_at_16_bits() -> None:
    rng = np.random.default_rng(2)
    g = sc.Graph(
        {"x": Input(shape=(2, 6, 6)), "conv": ir.Conv2d(weight=rng.normal(0, 0.5, (4, 1, 3, 3)), bias=np.zeros(4),
                                                         groups=2, padding=1),
         "lif0": ir.LIF(shape=(4, 6, 6), beta=0.8, threshold=0.5, semantics=SNN), "flat": Flatten(),
         "fc": ir.Affine(weight=rng.normal(0, 0.2, (5, 144)), bias=np.zeros(5)),
         "li": ir.LI(shape=(5,), beta=0.9), "y": Output()},
        [("x", "conv"), ("conv", "lif0"), ("lif0", "flat"), ("flat", "fc"), ("fc", "li"), ("li", "y")],
    )
    x = (rng.random((15, 16, 2, 6, 6)) < 0.3).astype(np.float64)
    spec = QuantSpec(weight_bits=16, frac_bits=16)
    qg = quantize(g, spec, x)
    ref, fixed = run(g, x), run_plain(qg, x)
    assert np.mean(ref["lif0"]["out"] == fixed["lif0"]["out"]) >= 0.999
    readout = qg.nodes["li"]
    assert isinstance(readout, QNeuron) and np.unique(node_scale(qg, "li")).size == 1  # one scale per readout
    same = np.all(ref["lif0"]["out"] == fixed["lif0"]["out"], axis=(0, 2, 3, 4))  # samples with no flip upstream
    assert same.sum() >= 8  # flips start within ~2 integer units of the threshold (rounding at 16 bits)
    np.testing.assert_allclose(dequantize_state(readout, fixed["li"]["v"][:, same]), ref["li"]["v"][:, same],
                               atol=1e-3)


def test_fan_out_shares_one_scale() -> None:
    g = sc.Graph(
        {"x": Input(shape=(2,)), "fc": ir.Affine(weight=W, bias=B_), "other": ir.Linear(weight=[[4.0, 0.0], [0, 0]]),
         "a": ir.LIF(shape=(2,), beta=0.5, threshold=1.0), "b": ir.LIF(shape=(2,), beta=0.5, threshold=2.0),
         "ya": Output(), "yb": Output()},
        [("x", "fc"), ("x", "other"), ("fc", "a"), ("fc", "b"), ("other", "b"), ("a", "ya"), ("b", "yb")],
    )
    qg = q(g, weight_bits=4)
    # neuron 0 of b also reads weight 4.0 -> s = 7/4 for fc row 0, a[0], b[0]; row 1 keeps 7/0.2 = 35
    assert node_scale(qg, "a").tolist() == node_scale(qg, "b").tolist() == [1.75, 35.0]
    assert ints(qg.nodes["b"], "threshold") == [4, 70]  # 2*1.75 = 3.5 rounds away from zero


# --- purity, determinism, report ---------------------------------------------------------------------------
def test_pure_and_deterministic() -> None:
    g = sc.load("digits-mlp")
    before = sc.format(g)
    arrays = {n: {k: v.copy() for k, v in nd.params().items() if isinstance(v, np.ndarray)}
              for n, nd in g.nodes.items()}
    first, second = quantize(g, QuantSpec()), quantize(g, QuantSpec())
    assert first.equals(second) and sc.format(first) == sc.format(second)
    assert sc.format(g) == before and dict(g.metadata) == {"snncompile.source": "torch.trace"}
    for n, params in arrays.items():
        for k, v in params.items():
            assert np.array_equal(getattr(g.nodes[n], k), v)
    assert not quantize(g, QuantSpec(), seed=1).equals(first)  # other calibration spikes, other report


def test_metadata_report_and_spec() -> None:
    g = sc.load("digits-mlp")
    spec = QuantSpec(weight_bits=8)
    qg = quantize(g, spec, timesteps=10, batch=4, seed=3)
    assert qg.spec is spec and qg.metadata["quant_spec"] == spec.to_dict()
    assert qg.metadata["snncompile.source"] == "torch.trace"
    report = qg.metadata["calibration"]
    assert report["data"] == "seeded Bernoulli(0.2) spikes, T=10, B=4, seed=3"
    assert set(report["nodes"]) == {"1", "3"}
    entry = report["nodes"]["1"]
    assert set(entry) == {"kind", "scale", "v_max", "i_max", "x_max", "v_bits", "i_bits", "headroom_bits"}
    needed = bits_for(max(entry["v_max"], int(np.abs(qg.nodes["1"].threshold).max())))
    assert entry["v_bits"] == entry["i_bits"] == qg.nodes["1"].v_bits == max(8, needed) + 1
    assert entry["headroom_bits"] == entry["v_bits"] - needed
    user = quantize(g, spec, np.zeros((5, 3, 64)))
    assert user.metadata["calibration"]["data"] == "user data, shape (5, 3, 64)"
    as_dict = quantize(g, spec, {"input": np.zeros((5, 3, 64))})
    assert as_dict.metadata["calibration"]["data"] == "user data, 'input' shape (5, 3, 64)"


def test_calibrated_v_max_bounds_the_integer_registers() -> None:
    g = dense_lif(np.random.default_rng(0).normal(0, 0.5, (8, 12)), np.zeros(8), semantics=sc.PRESETS["nir"])
    x = (np.random.default_rng(1).random((30, 16, 12)) < 0.4).astype(np.float64)
    qg = quantize(g, QuantSpec(weight_bits=12), x)
    v = run_plain(qg, x)["lif"]["v"]
    entry = qg.metadata["calibration"]["nodes"]["lif"]
    assert np.abs(v).max() <= entry["v_max"] + 2 and entry["v_max"] < 2 ** (entry["v_bits"] - 2)


def test_bits_for() -> None:
    assert [bits_for(m) for m in (0, 1, 127, 128, 32767, 32768)] == [1, 2, 8, 9, 16, 17]


def test_grouped_conv_with_input_and_output_scales_matches_float() -> None:
    rng = np.random.default_rng(5)
    g = sc.Graph(
        {"x": Input(shape=(2, 5, 5)),
         "s": ir.Scale(scale=np.broadcast_to(np.array([2.0, 0.5])[:, None, None], (2, 5, 5))),
         "conv": ir.Conv2d(weight=rng.normal(0, 0.5, (4, 1, 3, 3)), bias=rng.normal(0, 0.1, 4), groups=2, padding=1),
         "p": ir.AvgPool2d(kernel_size=2, stride=1),
         "s2": ir.Scale(scale=np.broadcast_to(np.array([1.0, 3.0, 0.5, 2.0])[:, None, None], (4, 4, 4))),
         "n": ir.CubaLIF(shape=(4, 4, 4), alpha=0.7, beta=0.9, threshold=0.1, semantics=sc.PRESETS["nir"]),
         "y": Output()},
        [("x", "s"), ("s", "conv"), ("conv", "p"), ("p", "s2"), ("s2", "n"), ("n", "y")],
    )
    qg = quantize(g, QuantSpec(weight_bits=16, frac_bits=16))
    assert isinstance(qg.nodes["p"], SumPool2d) and isinstance(qg.nodes["s2"], QScale)
    # channel 0 reads input channel 0 (gain 2) and has output gain 1/4: s = q / max|W[0] * 2 / 4|
    w0 = np.abs(g.nodes["conv"].weight[0]).max() * 2.0 / 4.0
    assert node_scale(qg, "conv")[0] == pytest.approx(32767 / w0, rel=1e-12)
    agreement = spike_agreement(g, QuantSpec(weight_bits=16, frac_bits=16), (2, 5, 5))
    assert agreement["n"] >= 0.999
