"""QAT under per-layer precision: the fake-quantised model uses each layer's own weight width, decay bits and
register width, so its spikes and membranes equal bitsim's on the graph quantised with the same spec."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile import nn as snn
from snncompile.quant.calibrate import OverflowRiskWarning
from snncompile.quant.qnodes import QDense, QNeuron
from snncompile.quant.spec import parse_layer_bits


def tiny_mlp(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(10, 16), snn.Leaky(0.9, threshold=1.0), torch.nn.Linear(16, 4), snn.Leaky(0.8, threshold=0.7),
    ).double()
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    return net


def run_fake_quant(net: torch.nn.Sequential, x: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    rec: dict[str, dict[str, list[np.ndarray]]] = {"1": {"out": [], "v": []}, "3": {"out": [], "v": []}}
    snn.reset(net)
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.from_numpy(x[t])
            for k in range(4):
                h = net[k](h)
                if str(k) in rec:
                    rec[str(k)]["out"].append(h.numpy().copy())
                    rec[str(k)]["v"].append(net[k].v.numpy().copy())
    return {n: {k: np.stack(v) for k, v in d.items()} for n, d in rec.items()}


def test_qat_per_layer_precision_equals_bitsim_exactly() -> None:
    spec = sc.QuantSpec(weight_bits=8, state_bits=16,
                        layers=(parse_layer_bits("@0=w4,d6"), parse_layer_bits("3=w3,s10,d9")))
    sample = torch.zeros(1, 10, dtype=torch.float64)
    x = (np.random.default_rng(7).random((40, 32, 10)) < 0.3).astype(np.float64)
    for seed in (0, 1):
        net = tiny_mlp(seed)
        h = snn.qat.qat(net, spec, sample)
        assert (net[1]._qat.frac_bits, net[1]._qat.bits, net[3]._qat.frac_bits, net[3]._qat.bits) == (6, 16, 9, 10)
        scales, ints = h.scales(), h.integers()
        fq = run_fake_quant(net, x)
        h.remove()
        with warnings.catch_warnings():  # 10-bit registers on layer 3 are meant to clip
            warnings.simplefilter("ignore", OverflowRiskWarning)
            qg = sc.quantize(sc.trace(net, sample), spec, x)
        for name, bits in (("0", 4), ("2", 3)):
            node = qg.nodes[name]
            assert isinstance(node, QDense) and node.w_bits == bits
            assert np.array_equal(ints[name]["weight"].numpy(), node.weight)
            assert int(np.abs(node.weight).max()) == (1 << (bits - 1)) - 1
        fixed = run_plain(qg, x)
        for name, frac in (("1", 6), ("3", 9)):
            node = qg.nodes[name]
            assert isinstance(node, QNeuron) and node.frac_bits == frac
            assert np.array_equal(np.broadcast_to(ints[name]["beta"].numpy(), node.shape), node.beta)
            assert np.array_equal(fq[name]["out"], fixed[name]["out"]), (seed, name)
            assert np.array_equal(np.round(fq[name]["v"] * scales[name].numpy()), fixed[name]["v"]), (seed, name)
            assert fixed[name]["out"].sum() > 0
