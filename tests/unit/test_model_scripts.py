"""Each bundled model's training script, rerun from scratch, reproduces its card's accuracy within 1 point.

The three scripts run concurrently (one torch thread each) into tmp_path via --out, so nothing in the
source tree is written; the whole test takes about a minute on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from snncompile import models


def test_training_scripts_reproduce_their_cards(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(models.ROOT / name / "train.py"), "--out", str(tmp_path / name)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )
        for name in models.names()
    }
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{name}/train.py failed:\n{out[-2000:]}"
    for name in procs:
        stored = json.loads((models.ROOT / name / "card.json").read_text())["accuracy"]
        rerun = json.loads((tmp_path / name / "card.json").read_text())["accuracy"]
        for key, value in rerun.items():
            if key in stored and not key.startswith("qat"):
                assert abs(value - stored[key]) <= 0.01, f"{name}: {key} {value} vs stored {stored[key]}"
