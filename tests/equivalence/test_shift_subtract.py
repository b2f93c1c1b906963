"""The shift-subtract leak (rounding="shift_subtract": v - (v >> k), beta = 1 - 2^-k) and the integer threshold 0
(compare="gt", binary spikes) in every executor and backend: bitsim plain (the definition), bitsim fast (numpy
and C kernel), HLS C (gcc), ONNX (onnxruntime), RTL (Icarus, Verilator) -- every trace equal, ``==``; the
quantiser's and Loihi's refusals; the RTL datapath built without a multiplier (yosys cell counts).

The random property suites (tests/backends/*: qgraph_strategies, onnx_graphs, hls_cases, rtl_cases) draw both
too; this file pins hand-made cases that exercise every k (0 = forget, D, no leak) and thresholds of 0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import snncompile.backends.rtl
from conftest import trace_mismatch
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.fast import run_fast

import snncompile as sc
from snncompile.errors import QuantizationError, UnsupportedNodeError
from snncompile.nodes import LIF, CubaLIF, Input, Linear, Output
from snncompile.quant.intops import decay
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.quant.shiftleak import NO_LEAK, leak_shift, legal_multipliers
from snncompile.semantics import Semantics

D = 10


def net(seed: int, sem: Semantics, *, threshold0: bool = True, cuba: bool = True) -> tuple[QGraph, np.ndarray]:
    """Input(6) -> fc1 -> n1 (CubaLIF or LIF, 8) -> fc2 -> n2 (LIF, 5; some thresholds 0) -> Output; spikes
    [T=24, B=3, 6]. Decays are every legal multiplier of D=10 bits, per neuron."""
    rng = np.random.default_rng(seed)
    legal = legal_multipliers(D)
    nodes = {
        "input": Input(shape=(6,)),
        "fc1": QDense(name="fc1", weight=rng.integers(-60, 100, (8, 6)), w_bits=8, bias=rng.integers(-3, 4, 8)),
        "n1": QNeuron(name="n1", kind="CubaLIF" if cuba else "LIF", shape=(8,), semantics=sem,
                      alpha=rng.choice(legal, 8), beta=legal[[0, 1, 2, 3, 5, 8, 10, 11]],
                      threshold=rng.integers(80, 200, 8), v_reset=rng.integers(-5, 5, 8), bias=rng.integers(-2, 3, 8),
                      v_init=rng.integers(-50, 50, 8), i_init=rng.integers(-30, 30, 8),
                      frac_bits=D, i_bits=16, v_bits=16),
        "fc2": QDense(name="fc2", weight=rng.integers(-90, 80, (5, 8)), w_bits=8),
        "n2": QNeuron(name="n2", kind="LIF", shape=(5,), semantics=sem, beta=legal[[1, 3, 6, 9, 11]],
                      threshold=np.array([0, 0, 40, 0, 90]) if threshold0 else np.array([1, 20, 40, 60, 90]),
                      bias=np.array([0, -1, 0, 1, 0]), v_init=np.array([-7, 3, 0, 0, 5]), frac_bits=D,
                      v_bits=12, i_bits=12),
        "output": Output(),
    }
    edges = [("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "output")]
    spikes = (rng.random((24, 3, 6)) < 0.35).astype(np.int64)
    return QGraph(nodes, edges), spikes


SEMS = {
    "zero": Semantics(rounding="shift_subtract"),
    "subtract-delayed": Semantics(rounding="shift_subtract", reset="subtract", timing="delayed"),
    "add_then_decay-wrap": Semantics(rounding="shift_subtract", synapse_order="add_then_decay",
                                     overflow_i="wrap", overflow_v="wrap", synapse_delay=1),
    "snntorch_immediate": Semantics(rounding="shift_subtract", reset="subtract", timing="snntorch_immediate"),
}


def test_decay_is_literally_v_minus_v_shifted() -> None:
    y = np.arange(-3000, 3001)[:, None]
    m = legal_multipliers(D)[None, :]
    k = leak_shift(m, D)
    assert k.tolist() == [[*range(D + 1), NO_LEAK]]
    expect = np.where(k == NO_LEAK, y, y - np.floor(y / 2.0 ** np.maximum(k, 0)).astype(np.int64))
    assert np.array_equal(decay(y, m, D, "shift_subtract"), expect)
    # the reason for a new rounding: the leak rounds the decayed value up, unlike every other rounding
    for other in ("toward_zero", "floor", "nearest"):
        assert not np.array_equal(decay(y, m, D, other), expect), other


@pytest.mark.parametrize("case", sorted(SEMS))
def test_bitsim_paths_hls_onnx_equal_the_definition(case: str) -> None:
    from snncompile.backends.hls import BACKEND as HLS
    from snncompile.backends.onnx.backend import BACKEND as ONNX

    graph, spikes = net(1, SEMS[case])
    expected = run_plain(graph, spikes)
    assert expected["n2"]["out"].sum() > 0 and expected["n1"]["out"].sum() > 0
    got = {f"fast-{p}": run_fast(graph, spikes, path=p) for p in ("layerwise", "c", "stepwise")}
    got["hls"] = HLS.run(graph, spikes)
    got["onnx"] = ONNX.run(graph, spikes)
    for name, traces in got.items():
        assert trace_mismatch(expected, traces) == "", f"{case} {name}: {trace_mismatch(expected, traces)}"


@pytest.mark.parametrize(("case", "simulator"), [("zero", "verilator"), ("subtract-delayed", "icarus"),
                                                 ("snntorch_immediate", "icarus")])
def test_rtl_equals_the_definition(case: str, simulator: str) -> None:
    from snncompile.backends.rtl import BACKEND as RTL

    graph, spikes = net(2, SEMS[case])
    report = trace_mismatch(run_plain(graph, spikes), RTL.run(graph, spikes, simulator=simulator))
    assert report == "", f"{case} {simulator}: {report}"


def test_threshold_zero_fires_iff_v_positive() -> None:
    graph, spikes = net(3, SEMS["zero"])
    traces = run_plain(graph, spikes)
    n2 = graph.nodes["n2"]
    assert isinstance(n2, QNeuron)
    # immediate reset to zero: a spike is recorded exactly where the un-reset v was > 0, so where v was reset
    zero = np.asarray(n2.threshold) == 0
    out, v = traces["n2"]["out"][..., zero], traces["n2"]["v"][..., zero]
    assert out.sum() > 0 and (out == 0).sum() > 0
    assert np.all(v[out == 1] == 0) and np.all(v[out == 0] <= 0)


def test_rtl_shift_datapath_has_no_multiplier(tmp_path: Path) -> None:
    """yosys: snn_neuron (CubaLIF) elaborated with ROUND=3 (shift_subtract) holds no $mul cell; with ROUND=1 (floor)
    it holds the two decay multipliers (so the count tells them apart). Full-design ECP5 counts: docs/rtl.md."""
    from snncompile.backends.rtl.toolchain import tool

    tool("yosys")
    hdl = Path(snncompile.backends.rtl.__file__).parent / "hdl" / "snn_neuron.v"
    muls = {}
    for code in (3, 1):
        stat = tmp_path / f"stat{code}.txt"
        subprocess.run(["yosys", "-q", "-p", f"read_verilog {hdl}; chparam -set ROUND {code} -set CUBA 1 -set W 40 "
                        f"snn_neuron; hierarchy -top snn_neuron; proc; opt -full; wreduce; opt_clean; "
                        f"tee -q -o {stat} stat"], check=True, capture_output=True, timeout=600)
        text = stat.read_text()
        assert "Number of cells" in text
        muls[code] = sum(int(line.split()[-1]) for line in text.splitlines() if line.strip().startswith("$mul "))
    assert muls == {3: 0, 1: 2}, muls


def test_quantiser_keeps_shift_decays_and_refuses_others() -> None:
    def graph(beta: float, alpha: float) -> sc.Graph:
        nodes = {"input": Input(shape=(3,)), "fc": Linear(weight=np.eye(3)),
                 "lif": CubaLIF(shape=(3,), alpha=np.full(3, alpha), beta=np.full(3, beta), threshold=np.ones(3),
                                v_reset=np.zeros(3), bias=np.zeros(3)), "output": Output()}
        return sc.Graph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])

    spec = sc.QuantSpec(rounding="shift_subtract", frac_bits=12)
    x = (np.random.default_rng(0).random((10, 2, 3)) < 0.5).astype(np.float64)
    q = sc.quantize(graph(0.9375, 0.5), spec, x)
    lif = q.nodes["lif"]
    assert isinstance(lif, QNeuron) and lif.semantics.rounding == "shift_subtract"
    assert leak_shift(lif.beta, 12).tolist() == [4, 4, 4] and leak_shift(lif.alpha, 12).tolist() == [1, 1, 1]
    with pytest.raises(QuantizationError) as err:
        sc.quantize(graph(0.9, 0.5), spec, x)
    assert str(err.value) == (
        "node 'lif': beta 3686/4096 at index 0 (from 0.9) is not 1 - 2^-k (k in 0..12) or 1, which "
        "rounding='shift_subtract' (v - (v >> k)) needs; nearest: 0.875 (k=3) or 0.9375 (k=4)")
    with pytest.raises(QuantizationError, match=r"node 'lif': alpha 2458/4096 at index 0 \(from 0\.6\)"):
        sc.quantize(graph(0.75, 0.6), spec, x)


def test_qneuron_refusals_name_node_quantity_and_limit() -> None:
    with pytest.raises(QuantizationError, match=r"node 'n': beta 1000/1024 at index 2 is not 1 - 2\^-k"):
        QNeuron(name="n", kind="LIF", shape=(3,), beta=[512, 1023, 1000], frac_bits=D,
                semantics=Semantics(rounding="shift_subtract"))
    QNeuron(name="n", kind="IF", shape=(3,), frac_bits=D, semantics=Semantics(rounding="shift_subtract"))  # beta 1
    for sem in (Semantics(compare="ge"), Semantics(spikes="multi", spike_cap=2)):
        with pytest.raises(QuantizationError, match=r"node 'n': threshold 0 is below 1; a spiking LIF QNeuron with "
                                                    r"compare='(ge|gt)', spikes='(binary|multi)' needs an integer "
                                                    r"threshold >= 1"):
            QNeuron(name="n", kind="LIF", shape=(2,), beta=900, threshold=[0, 3], semantics=sem)
    with pytest.raises(QuantizationError, match=r"threshold -1 is below 0"):
        QNeuron(name="n", kind="LIF", shape=(2,), beta=900, threshold=[-1, 3])


def test_quantiser_threshold_zero_only_when_the_float_one_is_zero() -> None:
    def graph(theta: float, sem: Semantics) -> sc.Graph:
        nodes = {"input": Input(shape=(2,)), "fc": Linear(weight=np.eye(2)),
                 "lif": LIF(shape=(2,), beta=np.full(2, 0.5), threshold=np.array([theta, 1.0]), v_reset=np.zeros(2),
                            bias=np.zeros(2), semantics=sem), "output": Output()}
        return sc.Graph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])

    x = (np.random.default_rng(0).random((8, 2, 2)) < 0.5).astype(np.float64)
    q = sc.quantize(graph(0.0, Semantics()), sc.QuantSpec(), x)
    assert np.asarray(q.nodes["lif"].threshold).tolist()[0] == 0  # type: ignore[attr-defined]
    with pytest.raises(QuantizationError, match="threshold"):
        sc.quantize(graph(0.0, Semantics(compare="ge")), sc.QuantSpec(), x)
    with pytest.raises(QuantizationError, match="threshold"):
        sc.quantize(graph(1e-9, Semantics()), sc.QuantSpec(), x)


def test_loihi_refuses_shift_subtract_by_name() -> None:
    from snncompile.backends.loihi.rules import check_neuron_semantics

    node = QNeuron(name="n", kind="CubaLIF", shape=(2,), alpha=0, beta=4032, threshold=64,
                   semantics=Semantics(rounding="shift_subtract", synapse_delay=1, overflow_i="wrap_loihi"))
    with pytest.raises(UnsupportedNodeError, match=r"node 'n': semantics rounding='shift_subtract', but Loihi "
                                                   r"computes rounding='toward_zero'"):
        check_neuron_semantics("n", node)


def test_loihi_threshold_zero_maps_and_coresim_equals_bitsim() -> None:
    from snncompile.backends.loihi import BACKEND as LOIHI
    from snncompile.backends.loihi.encode import quantize_for_loihi

    w = np.array([[0.5, -0.25, 0.125, 0.3], [0.2, 0.4, -0.1, 0.05], [-0.3, 0.6, 0.2, -0.1]])
    nodes = {"input": Input(shape=(4,)), "fc": Linear(weight=w),
             "n": LIF(shape=(3,), beta=np.full(3, 0.9), threshold=np.array([0.0, 0.4, 0.0])), "output": Output()}
    graph = sc.Graph(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")])
    q = quantize_for_loihi(graph)
    assert np.asarray(q.nodes["n"].threshold).tolist()[::2] == [0, 0]  # type: ignore[attr-defined]
    LOIHI.check(q)
    x = (np.random.default_rng(3).random((20, 2, 4)) < 0.4).astype(np.int64)
    want = run_plain(q, x)
    assert want["n"]["out"][..., 0].sum() > 0
    assert trace_mismatch(want, LOIHI.run(q, x)) == ""
