"""The NIR paper's Braille subtract graph (snnTorch export; ran on Xylo in the paper at 85.7 %) maps onto Xylo
Audio 2, and XyloSim runs the exported specification exactly as bitsim does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from snncompile.backends import get
from snncompile.backends.xylo.encode import quantize_for_xylo

from snncompile import load
from snncompile.verify import PASS, check_backend

BRAILLE = Path(__file__).resolve().parents[2] / "data" / "nir_paper" / "braille_noDelay_noBias_subtract.nir"


def test_braille_subtract_maps_onto_xylo_and_runs_bit_exact_in_xylosim() -> None:
    graph = load(BRAILLE, convention="snntorch", reset_delay=False)
    qgraph = quantize_for_xylo(graph)
    mapping = get("xylo").map(qgraph)  # type: ignore[attr-defined]
    summary = mapping.summary()
    assert (summary["input_channels"], summary["hidden_neurons"], summary["output_neurons"]) == (12, 40, 7)
    assert summary["latency_steps"] == 1 and mapping.hidden == {"lif1.lif": (0, 40)}
    fanout = (mapping.net.weights_rec != 0).sum(axis=(1, 2)) + (mapping.net.weights_out != 0).sum(axis=1)
    assert int(fanout.max()) <= 64  # the tightest Xylo rule for this graph: 40 recurrent + 7 readout targets
    x = (np.random.default_rng(0).random((40, 4, 12)) < 0.3).astype(np.int64)
    rung = check_backend(qgraph, "xylo", x)
    assert rung.status == PASS, rung.message
    assert rung.summary["mismatches"] == 0 and rung.summary["compared"] > 20000


def test_cli_export_writes_a_spec_that_xylosim_runs(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from snncompile.backends.xylo.spec import load as load_spec
    from snncompile.backends.xylo.xylosim import run_xylosim

    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "snncompile", "export", str(BRAILLE), "--from", "snntorch",
                          "--no-reset-delay", "--target", "xylo", "-o", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(c["name"], c["status"]) for c in manifest["checks"]] == [("fixed<->xylo", "PASS")]
    assert manifest["reports"]["xylo"]["summary"]["hidden_neurons"] == 40
    net = load_spec(out / "xylo" / "xylo_spec.json")
    stimuli = np.load(out / "xylo" / "stimuli.npy")
    golden = np.load(out / "xylo" / "golden.npz")
    assert np.array_equal(run_xylosim(net, stimuli).spikes_out, golden["lif2/out"])
