"""Shared test helpers: the reference data in tests/data, spike comparison with a first-mismatch report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
#: reference data the tests read (Lava traces, framework cases, NIR paper graphs); nothing outside the repo
SHARED = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"reference data not found at {SHARED}")
    return SHARED


def first_mismatch(expected: np.ndarray, got: np.ndarray) -> str:
    """'' when equal, else a description of the first differing entry (timestep, batch, neuron)."""
    if expected.shape != got.shape:
        return f"shape {got.shape} != expected {expected.shape}"
    diff = np.argwhere(expected != got)
    if diff.size == 0:
        return ""
    idx = tuple(int(i) for i in diff[0])
    return (
        f"{len(diff)} mismatches; first at timestep {idx[0]}, batch {idx[1]}, neuron {idx[2:]}: "
        f"expected {expected[idx]}, got {got[idx]}"
    )


def assert_spikes_equal(layer: str, expected: np.ndarray, got: np.ndarray) -> None:
    report = first_mismatch(np.asarray(expected), np.asarray(got))
    assert report == "", f"layer '{layer}': {report}"


@pytest.fixture(autouse=True, scope="session")
def _compile_cache_under_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Compiled kernels and C projects (bitsim's C paths, hls run()) go to a temp dir, not ~/.cache."""
    import os

    os.environ.setdefault("SNNCOMPILE_CACHE", str(tmp_path_factory.mktemp("snncompile-cache")))


@pytest.fixture(scope="module")
def bitsim_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SNNCOMPILE_CACHE forced to the session's temporary directory for a module (even when set outside): the
    bitsim C-kernel tests build their kernels there, never into the user's ~/.cache."""
    path = str(tmp_path_factory.getbasetemp() / "bitsim-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNCOMPILE_CACHE", path)
        yield path


# Seeded randomness only: hypothesis draws the same examples on every run (and in CI).
settings.register_profile("snncompile", derandomize=True, print_blob=True)
settings.load_profile("snncompile")


def trace_mismatch(expected: dict[str, dict[str, np.ndarray]], got: dict[str, dict[str, np.ndarray]], *,
                   same_dtype: bool = False) -> str:
    """'' when every trace is equal (keys, shape, values; integer dtypes, the same one with ``same_dtype``),
    else the first difference. bitsim stores traces in their proven narrow types; other backends may not."""
    for node, keys in expected.items():
        if node not in got or set(got[node]) != set(keys):
            return f"node '{node}': trace keys {sorted(got.get(node, {}))} != expected {sorted(keys)}"
        for key, want in keys.items():
            have = got[node][key]
            if (have.dtype != want.dtype if same_dtype else have.dtype.kind not in "iu") or have.shape != want.shape:
                return f"node '{node}' {key}: {have.dtype}{have.shape} != expected {want.dtype}{want.shape}"
            diff = np.argwhere(have != want)
            if diff.size:
                idx = tuple(int(i) for i in diff[0])
                return (f"node '{node}' {key}: {len(diff)} mismatches; first at timestep {idx[0]}, batch {idx[1]}, "
                        f"neuron {idx[2:]}: expected {want[idx]}, got {have[idx]}")
    if set(got) != set(expected):
        return f"nodes {sorted(got)} != expected {sorted(expected)}"
    return ""
