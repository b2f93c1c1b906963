"""train()/evaluate() loops and model-level QAT: determinism, learning, exact agreement with the quantiser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile import nn as snn
from snncompile.nn import loss as L
from snncompile.quant.qnodes import QDense, QNeuron


def toy_task(n: int = 96, T: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes, each firing a different half of 8 inputs at rate 0.6 (0.05 elsewhere)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    p = torch.full((n, 8), 0.05)
    p[y == 0, :4] = 0.6
    p[y == 1, 4:] = 0.6
    x = (torch.rand(T, n, 8, generator=g) < p).float()
    return x, y


def mlp(seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(8, 12), snn.Leaky(0.9, threshold=1.0), torch.nn.Linear(12, 2), snn.Leaky(0.8),
    ).to(dtype)


def test_train_is_deterministic_and_learns() -> None:
    x, y = toy_task()
    runs = []
    for _ in range(2):
        net = mlp()
        hist = snn.train(net, (x, y), epochs=6, loss_fn=L.ce_count_loss, lr=1e-2, seed=3, progress=False,
                         batch_size=32)
        runs.append((hist["loss"], [p.detach().clone() for p in net.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    losses = runs[0][0]
    assert len(losses) == 6 and losses[-1] < 0.7 * losses[0]
    assert snn.evaluate(net, x, y, "rate") >= 0.9
    assert not torch.are_deterministic_algorithms_enabled()  # restored


def test_train_accepts_batches_regularizer_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = toy_task(n=32)
    batches = [(x[:, :16], y[:16]), (x[:, 16:], y[16:])]
    net = mlp()
    calls = []

    def reg(out: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        calls.append(out.shape)
        return L.spike_rate_l1(out)

    hist = snn.train(net, batches, epochs=2, loss_fn=L.ce_count_loss, regularizer=reg, seed=0, progress=True)
    assert len(hist["loss"]) == 2 and calls == [(8, 16, 2)] * 4
    err = capsys.readouterr().err
    assert "epoch 2/2" in err or "train" in err
    assert 0.0 <= snn.evaluate(net, x, y, "latency") <= 1.0
    assert 0.0 <= snn.evaluate(net, x.numpy(), y.numpy(), "membrane") <= 1.0
    with pytest.raises(sc.InputError):
        snn.evaluate(net, x, y, "bogus")


SPEC = sc.QuantSpec(weight_bits=8, frac_bits=10, rounding="nearest")  # toward_zero decays drift ~1 unit/step


def trained_qat_mlp(spec: sc.QuantSpec = SPEC) -> tuple[torch.nn.Sequential, snn.QATHandle]:
    x, y = toy_task()
    net = mlp(dtype=torch.float64)
    handle = snn.qat.qat(net, spec, torch.zeros(1, 8, dtype=torch.float64))
    snn.train(net, (x.double(), y), epochs=4, loss_fn=L.ce_count_loss, lr=1e-2, progress=False, batch_size=32)
    return net, handle


def test_qat_integers_equal_the_quantiser_and_bitsim_spikes_agree() -> None:
    net, h = trained_qat_mlp()
    sample = torch.zeros(1, 8, dtype=torch.float64)
    fq = {"0": net[0].weight.detach().clone(), "2": net[2].weight.detach().clone()}
    fb = {"0": net[0].bias.detach().clone(), "2": net[2].bias.detach().clone()}
    scales, ints = h.scales(), h.integers()
    rng = np.random.default_rng(5)
    xr = (rng.random((30, 64, 8)) < 0.3).astype(np.float64)
    fq_out: dict[str, list[np.ndarray]] = {"1": [], "3": []}
    snn.reset(net)
    with torch.no_grad():
        for t in range(xr.shape[0]):
            s1 = net[1](net[0](torch.from_numpy(xr[t])))
            fq_out["1"].append(s1.numpy())
            fq_out["3"].append(net[3](net[2](s1)).numpy())
    h.remove()
    assert not hasattr(net[0], "parametrizations") and isinstance(net[0].weight, torch.nn.Parameter)
    qg = sc.quantize(sc.trace(net, sample), SPEC, xr)
    for name in ("0", "2"):
        node = qg.nodes[name]
        assert isinstance(node, QDense)
        s = scales[name].reshape(-1, 1)
        assert torch.equal(torch.round(fq[name] * s).to(torch.int64), torch.from_numpy(np.array(node.weight)))
        np.testing.assert_allclose((fq[name] * s).numpy(), node.weight, atol=1e-9)
        np.testing.assert_allclose((fb[name] * scales[name]).numpy(), node.bias, atol=1e-6)
        assert np.array_equal(ints[name]["weight"].numpy(), node.weight)
        assert np.array_equal(ints[name]["bias"].numpy(), node.bias)
    for name in ("1", "3"):
        node = qg.nodes[name]
        assert isinstance(node, QNeuron)
        assert np.array_equal(np.broadcast_to(ints[name]["threshold"].numpy(), node.shape), node.threshold)
        assert np.array_equal(np.broadcast_to(ints[name]["beta"].numpy(), node.shape), node.beta)
    fixed = run_plain(qg, xr)
    for name in ("1", "3"):
        agree = float(np.mean(np.stack(fq_out[name]) == fixed[name]["out"]))
        assert agree >= 0.99, (name, agree)
        assert np.stack(fq_out[name]).sum() > 0


def test_qat_readout_and_recurrence_share_the_compilers_scales() -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(5, 6), snn.RLeaky(0.9, 0.5, size=6), torch.nn.Linear(6, 3), snn.LI(0.9),
    ).double()
    sample = torch.zeros(1, 5, dtype=torch.float64)
    spec = sc.QuantSpec(weight_bits=5, frac_bits=8, scale_rule="pow2")
    with snn.qat.qat(net, spec, sample) as h:
        scales, ints = h.scales(), h.integers()
        assert torch.unique(scales["2"]).numel() == 1  # one scale per non-spiking readout
        snn.run(net, torch.rand(4, 2, 5, dtype=torch.float64)).sum().backward()
        assert net[0].parametrizations.weight.original.grad is not None
    qg = sc.quantize(sc.trace(net, sample), spec)
    for name in ("0", "1.w_rec", "2"):
        assert np.array_equal(ints[name]["weight"].numpy(), qg.nodes[name].weight), name
        np.testing.assert_array_equal(scales[name].numpy(), np.broadcast_to(qg.metadata["scales"][name], (
            qg.nodes[name].weight.shape[0],)))
    assert np.array_equal(np.broadcast_to(ints["1.lif"]["threshold"].numpy(), (6,)), qg.nodes["1.lif"].threshold)


def test_qat_is_removable_and_switchable() -> None:
    net = mlp(dtype=torch.float64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(6, 4, 8, dtype=torch.float64)
    ref = snn.run(net, x)
    opt_params = list(net.parameters())
    h = snn.qat.qat(net, sc.QuantSpec(weight_bits=3), torch.zeros(1, 8, dtype=torch.float64))
    assert {id(p) for p in net.parameters()} == {id(p) for p in opt_params}  # an optimizer keeps working
    assert not torch.equal(net[0].weight, before["0.weight"])  # 3-bit weights differ
    with h.disabled():
        assert torch.equal(net[0].weight, before["0.weight"]) and torch.equal(snn.run(net, x), ref)
    assert h.enabled
    h.enabled = False
    assert torch.equal(snn.run(net, x), ref)
    h.enabled = True
    with pytest.raises(sc.QuantizationError, match="already"):
        snn.qat.qat(net, sc.QuantSpec(), torch.zeros(1, 8, dtype=torch.float64))
    h.remove()
    assert type(net[0]) is torch.nn.Linear and type(net[1]) is snn.Leaky
    after = net.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    assert torch.equal(snn.run(net, x), ref)
    off = snn.qat(net, sc.QuantSpec(weight_bits=3), torch.zeros(1, 8, dtype=torch.float64), enabled=False)  # type: ignore[operator]
    assert torch.equal(snn.run(net, x), ref)
    off.remove()
    with pytest.raises(sc.QuantizationError, match="percentile"):
        snn.qat.qat(net, sc.QuantSpec(scale_rule="percentile"), torch.zeros(1, 8, dtype=torch.float64))
