"""mapping.json + mapping.npz (format 2): written, read back and expanded they are the mapping; format 1's tables
collapse to the same arrays and still run; a damaged file is refused with InputError, never simulated."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loihi_cases import KINDS, first_trace_mismatch, random_inputs, random_loihi_qgraph, tiny_spec
from snncompile.backends.bitsim import run_plain
from snncompile.backends.loihi import BACKEND, mapfile
from snncompile.backends.loihi.tables import mapping_arrays, mapping_tables

from snncompile.errors import InputError


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return set(a) == set(b) and all(np.asarray(a[k]).tolist() == np.asarray(b[k]).tolist() for k in a)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), kind=st.sampled_from(KINDS), spec_seed=st.integers(0, 10**6))
def test_arrays_round_trip_through_bytes_and_the_expanded_tables(seed: int, kind: str, spec_seed: int) -> None:
    graph, _ = random_loihi_qgraph(seed, kind)
    m = BACKEND.map(graph, core_spec=tiny_spec(np.random.default_rng(spec_seed)))
    index, arrays = mapping_arrays(m)
    with np.load(io.BytesIO(mapfile.to_bytes(arrays))) as data:
        stored = {k: data[k] for k in data.files}
    assert _same(stored, arrays)
    assert all(stored[k].dtype.itemsize <= 8 for k in stored)
    mapfile.check_arrays(index, stored, "test")
    tables = mapfile.expand(index, stored)
    assert tables == mapping_tables(m)
    index2, arrays2 = mapfile.collapse(json.loads(json.dumps(tables)))
    assert _same(arrays2, arrays)
    assert {k: v for k, v in index2.items() if k != "arrays"} == {k: v for k, v in index.items() if k != "arrays"}


def test_emit_writes_a_small_index_and_run_reads_the_arrays(tmp_path: Path) -> None:
    graph, shape = random_loihi_qgraph(1, "recurrent")
    inputs = random_inputs(1, shape)
    out = tmp_path / "o"
    BACKEND.emit(graph, out, inputs, core_spec=tiny_spec(np.random.default_rng(1)))
    index = json.loads((out / "mapping.json").read_text())
    assert index["format"] == mapfile.FORMAT and index["arrays"]["file"] == "mapping.npz"
    assert "synapse_lists" not in json.dumps(index) and (out / "mapping.npz").is_file()
    want = run_plain(graph, inputs)
    assert first_trace_mismatch(want, BACKEND.run(out, inputs)) == ""
    # format 1 (one JSON with every list) still runs, to the same traces
    (out / "mapping.npz").unlink()
    (out / "mapping.json").write_text(json.dumps({**mapfile.expand(*mapping_arrays(BACKEND.map(
        graph, core_spec=tiny_spec(np.random.default_rng(1))))), "format": mapfile.FORMAT_1}))
    assert first_trace_mismatch(want, BACKEND.run(out, inputs)) == ""


def _write(out: Path, index: dict, arrays: dict[str, np.ndarray]) -> None:
    out.mkdir(exist_ok=True)
    (out / "mapping.json").write_text(json.dumps(index))
    (out / "mapping.npz").write_bytes(mapfile.to_bytes(arrays))


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.pop("weight"), "'weight' / 'sparse_compartment' do not match list_length"),
    (lambda a: a.__setitem__("list_axon", a["list_axon"][:-1]), "array 'list_axon' must have"),
    (lambda a: a.__setitem__("axon_offsets", a["axon_offsets"][::-1].copy()), "'axon_offsets' must be"),
    (lambda a: a.__setitem__("list_axon", a["list_axon"] + 10**6), "names an axon or compartment its core does not"),
    (lambda a: a.__setitem__("route_dest_axon", np.zeros_like(a["route_dest_axon"])), "receives"),
])
def test_damaged_arrays_are_refused(tmp_path: Path, damage: object, message: str) -> None:
    graph, shape = random_loihi_qgraph(2, "chain")
    index, arrays = mapping_arrays(BACKEND.map(graph, core_spec=tiny_spec(np.random.default_rng(2))))
    assert len(arrays["route_dest_axon"]) > 1
    damage(arrays)  # type: ignore[operator]
    _write(tmp_path / "o", index, arrays)
    with pytest.raises(InputError, match=message):
        BACKEND.run(tmp_path / "o", random_inputs(2, shape))


def test_missing_arrays_file_is_an_input_error(tmp_path: Path) -> None:
    graph, shape = random_loihi_qgraph(0, "chain")
    index, arrays = mapping_arrays(BACKEND.map(graph))
    _write(tmp_path / "o", index, arrays)
    (tmp_path / "o" / "mapping.npz").unlink()
    with pytest.raises(InputError, match="cannot read the mapping's arrays"):
        BACKEND.run(tmp_path / "o", random_inputs(0, shape))
