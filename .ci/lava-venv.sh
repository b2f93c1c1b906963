#!/usr/bin/env bash
# Install Intel's Lava (lava-nc, and lava-dl for netx) into a side venv, pinned, and print its python.
#
# lava-nc 0.10.0 and lava-dl 0.6.0 declare Python <3.11 but run on 3.11 when installed with
# --ignore-requires-python next to these pins, plus one source fix: lava-nc's var_model.py uses a dataclass
# instance (ByteEncoder()) as a field default, which Python 3.11 rejects ("mutable default ... use
# default_factory"); the first fix below makes it a default_factory. lava-dl is installed --no-deps: its declared
# torch<2.4/torchvision/opencv/pytest<8 pins are for slayer training; netx imports lava-nc, h5py, scipy, matplotlib
# and torch (through slayer's neuron module), so the venv gets the machine's CPU torch instead. slayer's package
# __init__ also imports its object-detection module, which needs torchvision and OpenCV; PyPI's torchvision for
# torch 2.13 is a CUDA build that does not load next to the CPU torch, so the second fix makes that one import
# optional (netx never uses object detection).
#
# The venv is reused when it exists and is complete (a marker file written as the last step and holding the pin
# set below; changing a pin rebuilds). Location: $SNNCOMPILE_LAVA_VENV, else ~/.cache/snncompile-lava/venv
# (not under ~/.cache/snncompile: the fuzz tests snapshot that folder around every case).
# The last line printed on stdout is the venv's python; the tests find it through $SNNCOMPILE_LAVA_PYTHON
# (.ci/run exports it) or, unset, at the default location.
#
# Usage: bash .ci/lava-venv.sh            (install or reuse; prints the python)
#        bash .ci/lava-venv.sh --rebuild  (throw the venv away first)
set -euo pipefail

SIDE=lava
source "$(dirname "${BASH_SOURCE[0]}")/side-venv-lib.sh"
PY311="$(find_python311 "${SNNCOMPILE_LAVA_BASE_PYTHON:-}" SNNCOMPILE_LAVA_BASE_PYTHON)"
VENV="${SNNCOMPILE_LAVA_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/snncompile-lava/venv}"
TORCH="torch==2.13.0"  # the CPU build on the machine's local wheel index, as in .ci/run
PINS=(
    "numpy==1.26.4" "scipy==1.14.1" "scikit-learn==1.5.2" "networkx==2.8.7" "asteval==0.9.33" "h5py==3.16.0"
    "matplotlib==3.11.2"
)
LAVA_NC="lava-nc==0.10.0"
LAVA_DL="lava-dl==0.6.0"
KEY="$(printf '%s\n' "$($PY311 -c 'import sys; print(sys.version.split()[0])')" "$TORCH" "${PINS[@]}" \
    "$LAVA_NC" "$LAVA_DL" "patch:var_model-bytencoder-v1" "patch:slayer-obd-optional-v1")"
MARKER="$VENV/.snncompile-lava-complete"

PIN_TEXT="${PINS[*]} $LAVA_NC $LAVA_DL $TORCH"
reuse_or_start "$@"
pip_q install -q --progress-bar off "${PINS[@]}" "$TORCH" >&2
pip_q install -q --progress-bar off --ignore-requires-python "$LAVA_NC" "${PINS[@]}" >&2
pip_q install -q --progress-bar off --ignore-requires-python --no-deps "$LAVA_DL" >&2

# The two source fixes (idempotent; each fails loudly if its file no longer looks as expected).
"$VENV/bin/python" - <<'EOF' >&2
import pathlib
import re
import sysconfig

path = pathlib.Path(sysconfig.get_paths()["purelib"]) / "lava" / "magma" / "compiler" / "var_model.py"
text = path.read_text()
pattern = r"(\w+): ByteEncoder = ByteEncoder\(\)"
n = len(re.findall(pattern, text))
if n:
    text = re.sub(pattern, r"\1: ByteEncoder = field(default_factory=ByteEncoder)", text)
    text = text.replace("from dataclasses import dataclass, InitVar",
                        "from dataclasses import dataclass, field, InitVar", 1)
    if "field, InitVar" not in text:
        raise SystemExit(f"lava-venv: {path}: the dataclasses import line changed; cannot patch")
    path.write_text(text)
print(f"lava-venv: patched {n} ByteEncoder defaults in {path}")

path = pathlib.Path(sysconfig.get_paths()["purelib"]) / "lava" / "lib" / "dl" / "slayer" / "__init__.py"
text = path.read_text()
line = "from . import object_detection as obd\n"
if line in text and "except ImportError" not in text:
    text = text.replace(line, "try:  # patched by snncompile's .ci/lava-venv.sh: needs torchvision + OpenCV\n"
                              "    " + line + "except ImportError:\n    pass\n", 1)
    path.write_text(text)
    print(f"lava-venv: made the object_detection import optional in {path}")
elif "except ImportError" not in text:
    raise SystemExit(f"lava-venv: {path}: the object_detection import changed; cannot patch")
EOF

# Prove the pieces the tests use import (Lava's bit-accurate models and netx's HDF5 loader).
"$VENV/bin/python" - <<'EOF' >&2
import lava.lib.dl.netx.hdf5  # noqa: F401
import lava.magma.core.run_configs  # noqa: F401
import lava.proc.dense.models  # noqa: F401
import lava.proc.lif.models  # noqa: F401
from importlib.metadata import version
print("lava-venv: imports ok: lava-nc", version("lava-nc"), "lava-dl", version("lava-dl"), "numpy", version("numpy"))
EOF

finish
