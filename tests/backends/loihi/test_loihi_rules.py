"""Design rules: for each limit, a network that breaks exactly that limit gets exactly that error, and one at
the limit maps. Limits the mapper can split around (neurons, axons, memory per core) surface as more cores;
they fail only when one neuron cannot fit a core even alone, or when the cores exceed the chips."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from loihi_cases import loihi_neuron
from snncompile.backends.loihi import BACKEND, LOIHI1, CoreSpec, load_core_spec
from snncompile.backends.loihi.cost import block_bits
from snncompile.backends.loihi.rules import (
    CoreUsage,
    check_input_axons,
    check_neurons_per_core,
    check_output_axons,
    check_synaptic_memory,
)

from snncompile.errors import InputError, QuantizationError, ResourceError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph
from snncompile.semantics import PRESETS

BIG = dict(neurons_per_core=64, input_axons=64, output_axons=64, synaptic_memory_bits=1 << 20, cores_per_chip=8)


def spec(**changes: object) -> CoreSpec:
    return CoreSpec(name="tiny", **{**BIG, **changes})  # type: ignore[arg-type]


def net(weight: np.ndarray, *, n2: int = 0, recurrent: bool = False) -> QGraph:
    """input -> fc (weight) -> n [-> fc2 (all 2) -> n2]; recurrent: n -> r -> n."""
    n_out, n_in = weight.shape
    nodes = {"input": Input(shape=(n_in,)), "fc": QDense(name="fc", weight=weight, w_bits=9),
             "n": loihi_neuron("n", (n_out,), du=100, dv=100, vth=10), "output": Output()}
    edges = [("input", "fc"), ("fc", "n"), ("n", "output")]
    if n2:
        nodes["fc2"] = QDense(name="fc2", weight=np.full((n2, n_out), 2), w_bits=9)
        nodes["n2"] = loihi_neuron("n2", (n2,), du=100, dv=100, vth=10)
        edges += [("n", "fc2"), ("fc2", "n2")]
    if recurrent:
        nodes["r"] = QDense(name="r", weight=np.full((n_out, n_out), 2), w_bits=9)
        edges += [("n", "r"), ("r", "n")]
    return QGraph(nodes, edges)


def usage(**fields: int) -> CoreUsage:
    base = dict(core=3, groups=(("fc2", 0, 512),), neurons=1, synapses=1, input_axons=1, output_axons=1,
                memory_bits=1)
    return CoreUsage(**{**base, **fields})  # type: ignore[arg-type]


# -- resource rules -----------------------------------------------------------------------------------------------

def test_core_rule_messages() -> None:
    s = spec(neurons_per_core=511, input_axons=10, output_axons=10, synaptic_memory_bits=12000)
    cases = [(check_neurons_per_core, dict(neurons=512), "core 3: neurons 512 > 511"),
             (check_input_axons, dict(input_axons=11), "core 3: input axons 11 > 10"),
             (check_output_axons, dict(output_axons=11), "core 3: output axons 11 > 10"),
             (check_synaptic_memory, dict(memory_bits=61440), "core 3: synaptic memory 61440 bits > 12000 bits")]
    for rule, fields, text in cases:
        with pytest.raises(ResourceError, match=rf"^{text} \(layer 'fc2', neurons 0-511\)$"):
            rule(usage(**fields), s)
        rule(usage(), s)  # within capacity: no error


def test_neurons_per_core_and_chips() -> None:
    s = spec(neurons_per_core=4, cores_per_chip=1, max_chips=1)
    assert len(BACKEND.map(net(np.full((4, 3), 2)), core_spec=s).cores) == 1  # at the limit
    with pytest.raises(ResourceError, match=r"^network: cores 2 need 2 chips > 1 chips \(1 cores per chip, "
                                            r"spec 'tiny'\)$"):
        BACKEND.map(net(np.full((5, 3), 2)), core_spec=s)
    assert len(BACKEND.map(net(np.full((5, 3), 2)), core_spec=spec(neurons_per_core=4)).cores) == 2  # splits


def test_fan_in() -> None:
    assert len(BACKEND.map(net(np.full((1, 4), 2)), core_spec=spec(input_axons=4)).cores) == 1
    with pytest.raises(ResourceError, match=r"^layer 'n', neuron 0: fan-in 5 input axons > 4 input axons per core; "
                                            "no core can hold this neuron$"):
        BACKEND.map(net(np.full((1, 5), 2)), core_spec=spec(input_axons=4))


def test_input_axons_split_a_layer() -> None:
    w = np.zeros((2, 6), np.int64)
    w[0, :3], w[1, 3:] = 2, 4  # two neurons with disjoint inputs
    assert len(BACKEND.map(net(w), core_spec=spec(input_axons=6)).cores) == 1
    m = BACKEND.map(net(w), core_spec=spec(input_axons=5))
    assert [c.usage.input_axons for c in m.cores] == [3, 3]


def test_output_axons() -> None:
    s = spec(neurons_per_core=4, output_axons=2)
    m = BACKEND.map(net(np.full((1, 2), 2), n2=8), core_spec=s)  # n's neuron reaches 2 cores: at the limit
    assert max(c.usage.output_axons for c in m.cores) == 2
    with pytest.raises(ResourceError, match=r"^core 0: output axons 3 > 2 \(layer 'n', neurons 0-0\)$"):
        BACKEND.map(net(np.full((1, 2), 2), n2=12), core_spec=s)


def test_synaptic_memory() -> None:
    assert block_bits(np.array([1, 64, 65]), 8, LOIHI1).tolist() == [64, 576, 640]  # blocks of 64, 10-bit header
    s = spec(synaptic_memory_bits=128)  # one synapse per input axon costs one 64-bit word
    assert BACKEND.map(net(np.full((1, 2), 2)), core_spec=s).cores[0].usage.memory_bits == 128
    with pytest.raises(ResourceError, match=r"^core 0: synaptic memory 192 bits > 128 bits \(layer 'n', "
                                            r"neurons 0-0\)$"):
        BACKEND.map(net(np.full((1, 3), 2)), core_spec=s)


def test_sparse_lists_are_chosen_when_cheaper() -> None:
    w = np.zeros((100, 1), np.int64)
    w[[0, 99], 0] = 2  # one axon, two targets 99 apart: dense 100 weights (832 bits), sparse 2 x (8+7) bits
    m = BACKEND.map(net(w), core_spec=spec(neurons_per_core=128))
    assert m.cores[0].usage.memory_bits == 64


def test_synaptic_delay() -> None:
    graph = net(np.full((2, 2), 2), recurrent=True)  # r -> n is recurrent: delay 2, one extra step
    BACKEND.map(graph, core_spec=spec(max_synaptic_delay=1))
    with pytest.raises(ResourceError, match=r"^projection 'r->n': synaptic delay 1 steps > 0 steps$"):
        BACKEND.map(graph, core_spec=spec(max_synaptic_delay=0))


def test_weight_bits() -> None:
    s = spec(weight_bits_options=(1, 2, 4))
    BACKEND.map(net(np.array([[32, -64]])), core_spec=s)  # mixed multiples of 32: 4-bit mantissas
    with pytest.raises(ResourceError, match=r"^projection 'fc->n': 8-bit weights > 4-bit synapse weights "
                                            r"\(spec 'tiny'\)$"):
        BACKEND.map(net(np.array([[2, -64]])), core_spec=s)


# -- field rules ---------------------------------------------------------------------------------------------------

def _neuron_graph(**changes: object) -> QGraph:
    n = dataclasses.replace(loihi_neuron("n", (2,), du=100, dv=100, vth=10), **changes)
    return QGraph({"input": Input(shape=(2,)), "fc": QDense(name="fc", weight=np.full((2, 2), 2), w_bits=9),
                   "n": n, "output": Output()}, [("input", "fc"), ("fc", "n"), ("n", "output")])


@pytest.mark.parametrize(("changes", "error", "text"), [
    (dict(kind="LIF"), UnsupportedNodeError, r"node 'n' \(QNeuron kind LIF\): backend 'loihi' runs CubaLIF neurons"),
    (dict(semantics=PRESETS["loihi"].with_(reset="subtract")), UnsupportedNodeError,
     r"node 'n': semantics reset='subtract', but Loihi computes reset='zero'"),
    (dict(semantics=PRESETS["loihi"].with_(synapse_delay=0)), UnsupportedNodeError,
     r"node 'n': semantics synapse_delay=0, but Loihi computes synapse_delay=1"),
    (dict(input_shift=5), QuantizationError, r"node 'n': input_shift 5 is not Loihi's 6"),
    (dict(v_bits=16, i_bits=16), QuantizationError, r"node 'n': i_bits 16 is not Loihi's 24"),
    (dict(alpha=4096), QuantizationError, r"node 'n': alpha 4096 at \(0,\) does not fit Loihi's 12-bit decay "
                                          r"\(du = 4095 - alpha must be 0..4095, so alpha in 0..4095\)"),
    (dict(beta=0), QuantizationError, r"node 'n': beta 0 at \(0,\) does not fit Loihi's 12-bit decay "
                                      r"\(dv = 4096 - beta must be 0..4095, so beta in 1..4096\)"),
    (dict(threshold=100), QuantizationError, r"node 'n': threshold 100 at \(0,\) is not vth << 6 with vth in "
                                             r"0..131071 \(Loihi's 17-bit threshold mantissa\)"),
    (dict(v_reset=np.array([0, 5])), QuantizationError, r"node 'n': v_reset 5 at \(1,\); Loihi resets v to 0"),
    (dict(bias=4097), QuantizationError, r"node 'n': bias 4097 at \(0,\) is not bias_mant << bias_exp with "
                                         r"bias_mant in -4096..4095 and bias_exp in 0..7"),
    (dict(bias=4096 << 7), QuantizationError, r"node 'n': bias 524288 at \(0,\) is not bias_mant << bias_exp"),
])
def test_neuron_field_rules(changes: dict, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        BACKEND.check(_neuron_graph(**changes))


@pytest.mark.parametrize("changes", [dict(alpha=0, beta=4096), dict(alpha=4095, beta=1), dict(threshold=131071 << 6),
                                     dict(threshold=64), dict(bias=4095 << 7), dict(bias=-4096 << 7), dict(bias=-4096)])
def test_neuron_fields_at_their_limits(changes: dict) -> None:
    BACKEND.check(_neuron_graph(**changes))


def _weights_graph(w: np.ndarray, **changes: object) -> QGraph:
    fc = QDense(name="fc", weight=w, w_bits=10, **changes)  # type: ignore[arg-type]
    return QGraph({"input": Input(shape=(w.shape[1],)), "fc": fc, "n": loihi_neuron("n", (w.shape[0],), du=1, dv=1,
                                                                                      vth=10), "output": Output()},
                  [("input", "fc"), ("fc", "n"), ("n", "output")])


@pytest.mark.parametrize(("w", "changes", "text"), [
    ([[3, -2]], {}, r"node 'fc': weight 3 at \(0, 0\) is not a Loihi 8-bit weight mantissa \(mixed-sign weights "
                    r"must be even values in \[-256, 254\]\)"),
    ([[256, 2]], {}, r"node 'fc': weight 256 at \(0, 0\) .*excitatory weights must lie in \[0, 255\]"),
    ([[-256, 0]], {}, r"node 'fc': weight -256 at \(0, 0\) .*inhibitory weights must lie in \[-255, 0\]"),
    ([[2, 4]], dict(shift=8), r"node 'fc': shift \(weight_exp\) 8 is outside Loihi's -8..7"),
    ([[2, 4]], dict(shift=-9), r"node 'fc': shift \(weight_exp\) -9 is outside Loihi's -8..7"),
    ([[2, 4]], dict(bias=np.array([1])), r"node 'fc': weight-layer bias 1; Loihi's Dense has none"),
])
def test_weight_field_rules(w: list, changes: dict, text: str) -> None:
    with pytest.raises(QuantizationError, match=text):
        BACKEND.check(_weights_graph(np.array(w), **changes))


@pytest.mark.parametrize(("w", "shift"), [([[-256, 254]], 7), ([[255, 1]], -8), ([[-255, -1]], 0)])
def test_weight_fields_at_their_limits(w: list, shift: int) -> None:
    BACKEND.check(_weights_graph(np.array(w), shift=shift))


# -- CoreSpec ------------------------------------------------------------------------------------------------------

def test_presets_and_user_specs(tmp_path: Path) -> None:
    l1, l2 = load_core_spec("loihi1"), load_core_spec("loihi2")
    assert (l1.neurons_per_core, l1.input_axons, l1.output_axons, l1.synaptic_memory_bits, l1.cores_per_chip) == \
        (1024, 4096, 4096, 128 * 1024 * 8, 128)
    assert (l2.neurons_per_core, l2.cores_per_chip) == (8192, 128)
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"base": "loihi2", "neurons_per_core": 100, "max_chips": 2}))
    user = load_core_spec(path)
    assert (user.name, user.neurons_per_core, user.max_chips, user.input_axons) == ("custom", 100, 2, 8192)
    assert CoreSpec.from_dict(user.to_dict()) == user
    bad = [({"neurons_per_core": 0}, "neurons_per_core must be an int >= 1, got 0"),
           ({"colour": 1}, "unknown field\\(s\\) colour"), ({"base": "loihi3"}, "base 'loihi3' is not one of"),
           ({"index_bits_options": [8, 6]}, "index_bits_options must be a non-empty ascending list")]
    for data, text in bad:
        path.write_text(json.dumps(data))
        with pytest.raises(InputError, match=text):
            load_core_spec(path)
    with pytest.raises(InputError, match="'loihi3' is neither a preset .* nor a file"):
        load_core_spec("loihi3")
