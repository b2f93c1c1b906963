"""The NIR reader refuses NaN, infinite and complex parameters and fractional shapes or counts, naming the node and
the field (issue 11, item 7); they used to crash the quantiser, be dropped (imaginary parts) or be truncated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nir
import numpy as np
import pytest
import torch

import snncompile as sc
from snncompile.errors import GraphError
from snncompile.frontend.nir_read import load

NAN, INF = float("nan"), float("inf")


def lif(**overrides: Any) -> nir.LIF:
    params = {"tau": np.full(3, 5e-3), "r": np.full(3, 5.0), "v_leak": np.zeros(3), "v_threshold": np.ones(3),
              "v_reset": np.zeros(3), **overrides}
    return nir.LIF(**params)


def write(tmp_path: Path, layer: Any = None, neuron: Any = None, in_shape: Any = (3,)) -> Path:
    """input -> fc (or ``layer``) -> lif (or ``neuron``) -> output."""
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}),
             "fc": layer if layer is not None else nir.Affine(weight=np.eye(3), bias=np.zeros(3)),
             "lif": neuron if neuron is not None else lif(),
             "output": nir.Output(output_type={"output": np.array([3])})}
    path = tmp_path / "g.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
                                 type_check=False))
    return path


def with_entry(value: Any, shape: tuple[int, ...] = (3, 3), dtype: Any = np.float64) -> np.ndarray:
    arr = np.eye(3, dtype=dtype).reshape(shape) if shape == (3, 3) else np.ones(shape, dtype)
    arr.reshape(-1)[1] = value
    return arr


@pytest.mark.parametrize(("layer", "neuron", "message"), [
    (nir.Affine(weight=with_entry(NAN), bias=np.zeros(3)), None,
     "node 'fc' (Affine): parameter 'weight' is NaN at index (0, 1)"),
    (nir.Affine(weight=with_entry(INF), bias=np.zeros(3)), None,
     "node 'fc' (Affine): parameter 'weight' is infinite (inf) at index (0, 1)"),
    (nir.Affine(weight=with_entry(1j, dtype=np.complex64), bias=np.zeros(3)), None,
     "node 'fc' (Affine): parameter 'weight' is complex (complex64); parameters are real numbers"),
    (nir.Affine(weight=np.eye(3), bias=with_entry(-INF, (3,))), None,
     "node 'fc' (Affine): parameter 'bias' is infinite (-inf) at index 1"),
    (nir.Linear(weight=with_entry(NAN)), None, "node 'fc' (Linear): parameter 'weight' is NaN at index (0, 1)"),
    (None, lif(tau=with_entry(NAN, (3,))), "node 'lif' (LIF): parameter 'tau' is NaN at index 1"),
    (None, lif(r=with_entry(NAN, (3,))), "node 'lif' (LIF): parameter 'r' is NaN at index 1"),
    (None, lif(v_threshold=with_entry(INF, (3,))), "node 'lif' (LIF): parameter 'v_threshold' is infinite (inf) at "
                                                   "index 1"),
    (None, lif(v_leak=with_entry(NAN, (3,))), "node 'lif' (LIF): parameter 'v_leak' is NaN at index 1"),
    # tau may be infinite (no leak), but then this r gives the input gain dt/tau*r = inf/inf
    (None, lif(tau=np.full(3, INF), r=np.full(3, INF)),
     "node 'lif' (LIF): its input gain (from r, tau and dt=0.001 s) is NaN at index 0"),
])
def test_bad_parameter_is_named(tmp_path: Path, layer: Any, neuron: Any, message: str) -> None:
    with pytest.raises(GraphError) as err:
        load(write(tmp_path, layer, neuron))
    assert str(err.value) == message


def test_infinite_time_constant_is_no_leak(tmp_path: Path) -> None:
    """Integrators are written with tau = inf: that stays allowed (beta = 1)."""
    graph = load(write(tmp_path, neuron=lif(tau=np.full(3, INF), r=np.zeros(3)))).graph
    assert graph.nodes["lif"].beta.tolist() == [1.0, 1.0, 1.0]  # type: ignore[attr-defined]


def test_fractional_input_shape(tmp_path: Path) -> None:
    with pytest.raises(GraphError) as err:
        load(write(tmp_path, in_shape=(3.7,)))
    assert str(err.value) == "node 'input' (Input): shape [3.7]: entry 3.7 is not a whole number"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("stride", 1.5, "node 'fc' (Conv1d): stride [1.5]: entry 1.5 is not a whole number"),
    ("groups", 1.5, "node 'fc' (Conv1d): groups 1.5 is not a whole number"),
    ("groups", 0, "node 'fc' (Conv1d): groups 0 is below 1"),
    ("padding", -1, "node 'fc' (Conv1d): padding [-1]: entry -1 is below 0"),
])
def test_fractional_conv_attributes(tmp_path: Path, field: str, value: Any, message: str) -> None:
    conv = nir.Conv1d(input_shape=5, weight=np.ones((3, 1, 3)), stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(3))
    setattr(conv, field, value)
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 5])}), "fc": conv,
             "output": nir.Output(output_type={"output": np.array([3, 5])})}
    path = tmp_path / "c.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "output")], type_check=False))
    with pytest.raises(GraphError) as err:
        load(path)
    assert str(err.value) == message


def test_metadata_dt_infinity_is_refused(tmp_path: Path) -> None:
    """JSON admits Infinity; a graph with dt = inf used to load (and write 'dt: Infinity' on export)."""
    import h5py

    from snncompile.errors import InputError

    graph = sc.Graph({"x": sc.nodes.Input(shape=(2,)), "y": sc.nodes.Output()}, [("x", "y")])
    path = tmp_path / "m.nir"
    sc.save(graph, str(path))
    with h5py.File(path, "r+") as f:
        text = f["node/metadata/snncompile"][()].decode().replace('"dt": 0.001', '"dt": Infinity')
        del f["node/metadata/snncompile"]
        f["node/metadata/snncompile"] = text
    with pytest.raises(InputError) as err:
        load(path)
    assert str(err.value) == "graph metadata 'snncompile': dt inf is not a positive, finite number of seconds"


@pytest.mark.parametrize(("where", "message"), [
    ("weight", "torch module '0' (Linear): parameter 'weight' is NaN at index (0, 1)"),
    ("bias", "torch module '0' (Linear): parameter 'bias' is infinite (inf) at index 1"),
    ("beta", "torch module '1' (Leaky): parameter 'beta' is NaN at index 0"),
    ("threshold", "torch module '1' (Leaky): parameter 'threshold' is infinite (inf) at index 0"),
])
def test_trace_refuses_non_finite_parameters(where: str, message: str) -> None:
    snn = pytest.importorskip("snntorch")
    beta = NAN if where == "beta" else 0.9
    threshold = INF if where == "threshold" else 1.0
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), snn.Leaky(beta=beta, threshold=threshold, init_hidden=True))
    with torch.no_grad():
        if where == "weight":
            net[0].weight[0, 1] = NAN
        elif where == "bias":
            net[0].bias[1] = INF
    with pytest.raises(GraphError) as err:
        sc.trace(net, torch.zeros(1, 3))
    assert str(err.value) == message


def cuba(**overrides: Any) -> nir.CubaLIF:
    params = {"tau_syn": np.full(3, 5e-3), "tau_mem": np.full(3, 5e-3), "r": np.full(3, 5.0),
              "v_leak": np.zeros(3), "v_threshold": np.ones(3), "v_reset": np.zeros(3), "w_in": np.full(3, 5.0),
              **overrides}
    return nir.CubaLIF(**params)


def _no_check(node: Any, **fields: Any) -> Any:
    """A nir node holding ``fields`` that its constructor would refuse (an exporter's bug, written anyway)."""
    for key, value in fields.items():
        setattr(node, key, value)
    return node


@pytest.mark.parametrize(("neuron", "convention", "message"), [
    (_no_check(lif(), tau=np.full(4, 5e-3)), "nir",
     "node 'lif' (LIF): parameter 'tau' of shape (4,) does not fit the neuron shape (3,) (that of 'v_leak')"),
    (_no_check(lif(), r=np.full(4, 5.0)), "sinabs",
     "node 'lif' (LIF): parameter 'r' of shape (4,) does not fit the neuron shape (3,) (that of 'v_leak')"),
    (_no_check(cuba(), tau_mem=np.full(4, 5e-3)), "nir",
     "node 'lif' (CubaLIF): parameter 'tau_mem' of shape (4,) does not fit the neuron shape (3,) (that of "
     "'v_leak')"),
    (_no_check(nir.IF(r=np.ones(3), v_threshold=np.ones(3)), r=np.ones(4)), "nir",
     "node 'lif' (IF): parameter 'r' of shape (4,) does not fit the neuron shape (3,) (that of 'v_threshold')"),
    (_no_check(lif(), r=np.full(4, 4.0)), "rockpool",
     "node 'lif': Rockpool dt inference: tau of shape (3,) and r of shape (4,) do not match"),
], ids=["lif-tau", "lif-r-sinabs", "cubalif-tau_mem", "if-r", "lif-r-rockpool"])
def test_parameter_shapes_that_do_not_fit(tmp_path: Path, neuron: Any, convention: str, message: str) -> None:
    """Found by tests/fuzz: numpy's broadcast error (a ValueError naming neither node nor parameter) escaped."""
    with pytest.raises(GraphError) as err:
        load(write(tmp_path, neuron=neuron), convention=convention)
    assert str(err.value) == message


def conv2d(weight: np.ndarray, bias: np.ndarray, groups: int = 1) -> nir.Conv2d:
    return nir.Conv2d(input_shape=(4, 4), weight=weight, stride=1, padding=0, dilation=1, groups=groups, bias=bias)


def conv1d(weight: np.ndarray, bias: np.ndarray, groups: int = 1) -> nir.Conv1d:
    return nir.Conv1d(input_shape=4, weight=weight, stride=1, padding=0, dilation=1, groups=groups, bias=bias)


def _conv_file(tmp_path: Path, layer: Any, in_shape: tuple[int, ...]) -> Path:
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)}), "fc": layer,
             "if": nir.IF(r=np.array(1.0), v_threshold=np.array(1.0)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    path = tmp_path / "conv.nir"
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "if"), ("if", "output")],
                                 type_check=False), compression=None)  # gzip refuses the 0-d datasets
    return path


@pytest.mark.parametrize(("layer", "in_shape", "message"), [
    (conv2d(np.ones((2, 2, 2, 2)), np.zeros(3)), (2, 4, 4),
     "node 'fc' (Conv2d): weight (2, 2, 2, 2) and bias (3,) must be [C_out, C_in/groups, KH, KW] and [C_out]"),
    (conv2d(np.ones((3, 1, 2, 2)), np.zeros(3), groups=2), (2, 4, 4),
     "node 'fc' (Conv2d): groups 2 must be a whole number >= 1 that divides the 3 output channels"),
    (conv1d(np.ones((2, 2, 2)), np.zeros(1)), (2, 4),
     "node 'fc' (Conv1d): weight (2, 2, 2) and bias (1,) must be [C_out, C_in/groups, K] and [C_out]"),
    (conv1d(np.ones((3, 1, 2)), np.zeros(3), groups=2), (2, 4),
     "node 'fc' (Conv1d): groups 2 must be a whole number >= 1 that divides the 3 output channels"),
], ids=["conv2d-bias", "conv2d-groups", "conv1d-bias", "conv1d-groups"])
def test_conv_bias_and_groups(tmp_path: Path, layer: Any, in_shape: tuple[int, ...], message: str) -> None:
    """Found by tests/fuzz: a bias of the wrong length escaped the quantiser as numpy's ValueError, groups that do
    not divide the output channels the float reference as torch's RuntimeError."""
    with pytest.raises(GraphError) as err:
        load(_conv_file(tmp_path, layer, in_shape))
    assert str(err.value) == message


def _pool(kind: Any, **fields: Any) -> Any:
    return _no_check(kind(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
                     **fields)


@pytest.mark.parametrize(("layer", "in_shape", "message"), [
    (_no_check(conv2d(np.ones((2, 2, 2, 2)), np.zeros(2)), stride=np.array(0)), (2, 4, 4),
     "node 'fc' (Conv2d): stride [0, 0]: entry 0 is below 1"),
    (_no_check(conv2d(np.ones((2, 2, 2, 2)), np.zeros(2)), dilation=np.array([1, 0])), (2, 4, 4),
     "node 'fc' (Conv2d): dilation [1, 0]: entry 0 is below 1"),
    (_no_check(conv1d(np.ones((2, 2, 2)), np.zeros(2)), stride=np.array(0)), (2, 4),
     "node 'fc' (Conv1d): stride [0]: entry 0 is below 1"),
    (_no_check(conv1d(np.ones((2, 2, 2)), np.zeros(2)), dilation=np.array(0)), (2, 4),
     "node 'fc' (Conv1d): dilation [0]: entry 0 is below 1"),
    (_pool(nir.SumPool2d, stride=np.array([1, 0])), (2, 4, 4),
     "node 'fc' (SumPool2d): stride [1, 0]: entry 0 is below 1"),
    (_pool(nir.AvgPool2d, kernel_size=np.array([0, 0])), (2, 4, 4),
     "node 'fc' (AvgPool2d): kernel_size [0, 0]: entry 0 is below 1"),
], ids=["conv2d-stride", "conv2d-dilation", "conv1d-stride", "conv1d-dilation", "sumpool-stride",
        "avgpool-kernel"])
def test_zero_stride_dilation_and_window(tmp_path: Path, layer: Any, in_shape: tuple[int, ...], message: str
                                         ) -> None:
    """Found by tests/fuzz: a stride of 0 escaped the shape inference as ZeroDivisionError; a dilation or window of
    0 loaded and then escaped the float reference as torch's RuntimeError."""
    with pytest.raises(GraphError) as err:
        load(_conv_file(tmp_path, layer, in_shape))
    assert str(err.value) == message


@pytest.mark.parametrize(("neuron", "options", "message"), [
    (lif(v_threshold=with_entry(0.0, (3,))), {"convention": "sinabs"},
     "node 'lif' (LIF): threshold 0 at index 1 must be > 0 with spikes='multi' (a step emits floor(v/threshold) "
     "spikes)"),
    (nir.IF(r=np.ones(3), v_threshold=np.full(3, -1.0)), {"spikes": "multi"},
     "node 'lif' (IF): threshold -1 at index 0 must be > 0 with spikes='multi' (a step emits floor(v/threshold) "
     "spikes)"),
])
def test_multi_spike_threshold_must_be_positive(tmp_path: Path, neuron: Any, options: dict[str, Any],
                                                message: str) -> None:
    """Found by tests/fuzz: floor(v/0) made NaN spikes in the float reference, and the quantiser's calibration
    failed on them with 'cannot convert float NaN to integer'."""
    with pytest.raises(GraphError) as err:
        load(write(tmp_path, neuron=neuron), **options)
    assert str(err.value) == message
