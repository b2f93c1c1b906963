"""A QGraph file whose integers are not integers (NaN, 4.7, text), whose out_scale is not finite, or whose header dt
is not a finite number is refused with the node and field named; values used to be cast to int64 silently (NaN
became -2^63, 4.7 became 4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from snncompile.errors import GraphError, InputError, QuantizationError
from snncompile.nodes import Input, Output
from snncompile.quant.qnir import read_qgraph, write_qgraph
from snncompile.quant.qnodes import QDense, QGraph, QNeuron

FC, LIF = "node/nodes/fc", "node/nodes/lif"


def qgraph_file(tmp_path: Path) -> Path:
    graph = QGraph({"in": Input(shape=(3,)), "fc": QDense(name="fc", weight=np.eye(3, dtype=np.int64) * 5, w_bits=4),
                    "lif": QNeuron(name="lif", kind="LIF", shape=(3,), beta=3000, threshold=7, frac_bits=12,
                                   out_scale=10.0),
                    "out": Output()}, [("in", "fc"), ("fc", "lif"), ("lif", "out")], 1e-3)
    return write_qgraph(graph, tmp_path / "q.nir")


def replace(f: h5py.File, path: str, value: object) -> None:
    del f[path]
    f[path] = value


def header(f: h5py.File, **changes: object) -> None:
    data = json.loads(f["node/metadata/snncompile"][()])
    data.update(changes)
    replace(f, "node/metadata/snncompile", json.dumps(data))


CASES: dict[str, tuple[Callable[[h5py.File], None], type, str]] = {
    "nan_threshold": (lambda f: replace(f, f"{LIF}/metadata/sc.threshold", np.array([7.0, np.nan, 7.0])),
                      QuantizationError, "node 'lif': threshold is NaN at index 1; it must be integers"),
    "fractional_threshold": (lambda f: replace(f, f"{LIF}/metadata/sc.threshold", np.array([7.0, 4.7, 7.0])),
                             QuantizationError, "node 'lif': threshold 4.7 at index 1 is not an integer"),
    "text_bias": (lambda f: replace(f, f"{LIF}/metadata/sc.bias", "zero"),
                  QuantizationError, "node 'lif': bias must be integers, got dtype <U4"),
    "float_weight": (lambda f: replace(f, f"{FC}/weight", np.eye(3) * 2.5),
                     QuantizationError, "node 'fc': weight 2.5 at index (0, 0) is not an integer"),
    "complex_weight": (lambda f: replace(f, f"{FC}/weight", np.eye(3) * (1 + 1j)),
                       QuantizationError, "node 'fc': weight must be integers, got dtype complex128"),
    "fractional_w_bits": (lambda f: replace(f, f"{FC}/metadata/sc.w_bits", 4.7),
                          GraphError, "node 'fc': 'sc.w_bits' 4.7 is not a whole number"),
    "text_frac_bits": (lambda f: replace(f, f"{LIF}/metadata/sc.frac_bits", "twelve"),
                       GraphError, "node 'lif': 'sc.frac_bits' 'twelve' is not a whole number"),
    "inf_out_scale": (lambda f: replace(f, f"{LIF}/metadata/sc.out_scale", np.inf),
                      GraphError, "node 'lif': 'sc.out_scale' is infinite (inf)"),
    "nan_out_scale": (lambda f: replace(f, f"{LIF}/metadata/sc.out_scale", np.nan),
                      GraphError, "node 'lif': 'sc.out_scale' is NaN"),
    "fractional_shape": (lambda f: replace(f, f"{LIF}/metadata/sc.shape", np.array([2.5])),
                         GraphError, "node 'lif': 'sc.shape' [2.5]: entry 2.5 is not a whole number"),
    "bad_semantics": (lambda f: replace(f, f"{LIF}/metadata/sc.semantics", "{"),
                      GraphError, "node 'lif' (LIF): 'sc.semantics' is not valid JSON: '{{'"),
    "dt_infinity": (lambda f: header(f, dt=float("inf")),
                    InputError, "'{p}' QGraph header: dt inf is not a positive, finite number of seconds"),
    "order_int": (lambda f: header(f, order=3), InputError, "'{p}' QGraph header: order 3 is not a list of node names"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_qgraph_file(tmp_path: Path, case: str) -> None:
    path = qgraph_file(tmp_path)
    edit, kind, message = CASES[case]
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(kind) as err:
        read_qgraph(path)
    assert str(err.value) == message.format(p=path)


def test_undamaged_file_reads(tmp_path: Path) -> None:
    assert read_qgraph(qgraph_file(tmp_path)).nodes["lif"].threshold.tolist() == [7, 7, 7]  # type: ignore


@pytest.mark.parametrize("out_scale", [float("inf"), float("nan"), 0.0, -1.0])
def test_qneuron_out_scale_must_be_finite_and_positive(out_scale: float) -> None:
    with pytest.raises(QuantizationError) as err:
        QNeuron(name="n", kind="LIF", shape=(1,), out_scale=out_scale)
    assert str(err.value) == f"node 'n': out_scale {out_scale!r} must be a finite number > 0"
