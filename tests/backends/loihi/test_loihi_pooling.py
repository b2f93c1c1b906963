"""Pooling on Loihi: fold_pools is exact in float, the folded CNN maps and its cores equal bitsim, digits-cnn and the
NIR paper's Sinabs CNN map; pools that cannot fold and multi-spike neurons are refused by name (exit code 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from snncompile.backends.bitsim import simulate
from snncompile.backends.loihi import BACKEND
from snncompile.backends.loihi.encode import quantize_for_loihi
from snncompile.backends.loihi.pooling import fold_pools
from snncompile.backends.loihi.rules import LoihiUnsupportedError

import snncompile as sc
from snncompile.graph import Graph
from snncompile.nodes import IF, Affine, AvgPool2d, Conv2d, Flatten, Input, Output, SumPool2d
from snncompile.reference import run
from snncompile.semantics import Semantics

DATA = Path(__file__).resolve().parents[2] / "data"


def pooled_cnn(seed: int = 0, pool_first: bool = True, avg: bool = True) -> Graph:
    """Input(2,8,8) [-> AvgPool] -> Conv -> IF -> SumPool -> Conv -> IF -> AvgPool -> Flatten -> Affine -> IF."""
    rng = np.random.default_rng(seed)
    side = 8
    nodes: dict = {"input": Input(shape=(2, 8, 8))}
    chain = ["input"]
    if pool_first:
        nodes["p0"] = (AvgPool2d if avg else SumPool2d)(kernel_size=(2, 2), stride=(2, 2))
        chain.append("p0")
        side = 4
    c1 = rng.normal(0, 0.6, (4, 2, 3, 3))
    nodes |= {"c1": Conv2d(weight=c1, bias=rng.normal(0, 0.1, 4), padding=(1, 1)), "n1": IF(shape=(4, side, side),
              threshold=np.ones(()))}
    nodes |= {"p1": SumPool2d(kernel_size=(2, 2), stride=(2, 2)),
              "c2": Conv2d(weight=rng.normal(0, 0.5, (4, 4, 3, 3)), bias=np.zeros(4), padding=(1, 1)),
              "n2": IF(shape=(4, side // 2, side // 2), threshold=np.ones(())),
              "p2": AvgPool2d(kernel_size=(2, 2), stride=(2, 2)), "f": Flatten(),
              "fc": Affine(weight=rng.normal(0, 0.8, (5, 4 * (side // 4) ** 2)), bias=rng.normal(0, 0.1, 5)),
              "n3": IF(shape=(5,), threshold=np.ones(())), "output": Output()}
    chain += ["c1", "n1", "p1", "c2", "n2", "p2", "f", "fc", "n3", "output"]
    return Graph(nodes, list(zip(chain, chain[1:], strict=False)))


def spikes(seed: int, shape: tuple[int, ...], t: int = 20, b: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).random((t, b, *shape)) < 0.4).astype(np.float64)


@pytest.mark.parametrize("pool_first", [True, False])
def test_fold_pools_is_exact_in_float(pool_first: bool) -> None:
    g = pooled_cnn(1, pool_first)
    f = fold_pools(g)
    assert not any(isinstance(n, (SumPool2d, AvgPool2d)) for n in f.nodes.values())
    x = spikes(2, (2, 8, 8))
    a, b = run(g, x), run(f, x)
    for n in ("n1", "n2", "n3"):
        np.testing.assert_allclose(b[n]["v"], a[n]["v"], rtol=0, atol=1e-9, err_msg=n)
        np.testing.assert_array_equal(b[n]["out"], a[n]["out"], err_msg=n)
    assert sum(float(a[n]["out"].sum()) for n in ("n1", "n2", "n3")) > 50  # the comparison sees spikes


@pytest.mark.parametrize("netx", [False, True])
def test_pooled_cnn_maps_and_cores_equal_bitsim(tmp_path: Path, netx: bool) -> None:
    g = pooled_cnn(3)
    x = spikes(4, (2, 8, 8))
    q = quantize_for_loihi(g, x, netx=netx)
    xi = x.astype(np.int64)
    BACKEND.emit(q, tmp_path / "o", xi)
    ours, cores = simulate(q, xi), BACKEND.run(tmp_path / "o", xi)
    for n in ("n1", "n2", "n3"):
        for k in ("out", "v", "i"):
            np.testing.assert_array_equal(cores[n][k], ours[n][k], err_msg=f"{n} {k}")


def test_conv_then_pool_folds_exactly_in_float() -> None:
    g = sc.load("digits-cnn")  # Conv2d -> AvgPool2d -> LIF
    f = fold_pools(g)
    assert f.nodes["0"].weight.shape[2:] == (4, 4) and f.nodes["0"].stride == (2, 2)  # type: ignore[attr-defined]
    x = spikes(6, (1, 8, 8))
    a, b = run(g, x), run(f, x)
    for n in ("2", "5"):
        np.testing.assert_allclose(b[n]["v"], a[n]["v"], rtol=0, atol=1e-9, err_msg=n)
        np.testing.assert_array_equal(b[n]["out"], a[n]["out"], err_msg=n)
    assert float(a["2"]["out"].sum()) > 20


def test_digits_cnn_and_the_sinabs_cnn_map() -> None:
    for graph, shape in ((sc.load("digits-cnn"), None), (sc.load(str(DATA / "nir_paper" / "cnn_sinabs.nir")), None)):
        x = spikes(5, tuple(graph.shapes[graph.inputs[0]]), t=4, b=2) if shape is None else shape
        q = quantize_for_loihi(graph, x, netx=True)
        mapping = BACKEND.map(q, core_spec="loihi2")
        assert len(mapping.cores) >= 1


def test_pools_that_cannot_fold_are_refused_by_name() -> None:
    overlapping = Graph({"input": Input(shape=(1, 4, 4)), "p1": SumPool2d(kernel_size=(2, 2), stride=(1, 1)),
                         "c": Conv2d(weight=np.ones((1, 1, 2, 2)), bias=np.zeros(1)),
                         "n": IF(shape=(1, 2, 2), threshold=np.ones(())), "output": Output()},
                        [("input", "p1"), ("p1", "c"), ("c", "n"), ("n", "output")])
    with pytest.raises(LoihiUnsupportedError, match=r"loihi rule loihi_pooling: node 'p1' \(SumPool2d\): stride"):
        fold_pools(overlapping)
    into_neuron = Graph({"input": Input(shape=(1, 4, 4)), "p": SumPool2d(kernel_size=(2, 2), stride=(2, 2)),
                         "n": IF(shape=(1, 2, 2), threshold=np.ones(())), "output": Output()},
                        [("input", "p"), ("p", "n"), ("n", "output")])
    with pytest.raises(LoihiUnsupportedError, match=r"loihi_pooling: node 'p' .*it feeds 'n' \(IF\)") as info:
        quantize_for_loihi(into_neuron, np.zeros((2, 1, 1, 4, 4)))
    assert info.value.exit_code == 3


def test_multi_spike_neurons_are_refused_by_name() -> None:
    g = pooled_cnn(0, pool_first=False)
    nodes = dict(g.nodes)
    nodes["n2"] = IF(shape=nodes["n2"].shape, threshold=np.ones(()), semantics=Semantics(spikes="multi", spike_cap=3))
    with pytest.raises(LoihiUnsupportedError, match=r"loihi rule loihi_binary_spikes: node 'n2' \(IF\): "
                                                    r"spikes='multi' \(up to 3 per step\)"):
        quantize_for_loihi(Graph(nodes, list(g.edges)), np.zeros((2, 1, 2, 8, 8)))
