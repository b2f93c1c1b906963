"""The onnx backend object: files written (atomically), what they hold, running them, and what it rejects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx_graphs import qneuron, recurrent_graph, trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.backend import read_golden
from snncompile.backends.onnx import BACKEND

from snncompile.errors import InputError, UnsupportedNodeError
from snncompile.graph import Graph
from snncompile.nodes import Delay, Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import Semantics


def small() -> QGraph:
    return recurrent_graph(np.random.default_rng(7))


def spikes(graph: QGraph, steps: int = 6, batch: int = 2, seed: int = 0) -> np.ndarray:
    shape = graph.nodes["in"].shape  # type: ignore[attr-defined]
    return (np.random.default_rng(seed).random((steps, batch, *shape)) < 0.5).astype(np.uint8)


def test_emit_writes_checked_models_and_initial_state(tmp_path: Path) -> None:
    graph = small()
    files = BACKEND.emit(graph, tmp_path / "out")
    assert BACKEND.name == "onnx"
    assert sorted(files) == ["initial_state.npz", "scan.onnx", "step.onnx"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(files)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind
    step = onnx.load(str(files["step.onnx"]))
    onnx.checker.check_model(step, full_check=True)
    onnx.checker.check_model(onnx.load(str(files["scan.onnx"])), full_check=True)
    states = [i.name for i in step.graph.input if i.name.startswith("state/")]
    with np.load(files["initial_state.npz"]) as init:
        assert sorted(init.files) == sorted(states)
    assert {"state/lif/v", "state/w_rec/rec", "state/loop/buf"} <= set(states)
    assert [o.name for o in step.graph.output if o.name.startswith("next/")] == [
        s.replace("state/", "next/", 1) for s in states]


def test_run_from_the_folder_and_the_returned_dict(tmp_path: Path) -> None:
    graph = small()
    data = spikes(graph)
    files = BACKEND.emit(graph, tmp_path / "out")
    want = run_plain(graph, data)
    assert trace_mismatches(want, BACKEND.run(tmp_path / "out", data)) == []
    assert trace_mismatches(want, BACKEND.run(files, data, model="step")) == []


def test_emit_with_inputs_writes_stimuli_and_golden(tmp_path: Path) -> None:
    graph = small()
    data = spikes(graph, seed=3)
    files = BACKEND.emit(graph, tmp_path / "out", data)
    assert {"stimuli.npy", "golden.npz"} <= set(files)
    want = run_plain(graph, data)
    assert trace_mismatches(want, read_golden(files["golden.npz"])) == []
    assert trace_mismatches(want, BACKEND.run(tmp_path / "out")) == []  # the stimuli by default


def test_step_model_with_onnxruntime_directly(tmp_path: Path) -> None:
    """What docs/onnx.md tells a user to do: feed state/* back from next/* every step."""
    graph = small()
    data = spikes(graph, steps=5, batch=3)
    files = BACKEND.emit(graph, tmp_path / "out")
    sess = ort.InferenceSession(str(files["step.onnx"]), providers=["CPUExecutionProvider"])
    with np.load(files["initial_state.npz"]) as init:
        state = {k: np.repeat(init[k], 3, axis=0) for k in init.files}
    outs = []
    for t in range(5):
        names = [o.name for o in sess.get_outputs()]
        values = dict(zip(names, sess.run(names, {"in/in": data[t], **state}), strict=True))
        state = {k.replace("next/", "state/", 1): v for k, v in values.items() if k.startswith("next/")}
        outs.append(values["out/out"])
    assert np.array_equal(np.stack(outs), run_plain(graph, data)["out"]["out"])


def test_emit_into_an_existing_folder_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.txt").write_text("mine")
    (out / "step.onnx").write_text("stale")
    BACKEND.emit(small(), out)
    assert (out / "README.txt").read_text() == "mine"
    onnx.checker.check_model(onnx.load(str(out / "step.onnx")))


def overflowing() -> QGraph:
    neuron = QNeuron(name="lif", kind="LIF", shape=(2,), beta=4000, threshold=100, v_bits=32, input_shift=16)
    dense = QDense(name="fc", weight=np.full((2, 3), 2**15 - 1), w_bits=16, shift=31)
    return QGraph({"in": Input(shape=(3,)), "fc": dense, "lif": neuron, "out": Output()},
                  [("in", "fc"), ("fc", "lif"), ("lif", "out")])


def drifting() -> QGraph:
    neuron = QNeuron(name="ro", kind="LI", shape=(2,), beta=4000, v_bits=8,
                     semantics=Semantics(overflow_v="wrap_loihi"))
    dense = QDense(name="fc", weight=np.full((2, 3), 300), w_bits=10)
    return QGraph({"in": Input(shape=(3,)), "fc": dense, "ro": neuron, "out": Output()},
                  [("in", "fc"), ("fc", "ro"), ("ro", "out")])


def delay_loop() -> QGraph:
    rng = np.random.default_rng(0)
    return QGraph({"in": Input(shape=(2,)), "d": Delay(delay=np.array([1, 2])),
                   "fc": QDense(name="fc", weight=np.eye(2, dtype=np.int64), w_bits=4),
                   "lif": qneuron(rng, "lif", (2,), kind="LIF"), "out": Output()},
                  [("in", "d"), ("d", "fc"), ("fc", "d"), ("fc", "lif"), ("lif", "out")])


UNSUPPORTED = {
    "int64 overflow": (overflowing, f"node 'lif' (QNeuron): the input shifted by input_shift=16 can reach magnitude "
                                    f"{3 * (2**15 - 1) << 47} (> 2^63-1); backend 'onnx' computes in int64 and "
                                    "cannot represent it exactly"),
    "drifting wrap_loihi": (drifting, "node 'ro' (QNeuron): overflow_v='wrap_loihi' corrects v once by 2^8, but "
                                      "its pre-clamp value can reach [-127, 1028], beyond one correction's reach "
                                      "(-3*2^7, 3*2^7], so v drifts without bound (bitsim's int64 products "
                                      "eventually overflow); backend 'onnx' supports wrap_loihi only where one "
                                      "correction keeps the register in range (use saturate or wrap)"),
    "delay loop": (delay_loop, "node 'd' (Delay): its output has no bound independent of the number of steps (a "
                               "recurrent loop without a neuron, or a wrap_loihi register that drifts, feeds it); "
                               "backend 'onnx' cannot prove its int64 arithmetic exact"),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_raises_and_writes_nothing(case: str, tmp_path: Path) -> None:
    build, message = UNSUPPORTED[case]
    graph = build()
    with pytest.raises(UnsupportedNodeError) as info:
        BACKEND.check(graph)
    assert str(info.value) == message
    with pytest.raises(UnsupportedNodeError):
        BACKEND.emit(graph, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_rejects_a_float_graph() -> None:
    graph = Graph({"in": Input(shape=(2,)), "o": Output()}, [("in", "o")])
    with pytest.raises(UnsupportedNodeError, match=r"^backend 'onnx' takes a QGraph, got Graph; quantise the "
                                                   r"graph first \(emit_float writes the float model\)$"):
        BACKEND.check(graph)


def test_rejects_inputs_that_are_not_spikes(tmp_path: Path) -> None:
    graph = small()
    data = spikes(graph)
    data[2, 1, 0] = 2
    BACKEND.emit(graph, tmp_path / "out")
    with pytest.raises(InputError, match=r"^input 'in': value 2 at \[t=2, b=1, \(0,\)\] is not a spike \(0 or 1\)$"):
        BACKEND.run(tmp_path / "out", data)
    with pytest.raises(InputError, match=r"^input 'in': value 2 at \[t=2, b=1, \(0,\)\] is not a spike \(0 or 1\)$"):
        BACKEND.run(graph, data)
