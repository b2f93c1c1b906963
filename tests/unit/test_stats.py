"""snncompile.stats: neuron, synapse and parameter counts on hand-built graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snncompile import stats
from snncompile.graph import Graph
from snncompile.nodes import LIF, Affine, Conv1d, Conv2d, Input, Output, Scale, Threshold


def test_mlp_totals() -> None:
    g = Graph(
        {
            "in": Input(shape=(4,)),
            "fc": Affine(weight=np.ones((3, 4), np.float32), bias=np.zeros(3, np.float32)),
            "lif": LIF(shape=(3,), beta=np.float32(0.9), threshold=np.float32(1.0)),
            "th": Threshold(shape=(3,), threshold=np.float32(0.5)),
            "out": Output(shape=(3,)),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "th"), ("th", "out")],
    )
    t = stats.totals(g)
    assert t.neurons == 6  # LIF 3 + Threshold 3
    assert stats.neurons_by_type(g) == {"LIF": 3, "Threshold": 3}
    assert t.synapses == 12
    # Affine 12 + 3; LIF beta, threshold, v_reset, bias, v_init broadcast to 3; Threshold threshold, v_init
    assert t.parameters == 15 + 5 * 3 + 2 * 3
    assert t.parameter_bytes == 4 * t.parameters
    assert stats.recurrent_edges(g) == []


def test_recurrent_edges_in_edge_order() -> None:
    g = Graph(
        {
            "in": Input(shape=(2,)),
            "fc": Affine(weight=np.eye(2), bias=np.zeros(2)),
            "lif": LIF(shape=(2,), beta=0.5, threshold=1.0),
            "rec": Affine(weight=np.eye(2), bias=np.zeros(2)),
            "out": Output(shape=(2,)),
        },
        [("in", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out")],
    )
    assert stats.recurrent_edges(g) == [("rec", "lif")]


def _connected_pairs_by_torch(weight_shape: tuple[int, ...], in_shape: tuple[int, ...], **kw: object) -> int:
    """Convolving all-ones input with all-ones weights counts, per output, the taps that land on real input."""
    x = torch.ones((1, *in_shape), dtype=torch.float64)
    w = torch.ones(weight_shape, dtype=torch.float64)
    conv = F.conv1d if len(in_shape) == 2 else F.conv2d
    return int(conv(x, w, **kw).sum().item())  # type: ignore[operator]


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [
        ((1, 1), (0, 0), (1, 1), 1),
        ((1, 1), (1, 1), (1, 1), 1),
        ((2, 1), (2, 1), (1, 2), 1),
        ((1, 2), (1, 0), (1, 1), 2),
    ],
)
def test_conv2d_synapses_count_only_connected_taps(
    stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int], groups: int
) -> None:
    in_shape = (4, 7, 6)
    weight = np.ones((6, 4 // groups, 3, 3), np.float32)
    g = Graph(
        {
            "in": Input(shape=in_shape),
            "conv": Conv2d(weight=weight, bias=np.zeros(6, np.float32), stride=stride, padding=padding,
                           dilation=dilation, groups=groups),
            "out": Output(),
        },
        [("in", "conv"), ("conv", "out")],
    )
    expected = _connected_pairs_by_torch(weight.shape, in_shape, stride=stride, padding=padding, dilation=dilation,
                                         groups=groups)
    assert stats.synapse_count(g, "conv") == expected
    if padding == (0, 0):
        c_out, h, w = g.shapes["conv"]
        assert expected == c_out * h * w * (4 // groups) * 3 * 3


def test_conv1d_and_scale_synapses() -> None:
    g = Graph(
        {
            "in": Input(shape=(2, 5)),
            "conv": Conv1d(weight=np.ones((3, 2, 3)), bias=np.zeros(3), padding=1),
            "scale": Scale(scale=np.ones((3, 5))),
            "out": Output(),
        },
        [("in", "conv"), ("conv", "scale"), ("scale", "out")],
    )
    assert stats.synapse_count(g, "conv") == _connected_pairs_by_torch((3, 2, 3), (2, 5), padding=1) == 3 * 2 * 13
    assert stats.synapse_count(g, "scale") == 15
    assert stats.totals(g).neurons == 0
