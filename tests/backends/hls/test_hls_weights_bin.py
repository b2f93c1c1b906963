"""Large constant arrays: weights.h keeps their C initialisers (what Vitis HLS reads) and weights.bin + weights_bin.S
carry the same values for gcc (``.incbin``, -DSNN_WEIGHTS_BIN), so the C simulation does not parse megabytes of
text. Both forms compile warning-free and reproduce bitsim exactly; the C text is exact (parsed back)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import trace_mismatch
from hls_cases import build, hls_cache  # noqa: F401
from snncompile.backends.bitsim import run_plain
from snncompile.backends.hls import BACKEND, lower
from snncompile.backends.hls.cwrite import I8, I16, I32, I64, c_array


def make(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["make", "-B", "csim", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    return proc.stdout


def test_both_weight_forms_equal_bitsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lower, "BLOB_MIN", 8)  # the test network's weight arrays count as large
    graph, spikes = build("cuba", "mix", 8, seed=5)
    out = tmp_path / "proj"
    result = BACKEND.emit(graph, out, spikes)
    assert {"weights.bin", "weights_bin.S", "weights_data.h"} <= set(result["files"])
    weights_h = (out / "weights.h").read_text()
    assert weights_h.count("#if defined(SNN_WEIGHTS_BIN) && !defined(__SYNTHESIS__)") == 1
    assert "#include \"weights_data.h\"" in weights_h and (out / "weights_data.h").is_file()
    bin_run = make(out)
    assert "-DSNN_WEIGHTS_BIN" in bin_run and "weights_bin.S" in bin_run and "PASS" in bin_run
    text_run = make(out, "WEIGHTS=text")
    assert "-DSNN_WEIGHTS_BIN" not in text_run and "PASS" in text_run
    want = run_plain(graph, spikes)
    assert trace_mismatch(want, BACKEND.run(out, spikes)) == ""
    assert trace_mismatch(want, BACKEND.run(graph, spikes)) == ""


@pytest.mark.parametrize("ctype", [I8, I16, I32, I64])
def test_c_array_text_is_exact(ctype: object) -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        shape = tuple(int(d) for d in rng.integers(1, 6, rng.integers(1, 4)))
        top = {"int8_t": 127, "int16_t": 2**15 - 1, "int32_t": 2**31 - 1, "int64_t": 2**62}[ctype.name]  # type: ignore
        a = rng.integers(-top, top + 1, shape)
        a.reshape(-1)[0] = -top
        text = "\n".join(c_array("x", ctype, a, per_line=int(rng.integers(1, 20))))  # type: ignore[arg-type]
        head, body = text.split("=", 1)
        assert head == f"static const {ctype.name} x{''.join(f'[{d}]' for d in shape)} "  # type: ignore
        blocks = 1 + sum(int(np.prod(shape[:k])) for k in range(1, len(shape)))  # one brace pair per sub-array
        assert body.count("{") == body.count("}") == blocks
        got = [int(t) for t in re.findall(r"-?\d+", body)]
        assert got == a.reshape(-1).tolist()


def test_looked_up_fields_equal_the_digit_arithmetic() -> None:
    """Many values over a narrow span are formatted by a lookup of every value of the span: the same text."""
    from snncompile.backends.hls.cwrite import _fields, int_fields

    rng = np.random.default_rng(1)
    for lo, hi in [(-128, 127), (0, 1), (-1, 0), (5, 5), (-32767, 32767), (-9, 99), (2**40, 2**40 + 50)]:
        a = rng.integers(lo, hi + 1, (int(rng.integers(1, 4)) * 4 * (hi - lo + 1), 3))
        a.reshape(-1)[:2] = lo, hi
        assert np.array_equal(int_fields(a), _fields(a)), (lo, hi)


def test_large_c_array_lines() -> None:
    """A weight-sized int8 array (the looked-up path): values exact, at most per_line per line, no trailing blanks."""
    a = np.random.default_rng(2).integers(-127, 128, (300, 37)).astype(np.int8)
    lines = c_array("w", I8, a, per_line=16)
    values = [line for line in lines if re.fullmatch(r"\s+(-?\d+,\s*)+", line)]
    assert all(line == line.rstrip() and line.endswith(",") and line.count(",") <= 16 for line in values)
    assert len(values) == 300 * 3  # 16 + 16 + 5 values per row
    assert [int(t) for t in re.findall(r"-?\d+", "\n".join(values))] == a.reshape(-1).tolist()
