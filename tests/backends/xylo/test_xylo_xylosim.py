"""bitsim's xylo path == XyloSim 0.1.3 (the real C++ package) on every spike and state at every step."""

from __future__ import annotations

import numpy as np
import pytest
from snncompile.backends.bitsim.xylo import run_xylo
from snncompile.backends.xylo.spec import XyloNet
from snncompile.backends.xylo.xylosim import rockpool_xylosim, run_xylosim
from xylo_cases import first_mismatch, random_counts, random_net

SEEDS = range(24)


@pytest.mark.parametrize("path", ["plain", "fast", "c"])
def test_random_networks_equal_xylosim(path: str) -> None:
    seen = {"saturated": 0, "multi_spike": 0, "alias": 0, "syn2": 0, "input_clamp": 0, "threshold_0": 0}
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        net = random_net(rng)
        x = random_counts(rng, 30, 3, net.n_in)
        want = run_xylosim(net, x)
        problem = first_mismatch(want, run_xylo(net, x, path=path))
        assert problem is None, f"seed {seed}, path {path}: {problem}"
        seen["saturated"] += int(np.isin(np.stack([want.isyn, want.isyn2, want.vmem]), (-32768, 32767)).any())
        seen["multi_spike"] += int((want.spikes > 1).any())
        seen["alias"] += int(any(net.aliases))
        seen["syn2"] += int((want.isyn2 != 0).any())
        seen["input_clamp"] += int((x > 15).any())
        seen["threshold_0"] += int((net.threshold == 0).any())
    assert all(v >= 3 for v in seen.values()), seen  # every feature was exercised, several times


def test_per_event_saturation_order_is_xylosims() -> None:
    """Input 0 brings +127<<8 three times, input 1 then -128<<8 once, onto one synapse: event by event the sum
    saturates at 32767 before the negative event (32767 - 32768 = -1); the exact sum, 64768, would saturate to
    32767 instead."""
    net = XyloNet.build(np.array([[127], [-128]]), np.zeros((1, 1), np.int64), weight_shift_in=8,
                        dash_syn=np.array([15]), dash_mem=np.array([15]), threshold=np.array([30000]))
    x = np.array([[[3, 1]]])
    want = run_xylosim(net, x)
    assert want.isyn[0, 0, 0] == -1 - (-1 >> 15)  # -1, then its decay of -1 >> 15 = -1: 0
    for path in ("plain", "fast", "c"):
        assert first_mismatch(want, run_xylo(net, x, path=path)) is None


def test_fast_path_falls_back_only_where_saturation_is_possible() -> None:
    rng = np.random.default_rng(7)
    big = random_net(rng, aliases=False, max_shift=8)  # saturates
    small = XyloNet.build(rng.integers(-3, 4, (4, 6)), rng.integers(-3, 4, (6, 2)), rng.integers(-3, 4, (6, 6)),
                          threshold=np.full(6, 5), threshold_out=np.full(2, 5))  # never saturates
    for net in (big, small):
        x = random_counts(rng, 25, 4, net.n_in)
        assert first_mismatch(run_xylosim(net, x), run_xylo(net, x, path="fast")) is None


def test_rockpool_xylosim_route_is_the_same_simulator() -> None:
    rng = np.random.default_rng(3)
    net = random_net(rng)
    x = random_counts(rng, 20, 2, net.n_in)
    assert first_mismatch(run_xylosim(net, x), rockpool_xylosim(net, x)) is None


def test_mismatch_report_names_record_step_and_neuron() -> None:
    rng = np.random.default_rng(1)
    net = random_net(rng)
    x = random_counts(rng, 5, 1, net.n_in)
    want = run_xylosim(net, x)
    got = run_xylo(net, x)
    got.vmem[3, 0, 2] += 1
    assert first_mismatch(want, got) == f"vmem[t=3, b=0, neuron=2]: expected {want.vmem[3, 0, 2]}, got " \
        f"{want.vmem[3, 0, 2] + 1}"
