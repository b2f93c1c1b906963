"""Flattening a nested NIR subgraph renames its members ``<sub>.<member>``; a name that is already taken by a
node of the enclosing graph is refused (it used to replace that node silently: the network lost a layer and
gained a recurrent edge)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest

from snncompile.errors import GraphError
from snncompile.frontend.nir_passes import flatten_subgraphs
from snncompile.frontend.nir_read import load

TAU = np.full(3, 5e-3, np.float32)


def _affine(gain: float = 1.0) -> nir.Affine:
    return nir.Affine(weight=np.eye(3, dtype=np.float32) * gain, bias=np.zeros(3, np.float32))


def _io() -> dict[str, Any]:
    return {"input": nir.Input(input_type={"input": np.array([3])}),
            "output": nir.Output(output_type={"output": np.array([3])})}


def block() -> nir.NIRGraph:
    """in -> fc -> lif -> out."""
    lif = nir.LIF(tau=TAU, r=np.full(3, 5.0, np.float32), v_leak=np.zeros(3, np.float32),
                  v_threshold=np.ones(3, np.float32), v_reset=np.zeros(3, np.float32))
    return nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([3])}), "fc": _affine(), "lif": lif,
               "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")], type_check=False)


def write(tmp_path: Path, nodes: dict[str, Any], edges: list[tuple[str, str]]) -> Path:
    path = tmp_path / "g.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    return path


COLLISION = ("subgraph 'block': its member 'fc' (Affine) flattens to 'block.fc', the name of node 'block.fc' "
             "(Affine) of the top-level graph; rename one of them")


@pytest.mark.parametrize("feeds_subgraph", [True, False], ids=["node-feeds-subgraph", "subgraph-feeds-node"])
def test_member_name_taken_by_a_top_level_node(tmp_path: Path, feeds_subgraph: bool) -> None:
    io = _io()
    nodes = {"input": io["input"], "block.fc": _affine(2.0), "block": block(), "output": io["output"]}
    if feeds_subgraph:
        edges = [("input", "block.fc"), ("block.fc", "block"), ("block", "output")]
    else:  # the case that exported with exit 0: block.fc replaced, block.lif -> block.fc became recurrent
        edges = [("input", "block"), ("block", "block.fc"), ("block.fc", "output")]
    with pytest.raises(GraphError) as err:
        load(write(tmp_path, nodes, edges))
    assert str(err.value) == COLLISION


@pytest.mark.parametrize("existing_first", [True, False], ids=["node-before-subgraph", "node-after-subgraph"])
def test_collision_found_in_either_node_order(existing_first: bool) -> None:
    """HDF5 lists groups by name; other writers (a dict from nir.NIRGraph) may put the node after the subgraph."""
    sub = {"type": "NIRGraph", "nodes": {"in": {"type": "Input"}, "fc": {"type": "Affine"},
                                         "out": {"type": "Output"}},
           "edges": [["in", "fc"], ["fc", "out"]]}
    taken = {"type": "Affine"}
    nodes = {"input": {"type": "Input"}, **({"block.fc": taken, "block": sub} if existing_first
                                            else {"block": sub, "block.fc": taken}), "output": {"type": "Output"}}
    root = {"type": "NIRGraph", "nodes": nodes,
            "edges": [["input", "block"], ["block", "block.fc"], ["block.fc", "output"]]}
    with pytest.raises(GraphError) as err:
        flatten_subgraphs(root)
    assert str(err.value) == COLLISION


def test_member_name_taken_inside_a_nested_subgraph(tmp_path: Path) -> None:
    outer = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([3])}), "block": block(), "block.fc": _affine(2.0),
               "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("in", "block"), ("block", "block.fc"), ("block.fc", "out")], type_check=False)
    io = _io()
    path = write(tmp_path, {"input": io["input"], "outer": outer, "output": io["output"]},
                 [("input", "outer"), ("outer", "output")])
    with pytest.raises(GraphError) as err:
        load(path)
    assert str(err.value) == (
        "subgraph 'outer.block': its member 'fc' (Affine) flattens to 'outer.block.fc', the name of node "
        "'outer.block.fc' (Affine) of subgraph 'outer'; rename one of them"
    )


def test_port_name_taken_by_a_top_level_node(tmp_path: Path) -> None:
    """An outer edge may name the port 'block.in'; a node of that name would make such an edge ambiguous."""
    io = _io()
    nodes = {"input": io["input"], "block.in": _affine(2.0), "block": block(), "output": io["output"]}
    path = write(tmp_path, nodes, [("input", "block.in"), ("block.in", "block"), ("block", "output")])
    with pytest.raises(GraphError) as err:
        load(path)
    assert str(err.value) == ("subgraph 'block': its member 'in' (Input) flattens to 'block.in', the name of node "
                              "'block.in' (Affine) of the top-level graph; rename one of them")


def test_two_subgraphs_flattening_to_one_name(tmp_path: Path) -> None:
    """'a' holding subgraph 'b' (member 'b.fc' after its own flattening) and a subgraph 'a.b' with member 'fc'."""
    outer_a = nir.NIRGraph(
        nodes={"in": nir.Input(input_type={"input": np.array([3])}), "b": block(),
               "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("in", "b"), ("b", "out")], type_check=False)
    io = _io()
    nodes = {"input": io["input"], "a": outer_a, "a.b": block(), "output": io["output"]}
    path = write(tmp_path, nodes, [("input", "a"), ("a", "a.b"), ("a.b", "output")])
    with pytest.raises(GraphError) as err:
        load(path)
    assert str(err.value) == ("subgraph 'a.b': its member 'fc' (Affine) flattens to 'a.b.fc', the name of node "
                              "'a.b.fc' (Affine) of the top-level graph; rename one of them")


def test_dotted_names_that_do_not_collide_still_load(tmp_path: Path) -> None:
    io = _io()
    nodes = {"input": io["input"], "block.pre": _affine(2.0), "block": block(), "output": io["output"]}
    graph = load(write(tmp_path, nodes, [("input", "block.pre"), ("block.pre", "block"), ("block", "output")])).graph
    assert set(graph.nodes) == {"input", "block.pre", "block.fc", "block.lif", "output"}
    assert set(graph.edges) == {("input", "block.pre"), ("block.pre", "block.fc"), ("block.fc", "block.lif"),
                                ("block.lif", "output")}
    assert not graph.recurrent_edges
