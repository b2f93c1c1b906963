"""The quantiser: a float :class:`~snncompile.graph.Graph` to a fixed-point :class:`~.qnodes.QGraph`.

    quantize(graph, spec, calib=None, *, seed=0, timesteps=32, batch=16) -> QGraph

Pure (never mutates ``graph``) and deterministic. Steps (docs/quantisation.md has the argument):

1. :func:`.fold.plan_folding` -- which weight-layer channels and neurons share a scale, and the float gains
   (Scale, AvgPool2d) folded into the weights; UnsupportedNodeError for what cannot be folded.
2. :func:`.scales.group_scales` -- one scale ``s`` per group under ``spec.scale_rule``.
3. Lowering, node names and edges unchanged (``round`` = :func:`.scales.round_half_away`, q = 2^(b-1)-1):

       Affine / Linear        -> QDense    W_q = clip(round(W_eff*s), -q, q)  int[out, in], b_q = round(b_eff*s) int32
       Conv1d / Conv2d        -> QConv1d / QConv2d   (same, s per output channel)
       LIF, CubaLIF, IF, LI, CubaLI, I, Threshold -> QNeuron(kind=<type name>)
           threshold_q, v_reset_q, bias_q, v_init_q = round(value*s)   (v_init_q = 0 unless initial_v="v_init")
           v_min_q = round(v_min*s) when the node has a lower clamp (None stays None)
           alpha_q, beta_q = round(decay * 2^D), in 0..2^D   (D = spec.frac_bits)
           Semantics = the float node's, with rounding = spec.rounding, overflow_i = overflow_v = spec.overflow
           out_scale = s (exact when the node has one scale -- always for non-spiking readouts)
       AvgPool2d              -> SumPool2d (its 1/(kh*kw) is in the weights before it)
       Scale                  -> QScale with weight 1 (an identity; its factor is in the weights)
       Input, Output, Flatten, SumPool2d, Delay stay as they are.
4. :mod:`.calibrate` -- float maxima of v, i and the input current on calibration data, times ``s``, size the
   v / i registers (or check ``spec.state_bits``).

Per-layer precision (``spec.layers``, :mod:`.layers`): every node is lowered with its layer's effective spec
(weight_bits of its weight layers, state_bits and frac_bits of its neurons); a scale group's ``q`` is its weight
width's.

The QGraph's metadata gets ``quant_spec`` (``spec.to_dict()``), ``calibration`` (``{"data": ..., "nodes":
{name: {"kind", "scale", "v_max", "i_max", "x_max", "v_bits", "i_bits", "headroom_bits"}}}``, maxima in integer
units) and ``scales`` (the exact scale of every weight layer per output channel and of every neuron, as a
number or a nested list broadcastable to its shape; :func:`node_scale` reads it back).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import QuantizationError
from ..graph import Graph
from ..nodes import Affine, AvgPool2d, Conv1d, Conv2d, Linear, NeuronNode, Node, Scale, SumPool2d
from ..values import index_text
from .advice import threshold_below_one, too_large
from .calibrate import NeuronStats, bits_for, calibrate, register_bits
from .fold import WEIGHT_TYPES, WeightNode, plan_folding
from .layers import group_weight_bits, layer_specs
from .qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, QWeightNode, check_shift_form, min_threshold
from .scales import group_scales, round_half_away, scale_round, show_int, weight_limit
from .spec import QuantSpec

BIAS_BITS = 32
_DECAYS = ("alpha", "beta")
_SCALED = ("threshold", "v_reset", "bias")


def quantize(
    graph: Graph,
    spec: QuantSpec,
    calib: np.ndarray | Mapping[str, np.ndarray] | None = None,
    *,
    seed: int = 0,
    timesteps: int = 32,
    batch: int = 16,
) -> QGraph:
    """Quantise ``graph`` under ``spec`` (see the module docstring).

    calib: calibration inputs ``[T, B, *shape]`` (or ``{input_name: array}``); None uses seeded Bernoulli(0.2)
    spikes of ``timesteps`` x ``batch`` drawn with ``numpy.random.default_rng(seed)``.
    Raises UnsupportedNodeError (what cannot be folded) and QuantizationError (node, quantity, value, limit).
    """
    plan = plan_folding(graph, spec.granularity)
    with np.errstate(over="ignore"):
        weights = {n: f.effective_weight(_weight_node(graph, n)) for n, f in plan.layers.items()}
        biases = {n: f.effective_bias(_weight_node(graph, n)) for n, f in plan.layers.items()}
    for n in plan.layers:  # node constructors hold finite values; their products with the folded gains may not be
        if not (_finite(weights[n]) and np.isfinite(biases[n]).all()):
            raise QuantizationError(f"node '{n}': its weights or bias times the float gains folded into them "
                                    "(Scale, AvgPool2d) overflow float64")
    own = {n: _own_magnitude(graph.nodes[n]) for n in plan.neurons}
    specs = layer_specs(graph, plan, spec)  # per-layer precision: one effective spec per node
    scale_of_group = group_scales(plan, weights, biases, own, spec,
                                  group_weight_bits(plan, specs) if spec.layers else None)
    lowered: dict[str, Node] = {}
    scales: dict[str, Any] = {}
    for name, fold in plan.layers.items():
        s = scale_of_group[fold.groups]
        lowered[name] = lower_weight(name, _weight_node(graph, name), weights.pop(name), biases[name], s,
                                     specs[name])  # popped: each float64 matrix is freed once it is lowered
        scales[name] = _compact(s)
    calibration = calibrate(graph, calib, seed=seed, timesteps=timesteps, batch=batch)
    report: dict[str, Any] = {}
    for name, groups in plan.neurons.items():
        node = graph.nodes[name]
        assert isinstance(node, NeuronNode)
        s = scale_of_group[groups]
        lowered[name], report[name] = lower_neuron(name, node, s, calibration.stats[name], specs[name])
        scales[name] = _compact(s)
    nodes = {name: lowered[name] if name in lowered else _lower_plain(name, node) for name, node in graph.nodes.items()}
    metadata = {
        **graph.metadata,
        "quant_spec": spec.to_dict(),
        "calibration": {"data": calibration.description, "nodes": report},
        "scales": scales,
    }
    return QGraph(nodes, graph.edges, dt=graph.dt, metadata=metadata, spec=spec)


def _finite(a: np.ndarray) -> bool:
    """Every value finite: its max and min are (both propagate NaN), without a matrix-sized bool array."""
    return a.size == 0 or bool(np.isfinite(a.max()) and np.isfinite(a.min()))


def _weight_node(graph: Graph, name: str) -> WeightNode:
    node = graph.nodes[name]
    assert isinstance(node, WEIGHT_TYPES)
    return node


def _own_magnitude(node: Node) -> np.ndarray:
    """max(|threshold|, |v_reset|, |bias|) per neuron: the scale fallback of a neuron without weights."""
    assert isinstance(node, NeuronNode)
    params = node.params()
    mags = [np.abs(np.asarray(params[k], np.float64)) for k in _SCALED if k in params]
    return np.maximum.reduce([np.broadcast_to(m, node.shape) for m in mags]) if mags else np.zeros(node.shape)


def _lower_plain(name: str, node: Node) -> Node:
    if isinstance(node, AvgPool2d):
        return SumPool2d(kernel_size=node.kernel_size, stride=node.stride, padding=node.padding)
    if isinstance(node, Scale):
        return QScale(name=name, weight=np.ones(node.scale.shape, np.int64), bias=0, w_bits=2)
    return node  # Input, Output, Flatten, SumPool2d, Delay: exact on integers


def lower_weight(name: str, node: WeightNode, w_eff: np.ndarray, b_eff: np.ndarray, scale: np.ndarray,
                 spec: QuantSpec) -> QWeightNode:
    """One weight layer: W_q = clip(round(W_eff*s), -q, q), b_q = round(b_eff*s) (must fit int32)."""
    q = weight_limit(spec.weight_bits)
    w_q = scale_round(w_eff, scale.reshape(-1, *([1] * (w_eff.ndim - 1))))
    np.clip(w_q, -q, q, out=w_q)  # a fresh array: clipped in place
    w_q.setflags(write=False)  # handed to the node as is (no copy of a matrix-sized int64 array)
    b_q = scale_round(b_eff, scale)
    limit = (1 << (BIAS_BITS - 1)) - 1
    if b_q.size and np.abs(b_q).max() > limit:
        k = int(np.argmax(np.abs(b_q)))
        head = (f"node '{name}': bias rounds to {show_int(b_q[k])} (b={b_eff[k]:.6g} x scale {scale[k]:.6g}), which "
                f"does not fit int{BIAS_BITS} [{-limit}, {limit}]")
        raise QuantizationError(too_large(head, "the bias", float(b_eff[k]), float(scale[k]), spec, limit))
    common: dict[str, Any] = dict(name=name, weight=w_q, w_bits=spec.weight_bits, b_bits=BIAS_BITS)
    if isinstance(node, (Affine, Linear)):
        return QDense(bias=None if isinstance(node, Linear) else b_q, **common)
    if isinstance(node, Conv1d):
        return QConv1d(bias=b_q, stride=node.stride, padding=node.padding, dilation=node.dilation,
                       groups=node.groups, **common)
    assert isinstance(node, Conv2d)
    return QConv2d(bias=b_q, stride=node.stride, padding=node.padding, dilation=node.dilation,
                   groups=node.groups, **common)


def lower_neuron(name: str, node: NeuronNode, scale: np.ndarray, stats: NeuronStats, spec: QuantSpec
                 ) -> tuple[QNeuron, dict[str, Any]]:
    """One neuron node -> (QNeuron, its calibration report entry). ``scale``: float array of the node's shape."""
    kind = node.type_name
    one = 1 << spec.frac_bits
    params: dict[str, Any] = {}
    for decay in _DECAYS:
        if hasattr(node, decay) and kind not in ("I", "IF"):
            f = np.asarray(getattr(node, decay), np.float64)
            params[decay] = d = round_half_away(f * one)
            if d.size and (d.min() < 0 or d.max() > one):
                k = np.unravel_index(int(np.argmax((d < 0) | (d > one))), d.shape)
                raise QuantizationError(
                    f"node '{name}': {decay}={f[k]:.6g} rounds to {int(d[k])} with frac_bits={spec.frac_bits}, "
                    f"outside 0..{one}; a decay must lie in [0, 1]"
                )
            if spec.rounding == "shift_subtract":
                check_shift_form(name, decay, np.broadcast_to(d, node.shape), spec.frac_bits,
                                 np.broadcast_to(f, node.shape))
    floats = {q: np.asarray(getattr(node, q), np.float64) for q in _SCALED if hasattr(node, q)}
    if kind != "Threshold":
        v_init = np.asarray(node.v_init, np.float64) if node.semantics.initial_v == "v_init" else 0.0
        floats["v_init"] = np.broadcast_to(v_init, node.shape)
    if node.v_min is not None:  # a membrane value: the state scale, rounded as the threshold is
        floats["v_min"] = np.asarray(node.v_min, np.float64)
    params.update({q: scale_round(value, scale) for q, value in floats.items()})
    # threshold 0 is kept only where the float threshold is 0 itself (v > 0 exactly); a positive one that
    # rounds to 0 is a quantisation problem the advice explains
    low = params["threshold"] < 1 if node.SPIKING and kind != "Threshold" else np.zeros(0, bool)
    if low.size and min_threshold(node.semantics) == 0:
        low = low & (floats["threshold"] != 0)
    if low.any():
        k = np.unravel_index(int(np.argmax(low)), node.shape)
        raise QuantizationError(threshold_below_one(name, float(floats["threshold"][k]), float(scale[k]),
                                                    show_int(params["threshold"][k]), spec, f"neuron {index_text(k)}"))
    if spec.state_bits is None:  # fixed state_bits: register_bits names the width that was asked for
        _check_int32(name, floats, params, scale, spec)
    with np.errstate(over="ignore"):  # a saturated maximum still fails the width checks below, with its name
        v_max, i_max, x_max = (int(np.ceil(min(float((a * scale).max(initial=0.0)), 2.0**62)))
                               for a in (stats.v_max, stats.i_max, stats.x_max))
    size = register_bits(
        name, v_max=v_max, i_max=i_max,
        params={q: int(np.abs(params[q]).max(initial=0)) for q in ("threshold", "v_reset", "bias", "v_init", "v_min")
                if q in params},
        spec=spec,
    )
    semantics = node.semantics.with_(rounding=spec.rounding, overflow_i=spec.overflow, overflow_v=spec.overflow)
    qnode = QNeuron(
        name=name, kind=kind, shape=node.shape, semantics=semantics, frac_bits=spec.frac_bits,
        i_bits=size.bits, v_bits=size.bits, out_scale=_typical(scale), **params,
    )
    entry = {
        "kind": kind, "scale": _summary(scale), "v_max": v_max, "i_max": i_max, "x_max": x_max,
        "v_bits": size.bits, "i_bits": size.bits, "headroom_bits": size.headroom,
    }
    return qnode, entry


def _check_int32(name: str, floats: dict[str, np.ndarray], ints: dict[str, np.ndarray], scale: np.ndarray,
                 spec: QuantSpec) -> None:
    """threshold, v_reset, bias and v_init must fit the widest register (int32); else say why and what would."""
    limit = (1 << 31) - 1
    for quantity, value in ints.items():
        if quantity in floats and value.size and np.abs(value).max() > limit:
            k = np.unravel_index(int(np.argmax(np.abs(value))), value.shape)
            big = int(value[k])
            head = (f"node '{name}': {quantity} reaches {show_int(big)} in integer units, which needs "
                    f"int{bits_for(abs(big))}; the widest register is int32 (max {limit})")
            raise QuantizationError(too_large(head, f"the {quantity}", float(floats[quantity][k]), float(scale[k]),
                                              spec, limit))


def _typical(scale: np.ndarray) -> float:
    """The node's scale when it has one; else the geometric mean (per-neuron values are in metadata['scales'])."""
    flat = scale.reshape(-1)
    if flat.size == 0 or np.all(flat == flat[0]):
        return float(flat[0]) if flat.size else 1.0
    return float(np.exp(np.mean(np.log(flat))))


def _summary(scale: np.ndarray) -> float | dict[str, float]:
    flat = scale.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return {"min": float(flat.min(initial=np.inf)), "max": float(flat.max(initial=0.0))}


def _compact(a: np.ndarray) -> float | list[Any]:
    """``a`` as a float when uniform, else a nested list with every constant axis reduced to length 1."""
    flat = a.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    for axis in range(a.ndim):
        first = a.take([0], axis=axis)
        if np.array_equal(a, np.broadcast_to(first, a.shape)):
            a = first
    return a.astype(np.float64).tolist()


def node_scale(qgraph: QGraph, name: str) -> np.ndarray:
    """The exact float scale of a quantised node: per neuron (its shape) or per weight-layer output channel."""
    try:
        value = qgraph.metadata["scales"][name]
    except KeyError:
        raise QuantizationError(f"node '{name}': no scale recorded (was the QGraph made by quantize?)") from None
    node = qgraph.nodes[name]
    shape = node.shape if isinstance(node, QNeuron) else (int(node.weight.shape[0]),)  # type: ignore[attr-defined]
    return np.broadcast_to(np.asarray(value, np.float64), shape)


def dequantize_state(qnode: QNeuron, ints: np.ndarray, scale: np.ndarray | float | None = None) -> np.ndarray:
    """Float values of integer states or readouts: ``ints / scale`` (default ``qnode.out_scale``).

    Pass ``scale=node_scale(qgraph, name)`` for a node with per-neuron scales; ``ints`` broadcast as
    ``[..., *shape]``.
    """
    return np.asarray(ints, np.float64) / (qnode.out_scale if scale is None else np.asarray(scale, np.float64))
