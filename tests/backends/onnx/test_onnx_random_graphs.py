"""Seeded random QGraphs of every node type: onnxruntime (Scan model and step model) equals bitsim exactly.

Templates (tests/backends/onnx/onnx_graphs.py): one neuron of any kind behind a wide
16-bit layer; QConv2d (groups, stride, padding, dilation) -> neuron -> SumPool2d ->
Flatten -> QDense -> neuron; two summed inputs -> per-element Delay -> QConv1d, and
QScale -> readout -> grouped QConv1d on wide values; a recurrent spiking layer with a
Threshold node, a recurrent Delay loop through a readout and a wide readout chain.
Every neuron draws every Semantics option at random.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx_graphs import TEMPLATES, random_inputs, trace_mismatches
from snncompile.backends.bitsim import run_plain
from snncompile.backends.onnx import BACKEND

from snncompile.quant.qnodes import QNeuron

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_random_graph_equals_bitsim(template: str, seed: int) -> None:
    rng = np.random.default_rng(1000 * seed + len(template))
    graph = TEMPLATES[template](rng)
    spikes = random_inputs(rng, graph, steps=9, batch=3)
    want = run_plain(graph, spikes)
    for model in ("scan", "step"):
        problems = trace_mismatches(want, BACKEND.run(graph, spikes, model=model))
        options = {n: nd.semantics.describe() for n, nd in graph.nodes.items() if isinstance(nd, QNeuron)}
        assert problems == [], f"{model} model: {problems}; semantics {options}"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_models_pass_the_checker(template: str) -> None:
    step, scan, _ = BACKEND.build(TEMPLATES[template](np.random.default_rng(5)))
    for model in (step, scan):
        onnx.checker.check_model(model, full_check=True)
        assert model.opset_import[0].version == 17
        integer_io = [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)]
        assert set(integer_io) <= {onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.INT16,
                                   onnx.TensorProto.INT32, onnx.TensorProto.INT64}


def test_seeds_cover_every_option() -> None:
    """The seeds above draw every value of every Semantics option and every neuron kind."""
    seen: dict[str, set] = {}
    for template in TEMPLATES:
        for seed in SEEDS:
            graph = TEMPLATES[template](np.random.default_rng(1000 * seed + len(template)))
            for node in graph.nodes.values():
                if isinstance(node, QNeuron):
                    seen.setdefault("kind", set()).add(node.kind)
                    for key, value in node.semantics.to_dict().items():
                        seen.setdefault(key, set()).add(value)
    from onnx_graphs import OPTIONS

    from snncompile.quant.qnodes import QKINDS

    assert seen["kind"] == set(QKINDS)
    for key, values in OPTIONS.items():
        assert seen[key] == set(values), key
