#!/usr/bin/env bash
# Install Spyx 1.0.0 (JAX/flax) into a side venv, pinned, and print its python.
#
# tests/interop/test_interop_spyx_real.py runs real Spyx against the 'spyx' convention through a subprocess
# (tests/interop/spyx_side.py: spyx.nn, flax.nnx, jax.numpy, spyx.nir.to_nir, nir.write, numpy). jax/flax are
# ~790 MB, so they live here and not in the project's venv. Every package of the venv is pinned below: the set
# pip resolved for spyx==1.0.0 on Python 3.11 (jax/jaxlib 0.10.2, flax 0.12.8, optax 0.2.8, numpy 2.4.6), nir at
# the project's own pin (pyproject.toml) so the written files are read by the same NIR version that wrote them.
#
# The venv is reused when it exists and is complete (a marker file written as the last step and holding the pin
# set below; changing a pin rebuilds). Location: $SNNCOMPILE_SPYX_VENV, else ~/.cache/snncompile-spyx/venv
# (not under ~/.cache/snncompile: the fuzz tests snapshot that folder around every case).
# The last line printed on stdout is the venv's python; the test finds it through $SNNCOMPILE_SPYX_PYTHON
# (.ci/run exports it).
#
# Usage: bash .ci/spyx-venv.sh            (install or reuse; prints the python)
#        bash .ci/spyx-venv.sh --rebuild  (throw the venv away first)
set -euo pipefail

SIDE=spyx
source "$(dirname "${BASH_SOURCE[0]}")/side-venv-lib.sh"
PY311="$(find_python311 "${SNNCOMPILE_SPYX_BASE_PYTHON:-}" SNNCOMPILE_SPYX_BASE_PYTHON)"
VENV="${SNNCOMPILE_SPYX_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/snncompile-spyx/venv}"
SPYX="spyx==1.0.0"
PINS=(  # what the test's subprocess imports, then the rest of spyx 1.0.0's resolved dependency tree
    "jax==0.10.2" "jaxlib==0.10.2" "flax==0.12.8" "optax==0.2.8" "numpy==2.4.6" "nir==1.0.8"
    "absl-py==2.5.1" "aiofiles==25.1.0" "array_record==0.8.6" "chex==0.1.92" "cloudpickle==3.1.3" "etils==1.15.0"
    "fsspec==2026.9.0" "grain==0.2.18" "h5py==3.16.0" "humanize==4.17.0" "jax-tqdm==0.4.0" "markdown-it-py==4.3.0"
    "mdurl==0.1.2" "ml_dtypes==0.7.0" "msgpack==1.2.4" "opt_einsum==3.4.0" "orbax-checkpoint==0.12.8"
    "portpicker==1.6.0" "prometheus_client==0.26.0" "protobuf==7.36.2" "psutil==7.2.2" "Pygments==2.21.0"
    "PyYAML==6.0.4" "rich==15.0.0" "scipy==1.17.1" "simplejson==4.3.0" "tensorstore==0.1.86" "toolz==1.2.0"
    "tqdm==4.70.1" "treescope==0.1.10" "typing_extensions==4.16.0" "uvloop==0.23.0" "zipp==4.1.2"
)
KEY="$(printf '%s\n' "$($PY311 -c 'import sys; print(sys.version.split()[0])')" "$SPYX" "${PINS[@]}")"
MARKER="$VENV/.snncompile-spyx-complete"

PIN_TEXT="$SPYX ${PINS[*]}"
reuse_or_start "$@"
pip_q install -q --progress-bar off "$SPYX" "${PINS[@]}" >&2
pip_q check >&2

# Prove the pieces the test's subprocess uses import.
"$VENV/bin/python" - <<'PYEOF' >&2
import jax.numpy  # noqa: F401
import nir  # noqa: F401
import spyx.nn  # noqa: F401
from flax import nnx  # noqa: F401
from spyx.nir import to_nir  # noqa: F401
from importlib.metadata import version
print("spyx-venv: imports ok: spyx", version("spyx"), "jax", version("jax"), "flax", version("flax"),
      "numpy", version("numpy"), "nir", version("nir"))
PYEOF

finish
