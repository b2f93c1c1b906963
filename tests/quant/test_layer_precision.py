"""Per-layer precision (QuantSpec.layers, --layer-bits): resolution, errors naming the layer, every backend and
QAT honouring it, verify reporting it per layer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import snncompile.models as sc_models
from snncompile.backends.bitsim import run_plain

import snncompile as sc
from snncompile.cli import main
from snncompile.errors import QuantizationError
from snncompile.frontend.nir_read import load
from snncompile.quant.layers import precision_table
from snncompile.quant.qnodes import QDense, QNeuron
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import LayerQuant, QuantSpec, parse_layer_bits


@pytest.fixture(scope="module")
def mlp() -> sc.Graph:
    return load("digits-mlp").graph  # input, 0 Affine, 1 LIF, 2 Affine, 3 LIF, output


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    test = np.load(sc_models.ROOT / "digits-mlp" / "test.npz")
    path = tmp_path_factory.mktemp("data") / "digits12.npz"
    np.savez(path, inputs=test["inputs"][:, :12], labels=test["labels"][:12])
    return path


def test_parse_layer_bits_syntax() -> None:
    assert parse_layer_bits("3=4") == LayerQuant(layer="3", weight_bits=4)
    assert parse_layer_bits("@1=w6,s16,d10") == LayerQuant(layer="@1", weight_bits=6, state_bits=16, frac_bits=10)
    assert parse_layer_bits("a=b=s12") == LayerQuant(layer="a=b", state_bits=12)  # the last '=' splits
    for bad, msg in [("3", "expected LAYER=BITS"), ("3=x4", "'x4' is not N"), ("3=4,w5", "weight_bits given twice"),
                     ("3=1", "weight_bits=1 is outside 2..16"), ("3=s40", "state_bits=40 is outside 8..32"),
                     ("=4", "expected LAYER=BITS")]:
        with pytest.raises(QuantizationError, match=msg):
            parse_layer_bits(bad)


def test_overrides_reach_only_their_layer(mlp: sc.Graph) -> None:
    base = quantize(mlp, QuantSpec(weight_bits=8))
    spec = QuantSpec(weight_bits=8, layers=(parse_layer_bits("3=4"), parse_layer_bits("@0=s16,d10")))
    q = quantize(mlp, spec)
    d0, d2, n1, n3 = (q.nodes[n] for n in ("0", "2", "1", "3"))
    assert isinstance(d0, QDense) and isinstance(d2, QDense) and isinstance(n1, QNeuron) and isinstance(n3, QNeuron)
    assert (d0.w_bits, d2.w_bits) == (8, 4)
    assert int(np.abs(d2.weight).max()) == 7 and int(np.abs(d0.weight).max()) == 127
    assert (n1.v_bits, n1.i_bits, n1.frac_bits) == (16, 16, 10)
    assert n3.frac_bits == 12 and n3.v_bits == 9 < base.nodes["3"].v_bits  # sized again: max(8, needed) + 1
    assert np.array_equal(d0.weight, base.nodes["0"].weight)  # layer @0's weights are untouched
    assert n1.beta.tolist() == np.round(np.asarray(mlp.nodes["1"].beta) * 1024).astype(int).tolist()
    assert QuantSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert q.metadata["quant_spec"]["layers"][0] == {"layer": "3", "weight_bits": 4, "state_bits": None,
                                                     "frac_bits": None}
    rows = precision_table(mlp, spec)
    assert rows == [{"layer": "@0", "node": "1", "weight_bits": 8, "state_bits": 16, "frac_bits": 10},
                    {"layer": "@1", "node": "3", "weight_bits": 4, "state_bits": None, "frac_bits": 12}]


def test_a_weight_layer_names_the_layer_it_feeds(mlp: sc.Graph) -> None:
    a = quantize(mlp, QuantSpec(layers=(parse_layer_bits("2=5"),)))
    b = quantize(mlp, QuantSpec(layers=(parse_layer_bits("@1=w5"),)))
    assert np.array_equal(a.nodes["2"].weight, b.nodes["2"].weight) and a.nodes["2"].w_bits == 5


@pytest.mark.parametrize(("overrides", "msg"), [
    (["9=4"], "no node named '9' \\(layers: @0 '1' \\(LIF\\), @1 '3' \\(LIF\\)\\)"),
    (["@2=4"], "layer @2 does not exist; the graph has 2 layer"),
    (["input=4"], "node 'input' \\(Input\\) is not a neuron node or a weight layer"),
    (["@0=w4", "0=w6"], "layer '1': weight_bits set to 4 \\(by '@0'\\) and to 6 \\(by '0'\\)"),
    (["3=s8"], "node '3': threshold"),  # a parameter that does not fit the layer's own state width
])
def test_errors_name_the_layer(mlp: sc.Graph, overrides: list[str], msg: str) -> None:
    with pytest.raises(QuantizationError, match=msg):
        quantize(mlp, QuantSpec(layers=tuple(parse_layer_bits(o) for o in overrides)))


def test_same_value_twice_is_accepted(mlp: sc.Graph) -> None:
    q = quantize(mlp, QuantSpec(layers=(parse_layer_bits("@0=w6"), parse_layer_bits("0=6,s20"))))
    assert q.nodes["0"].w_bits == 6 and q.nodes["1"].v_bits == 20


def test_every_code_backend_honours_per_layer_widths(small_digits: Path, capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    """HLS (gcc), ONNX (onnxruntime) and RTL (Verilator) equal bitsim on a graph with three widths."""
    code = main(["verify", "digits-mlp", "--inputs", str(small_digits), "--layer-bits", "3=3",
                 "--layer-bits", "@0=w6,s14,d9", "--target", "hls", "--target", "onnx", "--target", "rtl"])
    out = capsys.readouterr().out
    assert code == 0, out
    for target in ("hls", "onnx", "rtl"):
        assert re.search(f"^fixed<->{target} +PASS +6 nodes, 8 traces, 0 of ", out, re.M), out
    assert "layer 3: weight_bits=3, layer @0: weight_bits=6 state_bits=14 frac_bits=9" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ") and "LIF" in ln}
    assert "w6 s14 d9" in lines["1"] and "w3 " in lines["3"] and " d12" in lines["3"]


def test_loihi_accepts_its_own_widths_and_refuses_others(tmp_path: Path, small_digits: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    base = ["export", "digits-mlp", "--target", "loihi", "--inputs", str(small_digits)]
    assert main([*base, "-o", str(tmp_path / "a"), "--layer-bits", "3=4"]) == 3
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("snncompile: error: loihi: layer '3': weight_bits=4 is not what Loihi has (weight_bits=8: 8-bit "
                   "weight mantissas (--bits), 24-bit u/v registers and 12-bit decays on every core); drop the "
                   "per-layer override for the loihi target")
    assert not (tmp_path / "a").exists()
    assert main([*base, "-o", str(tmp_path / "b"), "--layer-bits", "@1=w8,s24,d12"]) == 0


def test_cli_bad_layer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "digits-mlp", "--layer-bits", "5=4"]) == 2
    err = capsys.readouterr().err
    assert err == "snncompile: error: per-layer precision: no node named '5' (layers: @0 '1' (LIF), @1 '3' (LIF))\n"


def test_bitsim_run_uses_the_narrow_layer(mlp: sc.Graph) -> None:
    """The 3-bit layer really computes with 3-bit weights: its spikes differ from the 8-bit graph's."""
    x = np.load(sc_models.ROOT / "digits-mlp" / "test.npz")["inputs"][:, :8].astype(np.int64)
    wide = run_plain(quantize(mlp, QuantSpec(), x), x)
    narrow = run_plain(quantize(mlp, QuantSpec(layers=(parse_layer_bits("3=3"),)), x), x)
    assert np.array_equal(wide["1"]["out"], narrow["1"]["out"])
    assert not np.array_equal(wide["3"]["out"], narrow["3"]["out"])
