"""Node constructors, the Graph and the reference executor refuse values that are not finite real numbers (or,
for shapes, whole numbers) instead of letting them reach the quantiser or vanish (issue 11, item 7)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import snncompile as sc
from snncompile.errors import GraphError, ParameterError
from snncompile.nodes import LIF, Affine, Conv2d, CubaLIF, Delay, Input, Output, Scale, SumPool2d
from snncompile.quant.quantize import quantize
from snncompile.quant.spec import QuantSpec

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Affine(weight=[[1.0, NAN]], bias=[0.0]), "Affine: parameter 'weight' is NaN at index (0, 1)"),
    (lambda: Affine(weight=[[1.0, 2.0]], bias=[INF]), "Affine: parameter 'bias' is infinite (inf) at index 0"),
    (lambda: Affine(weight=np.array([[1 + 2j, 0]]), bias=[0.0]),
     "Affine: parameter 'weight' is complex (complex128); parameters are real numbers"),
    (lambda: Scale(scale=["a", "b"]), "Scale: parameter 'scale' has dtype <U1, not numbers"),
    (lambda: LIF(shape=(2,), beta=0.9, threshold=[1.0, -INF]), "LIF: parameter 'threshold' is infinite (-inf) at "
                                                                "index 1"),
    (lambda: LIF(shape=(2,), beta=NAN, threshold=1.0), "LIF: parameter 'beta' is NaN"),
    (lambda: LIF(shape=(2,), beta=0.9, threshold=1.0, v_init=[0.0, NAN]), "LIF: parameter 'v_init' is NaN at index 1"),
    (lambda: CubaLIF(shape=(1,), alpha=np.complex64(0.5), beta=0.9, threshold=1.0),
     "CubaLIF: parameter 'alpha' is complex (complex64); parameters are real numbers"),
    (lambda: Delay(delay=[1.0, NAN]), "Delay: parameter 'delay' is NaN at index 1"),
    (lambda: Input(shape=(4.7,)), "Input: shape [4.7]: entry 4.7 is not a whole number"),
    (lambda: Input(shape=(3, -1)), "Input: shape [3, -1]: entry -1 is below 0"),
    (lambda: Output(shape=(2.5,)), "Output: shape [2.5]: entry 2.5 is not a whole number"),
    (lambda: LIF(shape=(2.0, 1.5), beta=0.9, threshold=1.0), "LIF: shape [2.0, 1.5]: entry 1.5 is not a whole number"),
    (lambda: Conv2d(weight=np.ones((1, 1, 2, 2)), bias=np.zeros(1), stride=1.5),
     "Conv2d: stride [1.5]: entry 1.5 is not a whole number"),
    (lambda: SumPool2d(kernel_size=(2, 2.5), stride=2), "SumPool2d: kernel_size [2, 2.5]: entry 2.5 is not a whole "
                                                        "number"),
])
def test_constructor_refuses(build: object, message: str) -> None:
    with pytest.raises(ParameterError) as err:
        build()  # type: ignore[operator]
    assert str(err.value) == message


def test_parameter_error_is_a_graph_error_named_by_readers() -> None:
    err = ParameterError("LIF", "parameter 'beta' is NaN")
    assert isinstance(err, GraphError)
    assert str(err.named("lif1")) == "node 'lif1' (LIF): parameter 'beta' is NaN"
    back = pickle.loads(pickle.dumps(err))  # sweeps send errors between processes
    assert (type(back), str(back), back.node_type, back.detail) == (ParameterError, str(err), "LIF",
                                                                     "parameter 'beta' is NaN")


def test_whole_floats_and_infinite_free_values_still_work() -> None:
    assert Input(shape=(4.0,)).shape == (4,)
    assert Conv2d(weight=np.ones((1, 1, 1, 1)), bias=np.zeros(1), stride=np.int64(2)).stride == (2, 2)
    assert LIF(shape=(2,), beta=np.float32(0.5), threshold=np.array([1, 2])).threshold.tolist() == [1, 2]


@pytest.mark.parametrize("dt", [INF, NAN, 0.0, -1e-3, True, "1e-3"])
def test_graph_dt_must_be_finite_and_positive(dt: object) -> None:
    with pytest.raises(GraphError) as err:
        sc.Graph({"x": Input(shape=(1,)), "y": Output()}, [("x", "y")], dt=dt)  # type: ignore[arg-type]
    assert str(err.value) == f"graph: dt must be a positive, finite number of seconds, got {dt!r}"


def mlp() -> sc.Graph:
    return sc.Graph({"x": Input(shape=(2,)), "fc": Affine(weight=np.eye(2), bias=np.zeros(2)),
                     "n": LIF(shape=(2,), beta=0.5, threshold=1.0), "y": Output()},
                    [("x", "fc"), ("fc", "n"), ("n", "y")])


@pytest.mark.parametrize(("value", "message"), [
    (NAN, "input 'x': value nan at timestep 1, batch 0, index 1 is not a finite number"),
    (-INF, "input 'x': value -inf at timestep 1, batch 0, index 1 is not a finite number"),
])
def test_simulate_refuses_non_finite_inputs(value: float, message: str) -> None:
    """NaN compares false: it used to run and report no spikes at all."""
    x = np.ones((3, 1, 2))
    x[1, 0, 1] = value
    with pytest.raises(GraphError) as err:
        sc.simulate(mlp(), x)
    assert str(err.value) == message
    with pytest.raises(GraphError) as err:
        quantize(mlp(), QuantSpec(), x)  # calibration data goes through the same door
    assert str(err.value) == message


def test_simulate_refuses_complex_inputs() -> None:
    with pytest.raises(GraphError) as err:
        sc.simulate(mlp(), np.ones((3, 1, 2)) * (1 + 1j))
    assert str(err.value) == "input 'x': dtype complex128 is complex; inputs are real numbers"


def test_a_delay_beyond_the_history_limit_is_refused_by_name(tmp_path: Path) -> None:
    """Found by the fuzzer: a 10^9-step Delay made every executor allocate 74.5 GiB of history (MemoryError)."""
    import nir

    from snncompile.nodes import MAX_DELAY

    Delay(delay=np.full(3, MAX_DELAY))  # the limit itself is fine
    with pytest.raises(GraphError) as err:
        Delay(delay=np.array([0, 10**9]))
    assert str(err.value) == ("Delay: delay 1000000000 steps exceeds the limit of 65536 (every executor keeps that "
                              "many steps of history)")
    graph = nir.NIRGraph.from_list(nir.Input(np.array([2])), nir.Delay(np.array([1.0, 1e9])), nir.Output(np.array([2])))
    nir.write(tmp_path / "d.nir", graph)
    with pytest.raises(GraphError, match=r"node 'delay' \(Delay\): delay 1000000000000 steps exceeds the limit"):
        sc.load(str(tmp_path / "d.nir"))
