"""``snncompile inspect`` run as a user runs it: exit codes, stdout, one-line stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from snncompile import __version__, models
from snncompile.cli import main

#: Substrings pinned for the one-line error of each bad input (align with the NIR reader's messages here).
MESSAGES = {
    "missing": "no such file or bundled model",
    "not_hdf5": "is not an HDF5 file",
    "not_nir": "is not a NIR file",
    "unknown_type": "unknown NIR node type 'Foo'",
    "shape_mismatch": "does not match expected",
    "missing_node": "does not exist",
}


# -- building tiny .nir files ------------------------------------------------------------------------------------------

def _lif(n: int) -> nir.LIF:
    return nir.LIF(
        tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)
    )


def write_mlp(path: Path) -> Path:
    """Input 4 -> Affine [3, 4] -> LIF 3 -> Output 3: 3 neurons, 12 synapses."""
    rng = np.random.default_rng(0)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([4])),
            "fc1": nir.Affine(weight=rng.normal(size=(3, 4)), bias=rng.normal(size=3)),
            "lif1": _lif(3),
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "output")],
    )
    nir.write(path, graph)
    return path


@pytest.fixture
def mlp(tmp_path: Path) -> Path:
    return write_mlp(tmp_path / "mlp.nir")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snncompile", *args], capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(err: str, substring: str) -> None:
    assert err.count("\n") == 1 and err.endswith("\n"), f"stderr is not exactly one line: {err!r}"
    assert err.startswith("snncompile: error: "), err
    assert substring in err, f"{substring!r} not in {err!r}"
    assert "Traceback" not in err


# -- good input --------------------------------------------------------------------------------------------------------

def test_subprocess_inspect_prints_nodes_and_totals(mlp: Path) -> None:
    proc = run_cli("inspect", str(mlp))
    assert proc.returncode == 0, proc.stderr
    # a plain NIR file without --from: the only stderr output is the convention warning(s)
    assert proc.stderr and all(line.startswith("snncompile: warning: ") for line in proc.stderr.splitlines())
    assert "no --from given" in proc.stderr
    out = proc.stdout
    for name in ("input", "fc1", "lif1", "output"):
        assert name in out
    assert "source:" in out and "dt:" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert lines["neurons"][1] == "3"
    assert lines["synapses"][1] == "12"
    assert "recurrent edges: none" in out


def test_subprocess_missing_file_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = run_cli("inspect", str(tmp_path / "nope.nir"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert_one_line_error(proc.stderr, MESSAGES["missing"])


def test_table_rows_in_graph_order_with_semantics(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlp)]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    names = [r[0] for r in rows if r and r[0] in ("input", "fc1", "lif1", "output")]
    assert names == ["input", "fc1", "lif1", "output"]
    lif_row = next(r for r in rows if r and r[0] == "lif1")
    assert lif_row[1:3] == ["LIF", "3"]
    assert any(cell.startswith("compare=") for cell in lif_row)
    fc_row = next(r for r in rows if r and r[0] == "fc1")
    assert fc_row[1:4] == ["Affine", "3", "15"]  # 3*4 weights + 3 biases


def test_json_totals_for_hand_computed_mlp(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlp), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"model", "source", "dt", "nodes", "edges", "recurrent_edges", "totals"} <= set(report)
    assert report["model"] == str(mlp)
    assert isinstance(report["source"], str) and report["source"]
    assert report["dt"] > 0
    assert [n["name"] for n in report["nodes"]] == ["input", "fc1", "lif1", "output"]
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["fc1"]["type"] == "Affine" and nodes["fc1"]["shape_out"] == [3]
    assert nodes["fc1"]["params"]["weight"]["shape"] == [3, 4]
    assert nodes["fc1"]["semantics"] is None
    assert nodes["lif1"]["type"] == "LIF" and nodes["lif1"]["shape_out"] == [3]
    assert isinstance(nodes["lif1"]["semantics"], dict) and "reset" in nodes["lif1"]["semantics"]
    assert sorted(map(tuple, report["edges"])) == sorted(
        [("input", "fc1"), ("fc1", "lif1"), ("lif1", "output")]
    )
    assert report["recurrent_edges"] == []
    totals = report["totals"]
    assert totals["neurons"] == 3
    assert totals["synapses"] == 12
    # parameters and bytes are the sums over the per-node arrays the report lists
    arrays = [p for n in report["nodes"] for p in n["params"].values()]
    assert totals["parameters"] == sum(int(np.prod(p["shape"])) for p in arrays)
    assert totals["parameter_bytes"] == sum(int(np.prod(p["shape"])) * np.dtype(p["dtype"]).itemsize for p in arrays)
    assert totals["parameters"] >= 12 + 3 + 3  # weights, biases and at least one per-neuron array


def test_json_counts_connected_conv_taps_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Input (1, 3, 3) -> Conv2d 2x1x3x3, padding 1 -> IF (2, 3, 3): per axis 2+3+2 = 7 connected taps,
    # so 2 * 1 * 7 * 7 = 98 synapses (a 2*9*9 = 162 count would include taps on padding).
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([1, 3, 3])),
            "conv": nir.Conv2d(input_shape=(3, 3), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1, dilation=1,
                               groups=1, bias=np.zeros(2)),
            "if1": nir.IF(r=np.ones((2, 3, 3)), v_threshold=np.ones((2, 3, 3)), v_reset=np.zeros((2, 3, 3))),
            "output": nir.Output(output_type=np.array([2, 3, 3])),
        },
        edges=[("input", "conv"), ("conv", "if1"), ("if1", "output")],
    )
    path = tmp_path / "conv.nir"
    nir.write(path, graph)
    assert main(["inspect", str(path), "--json"]) == 0
    totals = json.loads(capsys.readouterr().out)["totals"]
    assert totals["synapses"] == 98
    assert totals["neurons"] == 18


def test_every_bundled_model_inspects(capsys: pytest.CaptureFixture[str]) -> None:
    for name in models.names():
        assert main(["inspect", name, "--json"]) == 0, name
        report = json.loads(capsys.readouterr().out)
        assert report["model"] == name and report["totals"]["neurons"] > 0


def test_dt_option_is_reported(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(mlp), "--dt", "0.0005", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dt"] == pytest.approx(0.0005)


# -- bad input: exit 2 and one line ----------------------------------------------------------------------------------

def _expect_error(capsys: pytest.CaptureFixture[str], argv: list[str], key: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, MESSAGES[key])


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(capsys, ["inspect", str(tmp_path / "missing.nir")], "missing")


def test_text_file_is_not_hdf5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.nir"
    path.write_text("this is not a network\n")
    _expect_error(capsys, ["inspect", str(path)], "not_hdf5")


def test_hdf5_without_nir_structure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.nir"
    with h5py.File(path, "w") as f:
        f.create_dataset("values", data=np.arange(5))
    _expect_error(capsys, ["inspect", str(path)], "not_nir")


def test_unknown_node_type(mlp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with h5py.File(mlp, "r+") as f:
        del f["node/nodes/lif1/type"]
        f["node/nodes/lif1/type"] = b"Foo"
    _expect_error(capsys, ["inspect", str(mlp)], "unknown_type")


def test_shape_mismatch_between_connected_nodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([4])),
            "fc1": nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3)),
            "lif1": _lif(2),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "output")],
        type_check=False,
    )
    path = tmp_path / "mismatch.nir"
    nir.write(path, graph)
    _expect_error(capsys, ["inspect", str(path)], "shape_mismatch")


def test_edge_to_missing_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([4])),
            "fc1": nir.Affine(weight=np.ones((3, 4)), bias=np.zeros(3)),
            "output": nir.Output(output_type=np.array([3])),
        },
        edges=[("input", "fc1"), ("fc1", "output"), ("fc1", "ghost")],
        type_check=False,
    )
    path = tmp_path / "ghost.nir"
    nir.write(path, graph)
    _expect_error(capsys, ["inspect", str(path)], "missing_node")


# -- usage -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["export", "x.nir"], ["inspect"], ["inspect", "x.nir", "--dt", "-1"],
     ["inspect", "x.nir", "--discretization", "rk4"]],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert_one_line_error(captured.err, "")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"snncompile {__version__}"


def test_subprocess_unknown_subcommand_exits_2() -> None:
    proc = run_cli("frobnicate")
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "invalid choice")
