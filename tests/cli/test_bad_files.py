"""Damaged model files, as a user meets them: ``snncompile inspect FILE`` exits 2 with one pinned line on stderr and
no traceback. Each file is written by ``snncompile.save`` (or ``nir.write``) and then edited with h5py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import snncompile as sc
from snncompile.cli import main
from snncompile.nodes import LIF, Affine, Input, Output

META = "node/metadata/snncompile"
LIF_META = "node/nodes/lif/metadata"


def saved(tmp_path: Path) -> Path:
    """input [3] -> fc (Affine) -> lif (LIF, 3 neurons) -> output, with snncompile metadata."""
    graph = sc.Graph({"input": Input(shape=(3,)), "fc": Affine(weight=np.eye(3) * 0.5, bias=np.zeros(3)),
                      "lif": LIF(shape=(3,), beta=np.full(3, 0.9), threshold=np.ones(3)), "output": Output()},
                     [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    path = tmp_path / "model.nir"
    sc.save(graph, str(path))
    return path


def header(f: h5py.File, change: Callable[[dict], object]) -> None:
    """Rewrite the graph's snncompile JSON: ``change`` edits the dict in place or returns a replacement."""
    data = json.loads(f[META][()])
    new = change(data)
    del f[META]
    f[META] = json.dumps(data if new is None else new)


def replace(f: h5py.File, path: str, value: object) -> None:
    del f[path]
    f[path] = value


EDITS: dict[str, tuple[Callable[[h5py.File], None], str]] = {
    "dt_missing": (lambda f: header(f, lambda d: d.pop("dt") and None),
                   "graph metadata 'snncompile' has no 'dt'"),
    "dt_string": (lambda f: header(f, lambda d: d.update(dt="1e-3")),
                  "graph metadata 'snncompile': dt '1e-3' is not a positive, finite number of seconds"),
    "dt_infinity": (lambda f: header(f, lambda d: d.update(dt=float("inf"))),
                    "graph metadata 'snncompile': dt inf is not a positive, finite number of seconds"),
    "dt_nan": (lambda f: header(f, lambda d: d.update(dt=float("nan"))),
               "graph metadata 'snncompile': dt nan is not a positive, finite number of seconds"),
    "dt_zero": (lambda f: header(f, lambda d: d.update(dt=0)),
                "graph metadata 'snncompile': dt 0 is not a positive, finite number of seconds"),
    "header_list": (lambda f: header(f, lambda d: [d]),
                    "graph metadata 'snncompile' is a JSON list, not an object"),
    "header_not_json": (lambda f: replace(f, META, "{format: 1"),
                        "graph metadata 'snncompile' is not valid JSON"),
    "metadata_list": (lambda f: header(f, lambda d: d.update(metadata=["a"])),
                      "graph metadata 'snncompile': metadata is a JSON list, not an object"),
    "order_int": (lambda f: header(f, lambda d: d.update(order=5)),
                  "graph metadata 'snncompile': order 5 is not a list of node names"),
    "semantics_not_json": (lambda f: replace(f, f"{LIF_META}/sc.semantics", "{compare: gt"),
                           "node 'lif' (LIF): 'sc.semantics' is not valid JSON: '{compare: gt'"),
    "semantics_list": (lambda f: replace(f, f"{LIF_META}/sc.semantics", "[1, 2]"),
                       "node 'lif' (LIF): 'sc.semantics' is JSON list, not an object of Semantics fields"),
    "semantics_bad_value": (lambda f: replace(f, f"{LIF_META}/sc.semantics", '{"reset": "clamp"}'),
                            "node 'lif' (LIF): sc.semantics: reset='clamp' is not one of 'zero', 'subtract', "
                            "'none'"),
    "semantics_bad_int": (lambda f: replace(f, f"{LIF_META}/sc.semantics", '{"spike_cap": "many"}'),
                          "node 'lif' (LIF): sc.semantics: spike_cap='many' must be an int >= 1"),
    "semantics_unknown_field": (lambda f: replace(f, f"{LIF_META}/sc.semantics", '{"leak": "yes"}'),
                                "node 'lif' (LIF): sc.semantics: unknown field(s) leak"),
    "extra_field": (lambda f: f.create_dataset(f"{LIF_META}/sc.gain", data=np.ones(3)),
                    "node 'lif' (LIF): snncompile metadata has 'sc.gain', which is not a field of LIF (expected "
                    "sc.beta, sc.bias, sc.semantics, sc.shape, sc.threshold, sc.v_init, sc.v_reset)"),
    "missing_field": (lambda f: f.__delitem__(f"{LIF_META}/sc.threshold"),
                      "node 'lif' (LIF): snncompile metadata lacks 'sc.threshold'"),
    "missing_semantics": (lambda f: f.__delitem__(f"{LIF_META}/sc.semantics"),
                          "node 'lif' (LIF): snncompile metadata lacks 'sc.semantics'"),
    "string_threshold": (lambda f: replace(f, f"{LIF_META}/sc.threshold", "one"),
                         "node 'lif' (LIF): parameter 'threshold' has dtype <U3, not numbers"),
    "nan_threshold": (lambda f: replace(f, f"{LIF_META}/sc.threshold", np.array([1.0, np.nan, 1.0])),
                      "node 'lif' (LIF): parameter 'threshold' is NaN at index 1"),
    "complex_beta": (lambda f: replace(f, f"{LIF_META}/sc.beta", np.full(3, 0.9 + 0.1j)),
                     "node 'lif' (LIF): parameter 'beta' is complex (complex128); parameters are real numbers"),
    "short_parameter": (lambda f: replace(f, f"{LIF_META}/sc.bias", np.zeros(2)),
                        "node 'lif' (LIF): parameter 'bias' of shape (2,) does not fit neuron shape (3,)"),
    "fractional_shape": (lambda f: replace(f, f"{LIF_META}/sc.shape", np.array([3.5])),
                         "node 'lif' (LIF): sc.shape [3.5]: entry 3.5 is not a whole number"),
    "metadata_dataset": (lambda f: replace(f, LIF_META, np.zeros(3)),
                         "node 'lif' (LIF): its metadata is not a group of 'sc.*' fields"),
    "node_as_dataset": (lambda f: replace(f, "node/nodes/fc", np.zeros(3)),
                        "node 'fc' is stored as a dataset, not a group holding its type and parameters"),
    "nodes_as_dataset": (lambda f: replace(f, "node/nodes", np.zeros(3)),
                         "graph: 'nodes' is a dataset, not a group of nodes"),
    "nan_weight": (lambda f: replace(f, "node/nodes/fc/weight", np.array([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]])),
                   "node 'fc' (Affine): parameter 'weight' is NaN at index (0, 0)"),
    "fractional_input_shape": (lambda f: replace(f, "node/nodes/input/shape", np.array([3.7])),
                               "node 'input' (Input): shape [3.7]: entry 3.7 is not a whole number"),
}


def inspect(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["inspect", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err.splitlines()


@pytest.mark.parametrize("case", sorted(EDITS))
def test_damaged_snncompile_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    path = saved(tmp_path)
    edit, message = EDITS[case]
    with h5py.File(path, "r+") as f:
        edit(f)
    assert inspect(path, capsys) == (2, [f"snncompile: error: {message}"])


def test_undamaged_file_inspects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The base file the cases above damage is fine as written."""
    code = main(["inspect", str(saved(tmp_path))])
    assert (code, capsys.readouterr().err) == (0, "")


def test_truncated_hdf5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = saved(tmp_path)
    path.write_bytes(path.read_bytes()[:2048])
    code, lines = inspect(path, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"snncompile: error: '{path}' could not be read as HDF5: Unable to synchronously "
                               "open file (truncated file: eof = 2048")


@pytest.mark.parametrize("offset", [96, 400, 800, 1200, 2000, 3000, 4000, 6000])
def test_corrupt_hdf5_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str], offset: int) -> None:
    """Overwritten bytes anywhere: h5py's OSError/RuntimeError/KeyError become one line (or, where only data was
    hit, a value check names the node); never a traceback."""
    path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    data[offset:offset + 256] = b"\xa5" * 256
    path.write_bytes(bytes(data))
    code, lines = inspect(path, capsys)
    assert code in (0, 2)
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("snncompile: error: "), lines


def test_subgraph_member_collision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11 item 3 at the command line: refused, not exported with a layer missing."""
    lif = nir.LIF(tau=np.full(3, 5e-3), r=np.full(3, 5.0), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    block = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3])}),
                                "fc": nir.Affine(weight=np.eye(3), bias=np.zeros(3)), "lif": lif,
                                "out": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")], type_check=False)
    outer = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "block": block,
                                "block.fc": nir.Affine(weight=np.eye(3), bias=np.zeros(3)),
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "block"), ("block", "block.fc"), ("block.fc", "output")], type_check=False)
    path = tmp_path / "sub.nir"
    nir.write(path, outer)
    assert inspect(path, capsys) == (2, [
        "snncompile: error: subgraph 'block': its member 'fc' (Affine) flattens to 'block.fc', the name of node "
        "'block.fc' (Affine) of the top-level graph; rename one of them"])
