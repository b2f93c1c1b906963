"""The 'spyx' convention against real Spyx 1.0.0: five seeded networks (LIF with Spyx's own per-neuron beta,
LIF and IF second layers, biases) run by Spyx and exported by spyx.nir.to_nir, read with --from spyx: the
spikes (the inserted '<layer>.out_delay' outputs) equal Spyx's exactly.

Spyx needs jax/flax (~790 MB, 170 s to install into a fresh venv here), which this project's venv does not carry:
the test runs when SNNCOMPILE_SPYX_PYTHON names a Python with spyx==1.0.0 (``python -m venv V && V/bin/pip
install spyx==1.0.0``), and is skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_spikes_equal

from snncompile.frontend.nir_read import load
from snncompile.reference import run

SPYX_PYTHON = os.environ.get("SNNCOMPILE_SPYX_PYTHON", "")


@pytest.mark.skipif(not SPYX_PYTHON, reason="set SNNCOMPILE_SPYX_PYTHON to a Python with spyx==1.0.0")
def test_real_spyx_networks_spikes_equal(tmp_path: Path) -> None:
    script = Path(__file__).with_name("spyx_side.py")
    proc = subprocess.run([SPYX_PYTHON, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for seed in range(5):
        data = np.load(tmp_path / f"net{seed}.npz")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = load(tmp_path / f"net{seed}.nir", convention="spyx")
        traces = run(loaded.graph, data["x"])
        for layer in ("layer_1", "layer_3"):
            want = data[f"spk_{layer}"]
            assert_spikes_equal(f"spyx/{seed}/{layer}", want, traces[f"{layer}.out_delay"]["out"])
            assert 0 < np.count_nonzero(want) < want.size
