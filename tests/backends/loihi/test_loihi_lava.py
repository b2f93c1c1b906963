"""Lava's own bit-accurate runs: lava_weights reproduces Lava's weight processing, and the core simulator
reproduces Lava's u, v and spikes on all 9 golden cases, on one core and split over many."""

from __future__ import annotations

import numpy as np
import pytest
from loihi_cases import LAVA, LAVA_CASES, lava_qgraph
from snncompile.backends.loihi import BACKEND, CoreSpec, lava_weights
from snncompile.backends.loihi.registers import SIGN_MODES, num_weight_bits, sign_mode_of

from snncompile.errors import QuantizationError

#: small enough to split every Lava case over several cores (the largest layer has 32 neurons, fan-in 40)
SPLIT = CoreSpec(name="split", neurons_per_core=3, input_axons=48, output_axons=64, synaptic_memory_bits=4096,
                 cores_per_chip=4)


def test_all_nine_cases_present() -> None:
    assert len(LAVA_CASES) == 9, f"expected the 9 Lava cases in {LAVA}"


@pytest.mark.parametrize("case", LAVA_CASES)
def test_lava_weights_equal_lavas_processing(case: str) -> None:
    d = np.load(LAVA / f"{case}.npz")
    for k in range(1, int(d["n_layers"]) + 1):
        given, mode = d[f"dense{k}_weights"], int(d[f"dense{k}_sign_mode"])
        got = lava_weights(given, int(d[f"dense{k}_num_weight_bits"]), None if mode == -1 else mode)
        np.testing.assert_array_equal(got, d[f"dense{k}_weights_lava"], err_msg=f"{case} dense{k}")
        assert sign_mode_of(given) == SIGN_MODES[int(d[f"dense{k}_sign_mode_resolved"])]


def test_p07_is_the_case_where_lava_changes_weights() -> None:
    d = np.load(LAVA / "p07_weight_processing.npz")
    given, lava = d["dense1_weights"], d["dense1_weights_lava"]
    assert (given != lava).sum() > 0
    assert np.array_equal(lava_weights(given, 6), lava)
    assert np.array_equal(lava_weights(d["dense2_weights"]), d["dense2_weights_lava"])  # excitatory: odd kept
    assert d["dense2_weights_lava"].min() >= 0 and (d["dense2_weights_lava"] % 2).any()
    assert num_weight_bits(lava) == 6


def test_lava_weights_rules() -> None:
    assert lava_weights(np.array([[-300, 7, 255]])).tolist() == [[-256, 6, 254]]  # mixed: clip, even
    assert lava_weights(np.array([300, 7])).tolist() == [255, 7]  # excitatory keeps odd values
    assert lava_weights(np.array([-300, -7])).tolist() == [-255, -7]  # inhibitory
    assert lava_weights(np.array([-7, -9]), 6).tolist() == [-4, -8]  # inhibitory truncates the magnitude
    assert lava_weights(np.array([5, -3]), 8, "excitatory").tolist() == [5, 0]
    with pytest.raises(QuantizationError, match="num_weight_bits 9 is outside 1..8"):
        lava_weights(np.array([1]), 9)
    with pytest.raises(QuantizationError, match="sign_mode 7"):
        lava_weights(np.array([1]), 8, 7)


@pytest.mark.parametrize("spec", ["loihi1", SPLIT], ids=["one-core", "split"])
@pytest.mark.parametrize("case", LAVA_CASES)
def test_coresim_equals_lava(case: str, spec: str | CoreSpec) -> None:
    d = np.load(LAVA / f"{case}.npz")
    qgraph = lava_qgraph(d)
    mapping = BACKEND.map(qgraph, core_spec=spec)
    if spec is SPLIT:
        assert len(mapping.cores) > 2
    traces = BACKEND.run(qgraph, d["input_spikes"][:, None, :], core_spec=spec)
    for k in range(1, int(d["n_layers"]) + 1):
        for ours, theirs in (("out", "s"), ("i", "u"), ("v", "v")):
            want = d[f"lif{k}_{theirs}"].astype(np.int64)
            got = traces[f"lif{k}"][ours][:, 0, :]
            bad = np.argwhere(want != got)
            assert not len(bad), (f"{case} lif{k} {theirs}: {len(bad)} mismatches, first at (t, n) = "
                                  f"{tuple(bad[0])}: Lava {want[tuple(bad[0])]}, coresim {got[tuple(bad[0])]}")
        a_buff = d[f"dense{k}_a_buff"].astype(np.int64)
        np.testing.assert_array_equal(traces[f"dense{k}"]["out"][:, 0, :], a_buff, err_msg=f"{case} dense{k} a_buff")
