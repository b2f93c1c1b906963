"""The emitted project: gcc C-simulation through its Makefile, the testbench's verdicts, emit's contract, errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import trace_mismatch
from hls_cases import build, golden_edit, hls_cache  # noqa: F401
from snncompile.backends.bitsim import run_plain
from snncompile.backends.hls import BACKEND
from snncompile.backends.hls.binfmt import golden_values, split_traces
from snncompile.backends.hls.runner import build as build_library

from snncompile.errors import BackendError, UnsupportedNodeError
from snncompile.nodes import Delay, Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import Semantics

EXPECTED_FILES = ["Makefile", "README.md", "golden.bin", "project.json", "run_hls.tcl", "snn.c", "snn.h",
                  "snn_runtime.h", "snn_sim.c", "snn_trace.h", "stimuli.bin", "tb.c", "weights.h"]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, QGraph, np.ndarray]:
    graph, spikes = build("recurrent", "snntorch", 8, seed=3)
    out = tmp_path_factory.mktemp("emit") / "proj"
    result = BACKEND.emit(graph, out, spikes, unroll=2)
    assert result["files"] == EXPECTED_FILES
    proc = run(["make", "csim"], out)  # gcc -std=c99 -Wall -Wextra -Werror -pedantic -O3 -march=native
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "-Werror" in proc.stdout and "warning" not in (proc.stdout + proc.stderr).lower()
    assert "PASS: 3 samples x 12 timesteps, all traces" in proc.stdout
    return out, graph, spikes


def test_golden_holds_every_bitsim_trace(project: tuple[Path, QGraph, np.ndarray]) -> None:
    out, graph, spikes = project
    layout, values = golden_values(out / "golden.bin")
    want = run_plain(graph, spikes)
    assert trace_mismatch(want, split_traces(layout, values)) == ""
    for t in layout:  # each trace in the narrowest signed width holding its values: spikes in one byte
        a = want[t.node][t.key]
        assert t.width == min(w for w in (1, 2, 4, 8) if -(1 << (8 * w - 1)) <= a.min() and a.max() < 1 << (8 * w - 1))
    assert ("lif1", "out", 1) in {(t.node, t.key, t.width) for t in layout}
    assert {(t.node, t.key) for t in layout} >= {("lif1", "out"), ("lif1", "v"), ("li", "v"), ("loop", "out")}


def _golden_v1(path: Path) -> bytes:
    """The same golden.bin in format version 1: every value int64, no width field (what earlier exports wrote)."""
    import struct

    from snncompile.backends.hls.binfmt import _str, read_golden

    layout, data, _ = read_golden(path)
    head = b"SNNG" + struct.pack("<IIIII", 1, data.shape[0], data.shape[1], len(layout), data.shape[2])
    for t in layout:
        head += _str(t.node) + _str(t.key) + struct.pack(f"<I{len(t.shape)}I", len(t.shape), *t.shape)
    return head + data.astype("<i8").tobytes()


def test_golden_of_format_version_1_still_reads(project: tuple[Path, QGraph, np.ndarray], tmp_path: Path) -> None:
    out, graph, spikes = project
    (tmp_path / "golden.bin").write_bytes(_golden_v1(out / "golden.bin"))
    assert trace_mismatch(run_plain(graph, spikes), split_traces(*golden_values(tmp_path / "golden.bin"))) == ""
    for mode in ([], ["--outputs-only"]):
        proc = run(["./tb", *mode, "stimuli.bin", str(tmp_path / "golden.bin")], out)
        assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr


def test_golden_widths_round_trip_at_every_boundary() -> None:
    from snncompile.backends.hls.binfmt import TraceSpec, golden_bytes

    edges = [0, 1, -1, 127, -128, 128, -129, 32767, -32768, 32768, -32769, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
             2**63 - 1, -2**63]
    layout = [TraceSpec(f"n{k}", "v", (2,)) for k in range(len(edges))]
    traces = {f"n{k}": {"v": np.array([[[0, e]], [[e, 0]]], np.int64)} for k, e in enumerate(edges)}  # [T=2, B=1, 2]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "golden.bin"
        path.write_bytes(golden_bytes(layout, traces))
        got_layout, values = golden_values(path)
        got = split_traces(got_layout, values)
    widths = [t.width for t in got_layout]
    assert widths == [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8]
    for k in range(len(edges)):
        assert np.array_equal(got[f"n{k}"]["v"], traces[f"n{k}"]["v"]), edges[k]


def test_corrupted_golden_fails_with_the_first_mismatch(project: tuple[Path, QGraph, np.ndarray],
                                                        tmp_path: Path) -> None:
    out, _, _ = project
    corrupt = tmp_path / "golden.bin"
    data, value, wrong = golden_edit(out / "golden.bin", 1, 4, "lif1", "v", 7, lambda v: v + 1 if v < 100 else v - 1)
    corrupt.write_bytes(data)
    proc = run(["./tb", "stimuli.bin", str(corrupt)], out)
    assert proc.returncode == 1
    assert proc.stdout.strip() == (f"MISMATCH sample 1 timestep 4 layer 'lif1' (v) neuron 7 (7): "
                                   f"expected {wrong}, got {value}")


def test_outputs_only_mode_checks_the_top_function(project: tuple[Path, QGraph, np.ndarray], tmp_path: Path) -> None:
    out, _, spikes = project
    proc = run(["./tb", "--outputs-only", "stimuli.bin", "golden.bin"], out)
    assert proc.returncode == 0 and "PASS: 3 samples x 12 timesteps, outputs" in proc.stdout, proc.stdout
    data, _, _ = golden_edit(out / "golden.bin", 2, 11, "output", "out", 1, lambda v: v + 5 if v < 100 else v - 5)
    (tmp_path / "golden.bin").write_bytes(data)
    proc = run(["./tb", "--outputs-only", "stimuli.bin", str(tmp_path / "golden.bin")], out)
    assert proc.returncode == 1 and proc.stdout.startswith("MISMATCH sample 2 timestep 11 layer 'output' (out)")


def test_testbench_rejects_golden_of_another_network(project: tuple[Path, QGraph, np.ndarray],
                                                     tmp_path: Path) -> None:
    out, _, _ = project
    graph, spikes = build("mlp", "nir", 4)
    other = BACKEND.emit(graph, tmp_path / "other", spikes)["dir"]
    proc = run(["./tb", "stimuli.bin", str(Path(other) / "golden.bin")], out)
    assert proc.returncode == 2 and "golden.bin is for another model" in proc.stderr


def test_run_on_the_emitted_project(project: tuple[Path, QGraph, np.ndarray]) -> None:
    out, graph, spikes = project
    assert trace_mismatch(run_plain(graph, spikes), BACKEND.run(out, spikes)) == ""


def test_emit_replaces_the_folder_atomically_and_describes_itself(tmp_path: Path) -> None:
    graph, spikes = build("cuba", "loihi", 4)
    target = tmp_path / "out" / "hls"
    target.mkdir(parents=True)
    (target / "stale.txt").write_text("old")
    result = BACKEND.emit(graph, target, spikes, sparse=False, unroll=4, clock_mhz=250.0)
    assert sorted(p.name for p in target.iterdir()) == EXPECTED_FILES
    assert [p.name for p in target.parent.iterdir()] == ["hls"]
    info = json.loads((target / "project.json").read_text())
    assert info["options"] == {"sparse": False, "unroll": 4, "clock_mhz": 250.0, "part": "xc7z020clg400-1",
                               "t_max": 12, "readout": None, "interface": "m_axi", "top": "snn_run"}
    assert info["estimate"] == json.loads(json.dumps(result["estimate"]))
    assert "#pragma HLS UNROLL factor=4" in (target / "snn.c").read_text()
    assert "create_clock -period 4 -name default" in (target / "run_hls.tcl").read_text()
    proc = run(["make", "csim"], target)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr


def test_emit_without_inputs_uses_seeded_random_spikes(tmp_path: Path) -> None:
    graph, _ = build("mlp", "nir", 8)
    result = BACKEND.emit(graph, tmp_path / "p", None)
    assert result["stimuli"] == "random"
    assert run(["make", "csim"], tmp_path / "p").returncode == 0


def _dense_graph(neuron: QNeuron, weight: np.ndarray, *, shift: int = 0, output: bool = True,
                 dense_type: type = QDense) -> QGraph:
    n_out, n_in = weight.shape
    nodes = {"input": Input(shape=(n_in,)), "fc": dense_type(name="fc", weight=weight, w_bits=16, shift=shift),
             "n": neuron}
    edges = [("input", "fc"), ("fc", "n")]
    if output:
        nodes["output"] = Output()
        edges.append(("n", "output"))
    return QGraph(nodes, edges)


def _two_dense(weight: np.ndarray, shift: int) -> QGraph:
    """Input -> fc (shift 31: outputs up to 2^48) -> fc2 (accumulates 2^48 * 2^15 * 4) -> LIF -> Output."""
    nodes = {"input": Input(shape=(4,)), "fc": QDense(name="fc", weight=weight, w_bits=16, shift=shift),
             "fc2": QDense(name="fc2", weight=np.full((2, 2), 32767), w_bits=16), "n": _lif(2), "output": Output()}
    return QGraph(nodes, [("input", "fc"), ("fc", "fc2"), ("fc2", "n"), ("n", "output")])


def _lif(n: int, **kw: object) -> QNeuron:
    return QNeuron(name="n", kind="LIF", shape=(n,), beta=4000, threshold=10, **kw)  # type: ignore[arg-type]


class _CustomDense(QDense):
    """A QDense subclass no backend knows."""


@pytest.mark.parametrize(("graph", "message"), [
    (lambda: _dense_graph(_lif(2), np.ones((2, 3), int), output=False),
     "hls: the graph has no Output node; the top function would have no outputs"),
    (lambda: _dense_graph(_lif(2), np.ones((2, 3), int), dense_type=_CustomDense),
     "hls: node 'fc' (_CustomDense): no C lowering for this node type"),
    (lambda: _two_dense(np.full((2, 4), 32767), shift=31),
     "node 'fc2' (QDense): the accumulator can reach magnitude 18445618190982578176 (> 2^63-1); backend 'hls' "
     "computes in int64 and cannot represent it exactly"),
    (lambda: _dense_graph(QNeuron(name="n", kind="LI", shape=(2,), beta=4000, v_bits=8,
                                  semantics=Semantics(overflow_v="wrap_loihi")), np.full((2, 4), 100)),
     "node 'n' (QNeuron): overflow_v='wrap_loihi' corrects v once by 2^8, but its pre-clamp value can reach "
     "[-127, 528], beyond one correction's reach (-3*2^7, 3*2^7], so v drifts without bound (bitsim's int64 "
     "products eventually overflow); backend 'hls' supports wrap_loihi only where one correction keeps the "
     "register in range (use saturate or wrap)"),
    (lambda: QGraph({"input": Input(shape=(2,)), "d": Delay(delay=np.array([1, 1])), "n": _lif(2), "output": Output()},
                    [("input", "d"), ("d", "d"), ("d", "n"), ("n", "output")]),
     "node 'd' (Delay): its output has no bound independent of the number of steps (a recurrent loop without a "
     "neuron, or a wrap_loihi register that drifts, feeds it); backend 'hls' cannot prove its int64 arithmetic "
     "exact"),
], ids=["no-output", "unknown-type", "int64-headroom", "wrap-loihi", "growing-delay-loop"])
def test_unsupported_is_raised_before_anything_is_written(graph: object, message: str, tmp_path: Path) -> None:
    g = graph()  # type: ignore[operator]
    with pytest.raises(UnsupportedNodeError) as err:
        BACKEND.check(g)
    assert str(err.value) == message
    with pytest.raises(UnsupportedNodeError):
        BACKEND.emit(g, tmp_path / "never", np.zeros((2, 1, g.shapes["input"][0]), np.uint8))
    assert not (tmp_path / "never").exists() and list(tmp_path.iterdir()) == []


def test_gcc_failure_is_a_backend_error_with_command_and_stderr() -> None:
    with pytest.raises(BackendError) as err:
        build_library({"snn.c": "int broken(void) { return }\n", "snn_sim.c": ""})
    text = str(err.value)
    assert "gcc -std=c99 -Wall -Wextra -Werror -pedantic -O3 -march=native -fPIC -shared" in text and "error" in text
