"""snncompile.nn layers equal the reference executor on their traced graph: spikes exactly, v within 1e-5."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import snncompile
from snncompile import nn as snn
from snncompile.reference import run as reference_run
from snncompile.semantics import PRESETS

SEMANTICS = {
    "nir": PRESETS["nir"],
    "snntorch": PRESETS["snntorch"],
    "loihi": PRESETS["loihi"],
    "snntorch_immediate_sub": PRESETS["snntorch"].with_(timing="snntorch_immediate"),
    "snntorch_immediate_zero": PRESETS["snntorch"].with_(timing="snntorch_immediate", reset="zero"),
    "delayed_zero_state": PRESETS["snntorch"].with_(reset="zero", delayed_zero="state"),
    "delayed_zero_total": PRESETS["snntorch"].with_(reset="zero", delayed_zero="total"),
    "ge_no_reset": PRESETS["nir"].with_(compare="ge", reset="none"),
    "multi_subtract": PRESETS["nir"].with_(reset="subtract", spikes="multi", spike_cap=3),
    "delay1_add_then_decay_v_init": PRESETS["snntorch"].with_(
        synapse_delay=1, synapse_order="add_then_decay", initial_v="v_init"
    ),
}
N_IN, N, T, B = 3, 5, 24, 4


def _layer(kind: str, sem, gen: torch.Generator) -> torch.nn.Module:
    per_neuron = {
        "beta": torch.rand(N, generator=gen) * 0.6 + 0.3,
        "threshold": torch.rand(N, generator=gen) * 0.8 + 0.4,
    }
    common = {"semantics": sem, "v_reset": 0.1 if sem.reset == "zero" else 0.0, "bias": 0.05,
              "v_init": torch.linspace(-0.2, 0.5, N)}
    if kind == "Leaky":
        return snn.Leaky(per_neuron["beta"], per_neuron["threshold"], **common)
    if kind == "Synaptic":
        return snn.Synaptic(0.6, per_neuron["beta"], per_neuron["threshold"], **common)
    if kind == "IF":
        return snn.IF(per_neuron["threshold"], **common)
    if kind == "LI":
        return snn.LI(per_neuron["beta"], semantics=sem, bias=0.05, v_init=common["v_init"])
    if kind == "CubaLI":
        return snn.LI(per_neuron["beta"], alpha=0.7, semantics=sem, bias=0.05, v_init=common["v_init"])
    if kind == "RLeaky":
        return snn.RLeaky(per_neuron["beta"], per_neuron["threshold"], size=N, **common)
    if kind == "RLeakyOneToOne":
        return snn.RLeaky(per_neuron["beta"], per_neuron["threshold"], size=N, all_to_all=False, **common)
    if kind == "RSynaptic":
        return snn.RSynaptic(0.6, per_neuron["beta"], per_neuron["threshold"], size=N, **common)
    raise AssertionError(kind)


def _run_recording_v(model: torch.nn.Module, neuron: torch.nn.Module, x: torch.Tensor):
    snn.reset(model)
    outs, vs = [], []
    for t in range(x.shape[0]):
        outs.append(model(x[t]))
        vs.append(neuron.v.clone())
    return torch.stack(outs), torch.stack(vs)


KINDS = ["Leaky", "Synaptic", "IF", "LI", "CubaLI", "RLeaky", "RLeakyOneToOne", "RSynaptic"]


@pytest.mark.parametrize("sem_name", list(SEMANTICS))
@pytest.mark.parametrize("kind", KINDS)
def test_layer_equals_reference(kind: str, sem_name: str) -> None:
    gen = torch.Generator().manual_seed(zlib.crc32(f"{kind}/{sem_name}".encode()))
    sem = SEMANTICS[sem_name]
    neuron = _layer(kind, sem, gen)
    fc = torch.nn.Linear(N_IN, N)
    with torch.no_grad():
        fc.weight.copy_(torch.rand(N, N_IN, generator=gen) * 1.5 - 0.3)
        fc.bias.copy_(torch.rand(N, generator=gen) * 0.2)
    model = torch.nn.Sequential(fc, neuron).double()
    x = torch.rand(T, B, N_IN, generator=gen, dtype=torch.float64) * (3.0 if sem.spikes == "multi" else 1.2)
    out, v = _run_recording_v(model, neuron, x)

    graph = snncompile.trace(model, torch.zeros(1, N_IN, dtype=torch.float64))
    node_name = "1.lif" if kind.startswith("R") else "1"
    assert graph.nodes[node_name].semantics == sem
    ref = reference_run(graph, x.numpy())
    got_out = out.detach().numpy()
    if neuron.SPIKING:
        assert got_out.sum() > 0, "test input too weak: no spikes"
        np.testing.assert_array_equal(got_out, ref["output"]["out"])
    else:
        np.testing.assert_allclose(got_out, ref["output"]["out"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(v.detach().numpy(), ref[node_name]["v"], rtol=0, atol=1e-5)


def test_float32_layer_equals_float32_reference() -> None:
    gen = torch.Generator().manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(N_IN, N), snn.Synaptic(0.5, 0.9, 0.5))
    x = torch.rand(T, B, N_IN, generator=gen)
    out = snn.run(model, x).detach().numpy()
    graph = snncompile.trace(model, torch.zeros(1, N_IN))
    ref = reference_run(graph, x.numpy(), dtype=torch.float32)
    np.testing.assert_array_equal(out, ref["output"]["out"])


def test_conv_network_traces_and_matches() -> None:
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), snn.Leaky(0.8, semantics=PRESETS["nir"]),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, 4), snn.LI(0.9),
    ).double()
    x = torch.rand(10, 2, 1, 6, 6, dtype=torch.float64) * 2
    out = snn.run(model, x).detach().numpy()
    graph = snncompile.trace(model, torch.zeros(1, 1, 6, 6, dtype=torch.float64))
    assert [type(graph.nodes[n]).__name__ for n in graph.order] == [
        "Input", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "LI", "Output"
    ]
    ref = reference_run(graph, x.numpy())
    assert ref["1"]["out"].sum() > 0
    np.testing.assert_allclose(out, ref["output"]["out"], rtol=0, atol=1e-5)


def test_trace_keeps_every_parameter() -> None:
    beta = torch.tensor([0.1, 0.5, 1.7])  # 1.7 is clamped to 1, in the forward pass and in the IR
    layer = snn.RSynaptic(0.3, beta, torch.tensor([1.0, 2.0, 3.0]), size=3, v_reset=0.25,
                          semantics=PRESETS["loihi"])
    graph = snncompile.trace(torch.nn.Sequential(torch.nn.Linear(2, 3), layer), torch.zeros(1, 2))
    lif = graph.nodes["1.lif"]
    np.testing.assert_array_equal(lif.beta, np.array([0.1, 0.5, 1.0], np.float32))
    np.testing.assert_array_equal(lif.threshold, np.array([1.0, 2.0, 3.0], np.float32))
    np.testing.assert_array_equal(lif.alpha, np.full(3, 0.3, np.float32))
    np.testing.assert_array_equal(lif.v_reset, np.full(3, 0.25, np.float32))
    assert lif.semantics == PRESETS["loihi"]
    w_rec = graph.nodes["1.w_rec"]
    np.testing.assert_array_equal(w_rec.weight, layer.recurrent.weight.detach().numpy())
    assert ("1.w_rec", "1.lif") in graph.recurrent_edges


def test_trace_leaves_state_untouched_and_rejects_double_call() -> None:
    layer = snn.Leaky(0.9)
    model = torch.nn.Sequential(torch.nn.Linear(2, 3), layer)
    model(torch.ones(1, 2))
    v = layer.v.clone()
    snncompile.trace(model, torch.zeros(1, 2))
    assert torch.equal(layer.v, v)

    class Twice(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lif = snn.Leaky(0.9)

        def forward(self, x):
            return self.lif(self.lif(x))

    with pytest.raises(snncompile.UnsupportedNodeError, match="called twice"):
        snncompile.trace(Twice(), torch.zeros(1, 2))
