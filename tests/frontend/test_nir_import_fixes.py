"""NIR import fixes (issue 16): in-memory NIRGraph, batch-dim-1 and mixed 0-d/(1,) neuron parameters, an implied
identity on an Input -> neuron edge, the exporter signature named when --from is missing, subgraph edge errors,
and the hint for a Flatten written with the batch axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile import nodes as ir
from snncompile.errors import GraphError, InputError
from snncompile.frontend.nir_read import load

N = 3


def _graph(neuron: Any, *, fc: bool = True, edges: Any = None) -> nir.NIRGraph:
    nodes: dict[str, Any] = {"input": nir.Input(np.array([N])), "lif": neuron, "output": nir.Output(np.array([N]))}
    if fc:
        nodes["fc"] = nir.Affine(np.eye(N, dtype=np.float32) * 2, np.zeros(N, np.float32))
    chain = edges or ([("input", "fc"), ("fc", "lif"), ("lif", "output")] if fc else
                      [("input", "lif"), ("lif", "output")])
    return nir.NIRGraph(nodes=nodes, edges=chain, type_check=False)


def _lif(shape: tuple[int, ...] = (N,), tau: float = 0.01) -> nir.LIF:
    return nir.LIF(tau=np.full(shape, tau), r=np.ones(shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape))


def _spikes(graph: sc.Graph, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0, 2, (20, 2, N))
    name = next(n for n, nd in graph.nodes.items() if isinstance(nd, ir.LIF))
    return sc.simulate(graph, x)[name]["out"]


def test_in_memory_graph_loads_like_its_file(tmp_path: Path) -> None:
    g = _graph(_lif())
    nir.write(tmp_path / "g.nir", g)
    from_file, in_memory = sc.load(str(tmp_path / "g.nir")), sc.load(g)
    assert sorted(in_memory.nodes) == sorted(from_file.nodes)  # HDF5 stores groups sorted by name
    assert all(in_memory.nodes[n].equals(from_file.nodes[n]) for n in from_file.nodes)
    assert str(load(g).path) == "<in-memory NIRGraph>"


def test_load_refuses_other_objects_by_type() -> None:
    with pytest.raises(InputError, match="expected a .nir path, a bundled model name or a nir.NIRGraph, got dict"):
        sc.load({"nodes": {}})  # type: ignore[arg-type]


def test_batch_dim_one_neuron_parameters_are_dropped() -> None:
    loaded = load(_graph(_lif((1, N))))
    assert loaded.graph.nodes["lif"].shape == (N,)
    assert any("leading batch dim of size 1; read as [3]" in w for w in loaded.warnings)
    np.testing.assert_array_equal(_spikes(loaded.graph), _spikes(sc.load(_graph(_lif()))))


def test_mixed_zero_d_and_one_element_parameters_broadcast() -> None:
    mixed = nir.LIF(tau=np.array([0.01]), r=np.array([1.0]), v_leak=np.array([0.0]), v_threshold=np.array([1.0]))
    mixed.tau, mixed.v_leak = np.array(0.01), np.array(0.0)  # nir.write cannot store 0-d arrays: in memory only
    graph = sc.load(_graph(mixed))
    assert graph.nodes["lif"].shape == (N,)
    np.testing.assert_array_equal(_spikes(graph), _spikes(sc.load(_graph(_lif()))))


def test_input_to_neuron_edge_implies_an_identity_that_quantises() -> None:
    graph = sc.load(_graph(_lif(), fc=False))
    ident = graph.nodes["lif.identity"]
    assert isinstance(ident, ir.Linear)
    assert ("input", "lif.identity") in graph.edges and ("lif.identity", "lif") in graph.edges
    q = sc.quantize(graph, sc.QuantSpec())
    assert "lif.identity" in q.nodes
    x = np.random.default_rng(1).uniform(0, 2, (20, 2, N))
    # the gain dt/tau of the canonical convention is folded into the identity's diagonal
    np.testing.assert_allclose(np.diag(ident.weight), graph.dt / 0.01)
    assert sc.simulate(graph, x)["lif"]["out"].shape == (20, 2, N)


def test_identity_for_channel_inputs_is_a_depthwise_conv() -> None:
    shape = (2, 3, 3)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array(shape)), "lif": _lif(shape),
                            "output": nir.Output(np.array(shape))},
                     edges=[("input", "lif"), ("lif", "output")], type_check=False)
    graph = sc.load(g)
    conv = graph.nodes["lif.identity"]
    assert isinstance(conv, ir.Conv2d) and conv.groups == 2 and conv.weight.shape == (2, 1, 1, 1)
    sc.quantize(graph, sc.QuantSpec())


def test_missing_from_names_the_exporter_in_warning_and_error() -> None:
    tau = 2e-3
    snntorch_like = nir.LIF(tau=np.full(N, tau), r=np.full(N, tau / 1e-4), v_leak=np.zeros(N),
                            v_threshold=np.ones(N))
    loaded = load(_graph(snntorch_like))
    assert "looks exported by snntorch" in loaded.warnings[0] and "use --from snntorch" in loaded.warnings[0]
    bad = _graph(snntorch_like)
    bad.nodes["fc"] = nir.Affine(np.eye(4, dtype=np.float32), np.zeros(4, np.float32))
    with pytest.raises(GraphError, match=r"does not match expected \(4,\) \(no --from given; this file looks "
                                         r"exported by snntorch: .*read it with --from snntorch\)"):
        load(bad)
    with pytest.raises(GraphError) as err:  # stated convention: no guess appended
        load(bad, convention="snntorch")
    assert "looks exported" not in str(err.value)


def test_rockpool_signature_needs_a_round_dt() -> None:
    taus = np.array([0.02, 0.03, 0.05])
    rockpool_like = nir.LIF(tau=taus, r=taus * np.exp(-1e-3 / taus) / 1e-3, v_leak=np.zeros(N),
                            v_threshold=np.ones(N))
    assert "looks exported by rockpool" in load(_graph(rockpool_like)).warnings[0]
    plain = load(_graph(nir.LIF(tau=taus, r=np.full(N, 5.0), v_leak=np.zeros(N), v_threshold=np.ones(N))))
    assert "looks exported" not in plain.warnings[0]


def test_subgraph_error_names_the_inner_edge() -> None:
    inner = nir.NIRGraph(nodes={"input": nir.Input(np.array([N])),
                                "fc": nir.Affine(np.eye(N, dtype=np.float32), np.zeros(N, np.float32)),
                                "output": nir.Output(np.array([N]))},
                         edges=[("input", "fc"), ("fc", "nope"), ("fc", "output")], type_check=False)
    outer = nir.NIRGraph(nodes={"input": nir.Input(np.array([N])), "sub": inner, "output": nir.Output(np.array([N]))},
                         edges=[("input", "sub"), ("sub", "output")], type_check=False)
    with pytest.raises(GraphError, match=r"^subgraph 'sub': its edge 'fc' -> 'nope' names 'nope', which is not a "
                                         r"node of the subgraph \(its nodes: fc, input, output\)$"):
        load(outer)


def test_flatten_with_batch_axis_gets_a_hint() -> None:
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 2, 2])),
                            "fl": nir.Flatten(start_dim=1, end_dim=-1, input_type={"input": np.array([2, 2, 2])}),
                            "fc": nir.Affine(np.ones((N, 8), np.float32), np.zeros(N, np.float32)),
                            "lif": _lif(), "output": nir.Output(np.array([N]))},
                     edges=[("input", "fl"), ("fl", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    with pytest.raises(GraphError, match=r"input shape \(2, 4\) from 'fl' does not match expected \(8,\) \(hint: "
                                         r"Flatten 'fl' is written with start_dim=1, end_dim=-1, input_type \[2, 2, "
                                         r"2\]; an exporter that counted the batch axis means start_dim-1"):
        load(g)
