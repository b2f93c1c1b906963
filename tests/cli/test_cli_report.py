"""``verify --report report.html`` / ``--plots DIR`` / ``--json``: the picture report of a bundled model."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile.cli import main

matplotlib_image = pytest.importorskip("matplotlib.image")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digits32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    test = np.load(sc.models.ROOT / "digits-mlp" / "test.npz")
    path = tmp_path_factory.mktemp("data") / "digits32.npz"
    np.savez(path, inputs=test["inputs"][:, :32], labels=test["labels"][:32])
    return path


def assert_real_picture(png: bytes, what: str) -> None:
    """Not a blank canvas: a sensible size, many colours, ink covering a real part of the area."""
    img = matplotlib_image.imread(io.BytesIO(png), format="png")
    h, w = img.shape[:2]
    assert 300 <= h <= 3000 and 500 <= w <= 2000, (what, img.shape)
    rgb = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 50, (what, len(colours))
    ink = np.mean(rgb.min(axis=1) < 200)  # pixels that are not (near) white
    assert 0.01 < ink < 0.6, (what, ink)
    assert (np.abs(rgb[:, 2].astype(int) - rgb[:, 0]) > 60).any(), what  # the float (blue) / fixed (orange) lines


def test_html_report_and_plots_of_a_bundled_model(tmp_path: Path, digits32: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    html, js, plots = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "plots"
    code, out, err = run(["verify", "digits-mlp", "--bits", "4", "--inputs", str(digits32), "--report", str(html),
                          "--report", str(js), "--plots", str(plots), "--sample", "2", "--target", "bitsim",
                          "--target", "onnx"], capsys)
    assert code == 0, err
    assert "result: PASS" in out
    page = html.read_text()
    assert not re.search(r'(src|href)="(?!data:)', page)  # self-contained: nothing linked
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert sorted(p.name for p in plots.iterdir()) == ["agreement.png", "membrane.png", "rasters.png"]
    assert {base64.b64decode(i) for i in images} == {p.read_bytes() for p in plots.iterdir()}
    for p in plots.iterdir():
        assert_real_picture(p.read_bytes(), p.name)
    for words in ("fixed&lt;-&gt;onnx", "fixed&lt;-&gt;bitsim", "PASS", "weight_bits", "synapse_order",
                  "Spike rasters, sample 2", "first differs at timestep"):
        assert words in page, words
    report = json.loads(js.read_text())
    rows = report["rungs"][0]["layers"]
    for row in (r for r in rows if r["trace"] == "spikes"):
        per_step = row["agreement_per_step"]
        assert len(per_step) == 25
        assert np.isclose(np.mean(per_step), row["agreement"])  # same samples x neurons at every step
        assert min(per_step) < 1.0  # 4-bit weights: float and fixed do differ somewhere


def test_json_on_stdout_and_quiet(tmp_path: Path, digits32: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", "digits-mlp", "--inputs", str(digits32), "--json", "-q"], capsys)
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["passed"] is True and report["info"]["batch"] == 32
    assert "agreement_per_step" in report["rungs"][0]["layers"][0]


def test_verbose_names_every_step(digits32: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["verify", "digits-mlp", "--inputs", str(digits32), "-v"], capsys)
    assert code == 0
    steps = [line.split("] ")[1].split(":")[0] for line in err.splitlines() if line.startswith("snncompile: [")]
    assert steps == ["float reference", "quantising (calibration)", "bitsim (fixed point)", "fixed<->bitsim"]


def test_bad_report_destinations_are_refused_before_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["verify", "digits-mlp", "--report", str(tmp_path / "r.txt")], capsys)
    assert (code, out) == (2, "")
    assert "must end in .json" in err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    code, out, err = run(["verify", "digits-mlp", "--plots", str(busy)], capsys)
    assert (code, out) == (2, "")
    assert "holds files this command did not write (mine.txt)" in err
    assert (busy / "mine.txt").read_text() == "keep"
    code, _, err = run(["verify", "digits-mlp", "--sample", "400"], capsys)
    assert code == 2 and "--sample 400: the inputs have 360 samples (0..359)" in err


def test_a_failing_target_is_red_with_its_first_mismatch(tmp_path: Path, digits32: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from snncompile.backends.bitsim.backend import BitsimBackend

    real = BitsimBackend.run

    def broken(self: BitsimBackend, artifact_dir: object, inputs: object) -> dict[str, dict[str, np.ndarray]]:
        traces = real(self, artifact_dir, inputs)
        traces["3"]["out"] = traces["3"]["out"].copy()
        traces["3"]["out"][4, 1, 6] ^= 1
        return traces

    monkeypatch.setattr(BitsimBackend, "run", broken)
    page = tmp_path / "r.html"
    code, _, err = run(["verify", "digits-mlp", "--inputs", str(digits32), "--report", str(page)], capsys)
    assert code == 1, err
    text = page.read_text()
    assert '<h1>snncompile verify: digits-mlp' in text and 'background:#cf222e">FAIL</span></h1>' in text
    assert "rung fixed&lt;-&gt;bitsim: layer &#x27;3&#x27; (out), neuron 6, timestep 4, batch 1" in text


def test_a_membrane_readout_gets_its_own_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), snn.Leaky(beta=0.85, init_hidden=True),
                              torch.nn.Linear(16, 4),
                              snn.Leaky(beta=0.9, init_hidden=True, output=True, reset_mechanism="none"))

    class Readout(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: object) -> object:
            return self.net(x)[1]

    with torch.no_grad():
        net[0].weight.mul_(2)
    model, data, plots = tmp_path / "m.nir", tmp_path / "x.npy", tmp_path / "plots"
    sc.save(sc.trace(Readout(), torch.zeros(1, 12)), str(model))
    np.save(data, (np.random.default_rng(0).random((20, 6, 12)) < 0.5).astype(np.uint8))
    code, _, err = run(["verify", str(model), "--inputs", str(data), "--bits", "6", "--plots", str(plots)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in plots.iterdir()) == ["agreement.png", "membrane.png", "rasters.png", "readout.png"]
    assert_real_picture((plots / "readout.png").read_bytes(), "readout.png")
