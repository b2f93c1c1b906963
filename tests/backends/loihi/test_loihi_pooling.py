"""Pooling on Loihi: fold_pools is exact in float, the folded CNN maps and its cores equal bitsim, digits-cnn and the
NIR paper's Sinabs CNN map; pools that cannot fold and multi-spike neurons are refused by name (exit code 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from netx_cases import pooled_cnn, spikes
from snncompile.backends.bitsim import simulate
from snncompile.backends.loihi import BACKEND
from snncompile.backends.loihi.encode import quantize_for_loihi
from snncompile.backends.loihi.netx import netx_bytes
from snncompile.backends.loihi.pooling import fold_pools
from snncompile.backends.loihi.rules import LoihiUnsupportedError

import snncompile as sc
from snncompile.graph import Graph
from snncompile.nodes import IF, AvgPool2d, Conv2d, Input, Output, SumPool2d
from snncompile.reference import run
from snncompile.semantics import Semantics

DATA = Path(__file__).resolve().parents[2] / "data"


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
        _, layers = netx_bytes(q, mapping.netlist)  # network.net too: convolutions as netx conv blocks
        assert layers[0].conv is not None and layers[-1].conv is None


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
