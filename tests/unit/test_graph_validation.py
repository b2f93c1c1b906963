"""Graph validation raises GraphError with messages that name what, where and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import snncompile as sc
from snncompile import ir
from snncompile.errors import GraphError


def lif(n: int) -> ir.LIF:
    return ir.LIF(shape=(n,), beta=0.9, threshold=1.0)


def test_edge_to_missing_node() -> None:
    with pytest.raises(GraphError, match=r"^edge 'x' -> 'ghost': node 'ghost' does not exist$"):
        sc.Graph({"x": ir.Input(shape=(2,))}, [("x", "ghost")])


def test_shape_mismatch_names_both_nodes() -> None:
    with pytest.raises(
        GraphError, match=r"^node 'n' \(LIF\): input shape \(3,\) from 'fc' does not match expected \(2,\)$"
    ):
        sc.Graph(
            {"x": ir.Input(shape=(4,)), "fc": ir.Linear(weight=np.ones((3, 4))), "n": lif(2)},
            [("x", "fc"), ("fc", "n")],
        )


def test_fan_in_shapes_must_agree() -> None:
    with pytest.raises(GraphError, match=r"summed inputs disagree: \(3,\) from 'a' vs \(2,\) from 'b'"):
        sc.Graph(
            {"x": ir.Input(shape=(4,)), "a": ir.Linear(weight=np.ones((3, 4))),
             "b": ir.Linear(weight=np.ones((2, 4))), "s": ir.Scale(scale=np.ones(3))},
            [("x", "a"), ("x", "b"), ("a", "s"), ("b", "s")],
        )


def test_stateless_cycle_is_rejected() -> None:
    with pytest.raises(GraphError, match=r"^cycle 'a' -> 'b' -> 'a' has no stateful node"):
        sc.Graph(
            {"x": ir.Input(shape=(2,)), "a": ir.Linear(weight=np.eye(2)), "b": ir.Linear(weight=np.eye(2))},
            [("x", "a"), ("a", "b"), ("b", "a")],
        )


def test_cycle_through_a_neuron_is_recurrent() -> None:
    g = sc.Graph(
        {"x": ir.Input(shape=(2,)), "n": lif(2), "w": ir.Linear(weight=np.eye(2)), "y": ir.Output()},
        [("x", "n"), ("n", "w"), ("w", "n"), ("n", "y")],
    )
    assert g.recurrent_edges == {("w", "n")}
    assert g.shapes["y"] == (2,)


def test_unfed_and_unreachable_nodes() -> None:
    with pytest.raises(GraphError, match=r"^node 'n' \(LIF\) has no incoming edge$"):
        sc.Graph({"x": ir.Input(shape=(2,)), "n": lif(2)}, [])
    with pytest.raises(GraphError, match=r"^graph: has no Input node$"):
        sc.Graph({"n": lif(2)}, [("n", "n")])


def test_io_direction_rules() -> None:
    with pytest.raises(GraphError, match="an Input node cannot have incoming edges"):
        sc.Graph({"x": ir.Input(shape=(2,)), "y": ir.Input(shape=(2,))}, [("x", "y")])


def test_parameter_shape_must_fit_neuron_shape() -> None:
    with pytest.raises(GraphError, match=r"parameter 'beta' of shape \(3,\) does not fit neuron shape \(2,\)"):
        ir.LIF(shape=(2,), beta=np.ones(3), threshold=1.0)


def test_conv_and_flatten_shapes() -> None:
    g = sc.Graph(
        {
            "x": ir.Input(shape=(2, 9, 9)),
            "c": ir.Conv2d(weight=np.ones((4, 2, 3, 3)), bias=np.zeros(4), stride=2, padding=1),
            "p": ir.SumPool2d(kernel_size=2, stride=2),
            "f": ir.Flatten(start_dim=0),
            "y": ir.Output(),
        },
        [("x", "c"), ("c", "p"), ("p", "f"), ("f", "y")],
    )
    assert g.shapes["c"] == (4, 5, 5) and g.shapes["p"] == (4, 2, 2) and g.shapes["f"] == (16,)
    with pytest.raises(GraphError, match=r"node 'c' \(Conv2d\): input shape \(3, 9, 9\) does not match expected"):
        sc.Graph({"x": ir.Input(shape=(3, 9, 9)), "c": ir.Conv2d(weight=np.ones((4, 2, 3, 3)), bias=np.zeros(4))},
                 [("x", "c")])


def test_semantics_rejects_unknown_values() -> None:
    with pytest.raises(GraphError, match=r"semantics: reset='clamp' is not one of 'zero', 'subtract', 'none'"):
        sc.Semantics(reset="clamp")


def test_nodes_are_frozen_and_arrays_read_only() -> None:
    w = np.ones((2, 2))
    node = ir.Linear(weight=w)
    w[0, 0] = 5.0  # the caller's array is copied
    assert node.weight[0, 0] == 1.0
    with pytest.raises(ValueError):
        node.weight[0, 0] = 3.0


def test_format_is_stable() -> None:
    g = sc.Graph(
        {"x": ir.Input(shape=(2,)), "w": ir.Affine(weight=np.array([[1.0, -2.0], [0.5, 0.25]]),
                                                   bias=np.zeros(2, np.float32)),
         "n": ir.LIF(shape=(2,), beta=np.float32(0.5), threshold=np.float32(1.0)), "y": ir.Output()},
        [("x", "w"), ("w", "n"), ("n", "y")],
        dt=1e-3,
    )
    assert sc.format(g) == (
        "graph dt=0.001 nodes=4 edges=3\n"
        "  x: Input -> (2,)\n"
        "  w: Affine -> (2,)  weight=f64[2,2]={1 -2 0.5 0.25} bias=f32[2]={0 0}\n"
        "  n: LIF -> (2,)  v_init=f32[2]={0 0} beta=f32[2]={0.5 0.5} threshold=f32[2]={1 1} "
        "v_reset=f32[2]={0 0} bias=f32[2]={0 0}\n"
        "      semantics: compare=gt reset=zero timing=immediate synapse_delay=0 spikes=binary\n"
        "  y: Output -> (2,)\n"
        "edges:\n"
        "  x -> w\n"
        "  w -> n\n"
        "  n -> y\n"
    )
