"""snn_runtime.h's integer rules equal snncompile.quant.intops on random and extreme values (via ctypes)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from hls_cases import hls_cache  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from snncompile.backends.hls.runner import build

from snncompile.quant.intops import clamp, decay, fire, shift_round
from snncompile.quant.shiftleak import legal_multipliers

RUNTIME = Path(__file__).resolve().parents[3] / "backends" / "hls" / "include" / "snn_runtime.h"
HARNESS = """#include "snn_runtime.h"
int64_t t_decay(int64_t y, int64_t m, int frac, int rounding);
int64_t t_clamp(int64_t y, int bits, int policy);
int64_t t_fire(int64_t v, int64_t theta, int ge, int multi, int64_t cap);
int64_t t_shift(int64_t acc, int shift);
int64_t t_decay(int64_t y, int64_t m, int frac, int rounding) { return snn_decay(y, m, frac, rounding); }
int64_t t_clamp(int64_t y, int bits, int policy) { return snn_clamp(y, bits, policy); }
int64_t t_fire(int64_t v, int64_t theta, int ge, int multi, int64_t cap) { return snn_fire(v, theta, ge, multi, cap); }
int64_t t_shift(int64_t acc, int shift) { return snn_shift_round(acc, shift); }
"""
ROUNDING = ("toward_zero", "floor", "nearest", "shift_subtract")
POLICY = ("saturate", "wrap", "wrap_loihi")
I64 = ctypes.c_int64


@pytest.fixture(scope="module")
def lib() -> ctypes.CDLL:
    path = build({"snn.c": HARNESS, "snn_sim.c": "typedef int snn_empty_unit;\n", "snn_runtime.h": RUNTIME.read_text()})
    c = ctypes.CDLL(str(path))
    INT = ctypes.c_int
    for name, args in (("t_decay", [I64, I64, INT, INT]), ("t_clamp", [I64, INT, INT]),
                       ("t_fire", [I64, I64, INT, INT, I64]), ("t_shift", [I64, INT])):
        getattr(c, name).argtypes, getattr(c, name).restype = args, I64
    return c


def one(f: object, *args: object) -> int:
    return int(np.asarray(f(*args)).reshape(-1)[0])  # type: ignore[operator]


wide = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([0, 1, -1, 2**31, -(2**31), 2**32, -(2**32) - 1]))


@settings(max_examples=300, deadline=None)
@given(y=wide, frac=st.integers(1, 16), data=st.data(), rounding=st.integers(0, 3))
def test_decay(lib: ctypes.CDLL, y: int, frac: int, data: st.DataObject, rounding: int) -> None:
    legal = [int(m) for m in legal_multipliers(frac)]  # the only multipliers shift_subtract admits
    m = data.draw(st.sampled_from(legal) if ROUNDING[rounding] == "shift_subtract" else st.integers(0, 2**frac))
    assert lib.t_decay(y, m, frac, rounding) == one(decay, np.array([y]), np.array([m]), frac, ROUNDING[rounding])


@settings(max_examples=300, deadline=None)
@given(y=wide, bits=st.integers(2, 32), policy=st.integers(0, 2))
def test_clamp(lib: ctypes.CDLL, y: int, bits: int, policy: int) -> None:
    assert lib.t_clamp(y, bits, policy) == one(clamp, np.array([y]), bits, POLICY[policy])


@settings(max_examples=300, deadline=None)
@given(v=st.integers(-(2**32), 2**32), theta=st.integers(-(2**31), 2**31 - 1), ge=st.booleans(), multi=st.booleans(),
       cap=st.integers(1, 300))
def test_fire(lib: ctypes.CDLL, v: int, theta: int, ge: bool, multi: bool, cap: int) -> None:
    want = one(fire, np.array([v]), np.array([theta]), "ge" if ge else "gt", "multi" if multi else "binary", cap)
    assert lib.t_fire(v, theta, int(ge), int(multi), cap) == want


@settings(max_examples=300, deadline=None)
@given(acc=st.integers(-(2**30), 2**30), shift=st.integers(-31, 31))
def test_shift_round(lib: ctypes.CDLL, acc: int, shift: int) -> None:
    assert lib.t_shift(acc, shift) == one(shift_round, np.array([acc]), shift)
