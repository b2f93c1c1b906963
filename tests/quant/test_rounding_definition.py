"""round_half_away and scale_round (rounded in place, few temporaries) equal the definition
sign(a) * floor(|a| + 0.5) value for value, type and shape -- halves, the float just below 1/2, huge and
non-finite values (clipped to +-2^62) and subnormals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from snncompile.quant.scales import round_half_away, scale_round

BIG = float(1 << 62)


def definition(x: Any) -> Any:
    a = np.clip(np.asarray(x, np.float64), -BIG, BIG)
    return (np.sign(a) * np.floor(np.abs(a) + 0.5)).astype(np.int64)


SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                    np.nextafter(0.5, 1), 4503599627370495.5, -4503599627370495.5, 2.0**52 + 1, 2.0**53 + 2,
                    1e300, -1e300, np.inf, -np.inf, BIG, -BIG, 5e-324, -5e-324])


def _cases() -> list[Any]:
    rng = np.random.default_rng(0)
    return [SPECIAL, rng.normal(0, 1e3, 20_000), np.round(rng.normal(0, 50, 20_000)) + 0.5,
            (np.arange(-2000, 2000) / 2).reshape(40, 100), np.float64(2.5), np.float64(-0.5), np.array(-2.5), 3.5,
            [1.5, -2.5], np.float32(2.5), rng.normal(0, 1, (3, 4, 5)).astype(np.float32) * 7]


@pytest.mark.parametrize("k", range(len(_cases())))
def test_round_half_away_is_the_definition(k: int) -> None:
    x = _cases()[k]
    want, got = definition(x), round_half_away(x)
    assert type(got) is type(want) and np.shape(got) == np.shape(want) and got.dtype == np.int64
    assert np.array_equal(got, want)


@pytest.mark.parametrize("k", range(len(_cases())))
def test_scale_round_is_the_definition_and_leaves_its_input(k: int) -> None:
    x = _cases()[k]
    before = np.array(x, copy=True)
    scale = np.random.default_rng(k).uniform(0.01, 300, np.shape(x)) if np.ndim(x) else 3.0
    with np.errstate(over="ignore"):
        want = definition(np.asarray(x, np.float64) * scale)
    got = scale_round(x, scale)
    assert np.shape(got) == np.shape(want) and np.asarray(got).dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(np.asarray(x), before, equal_nan=True)


def test_rounding_by_blocks_is_the_definition_at_every_block_edge() -> None:
    """Large buffers are rounded a block at a time into their own memory: halves straddling each block edge, a
    ragged last block, non-contiguous and read-only inputs (rounded in a copy, left untouched)."""
    from snncompile.quant.scales import _BLOCK

    rng = np.random.default_rng(1)
    x = np.round(rng.normal(0, 1e4, 3 * _BLOCK + 7)) + 0.5
    for k in range(1, 4):
        x[k * _BLOCK - 2:k * _BLOCK + 2] = [-2.5, 2.5, -0.5, 0.49999999999999994]
    x[-3:] = [np.inf, -BIG * 4, -1.5]
    want = definition(x)
    assert np.array_equal(scale_round(x, 1.0), want) and np.array_equal(round_half_away(x), want)
    strided = x.reshape(-1, 1)[::2]
    frozen = x.copy()
    frozen.setflags(write=False)
    assert np.array_equal(round_half_away(strided), definition(strided))
    assert np.array_equal(round_half_away(frozen), want) and np.array_equal(frozen, x)


def test_a_read_only_int64_weight_is_kept_and_a_writeable_one_copied() -> None:
    from snncompile.quant.qnodes import QDense

    w = np.arange(12, dtype=np.int64).reshape(3, 4) - 6
    copied = QDense(weight=w)
    w[0, 0] = 5  # the caller's array changes; the node's does not
    assert copied.weight[0, 0] == -6 and not copied.weight.flags.writeable
    w.setflags(write=False)
    assert QDense(weight=w).weight is w
    assert QDense(weight=w.astype(np.int32)).weight is not w
