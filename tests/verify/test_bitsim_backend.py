"""bitsim as a registered backend: check, emit (qgraph.nir, stimuli, golden.npz), run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snncompile.backends import REGISTRY, available, get
from snncompile.backends.bitsim import run_plain
from snncompile.backends.bitsim.backend import BACKEND, read_golden, read_stimuli

import snncompile as sc
from snncompile.errors import InputError, UnsupportedNodeError
from snncompile.nodes import Input, Output
from snncompile.quant.qnir import read_qgraph
from snncompile.quant.qnodes import QDense, QGraph, QNeuron


@pytest.fixture(scope="module")
def digits_q() -> tuple[QGraph, np.ndarray]:
    x = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")["inputs"][:, :6]
    return sc.quantize(sc.load("digits-mlp"), sc.QuantSpec(), x), x


def test_registry_names_match_their_backends() -> None:
    assert "bitsim" in available()
    for name in REGISTRY:
        assert get(name).name == name
    assert get("bitsim") is BACKEND


def test_unknown_target() -> None:
    with pytest.raises(UnsupportedNodeError, match=r"^unknown target 'nope'; available targets: .*bitsim"):
        get("nope")


def test_check_rejects_float_nodes() -> None:
    with pytest.raises(UnsupportedNodeError, match=(
        r"^node '0' \(Affine\): backend 'bitsim' runs integer nodes only \(Input, Output, .*QNeuron\); "
        r"quantise the graph first$"
    )):
        BACKEND.check(sc.load("digits-mlp"))


def test_emit_writes_the_artifacts(tmp_path: Path, digits_q: tuple[QGraph, np.ndarray]) -> None:
    qgraph, x = digits_q
    files = BACKEND.emit(qgraph, tmp_path / "bitsim", x)
    assert sorted(files) == ["golden.npz", "qgraph.nir", "stimuli.npy"]
    assert all(p.is_file() and p.parent == tmp_path / "bitsim" for p in files.values())
    stimuli = read_stimuli(tmp_path / "bitsim")
    assert isinstance(stimuli, np.ndarray) and stimuli.dtype == np.int64 and np.array_equal(stimuli, x)
    golden = read_golden(files["golden.npz"])
    plain = run_plain(qgraph, x)
    assert {n: sorted(t) for n, t in golden.items()} == {n: sorted(t) for n, t in plain.items()}
    assert sorted(golden["1"]) == ["out", "v"]
    for node, rec in plain.items():
        for key, arr in rec.items():
            assert golden[node][key].dtype == np.int64 and np.array_equal(golden[node][key], arr), (node, key)
    again = read_qgraph(files["qgraph.nir"])
    assert again.equals(qgraph) and again.spec == qgraph.spec
    ran = BACKEND.run(tmp_path / "bitsim")  # the emitted stimuli by default
    assert all(np.array_equal(ran[n][k], plain[n][k]) for n in plain for k in plain[n])


def test_two_inputs_give_stimuli_npz(tmp_path: Path) -> None:
    sem = sc.PRESETS["nir"]
    nodes = {
        "a": Input(shape=(3,)), "b": Input(shape=(3,)),
        "wa": QDense(name="wa", weight=np.eye(3, dtype=np.int64) * 5), "wb": QDense(name="wb", weight=-np.eye(3)),
        "n": QNeuron(name="n", kind="IF", shape=(3,), semantics=sem, threshold=4), "o": Output(),
    }
    edges = [("a", "wa"), ("b", "wb"), ("wa", "n"), ("wb", "n"), ("n", "o")]
    qgraph = QGraph(nodes, edges)
    rng = np.random.default_rng(0)
    x = {"a": rng.integers(0, 2, (5, 2, 3)), "b": rng.integers(0, 2, (5, 2, 3))}
    files = BACKEND.emit(qgraph, tmp_path, x)
    assert sorted(files) == ["golden.npz", "qgraph.nir", "stimuli.npz"]
    stimuli = read_stimuli(tmp_path)
    assert isinstance(stimuli, dict) and sorted(stimuli) == ["a", "b"]
    assert np.array_equal(BACKEND.run(tmp_path)["n"]["out"], run_plain(qgraph, x)["n"]["out"])


def test_emit_rejects_non_spike_inputs(tmp_path: Path, digits_q: tuple[QGraph, np.ndarray]) -> None:
    qgraph, x = digits_q
    bad = x.astype(np.float64)
    bad[0, 0, 3] = 0.5
    with pytest.raises(InputError, match=r"is not a spike \(0 or 1\)"):
        BACKEND.emit(qgraph, tmp_path, bad)


def test_read_stimuli_of_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"holds no stimuli.npy or stimuli.npz$"):
        read_stimuli(tmp_path)
