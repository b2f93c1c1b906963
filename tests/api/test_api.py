"""The one-call Python API: sc.export, sc.run, sc.predict, and the real docstrings of sc.load / sc.trace."""

from __future__ import annotations

import json
import pydoc
from pathlib import Path

import numpy as np
import pytest
from snncompile.backends.bitsim import simulate as bitsim

import snncompile as sc
from snncompile import models


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = np.load(Path(models.ROOT) / "digits-mlp" / "test.npz")
    return data["inputs"][:, :24], data["labels"][:24]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, digits: tuple[np.ndarray, np.ndarray]) -> Path:
    out = tmp_path_factory.mktemp("api") / "out"
    manifest = sc.export("digits-mlp", out, targets=["bitsim", "onnx"], bits=6)
    assert manifest == json.loads((out / "manifest.json").read_text())
    return out


def test_export_returns_the_manifest_it_wrote(exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["targets"] == ["bitsim", "onnx"]
    assert manifest["quant_spec"]["weight_bits"] == 6
    assert [c["status"] for c in manifest["checks"]] == ["PASS", "PASS"]
    assert manifest["inputs"]["note"].startswith("first 8 samples of bundled test set digits-mlp/test.npz")


def test_run_on_an_export_folder_equals_bitsim_on_its_qgraph(exported: Path,
                                                             digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    qgraph = sc.quant.qnir.read_qgraph(exported / "bitsim" / "qgraph.nir")
    want = bitsim(qgraph, x)
    for model in (exported, exported / "bitsim" / "qgraph.nir", qgraph):
        got = sc.run(model, x)
        assert sorted(got) == sorted(want)
        for node, traces in want.items():
            for key, arr in traces.items():
                assert np.array_equal(got[node][key], arr), (model, node, key)
    onnx = sc.run(exported, x, target="onnx")
    assert np.array_equal(onnx["output"]["out"], want["output"]["out"])


def test_predict_scores_like_verify(exported: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, labels = digits
    fixed = sc.predict(exported, x)
    assert fixed.shape == (24,) and fixed.dtype.kind == "i"
    assert np.array_equal(fixed, sc.predict(exported, x, target="onnx"))
    floats = sc.predict(sc.load("digits-mlp"), x, target="float")
    assert np.mean(floats == labels) >= 0.9  # the card's float accuracy is 0.97 on all 360 samples
    counts = bitsim(sc.quant.qnir.read_qgraph(exported / "bitsim" / "qgraph.nir"), x)["output"]["out"].sum(axis=0)
    assert np.array_equal(fixed, counts.argmax(axis=1))


def test_export_of_an_in_memory_graph_and_array_inputs(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _ = digits
    lines: list[str] = []
    manifest = sc.export(sc.load("digits-mlp"), tmp_path / "o", inputs=x[:, :4], progress=lines.append)
    assert manifest["model"]["argument"] == "<in-memory Graph>"
    assert manifest["inputs"]["batch"] == 4 and manifest["inputs"]["timesteps"] == 25
    assert any(line.startswith("quantising") for line in lines)


def test_run_refuses_what_it_cannot_run(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray],
                                        exported: Path) -> None:
    x, _ = digits
    with pytest.raises(sc.InputError, match="target='float'"):
        sc.run(sc.load("digits-mlp"), x)
    with pytest.raises(sc.InputError, match="no target 'hls'"):
        sc.run(exported, x, target="hls")
    (tmp_path / "empty").mkdir()
    with pytest.raises(sc.InputError, match="without manifest.json"):
        sc.run(tmp_path / "empty", x)


def test_help_shows_the_real_docstrings() -> None:
    for fn, words in ((sc.load, "convention"), (sc.trace, "init_hidden"), (sc.export, "manifest"),
                      (sc.run, "int64"), (sc.predict, "argmax")):
        text = pydoc.render_doc(fn)
        assert words in text, fn.__name__
        assert "see :func" not in text


def test_export_traces_a_torch_module_on_one_step_of_the_inputs(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), snn.Leaky(beta=0.9, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3)
    x = (np.random.default_rng(0).random((10, 4, 6)) < 0.5).astype(np.uint8)
    manifest = sc.export(net, tmp_path / "o", inputs=x)
    assert manifest["checks"][0]["status"] == "PASS"
    graph = sc.trace(net, torch.zeros(1, 6))
    assert np.array_equal(sc.predict(tmp_path / "o", x), sc.predict(sc.quantize(graph, sc.QuantSpec(), x), x))
    with pytest.raises(sc.InputError, match="a torch module is traced on one step of `inputs`"):
        sc.export(net, tmp_path / "p")
