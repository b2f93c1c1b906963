"""The recorded framework cases (tests/data/frameworks) and the NIR paper's graphs (tests/data/nir_paper).

Framework cases: each file is that framework's own export, read with the matching ``--from``; the float reference
must reproduce the recorded spikes exactly and the recorded membranes / currents / readouts to 1e-4 (the
framework ran in float32). The snnTorch cases are covered by tests/equivalence. These tests need only the data,
not the frameworks.

NIR paper graphs: each imports under the convention of the framework that exported it, with the node types,
shapes and discrete parameters that the paper's README states, and runs through the reference.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from conftest import SHARED, assert_spikes_equal

from snncompile import nodes as ir
from snncompile.frontend.nir_read import load
from snncompile.reference import run

FRAMEWORKS = SHARED / "frameworks"
PAPER = SHARED / "nir_paper"
CASES = sorted(
    p.name for p in FRAMEWORKS.iterdir()
    if (p / "params.json").is_file() and json.loads((p / "params.json").read_text())["framework"] != "snntorch"
) if FRAMEWORKS.is_dir() else []


def test_framework_cases_were_found() -> None:
    frameworks = {json.loads((FRAMEWORKS / c / "params.json").read_text())["framework"] for c in CASES}
    assert frameworks == {"norse", "sinabs", "rockpool"}, f"expected the cases under {FRAMEWORKS}, found {CASES}"


@pytest.mark.parametrize("case", CASES)
def test_framework_case_reproduced(case: str) -> None:
    params = json.loads((FRAMEWORKS / case / "params.json").read_text())
    nir_file = FRAMEWORKS / case / params["nir_export"]["nir_file"]
    data = np.load(FRAMEWORKS / case / "data.npz")
    loaded = load(nir_file, convention=params["framework"])
    traces = run(loaded.graph, data["input"])
    layers = sorted(k[4:] for k in data.files if k.startswith("spk_"))
    assert layers
    for layer in layers:
        assert_spikes_equal(f"{case}/{layer}", data[f"spk_{layer}"], traces[layer]["out"])
        np.testing.assert_allclose(traces[layer]["v"], data[f"mem_{layer}"], atol=1e-4, err_msg=f"{case}/{layer} v")
        if f"syn_{layer}" in data.files:
            syn = data[f"syn_{layer}"]
            np.testing.assert_allclose(traces[layer]["i"], syn.reshape(traces[layer]["i"].shape), atol=1e-4)
    for key in (k for k in data.files if k.startswith("readout_")):
        np.testing.assert_allclose(traces[key[8:]]["out"], data[key], atol=1e-4, err_msg=f"{case}/{key}")


def test_rockpool_case_drops_batch_dims_and_recovers_dt() -> None:
    loaded = load(FRAMEWORKS / "rockpool_lif_mlp" / "model_raw.nir", convention="rockpool")
    assert loaded.graph.dt == 1e-3 and "recovered from r" in loaded.source
    assert loaded.graph.shapes["input"] == (12,) and loaded.graph.shapes["output"] == (4,)
    assert any("leading batch dim" in w and "[1, 12]" in w for w in loaded.warnings)
    assert any("bias" in w and "w_rec" in w for w in loaded.warnings)


# -- NIR paper graphs ---------------------------------------------------------------------------------------------

#: file -> (load options, expected node types by name, expected per-neuron discrete parameters)
PAPER_GRAPHS: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, dict[str, float]]]] = {
    "braille_noDelay_bias_zero.nir": (
        {"convention": "snntorch", "reset": "zero", "reset_delay": False},
        {"input": "Input", "fc1": "Affine", "lif1.lif": "CubaLIF", "lif1.w_rec": "Affine", "fc2": "Affine",
         "lif2": "CubaLIF", "output": "Output"},
        {"lif1.lif": {"alpha": 0.55, "beta": 0.9}, "lif2": {"alpha": 0.5, "beta": 0.55}},
    ),
    "braille_noDelay_noBias_subtract.nir": (
        {"convention": "snntorch", "reset": "subtract", "reset_delay": False},
        {"input": "Input", "fc1": "Linear", "lif1.lif": "CubaLIF", "lif1.w_rec": "Linear", "fc2": "Linear",
         "lif2": "CubaLIF", "output": "Output"},
        {"lif1.lif": {"alpha": 0.75, "beta": 0.85}, "lif2": {"alpha": 0.45, "beta": 0.7}},
    ),
    "cnn_sinabs.nir": (
        {"convention": "sinabs"},
        {"input": "Input", "0": "Conv2d", "1": "IF", "2": "Conv2d", "3": "IF", "4": "SumPool2d", "5": "Conv2d",
         "6": "IF", "7": "SumPool2d", "8": "Flatten", "9": "Affine", "10": "IF", "11": "Affine", "12": "IF",
         "output": "Output"},
        {},
    ),
    # the paper ran its LIF experiment at dt = 1e-4 s; this older Norse export writes tau in seconds
    "lif_norse.nir": ({"convention": "norse-seconds", "dt": 1e-4}, {"input": "Input", "0": "Affine", "1": "LIF",
                                                                    "output": "Output"}, {"1": {"beta": 0.96}}),
    "lif_rockpool.nir": ({"convention": "rockpool"}, {"input": "Input", "0_LinearTorch": "Linear",
                                                      "1_LIFNeuronTorch": "LIF", "output": "Output"},
                         {"1_LIFNeuronTorch": {"beta": float(np.exp(-1e-4 / 0.0025))}}),
}


def test_every_paper_graph_is_listed() -> None:
    assert sorted(p.name for p in PAPER.glob("*.nir")) == sorted(PAPER_GRAPHS)


@pytest.mark.parametrize("name", sorted(PAPER_GRAPHS))
def test_paper_graph_imports_and_runs(name: str) -> None:
    options, types, params = PAPER_GRAPHS[name]
    loaded = load(PAPER / name, **options)
    graph = loaded.graph
    assert {n: nd.type_name for n, nd in graph.nodes.items()} == types, loaded.source
    for node_name, expected in params.items():
        for field, value in expected.items():
            np.testing.assert_allclose(getattr(graph.nodes[node_name], field), value, rtol=1e-6,
                                       err_msg=f"{name}: {node_name}.{field}")
    (inp,) = graph.inputs
    shape = graph.nodes[inp].shape  # type: ignore[attr-defined]
    x = (np.random.default_rng(7).random((20, 2, *shape)) < 0.3).astype(np.float32)
    traces = run(graph, x)
    (out,) = graph.outputs
    assert traces[out]["out"].shape == (20, 2, *graph.shapes[out])
    assert all(np.isfinite(tr["out"]).all() for tr in traces.values())
    assert sum(float(tr["out"].sum()) for n, tr in traces.items()
               if isinstance(graph.nodes[n], ir.NeuronNode)) > 0, "no neuron spiked on random input"


def test_paper_graph_shapes() -> None:
    cnn = load(PAPER / "cnn_sinabs.nir", convention="sinabs").graph
    assert cnn.shapes["input"] == (2, 34, 34) and cnn.shapes["1"] == (16, 16, 16)
    assert cnn.shapes["7"] == (8, 4, 4) and cnn.shapes["8"] == (128,) and cnn.shapes["output"] == (10,)
    braille = load(PAPER / "braille_noDelay_bias_zero.nir", convention="snntorch", reset="zero",
                   reset_delay=False).graph
    assert braille.dt == 1e-4 and braille.shapes["lif1.lif"] == (38,)
    assert braille.recurrent_edges == {("lif1.w_rec", "lif1.lif")}
    sem = braille.nodes["lif1.lif"].semantics  # type: ignore[attr-defined]
    assert (sem.reset, sem.timing, sem.delayed_zero) == ("zero", "snntorch_immediate", "total")
    rockpool = load(PAPER / "lif_rockpool.nir", convention="rockpool")
    assert rockpool.graph.dt == pytest.approx(1e-4) and rockpool.graph.shapes["output"] == (1,)


def test_norse_tau_unit_is_warned_about() -> None:
    # lif_norse.nir writes tau = 2.5 ms in seconds; Norse 1.1.0 would have written dt/tau_inv = 2.5e-6
    loaded = load(PAPER / "lif_norse.nir", convention="norse")
    assert any("norse-seconds" in w for w in loaded.warnings)
