"""Every NIR 1.0.8 primitive: NIR file -> IR -> write -> read gives equal parameters.

Each case builds a small graph with the real ``nir`` package around one node of
the type under test, writes it with ``nir.write`` and reads it with snncompile
(IR1); IR1 is written by snncompile and read back (IR2); IR1 must equal IR2
exactly (types, dtypes, values, semantics, dt), and ``nir.read`` must accept
snncompile's file.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.frontend.nir_read import load
from snncompile.frontend.nir_write import write

RNG = np.random.default_rng(7)


def f32(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 1.5, size=shape).astype(np.float32)


def _chain(*nodes: nir.NIRNode, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> nir.NIRGraph:
    named = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    for i, node in enumerate(nodes):
        named[f"n{i}"] = node
    named["output"] = nir.Output(output_type={"output": np.array(out_shape)})
    names = list(named)
    return nir.NIRGraph(nodes=named, edges=list(zip(names[:-1], names[1:], strict=True)), type_check=False)


TAU = np.full(3, 5e-3, np.float32)
CASES: dict[str, tuple[nir.NIRGraph, type]] = {
    "Input+Output": (_chain(in_shape=(3,), out_shape=(3,)), ir.Input),
    "Affine": (_chain(nir.Affine(weight=f32(2, 3), bias=f32(2)), in_shape=(3,), out_shape=(2,)), ir.Affine),
    "Linear": (_chain(nir.Linear(weight=f32(2, 3)), in_shape=(3,), out_shape=(2,)), ir.Linear),
    "Scale": (_chain(nir.Scale(scale=f32(3)), in_shape=(3,), out_shape=(3,)), ir.Scale),
    "Conv1d": (
        _chain(nir.Conv1d(input_shape=9, weight=f32(4, 2, 3), stride=2, padding=1, dilation=1, groups=1,
                          bias=f32(4)), in_shape=(2, 9), out_shape=(4, 5)),
        ir.Conv1d,
    ),
    "Conv2d": (
        _chain(nir.Conv2d(input_shape=(6, 6), weight=f32(3, 2, 3, 3), stride=1, padding=(1, 1), dilation=1,
                          groups=1, bias=f32(3)), in_shape=(2, 6, 6), out_shape=(3, 6, 6)),
        ir.Conv2d,
    ),
    "SumPool2d": (
        _chain(nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
               in_shape=(2, 4, 4), out_shape=(2, 2, 2)),
        ir.SumPool2d,
    ),
    "AvgPool2d": (
        _chain(nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([1, 1])),
               in_shape=(2, 4, 4), out_shape=(2, 5, 5)),
        ir.AvgPool2d,
    ),
    "Flatten": (
        _chain(nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=0, end_dim=-1),
               in_shape=(2, 3, 4), out_shape=(24,)),
        ir.Flatten,
    ),
    "Delay": (_chain(nir.Delay(delay=np.array([0.0, 1e-3, 3e-3])), in_shape=(3,), out_shape=(3,)), ir.Delay),
    "Threshold": (_chain(nir.Threshold(threshold=f32(3)), in_shape=(3,), out_shape=(3,)), ir.Threshold),
    "I": (_chain(nir.I(r=f32(3)), in_shape=(3,), out_shape=(3,)), ir.I),
    "IF": (_chain(nir.IF(r=f32(3), v_threshold=f32(3), v_reset=f32(3) * 0), in_shape=(3,), out_shape=(3,)), ir.IF),
    "LI": (_chain(nir.LI(tau=TAU, r=f32(3), v_leak=f32(3)), in_shape=(3,), out_shape=(3,)), ir.LI),
    "LIF": (
        _chain(nir.LIF(tau=TAU, r=f32(3), v_leak=f32(3), v_threshold=f32(3), v_reset=f32(3)),
               in_shape=(3,), out_shape=(3,)),
        ir.LIF,
    ),
    "CubaLI": (
        _chain(nir.CubaLI(tau_syn=TAU * 0.5, tau_mem=TAU, r=f32(3), v_leak=f32(3), w_in=f32(3)),
               in_shape=(3,), out_shape=(3,)),
        ir.CubaLI,
    ),
    "CubaLIF": (
        _chain(nir.CubaLIF(tau_syn=TAU * 0.5, tau_mem=TAU, r=f32(3), v_leak=f32(3), v_threshold=f32(3),
                           v_reset=f32(3), w_in=f32(3)), in_shape=(3,), out_shape=(3,)),
        ir.CubaLIF,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_primitive_round_trips_exactly(case: str, tmp_path) -> None:
    graph, node_type = CASES[case]
    src = tmp_path / "src.nir"
    nir.write(src, graph)
    first = load(src, convention="nir").graph
    assert any(type(n) is node_type for n in first.nodes.values()), sc.format(first)

    out = tmp_path / "out.nir"
    write(first, out)
    second = load(out).graph
    assert first.equals(second), f"round trip changed the graph:\n{sc.format(first)}\n---\n{sc.format(second)}"
    assert sc.format(first) == sc.format(second)

    # The file is a valid NIR file for other tools too.
    back = nir.read(out, type_check=case not in ("Conv1d",))
    assert set(back.nodes) == set(first.nodes)


def test_nested_subgraph_is_flattened(tmp_path) -> None:
    inner = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Affine(weight=f32(3, 3), bias=f32(3)),
            "lif": nir.LIF(tau=TAU, r=np.full(3, 5.0, np.float32), v_leak=np.zeros(3, np.float32),
                           v_threshold=f32(3), v_reset=np.zeros(3, np.float32)),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")],
        type_check=False,
    )
    outer = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}), "block": inner,
               "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "block"), ("block", "output")],
        type_check=False,
    )
    path = tmp_path / "nested.nir"
    nir.write(path, outer)
    g = load(path).graph
    assert set(g.nodes) == {"input", "block.fc", "block.lif", "output"}
    assert set(g.edges) == {("input", "block.fc"), ("block.fc", "block.lif"), ("block.lif", "output")}


def test_snncompile_round_trip_keeps_semantics_dt_and_order(tmp_path) -> None:
    sem = sc.PRESETS["loihi"].with_(compare="ge", spikes="multi", spike_cap=3)
    g = sc.Graph(
        {
            "x": ir.Input(shape=(4,)),
            "w": ir.Linear(weight=f32(4, 4)),
            "lif": ir.CubaLIF(shape=(4,), alpha=0.25, beta=np.float32(0.9), threshold=f32(4), semantics=sem),
            "rec": ir.Affine(weight=f32(4, 4), bias=np.zeros(4, np.float32)),
            "y": ir.Output(),
        },
        [("x", "w"), ("w", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "y")],
        dt=3.3e-4,
        metadata={"note": "hand-built"},
    )
    write(g, tmp_path / "g.nir")
    back = load(tmp_path / "g.nir", convention="snntorch")
    assert back.graph.equals(g)
    assert back.graph.recurrent_edges == {("rec", "lif")}
    assert "--from/--dt ignored" in back.source
