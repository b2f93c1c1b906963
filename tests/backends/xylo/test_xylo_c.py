"""Every variant of the xylo C kernel == XyloSim: each ISA build this CPU runs (the portable C always), one and
several threads, dense and sparse weight rows, several register groups of target lanes, every record dtype."""

from __future__ import annotations

import numpy as np
import pytest
from snncompile.backends.bitsim import xylo_c
from snncompile.backends.bitsim.xylo import XyloTraces, check_counts, run_xylo
from snncompile.backends.xylo.spec import XyloNet
from snncompile.backends.xylo.xylosim import run_xylosim
from xylo_cases import first_mismatch, random_counts, random_net

from snncompile.errors import InputError

pytestmark = pytest.mark.skipif(not xylo_c.available(), reason="gcc not on PATH")


def variants() -> list[str]:
    """The ISA builds this CPU runs: "portable" always, the x86-64 ones where the CPU has them."""
    return [name for name in ("portable", "avx2", "avx512") if xylo_c.isa(name) == name]


def run_variant(net: XyloNet, x: np.ndarray, isa: str, threads: int, **kw: object) -> XyloTraces:
    kept = xylo_c.run_c(net, check_counts(net, x), isa=isa, threads=threads, **kw)  # type: ignore[arg-type]
    return XyloTraces(**kept)


def wide_net(rng: np.random.Generator, n: int = 150, fanout: int = 6, shift: int = 8) -> XyloNet:
    """More hidden neurons than one register group of lanes, sparse recurrent rows (a few random targets over all
    300 synapse lanes) beside dense input rows, shifts that saturate, aliases and multi-spikes."""
    w_rec = np.zeros((n, n, 2), np.int64)
    for src in range(n):
        tgt = rng.choice(n * 2, fanout, replace=False)
        w_rec[src, tgt // 2, tgt % 2] = rng.integers(-128, 128, fanout)
    w_in = rng.integers(-128, 128, (4, n, 2)) * (rng.random((4, n, 2)) < 0.7)
    w_out = rng.integers(-128, 128, (n, 5)) * (rng.random((n, 5)) < 0.3)
    alias = tuple((int(rng.integers(0, n)),) if rng.random() < 0.1 else () for _ in range(n))
    return XyloNet.build(
        w_in, w_out, w_rec, weight_shift_in=shift, weight_shift_rec=shift - 2, weight_shift_out=4,
        dash_mem=rng.integers(0, 16, n), dash_syn=rng.integers(0, 16, n), dash_syn_2=rng.integers(0, 16, n),
        threshold=rng.integers(0, 4000, n), bias=rng.integers(-500, 500, n), aliases=alias,
        dash_mem_out=rng.integers(0, 16, 5), dash_syn_out=rng.integers(0, 16, 5),
        threshold_out=rng.integers(0, 3000, 5),
    )


def test_every_isa_and_thread_count_equals_xylosim() -> None:
    names = variants()
    assert "portable" in names
    for seed in range(24):
        rng = np.random.default_rng(seed)
        net = random_net(rng)
        x = random_counts(rng, 30, 5, net.n_in)
        want = run_xylosim(net, x)
        for isa in names:
            for threads in (1, 2, 7):  # 7 > batch: one sample per thread
                problem = first_mismatch(want, run_variant(net, x, isa, threads))
                assert problem is None, f"seed {seed}, {isa}, {threads} threads: {problem}"


@pytest.mark.parametrize("dense_lanes", [0, 32, 1 << 20])  # all rows sparse / the default mix / all dense
def test_dense_and_sparse_rows_equal_xylosim(monkeypatch: pytest.MonkeyPatch, dense_lanes: int) -> None:
    monkeypatch.setattr(xylo_c, "DENSE_LANES_PER_WEIGHT", dense_lanes)
    rng = np.random.default_rng(11)
    net = wide_net(rng)
    x = random_counts(rng, 25, 3, net.n_in)
    want = run_xylosim(net, x)
    hits: dict[str, np.ndarray] = {}
    run_xylo(net, x, path="plain", clamps=hits)
    assert (want.spikes > 1).any() and hits["i"].any()  # multi-spikes, synapses saturated by events
    arrays = xylo_c.layout(net).arrays
    spans, sp_ptr = arrays[3].reshape(-1, 2), arrays[4]
    dense, sparse = int((spans[:, 0] < spans[:, 1]).sum()), int(np.count_nonzero(np.diff(sp_ptr)))
    assert (dense > 0, sparse > 0) == (dense_lanes > 0, dense_lanes < 1 << 20), (dense, sparse)  # as the case says
    for isa in variants():
        problem = first_mismatch(want, run_variant(net, x, isa, 2))
        assert problem is None, f"{isa}, dense lanes per weight {dense_lanes}: {problem}"


def test_several_register_groups_dense_equal_xylosim() -> None:
    """A dense 150-neuron net (300 synapse lanes: two groups of 128 and a tail) without aliases: the grouped
    delivery and the vectorised spike count, with counts up to 31 (the adds beyond the third event)."""
    rng = np.random.default_rng(5)
    net = random_net(rng, n_in=8, n=150, n_out=8, aliases=False, max_shift=9)
    x = random_counts(rng, 20, 3, net.n_in)
    want = run_xylosim(net, x)
    assert want.spikes.max() > 3
    for isa in variants():
        assert first_mismatch(want, run_variant(net, x, isa, 1)) is None, isa


@pytest.mark.parametrize("path", ["c", "fast", "plain"])
def test_record_dtypes_hold_the_same_values(path: str) -> None:
    rng = np.random.default_rng(2)
    net = random_net(rng, max_shift=10)
    x = random_counts(rng, 20, 2, net.n_in)
    want = run_xylo(net, x, path="plain")
    for dtype in (np.int16, np.int32, np.int64):
        got = run_xylo(net, x, path=path, dtype=dtype)
        assert all(a.dtype == dtype for _, a in got.items())
        assert first_mismatch(want, got) is None, (path, dtype)
    outs = run_xylo(net, x, path=path, record=("spikes_out",), dtype=np.int16)
    assert outs.vmem is None and np.array_equal(outs.spikes_out, want.spikes_out)


def test_bad_dtype_and_isa_are_refused() -> None:
    net = random_net(np.random.default_rng(0))
    x = np.zeros((2, 1, net.n_in), np.int64)
    with pytest.raises(InputError, match="dtype uint8 is not one of int16, int32, int64"):
        run_xylo(net, x, dtype=np.uint8)
    with pytest.raises(InputError, match="ISA 'neon' is not one of"):
        xylo_c.run_c(net, x, isa="neon")


def test_layout_is_built_once_per_net() -> None:
    net = random_net(np.random.default_rng(4))
    assert xylo_c.layout(net) is xylo_c.layout(net)
    x = random_counts(np.random.default_rng(4), 10, 2, net.n_in)
    assert first_mismatch(run_xylo(net, x, path="c"), run_xylo(net, x, path="c")) is None


def test_lane_groups_are_cut_at_span_ends_merged_and_split() -> None:
    def spans(*pairs: tuple[int, int]) -> np.ndarray:
        return np.array(pairs, np.int32).reshape(-1, 2)

    # the benchmark's shape: inputs onto [0, 128), a hidden layer onto [128, 320); an empty row joins nothing
    assert xylo_c._groups(spans((0, 128)), spans((128, 320), (0, 0))).tolist() == [[0, 128], [128, 320]]
    assert xylo_c._groups(spans((0, 640))).tolist() == [[0, 256], [256, 512], [512, 640]]  # at most 8 blocks
    assert xylo_c._groups(spans((0, 64), (192, 256))).tolist() == [[0, 64], [192, 256]]  # no span: no group
    assert xylo_c._groups(spans((0, 32), (32, 64), (0, 64))).tolist() == [[0, 64]]  # adjacent pieces merged
    assert xylo_c._groups(spans((0, 0))).shape == (0, 2)
    table = xylo_c._group_table(np.array([[0, 128], [128, 320]]), spans((0, 128), (0, 128)),
                                spans((0, 0), (128, 320), (0, 0), (128, 256)))
    assert table.tolist() == [[0, 128, 0, 2, 0, 0], [128, 320, 0, 0, 1, 4], [0, 0, 0, 0, 0, 0]]


def test_spike_count_from_rounded_up_reciprocal_is_exact() -> None:
    """xylo.c's fire_count: trunc(v * r), r = 1 / theta rounded up to float32, equals v // theta for 16-bit
    operands. Checked at every quotient boundary (v = k theta and k theta - 1, k = 1..32, all thresholds) in
    float32 arithmetic as the kernel does it; every (v, theta) pair was checked once in C."""
    theta = np.arange(1, 1 << 15, dtype=np.int64)
    r = xylo_c._reciprocals(theta)
    assert (r.astype(np.float64) >= 1.0 / theta).all()
    k = np.arange(1, 33)[:, None]
    for v in (k * theta, k * theta - 1, k * theta + 1):
        ok = v <= (1 << 15) - 1
        q = (v.astype(np.float32) * r).astype(np.int64)
        assert np.array_equal(q[ok], (v // theta)[ok])
    assert xylo_c._reciprocals(np.array([0]))[0] == 1.0


def test_run_xylo_threads_reach_the_kernel() -> None:
    rng = np.random.default_rng(9)
    net = random_net(rng)
    x = random_counts(rng, 15, 6, net.n_in)
    want = run_xylo(net, x, path="plain")
    for threads in (1, 3, 6):
        assert first_mismatch(want, run_xylo(net, x, threads=threads)) is None, threads  # path "auto": the C kernel
