"""DATA files for the CLI: .npy / .npz, labels, source spikes, defaults, and one-line errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile.data import bundled_test_set, load_data, random_spikes, read_data
from snncompile.errors import InputError
from snncompile.frontend.nir_read import load


@pytest.fixture(scope="module")
def digits() -> sc.Graph:
    return sc.load("digits-mlp")


def spikes(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) < 0.3).astype(np.uint8)


def test_npy_and_npz(tmp_path: Path, digits: sc.Graph) -> None:
    x = spikes((5, 3, 64))
    np.save(tmp_path / "x.npy", x)
    data = read_data(tmp_path / "x.npy", digits)
    assert np.array_equal(data.inputs["input"], x) and data.labels is None and data.source is None
    assert data.note == f"{tmp_path / 'x.npy'} (T=5, B=3)"
    np.savez(tmp_path / "d.npz", input=x, labels=np.array([1, 2, 3]), spk_1=spikes((5, 3, 64), 1))
    data = read_data(tmp_path / "d.npz", digits)
    assert data.labels.tolist() == [1, 2, 3] and sorted(data.source) == ["1"]  # type: ignore[union-attr]
    assert data.note.endswith("(T=5, B=3, with labels, source spikes of 1 layer(s))")


@pytest.mark.parametrize("case, message", [
    ("missing_key", "'{p}' has no 'inputs' (or 'input') array; its keys: data, labels"),
    ("wrong_shape", "'{p}': shape (5, 3, 63) does not match [T, B, 64] of input 'input'"),
    ("non_binary", "'{p}': value 2 at timestep 1, batch 0, index 7 is not a spike (0 or 1)"),
    ("text", "'{p}': dtype <U1 is not numeric$"),
    ("nan", "'{p}': value nan at timestep 0, batch 0, index 1 is not a finite number$"),
    ("inf", "'{p}': value -inf at timestep 2, batch 1, index 5 is not a finite number$"),
    ("complex", "'{p}': dtype complex128 is complex; inputs are real numbers$"),
    ("labels", "'{p}': labels must be 3 integer classes [B], got shape (4,)"),
    ("fractional_labels", "'{p}': labels must be integer classes; label 1.5 of sample 1 is not a whole number$"),
    ("nan_labels", "'{p}' labels: value nan at index 2 is not a finite number$"),
    ("npz_text_member", "'{p}': member 'notes.txt' is not a .npy array (an .npz holds .npy arrays)$"),
    ("npz_bad_npy", "'{p}': member 'inputs' is not a .npy array (an .npz holds .npy arrays)$"),
    ("suffix", "'{p}': DATA must be a .npy or .npz file, got '.csv'"),
    ("missing_file", "'{p}': no such data file"),
    ("corrupt", "'{p}' could not be read as .npy: "),
])
def test_bad_data(tmp_path: Path, digits: sc.Graph, case: str, message: str) -> None:
    x = spikes((5, 3, 64))
    npz = case in ("missing_key", "labels", "fractional_labels", "nan_labels", "npz_text_member", "npz_bad_npy")
    path = tmp_path / ("d.npz" if npz else "d.csv" if case == "suffix" else "d.npy")
    if case == "missing_key":
        np.savez(path, data=x, labels=np.zeros(3))
    elif case == "wrong_shape":
        np.save(path, x[..., :63])
    elif case == "non_binary":
        x[1, 0, 7] = 2
        np.save(path, x)
    elif case == "text":
        np.save(path, np.full((5, 3, 64), "a"))
    elif case == "nan":
        np.save(path, np.where(x > 0, np.nan, 0.0))
    elif case == "inf":
        bad = x.astype(np.float64)
        bad[2, 1, 5] = -np.inf
        np.save(path, bad)
    elif case == "complex":
        np.save(path, x + 1j)
    elif case == "labels":
        np.savez(path, inputs=x, labels=np.arange(4))
    elif case == "fractional_labels":  # the shape is right: the message must be about the values
        np.savez(path, inputs=x, labels=np.array([1.0, 1.5, 2.0]))
    elif case == "nan_labels":
        np.savez(path, inputs=x, labels=np.array([1.0, 2.0, np.nan]))
    elif case == "npz_text_member":
        np.savez(path, inputs=x)
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("notes.txt", "recorded on Tuesday")
    elif case == "npz_bad_npy":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("inputs.npy", "not an array")
    elif case == "suffix":
        path.write_text("1,2\n")
    elif case == "corrupt":
        path.write_bytes(b"not numpy")
    with pytest.raises(InputError) as err:
        read_data(path, digits)
    want = message.format(p=path)
    got = str(err.value)
    assert got == want[:-1] if want.endswith("$") else got.startswith(want), got


def test_float_inputs_need_not_be_spikes(tmp_path: Path, digits: sc.Graph) -> None:
    np.save(tmp_path / "x.npy", np.full((2, 1, 64), 0.5))
    assert read_data(tmp_path / "x.npy", digits, spikes=False).inputs["input"].max() == 0.5


def test_defaults(digits: sc.Graph) -> None:
    loaded = load("digits-mlp")
    assert bundled_test_set(loaded.path) == sc.models.ROOT / "digits-mlp" / "test.npz"
    data = load_data(None, digits, loaded.path)
    assert data.note == "bundled test set digits-mlp/test.npz (T=25, B=360, with labels); no --inputs given"
    assert data.labels is not None and data.batch == 360
    other = Path(__file__)  # not a bundled model
    assert bundled_test_set(other) is None
    data = load_data(None, digits, other, timesteps=7)
    assert data.note == "seeded random spikes (Bernoulli(0.2), T=7, B=8, seed=0); no --inputs given"
    assert data.inputs["input"].shape == (7, 8, 64)
    assert np.array_equal(data.inputs["input"], random_spikes(digits, timesteps=7)["input"])
    assert 0.15 < data.inputs["input"].mean() < 0.25


def test_multiple_inputs_use_inputs_node_keys(tmp_path: Path) -> None:
    nodes = {"a": sc.nodes.Input(shape=(2,)), "b": sc.nodes.Input(shape=(2,)), "o": sc.nodes.Output()}
    graph = sc.Graph(nodes, [("a", "o"), ("b", "o")])
    np.savez(tmp_path / "d.npz", inputs_a=spikes((3, 1, 2)), inputs_b=spikes((3, 1, 2), 1))
    assert sorted(read_data(tmp_path / "d.npz", graph).inputs) == ["a", "b"]
    np.savez(tmp_path / "e.npz", inputs_a=spikes((3, 1, 2)))
    with pytest.raises(InputError, match=r"has no 'inputs_b' array for input node 'b'; its keys: inputs_a$"):
        read_data(tmp_path / "e.npz", graph)
