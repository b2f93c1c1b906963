"""QAT models the compiler's fixed-point decay rounding and the v/i register (issue #6): the fake-quantised
model's spikes and membranes equal bitsim's on the quantised graph exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile import nn as snn
from snncompile.quant.calibrate import OverflowRiskWarning
from snncompile.quant.qnodes import QNeuron


@pytest.fixture(autouse=True)
def _one_thread():  # type: ignore[no-untyped-def]
    """Tiny float64 matmuls: torch's thread pool only adds overhead here (x5 on many-core machines)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_mlp(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 16), snn.Leaky(0.9, threshold=1.0), torch.nn.Linear(16, 4), snn.Leaky(0.8, threshold=0.7),
    ).double()
    with torch.no_grad():  # strong enough drive that v swings well past +-threshold (so 10-bit registers saturate)
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    return net


def run_fake_quant(net: torch.nn.Sequential, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    rec: dict[str, dict[str, list[np.ndarray]]] = {"1": {"out": [], "v": []}, "3": {"out": [], "v": []}}
    snn.reset(net)
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.from_numpy(x[t])
            for name in ("0", "1", "2", "3"):
                h = net[int(name)](h)
                if name in rec:
                    rec[name]["out"].append(h.numpy().copy())
                    rec[name]["v"].append(net[int(name)].v.numpy().copy())
    return {n: {k: np.stack(v) for k, v in d.items()} for n, d in rec.items()}


@pytest.mark.parametrize("state_bits", [None, 10, 8])
@pytest.mark.parametrize("rounding", ["toward_zero", "nearest", "floor"])
def test_qat_spikes_equal_bitsim_exactly(state_bits: int | None, rounding: str) -> None:
    spec = sc.QuantSpec(weight_bits=6, state_bits=state_bits, rounding=rounding)
    sample = torch.zeros(1, 10, dtype=torch.float64)
    rng = np.random.default_rng(11)
    x = (rng.random((40, 32, 10)) < 0.3).astype(np.float64)
    saturated, clamp_matters = False, False
    for seed in (0, 1, 2):
        net = tiny_mlp(seed)
        h = snn.qat.qat(net, spec, sample)
        assert all(net[i]._qat is not None for i in (1, 3))
        scales = h.scales()
        fq = run_fake_quant(net, x)
        if state_bits is not None:  # the same model without the register clamp
            net[1]._qat.bits = net[3]._qat.bits = None
            unclamped = run_fake_quant(net, x)
            clamp_matters |= any(not np.array_equal(unclamped[n]["out"], fq[n]["out"]) for n in ("1", "3"))
        h.remove()
        assert net[1]._qat is None and net[3]._qat is None
        with warnings.catch_warnings():  # state_bits=10 is meant to clip: the point of the test
            warnings.simplefilter("ignore", OverflowRiskWarning)
            qg = sc.quantize(sc.trace(net, sample), spec, x)
        fixed = run_plain(qg, x)
        for name in ("1", "3"):
            node = qg.nodes[name]
            assert isinstance(node, QNeuron)
            agree = float(np.mean(fq[name]["out"] == fixed[name]["out"]))
            assert agree == 1.0, (seed, name, agree)
            v_int = np.round(fq[name]["v"] * scales[name].numpy())
            assert np.array_equal(v_int, fixed[name]["v"]), (seed, name)
            assert fixed[name]["out"].sum() > 0
            if state_bits is not None:
                assert node.v_bits == state_bits
        if state_bits is not None:
            lim = (1 << (state_bits - 1)) - 1
            saturated |= any(np.abs(fixed[n]["v"]).max() == lim for n in ("1", "3"))
    assert saturated or state_bits is None  # the register really clips in at least one model
    assert clamp_matters == (state_bits == 8)  # at 8 bits the clipping changes spikes, so the clamp is tested


def test_qat_wrap_register_equals_bitsim() -> None:
    """overflow='wrap' (the compiler refuses it when calibration overflows, so the run itself does not wrap;
    the register helper is checked against intops.clamp directly)."""
    from snncompile.nn.qat import NeuronQAT
    from snncompile.quant.intops import clamp

    spec = sc.QuantSpec(weight_bits=6, state_bits=16, overflow="wrap")
    sample = torch.zeros(1, 10, dtype=torch.float64)
    x = (np.random.default_rng(3).random((20, 16, 10)) < 0.3).astype(np.float64)
    net = tiny_mlp(0)
    h = snn.qat.qat(net, spec, sample)
    fq = run_fake_quant(net, x)
    q = net[1]._qat
    assert isinstance(q, NeuronQAT) and q.overflow == "wrap" and q.bits == 16
    k = torch.arange(-70000, 70000, 7, dtype=torch.float64).reshape(-1, 1).expand(-1, 16)
    s = h.scales()["1"]
    got = torch.round(net[1]._register_value(k / s, q).double() * s)
    assert np.array_equal(got.numpy(), clamp(k.numpy().astype(np.int64), 16, "wrap"))
    h.remove()
    fixed = run_plain(sc.quantize(sc.trace(net, sample), spec, x), x)
    for name in ("1", "3"):
        assert np.array_equal(fq[name]["out"], fixed[name]["out"]), name


def test_qat_state_modelling_keeps_gradients_and_switches_off() -> None:
    net = tiny_mlp(0)
    sample = torch.zeros(1, 10, dtype=torch.float64)
    x = (torch.rand(6, 4, 10, generator=torch.Generator().manual_seed(0)) < 0.4).double()
    float_out = snn.run(net, x)
    spec = sc.QuantSpec(weight_bits=6, state_bits=10)
    with snn.qat.qat(net, spec, sample) as h:
        out = snn.run(net, x)
        (out.sum() + net[3].v.sum()).backward()
        g = net[0].parametrizations.weight.original.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
        with h.disabled():
            assert torch.equal(snn.run(net, x), float_out)
    assert net[1]._qat is None
    assert torch.equal(snn.run(net, x), float_out)


def shift_mlp(seed: int) -> torch.nn.Sequential:
    """tiny_mlp with decays the shift-subtract leak admits (1 - 2^-3, 1 - 2^-2)."""
    net = tiny_mlp(seed)
    net[1] = snn.Leaky(0.875, threshold=1.0).double()
    net[3] = snn.Leaky(0.75, threshold=0.7).double()
    return net


@pytest.mark.parametrize("state_bits", [None, 10])
def test_qat_shift_subtract_equals_bitsim_exactly(state_bits: int | None) -> None:
    """rounding='shift_subtract': QAT's forward is v - (v >> k) on the integer grid, as bitsim computes it."""
    spec = sc.QuantSpec(weight_bits=6, state_bits=state_bits, rounding="shift_subtract")
    sample = torch.zeros(1, 10, dtype=torch.float64)
    x = (np.random.default_rng(5).random((40, 16, 10)) < 0.3).astype(np.float64)
    differs = False
    for seed in (0, 1):
        net = shift_mlp(seed)
        h = snn.qat.qat(net, spec, sample)
        scales = h.scales()
        fq = run_fake_quant(net, x)
        h.remove()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverflowRiskWarning)
            qg = sc.quantize(sc.trace(net, sample), spec, x)
            floor_qg = sc.quantize(sc.trace(net, sample), sc.QuantSpec(
                weight_bits=6, state_bits=state_bits, rounding="floor"), x)
        fixed = run_plain(qg, x)
        for name in ("1", "3"):
            assert np.array_equal(fq[name]["out"], fixed[name]["out"]), (seed, name)
            assert np.array_equal(np.round(fq[name]["v"] * scales[name].numpy()), fixed[name]["v"]), (seed, name)
            assert fixed[name]["out"].sum() > 0
        floor_v = run_plain(floor_qg, x)
        differs |= any(not np.array_equal(floor_v[n]["v"], fixed[n]["v"]) for n in ("1", "3"))
    assert differs  # the leak really rounds differently from floor here, so the test tells them apart


def test_qat_shift_subtract_refuses_other_decays() -> None:
    spec = sc.QuantSpec(weight_bits=6, rounding="shift_subtract")
    sample = torch.zeros(1, 10, dtype=torch.float64)
    with pytest.raises(sc.errors.QuantizationError,
                       match=r"node '1': beta 3686/4096 at index 0 \(from 0\.9\) is not 1 - 2\^-k .* nearest: "
                             r"0\.875 \(k=3\) or 0\.9375 \(k=4\)"):
        snn.qat.qat(tiny_mlp(0), spec, sample)
    net = shift_mlp(0)
    net[1] = snn.Leaky(0.875, threshold=1.0, learn_beta=True).double()
    with pytest.raises(sc.errors.QuantizationError, match=r"qat: node '1': beta is learnable, but"):
        snn.qat.qat(net, spec, sample)
