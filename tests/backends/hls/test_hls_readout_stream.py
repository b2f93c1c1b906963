"""The on-chip readout (snncompile.readout) and the AXI4-Stream top of the HLS project, compiled with gcc and
checked by the generated testbench against bitsim: readout.bin and the packed stream."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hls_cases import build, golden_edit, hls_cache  # noqa: F401
from snncompile.backends.bitsim import run_plain
from snncompile.backends.hls import BACKEND
from snncompile.backends.hls.binfmt import read_readout

from snncompile import readout
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS


def sh(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def tie_graph() -> QGraph:
    """Outputs 2 and 4 get the same drive (equal counts, equal membranes): the tie goes to 2."""
    w = np.zeros((5, 6), np.int64)
    w[1], w[2], w[3], w[4] = 1, 7, 2, 7
    nodes = {
        "input": Input(shape=(6,)),
        "fc": QDense(name="fc", weight=w, w_bits=4),
        "n": QNeuron(name="n", kind="IF", shape=(5,), semantics=PRESETS["nir"], threshold=9, v_reset=0, bias=0,
                     frac_bits=12, i_bits=16, v_bits=16),
        "output": Output(),
    }
    return QGraph(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")])


def test_reference_readout_and_its_tie_rule() -> None:
    g = tie_graph()
    x = (np.random.default_rng(0).random((9, 4, 6)) < 0.5).astype(np.int64)
    out = run_plain(g, x)["output"]["out"]
    plan = readout.plan(g, "argmax", 9)
    res = readout.compute(plan, out)
    assert np.array_equal(res["score"], out.sum(axis=0)) and res["score"].shape == (4, 5)
    assert (res["score"][:, 2] == res["score"][:, 4]).all() and (res["score"][:, 2] > 0).all()
    assert res["class"].tolist() == [2, 2, 2, 2]  # the smallest index among the maxima
    assert (plan.lo, plan.hi, plan.words) == (0, 9, 6)
    empty = readout.compute(plan, out[:0])
    assert empty["score"].tolist() == [[0] * 5] * 4 and empty["class"].tolist() == [0] * 4
    v = np.array([[[-5, -3, -4]], [[-7, -6, -3]]])  # [T=2, B=1, 3]: max over time -5, -3, -3: a tie, class 1
    mv = readout.compute(readout.Readout("max-v", "o", 3, True, -10, 10), v)
    assert mv["score"].tolist() == [[-5, -3, -3]] and mv["class"].tolist() == [1]
    assert readout.words(plan, res).shape == (4, 6)


@pytest.mark.parametrize(("topology", "mode", "msg"), [
    ("cuba", "argmax", "Output node 'output' does not carry spikes .* use --readout max-v"),
    ("mlp", "max-v", "Output node 'output' carries spikes; max-v reads the membrane"),
    ("recurrent", "counts", "the graph has 2 Output nodes \\(output, spikes\\); a readout reads exactly one"),
    ("mlp", "sum", "readout 'sum' is not one of counts, argmax, max-v"),
])
def test_readout_rules_name_the_node(topology: str, mode: str, msg: str, tmp_path: Path) -> None:
    g, x = build(topology, "nir", 8, seed=1)
    with pytest.raises(readout.ReadoutError, match=msg):
        BACKEND.emit(g, tmp_path / "p", x, readout=mode)
    assert not (tmp_path / "p").exists()


def test_readout_score_width_is_proven() -> None:
    g = tie_graph()
    with pytest.raises(readout.ReadoutError, match="can reach \\[0, 4294967296\\] over t_max=4294967296"):
        readout.plan(g, "counts", 1 << 32)


@pytest.mark.parametrize(("topology", "mode"), [("mlp", "argmax"), ("cuba", "max-v"), ("conv2d_pool", "counts")])
def test_classify_and_stream_equal_bitsim(topology: str, mode: str, tmp_path: Path) -> None:
    g, x = build(topology, "mix", 8, seed=4)
    out = tmp_path / "p"
    BACKEND.emit(g, out, x, readout=mode, interface="axis")
    proc = sh(["make", "csim"], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "readout (" in proc.stdout and "AXI4-Stream top) equals readout.bin" in proc.stdout
    plan = readout.plan(g, mode, 12)
    want = readout.words(plan, readout.compute(plan, run_plain(g, x)["output"]["out"]))
    assert np.array_equal(read_readout(out / "readout.bin"), want)
    assert "set_top snn_stream" in (out / "run_hls.tcl").read_text()
    assert 'cosim_design -argv "--stream stimuli.bin readout.bin"' in (out / "run_hls.tcl").read_text()
    bad = read_readout(out / "readout.bin").copy()
    bad[1, -1] += 1  # sample 1's last word: the class, or the last score for counts
    raw = (out / "readout.bin").read_bytes()
    (tmp_path / "bad.bin").write_bytes(raw[:len(raw) - bad.nbytes] + bad.astype("<i8").tobytes())
    for flag in ("--readout", "--stream"):
        proc = sh(["./tb", flag, "stimuli.bin", str(tmp_path / "bad.bin")], out)
        what = "class" if plan.has_class else f"score {plan.n - 1}"
        assert proc.returncode == 1 and proc.stdout.startswith(f"MISMATCH sample 1 readout {what}: expected "), \
            proc.stdout


def test_tie_goes_to_the_smallest_index_in_c(tmp_path: Path) -> None:
    g = tie_graph()
    x = (np.random.default_rng(0).random((9, 4, 6)) < 0.5).astype(np.uint8)
    BACKEND.emit(g, tmp_path / "p", x, readout="argmax")
    proc = sh(["make", "csim"], tmp_path / "p")
    assert proc.returncode == 0 and "readout (6 words per sample) equals readout.bin" in proc.stdout, proc.stdout
    assert read_readout(tmp_path / "p" / "readout.bin")[:, -1].tolist() == [2, 2, 2, 2]


@pytest.mark.parametrize("topology", ["mlp", "cuba", "recurrent"])  # packed bits; int32 words; two outputs
def test_stream_of_spikes_equals_bitsim(topology: str, tmp_path: Path) -> None:
    g, x = build(topology, "snntorch", 8, seed=6)
    out = tmp_path / "p"
    BACKEND.emit(g, out, x, interface="axis")
    proc = sh(["make", "csim"], out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outputs of the AXI4-Stream top" in proc.stdout
    header = (out / "snn.h").read_text()
    n_in = int(np.prod(x.shape[2:]))
    assert f"#define SNN_IN_PACKED {-(-n_in // 32)}" in header
    assert ("#define SNN_OUT_BITS 1" in header) == (topology == "mlp")
    data, _, _ = golden_edit(out / "golden.bin", 2, 7, "output", "out", 1,
                             lambda v: 1 - v if topology == "mlp" else (v + 3 if v < 100 else v - 3))
    (tmp_path / "g.bin").write_bytes(data)
    proc = sh(["./tb", "--stream", "stimuli.bin", str(tmp_path / "g.bin")], out)
    assert proc.returncode == 1 and proc.stdout.startswith("MISMATCH sample 2 timestep 7 layer 'output' (out)")


def test_plain_project_refuses_the_modes_it_lacks(tmp_path: Path) -> None:
    g, x = build("mlp", "nir", 8, seed=1)
    BACKEND.emit(g, tmp_path / "p", x)
    assert sh(["make", "tb"], tmp_path / "p").returncode == 0
    proc = sh(["./tb", "--readout", "stimuli.bin", "golden.bin"], tmp_path / "p")
    assert proc.returncode == 2 and "this project has no readout" in proc.stderr
    proc = sh(["./tb", "--stream", "stimuli.bin", "golden.bin"], tmp_path / "p")
    assert proc.returncode == 2 and "no AXI4-Stream top" in proc.stderr
