"""The project's own C simulation, run at emit time: gcc builds ``tb`` from the files about to be written and
runs every ``make csim`` check (all traces through snn_step, the readout, the AXI4-Stream top); a failure is a
BackendError carrying the testbench's first mismatch, and nothing is written."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from snncompile.atomic import FileContent

from .project import BLOB_FILES, CFLAGS
from .runner import BLOB_SOURCE, compiler, run_checked

TB_SOURCES = ("snn.c", "tb.c")


def run_testbench(files: Mapping[str, FileContent], commands: Sequence[str]) -> list[str]:
    """Build ``tb`` from ``files`` and run ``commands`` (``./tb ...`` lines of the Makefile); their PASS lines."""
    with tempfile.TemporaryDirectory(prefix="snncompile-hls-csim-") as tmp:
        root = Path(tmp)
        # large arrays as raw bytes (weights.bin via .incbin), as the rung's build: gcc skips megabytes of text;
        # their initialisers (weights_data.h, tens of MB) are then not read, so not copied either
        blobs = ["-DSNN_WEIGHTS_BIN", BLOB_SOURCE] if BLOB_SOURCE in files else []
        skip = {BLOB_FILES[2]} if blobs else set()
        for name, data in files.items():
            if name.endswith((".c", ".h", ".bin", ".S")) and name not in skip:
                (root / name).write_bytes(data.encode() if isinstance(data, str) else data)
        run_checked([compiler(), *CFLAGS.split(), "-o", "tb", *TB_SOURCES, *blobs], root,
                    "gcc build of the testbench")
        return [run_checked(shlex.split(cmd), root, f"C simulation '{cmd}'").stdout.strip() for cmd in commands]
