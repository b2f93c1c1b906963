"""QGraph -> .nir -> QGraph is exact: every node field, edges, dt, metadata and the QuantSpec."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile.errors import InputError
from snncompile.nodes import Delay, Flatten, Input, Output, SumPool2d
from snncompile.quant.qnir import is_qgraph_file, read_qgraph, write_qgraph
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale
from snncompile.quant.spec import QuantSpec
from snncompile.semantics import Semantics

KINDS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")


def _neuron(rng: np.random.Generator, name: str, kind: str, shape: tuple[int, ...], sem: Semantics) -> QNeuron:
    n = int(np.prod(shape))
    return QNeuron(
        name=name, kind=kind, shape=shape, semantics=sem,
        alpha=rng.integers(0, 4097, n).reshape(shape), beta=rng.integers(0, 4097, n).reshape(shape),
        threshold=rng.integers(1, 5000, n).reshape(shape), v_reset=rng.integers(-50, 50, n).reshape(shape),
        bias=rng.integers(-100, 100, n).reshape(shape), v_init=rng.integers(-9, 9, n).reshape(shape),
        i_init=rng.integers(-9, 9, n).reshape(shape), input_shift=int(rng.integers(0, 7)), frac_bits=12,
        i_bits=int(rng.integers(16, 33)), v_bits=int(rng.integers(16, 33)), out_scale=float(rng.uniform(0.5, 300)),
    )


def random_mlp(seed: int) -> QGraph:
    """Input -> QDense -> QNeuron (random kind) -> QScale -> QNeuron -> Delay -> Output, random fields."""
    rng = np.random.default_rng(seed)
    sem = Semantics(compare=str(rng.choice(["gt", "ge"])), reset=str(rng.choice(["zero", "subtract"])),
                    timing=str(rng.choice(["immediate", "delayed"])), synapse_delay=int(rng.integers(0, 2)),
                    rounding=str(rng.choice(["toward_zero", "floor", "nearest"])))
    n_in, n_h = int(rng.integers(2, 9)), int(rng.integers(2, 9))
    bias = rng.integers(-300, 300, n_h) if seed % 2 else None  # zero bias is written as NIR Linear
    nodes = {
        "in": Input(shape=(n_in,)),
        "fc": QDense(name="fc", weight=rng.integers(-127, 128, (n_h, n_in)), bias=bias, w_bits=8,
                     shift=int(rng.integers(-3, 3))),
        "h": _neuron(rng, "h", str(rng.choice(KINDS)), (n_h,), sem),
        "sc": QScale(name="sc", weight=rng.integers(-7, 8, n_h), w_bits=4),
        "h2": _neuron(rng, "h2", "CubaLIF", (n_h,), sem),
        "d": Delay(delay=rng.integers(0, 3, n_h)),
        "out": Output(),
    }
    edges = [("in", "fc"), ("fc", "h"), ("h", "sc"), ("sc", "h2"), ("h2", "d"), ("d", "out")]
    meta = {"calibration": {"layers": {"h": {"max_abs_v": 12.5}}, "samples": 3}, "quant_spec": {"weight_bits": 8}}
    return QGraph(nodes, edges, 1e-3 * (seed + 1), meta, QuantSpec(weight_bits=8, state_bits=24))


def conv_net() -> QGraph:
    rng = np.random.default_rng(7)
    sem = sc.PRESETS["snntorch"]
    nodes = {
        "in": Input(shape=(2, 6, 6)),
        "c1": QConv2d(name="c1", weight=rng.integers(-8, 8, (3, 2, 3, 3)), bias=rng.integers(-5, 5, 3), w_bits=5,
                      stride=(1, 2), padding=(1, 0), dilation=1),
        "n1": _neuron(rng, "n1", "LIF", (3, 6, 2), sem),
        "p": SumPool2d(kernel_size=2, stride=2),
        "f": Flatten(start_dim=0, end_dim=-1, input_shape=(3, 3, 1)),
        "fc": QDense(name="fc", weight=rng.integers(-8, 8, (4, 9)), w_bits=4),
        "n2": _neuron(rng, "n2", "LI", (4,), sem),
        "out": Output(),
        "in2": Input(shape=(1, 8)),
        "c2": QConv1d(name="c2", weight=rng.integers(-8, 8, (2, 1, 3)), w_bits=4, stride=2, padding=1, dilation=1),
        "n3": _neuron(rng, "n3", "IF", (2, 4), sem),
        "out2": Output(),
    }
    edges = [("in", "c1"), ("c1", "n1"), ("n1", "p"), ("p", "f"), ("f", "fc"), ("fc", "n2"), ("n2", "out"),
             ("in2", "c2"), ("c2", "n3"), ("n3", "out2")]
    return QGraph(nodes, edges, 1e-3)


def assert_same(a: QGraph, b: QGraph) -> None:
    assert list(a.nodes) == list(b.nodes)
    for name in a.nodes:
        assert a.nodes[name].equals(b.nodes[name]), f"node '{name}' differs: {a.nodes[name]} != {b.nodes[name]}"
    assert a.equals(b)
    assert a.spec == b.spec


@pytest.mark.parametrize("seed", range(6))
def test_random_qgraph_round_trip(tmp_path: Path, seed: int) -> None:
    graph = random_mlp(seed)
    path = write_qgraph(graph, tmp_path / "q.nir")
    assert is_qgraph_file(path)
    assert_same(graph, read_qgraph(path))
    assert set(nir.read(path).nodes) == set(graph.nodes)  # the nir package itself accepts the file


def test_conv_qgraph_round_trip(tmp_path: Path) -> None:
    graph = conv_net()
    assert_same(graph, read_qgraph(write_qgraph(graph, tmp_path / "conv.nir")))


def test_lava_like_round_trip_and_nir_view(tmp_path: Path) -> None:
    """The loihi preset graph of the Lava tests; the float view in the NIR fields is derived from the integers."""
    rng = np.random.default_rng(3)
    nodes = {
        "input": Input(shape=(5,)),
        "dense1": QDense(name="dense1", weight=rng.integers(-128, 128, (4, 5)) * 2, w_bits=9, shift=-2),
        "lif1": QNeuron(name="lif1", kind="CubaLIF", shape=(4,), semantics=sc.PRESETS["loihi"], alpha=4095 - 410,
                        beta=4096 - 205, threshold=100 << 6, bias=np.array([0, 3, 0, 5]) << 6, v_init=0,
                        i_init=0, input_shift=6, frac_bits=12, i_bits=24, v_bits=24, out_scale=64.0),
        "output": Output(),
    }
    graph = QGraph(nodes, [("input", "dense1"), ("dense1", "lif1"), ("lif1", "output")])
    path = write_qgraph(graph, tmp_path / "lava.nir")
    assert_same(graph, read_qgraph(path))
    with h5py.File(path) as f:
        lif = f["node/nodes/lif1"]
        assert lif["type"][()].decode() == "CubaLIF"
        np.testing.assert_allclose(lif["v_threshold"][()], 100.0)
        np.testing.assert_allclose(lif["w_in"][()] * 1e-3 / lif["tau_syn"][()], 2.0 ** 6 * 2.0 ** -2 / 64.0)
        dense = f["node/nodes/dense1"]
        assert dense["type"][()].decode() == "Linear" and dense["weight"].dtype == np.int16  # w_bits 9


@pytest.mark.parametrize("w_bits", [2, 3, 7, 8, 9, 15, 16])
def test_weights_are_stored_in_their_width_uncompressed_and_read_back_exactly(tmp_path: Path, w_bits: int) -> None:
    hi = (1 << (w_bits - 1)) - 1
    rng = np.random.default_rng(w_bits)
    weight = rng.integers(-hi, hi + 1, (5, 7))
    weight[0, :2] = -hi, hi  # both ends of the range
    nodes = {"in": Input(shape=(7,)), "fc": QDense(name="fc", weight=weight, bias=rng.integers(-9, 9, 5),
                                                   w_bits=w_bits),
             "h": _neuron(rng, "h", "LIF", (5,), sc.PRESETS["snntorch"]), "out": Output()}
    graph = QGraph(nodes, [("in", "fc"), ("fc", "h"), ("h", "out")], 1e-3, {}, QuantSpec(weight_bits=w_bits))
    path = write_qgraph(graph, tmp_path / "q.nir")
    with h5py.File(path) as f:
        for key in ("weight", "bias"):
            ds = f[f"node/nodes/fc/{key}"]
            assert ds.compression is None
            assert ds.dtype == ((np.int8 if w_bits <= 8 else np.int16) if key == "weight" else np.int64)
    back = read_qgraph(path)
    assert_same(graph, back)
    fc = back.nodes["fc"]
    assert isinstance(fc, QDense) and fc.weight.dtype == np.int64 and np.array_equal(fc.weight, weight)
    assert np.array_equal(nir.read(path).nodes["fc"].weight, weight)  # what other NIR tools read


def test_files_of_the_earlier_writer_int64_gzip_still_read(tmp_path: Path) -> None:
    from snncompile.frontend.nir_write import nir_bytes
    from snncompile.quant.qnir import to_nir

    graph = random_mlp(2)
    old = to_nir(graph)
    old.nodes["fc"].weight = np.asarray(old.nodes["fc"].weight, np.int64)
    (tmp_path / "old.nir").write_bytes(nir_bytes(old))  # gzip, as every earlier qgraph.nir
    with h5py.File(tmp_path / "old.nir") as f:
        assert f["node/nodes/fc/weight"].dtype == np.int64 and f["node/nodes/fc/weight"].compression == "gzip"
    assert_same(graph, read_qgraph(tmp_path / "old.nir"))


def test_float_nir_file_is_not_a_qgraph(tmp_path: Path) -> None:
    path = sc.models.path("digits-mlp")
    assert not is_qgraph_file(path)
    with pytest.raises(InputError, match=r"is not a QGraph file \(no snncompile metadata with \"qgraph\": true\)"):
        read_qgraph(path)


def test_write_is_atomic_and_leaves_no_temp(tmp_path: Path) -> None:
    graph = random_mlp(1)
    write_qgraph(graph, tmp_path / "q.nir")
    write_qgraph(graph, tmp_path / "q.nir")  # replaces in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.nir"]
