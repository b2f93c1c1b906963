"""snnTorch idioms trace exactly: nn.MaxPool2d on spikes, an output=True readout's membrane, and the tutorial
style (init_hidden=False neurons, a time loop in forward). Each is compared with snnTorch itself."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from snncompile.backends.bitsim import run_plain
from torch import nn

import snncompile as sc
from snncompile.errors import SnnCompileWarning, UnsupportedNodeError

snn = pytest.importorskip("snntorch")
from snntorch import utils as snn_utils  # noqa: E402

T = 16


def spikes(shape: tuple[int, ...], p: float = 0.4, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < p).astype(np.float32)


def run_snntorch(net: nn.Module, x: np.ndarray) -> list[np.ndarray]:
    """snnTorch's own outputs, step by step, stacked over time (one array per returned value)."""
    snn_utils.reset(net)
    with torch.no_grad():
        outs = [net(torch.from_numpy(x[t])) for t in range(len(x))]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    return [torch.stack([o[k] for o in outs]).numpy() for k in range(len(outs[0]))]


def or_pool(s: np.ndarray, k: int) -> np.ndarray:
    t, b, c, h, w = s.shape
    return (s.reshape(t, b, c, h // k, k, w // k, k).max(axis=(4, 6)) > 0).astype(s.dtype)


def pooled_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), snn.Leaky(beta=0.8, init_hidden=True), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64, 10), snn.Leaky(beta=0.9, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3)
    return net


def test_maxpool_on_spikes_is_an_exact_or() -> None:
    net = pooled_net()
    graph = sc.trace(net, torch.zeros(1, 1, 8, 8))
    assert [graph.nodes[n].type_name for n in ("2.sum", "2")] == ["Conv2d", "Threshold"]
    x = spikes((T, 5, 1, 8, 8))
    floats = sc.simulate(graph, x)
    assert np.array_equal(floats["output"]["out"], run_snntorch(net, x)[0])
    assert np.array_equal(floats["2"]["out"], or_pool(floats["1"]["out"], 2))
    assert floats["2"]["out"].sum() > 100  # the pool does see spikes
    qgraph = sc.quantize(graph, sc.QuantSpec(), x)
    fixed = run_plain(qgraph, x.astype(np.uint8))
    assert np.array_equal(fixed["2"]["out"], or_pool(fixed["1"]["out"], 2))  # exact in integers, whatever layer 1 did
    report = sc.verify(graph, inputs=x.astype(np.uint8), targets=["bitsim", "onnx"])
    assert report.passed and [r.status for r in report.rungs[2:]] == ["PASS", "PASS"]


def test_maxpool_on_currents_is_refused_by_name() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 3),
                        snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(UnsupportedNodeError, match=r"torch module '1' \(MaxPool2d\) takes '0' \(Conv2d\); .* "
                                                   "only on the binary spikes of one neuron layer"):
        sc.trace(net, torch.zeros(1, 1, 8, 8))


class Readout(nn.Module):
    def __init__(self, synaptic: bool, reset: str = "none", both: bool = True) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.both = both
        self.fc1, self.lif1 = nn.Linear(12, 16), snn.Leaky(beta=0.85, init_hidden=True)
        self.fc2 = nn.Linear(16, 4)
        kw = {"init_hidden": True, "output": True, "reset_mechanism": reset}
        self.out = snn.Synaptic(alpha=0.7, beta=0.9, **kw) if synaptic else snn.Leaky(beta=0.9, **kw)
        with torch.no_grad():
            self.fc1.weight.mul_(2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | torch.Tensor:
        r = self.out(self.fc2(self.lif1(self.fc1(x))))
        return (r[0], r[-1]) if self.both else r[-1]


@pytest.mark.parametrize("synaptic", [False, True], ids=["Leaky", "Synaptic"])
def test_an_output_true_membrane_is_an_li_readout(synaptic: bool) -> None:
    net = Readout(synaptic)
    graph = sc.trace(net, torch.zeros(1, 12))
    assert graph.nodes["out.mem"].type_name == ("CubaLI" if synaptic else "LI")
    x = spikes((T, 3, 12), 0.5)
    ours = sc.simulate(graph, x)
    spk, mem = run_snntorch(net, x)
    assert np.array_equal(ours["output_0"]["out"], spk)
    assert np.abs(ours["output_1"]["out"] - mem).max() < 1e-5  # float64 reference vs snnTorch's float32
    assert np.abs(mem).max() > 0.5
    only_mem = sc.trace(Readout(synaptic, both=False), torch.zeros(1, 12))
    assert "out" not in only_mem.nodes and only_mem.predecessors("output") == ["out.mem"]  # unused spikes pruned


def test_a_resetting_membrane_readout_is_refused_with_the_fix() -> None:
    with pytest.raises(UnsupportedNodeError, match="reset_mechanism='subtract'.*build the readout layer with "
                                                   'reset_mechanism="none"'):
        sc.trace(Readout(False, reset="subtract"), torch.zeros(1, 12))


NUM_STEPS = 12


class Tutorial(nn.Module):
    """snnTorch tutorial 5's network: init_hidden=False and a loop over time in forward."""

    def __init__(self, readout_reset: str = "none", static: bool = False) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.static = static
        self.fc1, self.lif1 = nn.Linear(12, 16), snn.Leaky(beta=0.85)
        self.fc2, self.lif2 = nn.Linear(16, 4), snn.Leaky(beta=0.9, reset_mechanism=readout_reset)
        with torch.no_grad():
            self.fc1.weight.mul_(2)
            self.fc2.weight.mul_(3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk2_rec, mem2_rec = [], []
        for step in range(NUM_STEPS):
            cur1 = self.fc1(x if self.static else x[step])
            spk1, mem1 = self.lif1(cur1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


def test_the_tutorial_loop_traces_exactly() -> None:
    net = Tutorial()
    x = torch.from_numpy(spikes((NUM_STEPS, 3, 12), 0.5))
    graph = sc.trace(net, x)
    assert [(n, graph.nodes[n].type_name) for n in graph.order] == [
        ("input", "Input"), ("fc1", "Affine"), ("lif1", "LIF"), ("fc2", "Affine"), ("lif2", "LIF"),
        ("lif2.mem", "LI"), ("output_0", "Output"), ("output_1", "Output")]
    with torch.no_grad():
        spk, mem = net(x)
    ours = sc.simulate(graph, x.numpy())
    assert spk.sum() > 5 and np.array_equal(ours["output_0"]["out"], spk.numpy())
    assert np.abs(ours["output_1"]["out"] - mem.numpy()).max() < 1e-5


def test_the_tutorial_with_a_resetting_readout_keeps_the_spikes_and_says_so() -> None:
    net = Tutorial("subtract", static=True)
    x = torch.from_numpy(spikes((3, 12), 0.5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = sc.trace(net, x)
    assert [str(w.message) for w in caught if issubclass(w.category, SnnCompileWarning)] == [
        "trace: forward's value 1 (the membrane of 'lif2', reset by its spikes) has no exact readout node and is "
        "left out; the graph's outputs are the others (use reset_mechanism=\"none\" for a membrane readout)"]
    assert graph.outputs == ["output"]
    with torch.no_grad():
        spk, _ = net(x)
    ours = sc.simulate(graph, np.broadcast_to(x.numpy(), (NUM_STEPS, 3, 12)))
    assert np.array_equal(ours["output"]["out"], spk.numpy())


class AddsBetween(Tutorial):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for step in range(NUM_STEPS):
            spk1, mem1 = self.lif1(self.fc1(x[step]) * 2, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            out.append(spk2)
        return torch.stack(out), torch.stack(out)


class ForgetsState(Tutorial):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = []
        for step in range(NUM_STEPS):
            spk1, _ = self.lif1(self.fc1(x[step]), self.lif1.init_leaky())
            spk2, _ = self.lif2(self.fc2(spk1), self.lif2.init_leaky())
            out.append(spk2)
        return torch.stack(out), torch.stack(out)


@pytest.mark.parametrize(("cls", "msg"), [
    (AddsBetween, "module 'lif1' gets a value no traced module produced"),
    (ForgetsState, "neuron module 'lif1' is not given its own previous state at the second step"),
])
def test_loops_the_hooks_cannot_follow_are_refused_with_the_rewrite(cls: type[nn.Module], msg: str) -> None:
    with pytest.raises(UnsupportedNodeError, match=msg + ".*rewrite the model with init_hidden=True"):
        sc.trace(cls(), torch.from_numpy(spikes((NUM_STEPS, 2, 12))))
