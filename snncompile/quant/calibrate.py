"""Calibration: run the float model, measure how large each neuron's registers get (docs/quantisation.md).

The float reference executor (:func:`snncompile.reference.run`, float64) runs on the user's calibration data
``[T, B, *shape]`` (one array, or ``{input_name: array}``), or, when there is none, on seeded Bernoulli(0.2)
spikes (``numpy.random.default_rng(seed)``, one draw per Input node in graph order) -- the report says which.

Per neuron node and per neuron, over all steps and samples, :func:`neuron_statistics` takes (float, unscaled):

    x_max  max |x[t]|   the summed input current (recurrent edges: the source's value of step t-1)
    i_max  max |i[t]|   CubaLI / CubaLIF synaptic current
    v_max  max |v|      the membrane *register*: the recorded v, and under immediate reset also the value
                        before the reset, v_pre[t] = beta*v[t-1] + drive[t] + bias (drive = i, or x[t-d]);
                        under snnTorch-immediate timing a bound |v_pre| + spike_cap*|theta| for the second reset

The quantiser multiplies these by each neuron's scale and sizes the registers (:func:`register_bits`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import GraphError, OverflowRiskWarning, QuantizationError
from ..graph import Graph
from ..nodes import LI, LIF, CubaLI, CubaLIF, NeuronNode, Threshold
from ..reference import NeuronState, _as_inputs, _initial_outputs, run
from .scales import show_int
from .spec import QuantSpec

CALIB_RATE = 0.2


@dataclass(frozen=True)
class NeuronStats:
    """Per-neuron float maxima (arrays of the node's shape), before scaling."""

    v_max: np.ndarray
    i_max: np.ndarray
    x_max: np.ndarray


@dataclass(frozen=True)
class Calibration:
    description: str
    stats: Mapping[str, NeuronStats]


def calibration_inputs(
    graph: Graph, calib: np.ndarray | Mapping[str, np.ndarray] | None, *, seed: int, timesteps: int, batch: int
) -> tuple[dict[str, np.ndarray], str]:
    """The calibration inputs per Input node and a one-line description for the report."""
    if calib is None:
        if timesteps < 1 or batch < 1:
            raise GraphError(f"calibration: timesteps={timesteps} and batch={batch} must be >= 1")
        rng = np.random.default_rng(seed)
        data = {
            name: (rng.random((timesteps, batch, *graph.shapes[name])) < CALIB_RATE).astype(np.float64)
            for name in graph.inputs
        }
        return data, f"seeded Bernoulli({CALIB_RATE}) spikes, T={timesteps}, B={batch}, seed={seed}"
    data = _as_inputs(graph, calib)
    steps = {a.shape[0] for a in data.values()}
    if len(steps) != 1 or 0 in steps:
        raise GraphError(f"calibration data: inputs must share one number of timesteps >= 1, got {sorted(steps)}")
    if isinstance(calib, Mapping):
        desc = "user data, " + ", ".join(f"'{n}' shape {tuple(a.shape)}" for n, a in data.items())
    else:
        desc = f"user data, shape {tuple(next(iter(data.values())).shape)}"
    return data, desc


def _shift(x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """x delayed by one step: [first, x[0], ..., x[T-2]]."""
    return np.concatenate([first[None], x[:-1]], axis=0)


def neuron_statistics(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, NeuronStats]:
    """Run the float reference on ``inputs`` and take the per-neuron maxima (see the module docstring)."""
    traces = run(graph, inputs)
    first = next(iter(inputs.values()))
    T, B = int(first.shape[0]), int(first.shape[1])
    initial: dict[str, np.ndarray] = {}
    if graph.recurrent_edges:
        states = {n: NeuronState.fresh(nd, B, torch.float64) for n, nd in graph.nodes.items()
                  if isinstance(nd, NeuronNode)}
        with torch.no_grad():
            initial = {n: t.numpy() for n, t in _initial_outputs(graph, states, B, torch.float64).items()}
    stats: dict[str, NeuronStats] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, NeuronNode):
            continue
        parts = [_shift(traces[p]["out"], initial[p]) if (p, name) in graph.recurrent_edges else traces[p]["out"]
                 for p in graph.predecessors(name)]
        x = _summed(parts, (T, B, *node.shape))
        x_max = _abs_max(x)
        zeros = np.zeros(node.shape)
        if isinstance(node, Threshold):
            stats[name] = NeuronStats(v_max=zeros, i_max=zeros, x_max=x_max)
            continue
        tr = traces[name]
        sem = node.semantics
        i_max = _abs_max(tr["i"]) if "i" in tr else zeros
        v = tr["v"]
        v_max = _abs_max(v)
        if node.SPIKING and sem.timing != "delayed":
            if "i" in tr:  # Cuba kinds: the current drives v (its delay is already in i)
                drive = tr["i"]
            else:
                drive = _shift(x, np.zeros(x.shape[1:])) if sem.synapse_delay == 1 else x
            v0 = np.broadcast_to(np.asarray(node.v_init if sem.initial_v == "v_init" else 0.0, np.float64),
                                 v.shape[1:])
            beta = np.asarray(node.beta) if isinstance(node, (LI, LIF, CubaLI, CubaLIF)) else 1.0
            params = node.params()  # spiking non-Threshold kinds all have bias and threshold
            v_pre = _shift(v, v0)  # beta * v[t-1] + drive + bias, in that order, in one buffer
            np.multiply(beta, v_pre, out=v_pre)
            v_pre += drive
            v_pre += np.asarray(params["bias"], np.float64)
            pre_max = _abs_max(v_pre)
            if sem.timing == "snntorch_immediate":  # max(|a| + c) = max|a| + c: c is the same at every step
                pre_max = pre_max + sem.spike_cap * np.abs(np.asarray(params["threshold"], np.float64))
            v_max = np.maximum(v_max, pre_max)
        stats[name] = NeuronStats(v_max=v_max, i_max=i_max, x_max=x_max)
    return stats


def _summed(parts: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The sum of the predecessors' outputs (float64; a zero array without any): one fresh buffer, or, for a single
    predecessor, its trace itself (read only) -- 0.0 + a is a, up to the sign of a zero, which no maximum sees."""
    if not parts:
        return np.zeros(shape)
    if len(parts) == 1:
        return np.asarray(parts[0], np.float64)
    total = np.add(parts[0], parts[1], dtype=np.float64)
    for part in parts[2:]:
        total += part
    return total


def _abs_max(a: np.ndarray) -> np.ndarray:
    """max |a| over the step and sample axes, without an |a| copy: the larger of max(a) and -min(a)."""
    return np.maximum(a.max(axis=(0, 1)), -a.min(axis=(0, 1)))


def calibrate(
    graph: Graph, calib: np.ndarray | Mapping[str, np.ndarray] | None, *, seed: int = 0, timesteps: int = 32,
    batch: int = 16,
) -> Calibration:
    """Calibration inputs (user data or seeded spikes) -> per-neuron float maxima and the data description."""
    data, description = calibration_inputs(graph, calib, seed=seed, timesteps=timesteps, batch=batch)
    return Calibration(description, neuron_statistics(graph, data))


def bits_for(magnitude: int) -> int:
    """Smallest signed width W whose symmetric range +-(2^(W-1)-1) holds ``magnitude`` (>= 0): 127 -> 8, 128 -> 9."""
    return int(magnitude).bit_length() + 1


@dataclass(frozen=True)
class RegisterSize:
    """The chosen width (v_bits = i_bits = bits), what the calibration needs, and the headroom between them."""

    bits: int
    needed: int
    headroom: int


def register_bits(node: str, *, v_max: int, i_max: int, params: Mapping[str, int], spec: QuantSpec) -> RegisterSize:
    """The width of the v and i registers of one neuron node (both get the same width).

    v_max, i_max: calibrated maxima in integer units (float maxima times the scale, rounded up);
    params: max |value| of the integer parameters (threshold, v_reset, bias, v_init).

    ``spec.state_bits is None``: W = max(8, needed) + headroom_bits, capped at 32; QuantizationError if
    even 32 bits cannot hold the calibrated values. Otherwise W = state_bits: a parameter that does not fit is
    a QuantizationError; a calibrated state that does not fit is a QuantizationError under ``overflow="wrap"``
    and an :class:`OverflowRiskWarning` under ``"saturate"`` (saturation will clip it).
    """
    quantities = {"v": int(v_max), "i": int(i_max), **{k: abs(int(x)) for k, x in params.items()}}
    worst = max(quantities, key=quantities.__getitem__)
    needed = bits_for(quantities[worst])
    if spec.state_bits is None:
        if needed > 32:
            raise QuantizationError(
                f"node '{node}': {_what(worst)} reaches {show_int(quantities[worst])} in integer units, which needs "
                f"int{needed}; the widest register is int32 (max {(1 << 31) - 1}); use fewer weight bits"
            )
        bits = min(max(8, needed) + spec.headroom_bits, 32)
        return RegisterSize(bits, needed, bits - needed)
    bits = spec.state_bits
    hi = (1 << (bits - 1)) - 1
    for quantity, value in params.items():
        if abs(int(value)) > hi:
            raise QuantizationError(
                f"node '{node}': {quantity} {show_int(value)} (integer units) does not fit int{bits} "
                f"[{-hi}, {hi}]; use fewer weight bits or more state bits"
            )
    for quantity in ("v", "i"):
        value = quantities[quantity]
        if value <= hi:
            continue
        if spec.overflow == "wrap":
            raise QuantizationError(
                f"node '{node}': calibration shows {quantity} reaching {value}, which does not fit int{bits} "
                f"[{-hi}, {hi}]; with overflow='wrap' it would wrap around; use more state bits, fewer weight "
                "bits or overflow='saturate'"
            )
        warnings.warn(
            f"node '{node}': calibration shows {quantity} reaching {value}, beyond int{bits} [{-hi}, {hi}]; "
            "saturation will clip it", OverflowRiskWarning, stacklevel=3,
        )
    return RegisterSize(bits, needed, bits - needed)


def _what(quantity: str) -> str:
    return {"v": "the calibrated membrane v", "i": "the calibrated current i"}.get(quantity, quantity)
