"""Register clamp events: counted per (node, register) by every bitsim path, worded once (ClampEvent.text)."""

from __future__ import annotations

import numpy as np
import pytest
from snncompile.backends.bitsim import run_plain_with_clamps, simulate_with_clamps
from snncompile.backends.bitsim.fast import PATHS

from snncompile.errors import SaturationWarning
from snncompile.nodes import Input, Output
from snncompile.quant.clamps import ClampCounter, ClampEvent, warn_clamps
from snncompile.quant.qnodes import QConv2d, QDense, QGraph, QNeuron
from snncompile.semantics import Semantics


def readout_graph(v_bits: int = 8, overflow: str = "saturate") -> QGraph:
    """Input (2) -> QDense -> an integrator readout (LI, beta = 1): v grows by 30 per step from input 0."""
    sem = Semantics(overflow_v=overflow, overflow_i=overflow)
    return QGraph({
        "input": Input(shape=(2,)),
        "fc": QDense(name="fc", weight=[[30, 0], [0, 1]], w_bits=8),
        "readout": QNeuron(name="readout", kind="LI", shape=(2,), semantics=sem, beta=4096, v_bits=v_bits),
        "output": Output(),
    }, [("input", "fc"), ("fc", "readout"), ("readout", "output")])


def test_an_integrator_saturating_from_step_4_on_every_path() -> None:
    """v = 30 (t+1) leaves int8 (max 127) at step 4 and stays clipped: 6 events per sample over 10 steps."""
    spikes = np.ones((10, 3, 2), np.int64)
    spikes[:, 0, 0] = 0  # sample 0 never drives neuron 0
    want = (ClampEvent("readout", "v", "saturate", 8, 12, 4, 1, 0),)
    for path in ("plain", *PATHS, "auto"):
        traces, events = simulate_with_clamps(readout_graph(), spikes, path=path)
        assert events == want, path
        assert traces["readout"]["v"][:, 1, 0].tolist() == [30, 60, 90, 120, 127, 127, 127, 127, 127, 127]


def test_wrap_and_wrap_loihi_events() -> None:
    spikes = np.ones((6, 1, 2), np.int64)
    for policy, first in (("wrap", 4), ("wrap_loihi", 4)):
        _, events = run_plain_with_clamps(readout_graph(overflow=policy), spikes)
        assert [(e.policy, e.step, e.count) for e in events] == [(policy, first, 1)], policy


def test_nothing_clamped_is_no_event() -> None:
    assert run_plain_with_clamps(readout_graph(v_bits=16), np.ones((10, 2, 2), np.int64))[1] == ()


def test_a_conv_neuron_names_its_neuron_by_channel_row_column() -> None:
    graph = QGraph({
        "input": Input(shape=(1, 2, 3)),
        "conv": QConv2d(name="conv", weight=[[[[40]]], [[[1]]]], w_bits=8),
        "n": QNeuron(name="n", kind="CubaLI", shape=(2, 2, 3), alpha=4096, beta=4096, i_bits=8, v_bits=8),
        "output": Output(),
    }, [("input", "conv"), ("conv", "n"), ("n", "output")])
    spikes = np.zeros((5, 2, 1, 2, 3), np.int64)
    spikes[:, 1, 0, 1, 2] = 1  # sample 1, pixel (1, 2): i = 40, 80, 120, 127, 127; v = 40, 120, 127, ...
    _, events = run_plain_with_clamps(graph, spikes)
    assert events == (ClampEvent("n", "i", "saturate", 8, 2, 3, 1, (0, 1, 2)),
                      ClampEvent("n", "v", "saturate", 8, 3, 2, 1, (0, 1, 2)))


def test_messages() -> None:
    e = ClampEvent("readout", "v", "saturate", 8, 2990, 5, 0, 0)
    assert e.text() == ("node 'readout': register v saturated 2990 times (first at step 5, sample 0, neuron 0) on "
                        "the data run; int8 range [-127, 127] (saturate): use more state bits, or calibrate on data "
                        "like this")
    assert ClampEvent("n", "i", "wrap", 4, 1, 0, 2, (1, 0, 3)).text() == (
        "node 'n': register i wrapped 1 time (first at step 0, sample 2, neuron (1, 0, 3)) on the data run; "
        "int4 range [-8, 7] (wrap): use more state bits, or calibrate on data like this")
    assert "register v wrapped 3 times" in ClampEvent("n", "v", "wrap_loihi", 24, 3, 1, 0, 7).text()
    assert "int24 range (-8388608, 8388608] (wrap_loihi)" in ClampEvent("n", "v", "wrap_loihi", 24, 3, 1, 0, 7).text()
    assert e.to_dict() == {"node": "readout", "register": "v", "overflow": "saturate", "bits": 8, "count": 2990,
                           "first_step": 5, "first_sample": 0, "first_neuron": 0}
    assert ClampEvent("n", "i", "wrap", 4, 1, 0, 2, (1, 0, 3)).to_dict()["first_neuron"] == [1, 0, 3]


def test_warn_clamps_issues_one_saturation_warning_per_event() -> None:
    events = (ClampEvent("a", "v", "saturate", 8, 2, 5, 0, 0), ClampEvent("b", "i", "wrap", 8, 1, 0, 0, 1))
    with pytest.warns(SaturationWarning) as record:
        warn_clamps(events)
    assert [str(w.message) for w in record] == [e.text() for e in events]


def test_counter_from_per_neuron_tallies() -> None:
    """The C kernel's per-neuron counts and first steps give the numpy counter's (count, (step, flat index))."""
    counts, firsts = np.array([0, 2, 1, 3]), np.array([0, 7, 4, 4])
    assert ClampCounter.from_per_neuron(counts, firsts) == ClampCounter(6, (4, 2))
    assert ClampCounter.from_per_neuron(np.zeros(4, np.int64), np.zeros(4, np.int64)) == ClampCounter()
    numpy_side = ClampCounter()
    numpy_side.add(4, np.array([[False, False], [True, True]]))
    numpy_side.add(7, np.array([[False, True], [False, True]]))
    assert numpy_side == ClampCounter(4, (4, 2))
