"""snncompile.trace against snnTorch 1.0.0 itself: spikes must agree exactly, membranes to 1e-4.

Every network is run by snnTorch (float32) step by step, with forward hooks recording each neuron
layer's spikes and its mem/syn attributes after the step, and by the float64 reference executor on the
traced graph. Each compared layer must spike, but not on every step, so no case passes vacuously.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snncompile.errors import UnsupportedNodeError
from snncompile.frontend.torch_trace import trace
from snncompile.reference import run

snn = pytest.importorskip("snntorch")

T, B = 30, 3
RESETS = ("subtract", "zero", "none")


# -- helpers -------------------------------------------------------------------------------------------


def _inputs(shape: tuple[int, ...], p: float = 0.4, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((T, B, *shape), generator=gen) < p).float()


def _init_weights(net: nn.Module, mean: float, std: float, *, recurrent_bias: bool = True) -> None:
    """Draw every weight from N(mean, std) (recurrent weights from N(0, std)) so layers fire sensibly."""
    with torch.no_grad():
        for name, m in net.named_modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                recurrent = name.endswith("recurrent")
                m.weight.normal_(0.0 if recurrent else mean, std)
                if recurrent and not recurrent_bias and m.bias is not None:
                    m.bias.zero_()


def _run_snntorch(net: nn.Module, x: torch.Tensor) -> dict[str, dict[str, np.ndarray]]:
    """Spikes (via forward hooks) and mem/syn (module attributes) of every neuron layer, [T, B, ...]."""
    neurons = {n: m for n, m in net.named_modules() if isinstance(m, snn.SpikingNeuron)}
    rec: dict[str, dict[str, list[torch.Tensor]]] = {n: {"spk": [], "mem": [], "syn": []} for n in neurons}

    def hook(name: str):
        def fn(module: nn.Module, args: object, out: object) -> None:
            spk = out[0] if isinstance(out, tuple) else out
            rec[name]["spk"].append(spk.detach().clone())
            rec[name]["mem"].append(module.mem.detach().clone())
            if hasattr(module, "syn"):
                rec[name]["syn"].append(module.syn.detach().clone())

        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in neurons.items()]
    for m in neurons.values():
        m.reset_mem()
    try:
        with torch.no_grad():
            for t in range(T):
                net(x[t])
    finally:
        for h in handles:
            h.remove()
    return {n: {k: torch.stack(v).numpy() for k, v in r.items() if v} for n, r in rec.items()}


def _first_mismatch(layer: str, what: str, want: np.ndarray, got: np.ndarray) -> str:
    bad = np.argwhere(want != got)
    t, b, *neuron = (int(i) for i in bad[0])
    return (
        f"layer '{layer}' {what}: {len(bad)} mismatches; first at t={t} batch={b} neuron={tuple(neuron)}: "
        f"expected {want[(t, b, *neuron)]} got {got[(t, b, *neuron)]}"
    )


def assert_matches_snntorch(net: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Trace ``net``, run both, and compare every neuron layer; returns the spike rate per layer."""
    graph = trace(net, x[0])
    ref = run(graph, x.numpy())
    got_torch = _run_snntorch(net, x)
    rates = {}
    for layer, rec in got_torch.items():
        node = layer if layer in graph.nodes else f"{layer}.lif"
        spk, out = rec["spk"], ref[node]["out"]
        assert spk.shape == out.shape, f"layer '{layer}': shape {spk.shape} vs {out.shape}"
        assert np.array_equal(spk, out), _first_mismatch(layer, "spikes", spk, out)
        assert 0 < spk.sum() < spk.size, f"layer '{layer}' spikes {spk.sum()}/{spk.size}: the test is vacuous"
        np.testing.assert_allclose(ref[node]["v"], rec["mem"], atol=1e-4, rtol=1e-5, err_msg=f"'{layer}' mem")
        if "syn" in rec:
            np.testing.assert_allclose(ref[node]["i"], rec["syn"], atol=1e-4, rtol=1e-5, err_msg=f"'{layer}' syn")
        rates[layer] = float(spk.mean())
    return rates


def _neuron_params(per_neuron: bool, n: int) -> dict[str, torch.Tensor | float]:
    if not per_neuron:
        return {"beta": 0.85, "threshold": 1.0}
    gen = torch.Generator().manual_seed(7)
    return {"beta": 0.6 + 0.35 * torch.rand(n, generator=gen), "threshold": 0.7 + 0.6 * torch.rand(n, generator=gen)}


def _layer(kind: str, n: int, reset: str, delay: bool, per_neuron: bool, **extra: object) -> nn.Module:
    p = _neuron_params(per_neuron, n)
    common = {"init_hidden": True, "reset_mechanism": reset, "reset_delay": delay, **p, **extra}
    if kind in ("Synaptic", "RSynaptic"):
        alpha = 0.3 + 0.5 * torch.rand(n, generator=torch.Generator().manual_seed(3)) if per_neuron else 0.6
        return getattr(snn, kind)(alpha=alpha, **common)
    return getattr(snn, kind)(**common)


# -- feed-forward neurons ------------------------------------------------------------------------------


@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
@pytest.mark.parametrize("delay", [True, False], ids=["delayed", "immediate"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("kind", ["Leaky", "Synaptic"])
def test_feedforward_neurons_match_exactly(kind: str, reset: str, delay: bool, per_neuron: bool) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(12, 16), _layer(kind, 16, reset, delay, per_neuron),
        nn.Linear(16, 10), _layer(kind, 10, reset, delay, per_neuron),
    )
    _init_weights(net, mean=0.08 if kind == "Leaky" else 0.03, std=0.3)
    rates = assert_matches_snntorch(net, _inputs((12,)))
    assert set(rates) == {"1", "3"}


def test_snntorch_immediate_quirk_is_exercised() -> None:
    """reset_delay=False, subtract: a strong drive leaves mem above threshold after the reset (R=1 next step)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 16), snn.Leaky(beta=0.9, init_hidden=True, reset_delay=False))
    _init_weights(net, mean=0.35, std=0.3)
    x = _inputs((12,), p=0.5)
    assert_matches_snntorch(net, x)
    mem = _run_snntorch(net, x)["1"]["mem"]
    assert (mem > 1.0).sum() > 10, "no membrane stayed above threshold after its reset"


def test_conv1d_dropout_identity_and_two_outputs() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3, padding="same")
            self.drop, self.ident = nn.Dropout(0.5), nn.Identity()
            self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)
            self.flat, self.fc = nn.Flatten(), nn.Linear(4 * 10, 6)
            self.lif2 = snn.Synaptic(alpha=0.5, beta=0.8, init_hidden=True)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            s1 = self.lif1(self.ident(self.drop(self.conv(x))))
            return s1, self.lif2(self.fc(self.flat(s1)))

    torch.manual_seed(0)
    net = Net().eval()
    _init_weights(net, mean=0.08, std=0.3)
    assert_matches_snntorch(net, _inputs((2, 10)))
    graph = trace(net, torch.zeros(1, 2, 10), name_prefix="m.", dt=1e-3)
    assert graph.outputs == ["output_0", "output_1"] and graph.dt == 1e-3
    assert graph.nodes["m.conv"].padding == 1 and set(graph.predecessors("m.lif1")) == {"m.conv"}


# -- recurrent neurons ---------------------------------------------------------------------------------


def _recurrent_net(kind: str, reset: str, delay: bool, per_neuron: bool, mode: str, bias: bool) -> nn.Module:
    extra: dict[str, object] = {"linear_features": 10} if mode == "linear" else {"all_to_all": False}
    if mode == "V":
        extra["V"] = torch.linspace(-0.5, 0.5, 10) if per_neuron else 0.3
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 10), _layer(kind, 10, reset, delay, per_neuron, **extra))
    _init_weights(net, mean=0.1 if kind == "RLeaky" else 0.03, std=0.35, recurrent_bias=bias)
    return net


@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
@pytest.mark.parametrize("mode", ["linear", "V"])
@pytest.mark.parametrize("delay", [True, False], ids=["delayed", "immediate"])
@pytest.mark.parametrize("reset", RESETS)
def test_rleaky_matches_exactly(reset: str, delay: bool, mode: str, per_neuron: bool) -> None:
    net = _recurrent_net("RLeaky", reset, delay, per_neuron, mode, bias=False)
    assert_matches_snntorch(net, _inputs((12,)))
    graph = trace(net, torch.zeros(1, 12))
    assert graph.recurrent_edges == {("1.w_rec", "1.lif")}
    assert graph.nodes["1.w_rec"].type_name == ("Affine" if mode == "linear" else "Scale")


@pytest.mark.parametrize("per_neuron", [False, True], ids=["scalar", "per_neuron"])
@pytest.mark.parametrize("mode", ["linear", "V"])
@pytest.mark.parametrize("reset", RESETS)
def test_rsynaptic_matches_exactly(reset: str, mode: str, per_neuron: bool) -> None:
    assert_matches_snntorch(_recurrent_net("RSynaptic", reset, True, per_neuron, mode, bias=False), _inputs((12,)))


@pytest.mark.parametrize("kind", ["RLeaky", "RSynaptic"])
def test_recurrent_linear_bias_matches_exactly(kind: str) -> None:
    assert_matches_snntorch(_recurrent_net(kind, "subtract", True, False, "linear", bias=True), _inputs((12,)))


def test_rleaky_conv2d_matches_exactly() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), snn.RLeaky(beta=0.8, conv2d_channels=3, kernel_size=3, init_hidden=True),
    )
    _init_weights(net, mean=0.1, std=0.3)
    assert_matches_snntorch(net, _inputs((1, 6, 6)))


def test_rleaky_conv2d_without_bias_matches_exactly() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1), snn.RLeaky(beta=0.8, conv2d_channels=3, kernel_size=3, init_hidden=True),
    )
    _init_weights(net, mean=0.1, std=0.3, recurrent_bias=False)
    assert_matches_snntorch(net, _inputs((1, 6, 6)))
    assert trace(net, torch.zeros(1, 1, 6, 6)).nodes["1.w_rec"].padding == (1, 1)


def test_rsynaptic_reset_delay_false_is_refused_like_snntorch_crashes() -> None:
    layer = snn.RSynaptic(alpha=0.5, beta=0.8, linear_features=4, init_hidden=True, reset_delay=False)
    with pytest.raises(TypeError):  # snnTorch 1.0.0 divides its `spk` argument (None) in forward
        layer(torch.ones(2, 4))
    with pytest.raises(UnsupportedNodeError, match=r"'1' \(RSynaptic\): reset_delay=False cannot run"):
        trace(nn.Sequential(nn.Linear(3, 4), layer), torch.zeros(1, 3))


# -- convolutional nets, fan-in ------------------------------------------------------------------------


@pytest.mark.parametrize("conv", [{}, {"padding": 1, "stride": 2}], ids=["plain", "pad1_stride2"])
def test_conv_net_matches_exactly(conv: dict[str, int]) -> None:
    torch.manual_seed(0)
    beta = torch.linspace(0.7, 0.95, 4).reshape(4, 1, 1) if conv else 0.9  # per channel: broadcasts like torch
    net = nn.Sequential(
        nn.Conv2d(2, 4, 3, **conv), snn.Leaky(beta=beta, init_hidden=True),
        nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(4 * 2 * 2 if conv else 4 * 3 * 3, 8), snn.Leaky(beta=0.85, init_hidden=True, reset_mechanism="zero"),
    )
    _init_weights(net, mean=0.06, std=0.3)
    assert_matches_snntorch(net, _inputs((2, 8, 8)))
    graph = trace(net, torch.zeros(1, 2, 8, 8))
    assert [graph.nodes[n].type_name for n in "012345"] == ["Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "LIF"]
    assert graph.nodes["3"].start_dim == 0 and graph.metadata["snncompile.source"] == "torch.trace"


class FanIn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 8), nn.Linear(12, 8, bias=False)
        self.lif = snn.Leaky(beta=0.8, init_hidden=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.fc1(x) + self.fc2(x))


def test_fan_in_matches_exactly() -> None:
    torch.manual_seed(0)
    net = FanIn()
    _init_weights(net, mean=0.05, std=0.3)
    assert_matches_snntorch(net, _inputs((12,)))
    graph = trace(net, torch.zeros(1, 12))
    assert set(graph.predecessors("lif")) == {"fc1", "fc2"} and graph.nodes["fc2"].type_name == "Linear"


def test_output_tuple_spikes_only() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.lif = nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, output=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spk, mem = self.lif(self.fc(x))
            return spk

    graph = trace(Net(), torch.zeros(1, 4))
    assert graph.edges == (("input", "fc"), ("fc", "lif"), ("lif", "output"))
    seq = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, output=True))
    with pytest.raises(UnsupportedNodeError, match=r"\(spk, mem\) tuple of neuron module '1' \(Leaky, output=True\)"):
        trace(seq, torch.zeros(1, 4))


# -- errors --------------------------------------------------------------------------------------------


def test_init_hidden_false_is_refused() -> None:
    net = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9))
    with pytest.raises(UnsupportedNodeError, match=r"'1' \(Leaky\) has init_hidden=False.*init_hidden=True"):
        trace(net, torch.zeros(1, 4))


def test_graded_spikes_factor_is_refused() -> None:
    net = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, graded_spikes_factor=2.0))
    with pytest.raises(UnsupportedNodeError, match=r"'1' \(Leaky\): argument graded_spikes_factor=.* not supported"):
        trace(net, torch.zeros(1, 4))


def test_unsupported_module_is_refused() -> None:
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), snn.Leaky(beta=0.9, init_hidden=True))
    msg = r"torch module '1' \(ReLU\) is not supported by snncompile.trace; supported: nn.Linear"
    with pytest.raises(UnsupportedNodeError, match=msg):
        trace(net, torch.zeros(1, 4))


def _heaviside_ge(v: torch.Tensor) -> torch.Tensor:
    return (v >= 0).float()


class UsesSyn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.lif = nn.Linear(4, 3), snn.Synaptic(alpha=0.5, beta=0.9, init_hidden=True, output=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spk, syn, mem = self.lif(self.fc(x))
        return spk + mem


class SharedNeuron(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.lif = nn.Linear(4, 3), nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.fc1(x)) + self.lif(self.fc2(x))


@pytest.mark.parametrize(
    ("make", "shape", "msg"),
    [
        (UsesSyn, (4,), r"the membrane of neuron module 'lif' \(Synaptic, output=True, reset_mechanism='subtract'\) "
                        r"is used as a readout, but it is reset"),
        (SharedNeuron, (4,), r"neuron module 'lif' is called twice per step"),
        (lambda: nn.Sequential(nn.Flatten(0)), (4,), r"'0' \(Flatten\): start_dim=0, end_dim=-1 flatten the batch"),
        (lambda: nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)), (1, 4, 4), r"'0' \(AvgPool2d\): ceil_mode=True"),
        (lambda: nn.Sequential(nn.Conv2d(1, 1, 3, padding_mode="reflect")), (1, 4, 4), r"padding_mode='reflect'"),
        (lambda: nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True, spike_grad=_heaviside_ge)),
         (4,), r"'1' \(Leaky\): spike_grad's forward is not the Heaviside step"),
        (lambda: nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=torch.rand(5), init_hidden=True)),
         (4,), r"parameter 'beta' of shape \(5,\) does not broadcast to the neuron shape \(3,\)"),
    ],
    ids=["uses_mem", "shared_neuron", "flatten_batch", "ceil_mode", "reflect_pad", "spike_grad", "beta_shape"],
)
def test_other_unsupported_cases(make: object, shape: tuple[int, ...], msg: str) -> None:
    with pytest.raises(UnsupportedNodeError, match=msg):
        trace(make(), torch.zeros(1, *shape))  # type: ignore[operator]
