"""The loihi backend object: emit writes the tables atomically (or nothing, on ResourceError), run executes the
written mapping, and the mapping of a small network matches its checked-in golden file.

Refresh the golden file with ``SNNCOMPILE_REFRESH_GOLDEN=1 pytest tests/backends/loihi/test_loihi_backend.py``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from loihi_cases import first_trace_mismatch, loihi_neuron
from snncompile.backends.bitsim import run_plain
from snncompile.backends.loihi import BACKEND, CoreSpec
from snncompile.backends.loihi.encode import quantize_for_loihi
from snncompile.backends.loihi.tables import CSV_COLUMNS, FORMAT, mapping_tables

import snncompile as sc
from snncompile.errors import InputError, ResourceError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph

DIGITS = Path(__file__).resolve().parents[3] / "models" / "digits-mlp" / "test.npz"
GOLDEN = Path(__file__).with_name("golden_loihi_mapping.json")
FILES = ["mapping.json", "mapping.npz", "cores.csv", "cores.txt", "summary.json"]


@pytest.fixture(scope="module")
def digits() -> tuple[sc.QGraph, np.ndarray]:
    d = np.load(DIGITS)
    return quantize_for_loihi(sc.load("digits-mlp"), d["inputs"][:, :32]), d["inputs"][:, :3]


def small_net() -> QGraph:
    """input(3) -> fc -> n(3) -> fc2 -> n2(2), with n -> r -> n recurrent."""
    w = np.array([[2, 0, -4], [0, 6, 8], [10, -12, 0]])
    nodes = {"input": Input(shape=(3,)), "fc": QDense(name="fc", weight=w, w_bits=9, shift=1),
             "n": loihi_neuron("n", (3,), du=[0, 100, 4095], dv=200, vth=[5, 6, 7], bias_mant=[1, -2, 3], bias_exp=2),
             "fc2": QDense(name="fc2", weight=np.array([[3, 5, 7], [9, 0, 11]]), w_bits=9, shift=-1),
             "n2": loihi_neuron("n2", (2,), du=10, dv=20, vth=3),
             "r": QDense(name="r", weight=np.array([[0, 2, 0], [0, 0, 4], [6, 0, 0]]), w_bits=9),
             "output": Output()}
    edges = [("input", "fc"), ("fc", "n"), ("n", "fc2"), ("fc2", "n2"), ("n", "r"), ("r", "n"), ("n2", "output")]
    return QGraph(nodes, edges)


def test_emit_writes_tables_and_run_reads_them(digits: tuple, tmp_path: Path) -> None:
    qgraph, inputs = digits
    out = tmp_path / "loihi"
    result = BACKEND.emit(qgraph, out, inputs)
    assert [p.name for p in result["files"]] == FILES and all(p.is_file() for p in result["files"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loihi"]  # no temporary folder left behind
    summary = json.loads((out / "summary.json").read_text())
    assert summary == result["summary"]
    assert (summary["cores"], summary["chips"], summary["binding_resource"]) == (1, 1, "neurons")
    assert summary["rates"] == "measured spike rates" and summary["spikes_routed_per_step"] > 0
    rows = list(csv.DictReader((out / "cores.csv").open()))
    assert list(rows[0]) == list(CSV_COLUMNS) and rows[0]["neurons"] == "74"
    assert result["table"] == (out / "cores.txt").read_text() and "binding resource: neurons" in result["table"]
    assert json.loads((out / "mapping.json").read_text())["format"] == FORMAT
    assert first_trace_mismatch(run_plain(qgraph, inputs), BACKEND.run(out, inputs)) == ""


def test_digits_mlp_on_both_presets(digits: tuple) -> None:
    qgraph = digits[0]
    for spec, binding in (("loihi1", "neurons"), ("loihi2", "synaptic_memory")):
        summary = mapping_tables(BACKEND.map(qgraph, core_spec=spec))["summary"]
        assert (summary["cores"], summary["chips"], summary["binding_resource"]) == (1, 1, binding), spec


def test_emit_replaces_an_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    BACKEND.emit(small_net(), out, core_spec=CoreSpec(name="t", neurons_per_core=2, input_axons=8, output_axons=8,
                                                      synaptic_memory_bits=4096, cores_per_chip=2))
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_resource_error_writes_nothing(tmp_path: Path) -> None:
    spec = CoreSpec(name="t", neurons_per_core=2, input_axons=8, output_axons=8, synaptic_memory_bits=4096,
                    cores_per_chip=1, max_chips=2)
    with pytest.raises(ResourceError, match=r"^network: cores 3 need 3 chips > 2 chips") as info:
        BACKEND.emit(small_net(), tmp_path / "new", core_spec=spec)
    assert info.value.exit_code == 3
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "keep.txt").write_text("keep")
    with pytest.raises(ResourceError):
        BACKEND.emit(small_net(), existing, core_spec=spec)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_core_spec_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"base": "loihi1", "neurons_per_core": 2}))
    result = BACKEND.emit(small_net(), tmp_path / "out", core_spec=path)
    assert result["summary"]["cores"] == 3 and result["summary"]["core_spec"] == "custom"


def test_run_rejects_what_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "mapping.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="is not a snncompile-loihi-mapping/2 mapping"):
        BACKEND.run(tmp_path, np.zeros((2, 1, 3)))
    with pytest.raises(InputError, match=r"input 'input': data of shape \(2, 1, 4\) does not match"):
        BACKEND.run(small_net(), np.zeros((2, 1, 4)))
    with pytest.raises(InputError, match="values must be spikes"):
        BACKEND.run(small_net(), np.full((2, 1, 3), 2))


def test_small_network_mapping_matches_golden() -> None:
    spec = CoreSpec(name="golden", neurons_per_core=2, input_axons=8, output_axons=8, synaptic_memory_bits=4096,
                    cores_per_chip=2)
    got = json.loads(json.dumps(mapping_tables(BACKEND.map(small_net(), core_spec=spec))))
    if os.environ.get("SNNCOMPILE_REFRESH_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
    assert got == json.loads(GOLDEN.read_text()), "mapping changed; refresh with SNNCOMPILE_REFRESH_GOLDEN=1"
    inputs = (np.random.default_rng(0).random((20, 2, 3)) < 0.5).astype(np.int64)
    assert first_trace_mismatch(run_plain(small_net(), inputs), BACKEND.run(small_net(), inputs, core_spec=spec)) == ""
