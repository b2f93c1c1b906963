"""quantize_for_loihi: a float Graph in Loihi's register encodings (a QGraph every loihi rule accepts).

    quantize_for_loihi(graph, calib=None, *, seed=0) -> QGraph

This changes the model's timing to Loihi's (the ``loihi`` Semantics preset): one step of synapse delay per
weight layer, reset to zero, strict ``v > theta``, every neuron a CubaLIF (LIF and IF have alpha = 0, IF has
beta = 1), a weight-layer bias moved into the bias of the neurons it feeds. A network trained with another
convention (snnTorch: subtract reset, no delay) behaves differently; :func:`loihi_float_graph` is the float
model with Loihi's timing, so the quantisation error and the timing change can be measured separately.

Steps (docs/loihi.md has the argument):

1. :func:`loihi_float_graph`, then :func:`snncompile.quant.fold.plan_folding` on it: the scale groups (neurons
   and weight-layer channels sharing one scale ``s``; v_int = s * v_float) and the folded float weights.
2. Calibration (:func:`snncompile.quant.calibrate.calibrate` on the Loihi-timing float model) gives per neuron
   the float maxima of v, i (= u) and the input x. Per group, the largest scale the registers allow::

       cap = min( 131071 * 64 / theta          vth = theta*s/64 fits 17 bits
                  (2^23 - 1) / 2^h / max(v, u)  u and v stay in 24 bits, h = headroom_bits
                  32767 * 64 / 2^h / x          a_in = x*s/64 fits the 16-bit dendritic input
                  4095 * 2^7 / |bias| )         bias fits bias_mant << bias_exp

3. Per weight layer, one ``weight_exp`` e (-8..7): the smallest with M * 2^(e+6) >= cap * max|W| for every
   channel (M = 254 mixed-sign, 255 single-sign); then s = min(cap, M * 2^(e+6) / max|W_channel|) per group.
4. Encodings: w = round(s * W / 2^(e+6)) (mixed sign: to the nearest even value, Lava's rule), clipped to the
   sign mode's range; vth = round(theta*s/64); bias = round(b*s) as bias_mant << bias_exp (smallest exponent);
   du = 4095 - round(alpha*4096) (alpha < 1 rounds to at most 4095/4096); dv = 4096 - round(beta*4096) (beta > 0
   rounds to at least 1/4096). A value that cannot be represented raises QuantizationError naming node and value.

``netx=True`` (what ``export --target loihi`` uses) keeps to what Lava's processes and lava-dl netx's HDF5 format
(:mod:`.netx`) can hold, so mapping.json and network.net describe one network: one scale per neuron layer
(granularity "tensor": Lava's LIF takes one vth, du, dv per layer), weight_exp 0 on every layer (netx derives the
exponent from the weight matrix itself and stores weights as 9-bit integers), and biases on multiples of 64
(netx's fixed bias_exp 6, so the bias cap uses 4095 * 2^6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from snncompile.graph import Graph
from snncompile.nodes import IF, LIF, Affine, Conv1d, Conv2d, CubaLIF, Flatten, Input, Linear, Node, Output, Scale
from snncompile.pages import small_pages
from snncompile.quant.calibrate import calibrate
from snncompile.quant.fold import chains_into, plan_folding
from snncompile.quant.qnodes import QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale
from snncompile.quant.scales import round_half_away
from snncompile.reference import apply_stateless
from snncompile.semantics import PRESETS

from .pooling import fold_pools
from .registers import (
    BIAS_EXP_RANGE,
    BIAS_MANT_RANGE,
    DECAY_MAX,
    DENDRITE_BITS,
    FRAC_BITS,
    INPUT_SHIFT,
    NETX_BIAS_EXP,
    STATE_BITS,
    VTH_RANGE,
    WEIGHT_EXP_RANGE,
    lava_weights,
    num_weight_bits,
    sign_mode_of,
)
from .rules import LoihiRuleError, LoihiUnsupportedError

__all__ = ["lava_weights", "loihi_float_graph", "quantize_for_loihi"]

NEURON_TYPES = (LIF, CubaLIF, IF)
WEIGHT_TYPES = (Affine, Linear, Conv1d, Conv2d)
PLAIN_TYPES = (Input, Output, Flatten, Scale)
_CHANGED_FIELDS = ("compare", "reset", "timing", "synapse_delay", "spikes", "synapse_order")


def _check_types(graph: Graph) -> None:
    for name, node in graph.nodes.items():
        if not isinstance(node, (*NEURON_TYPES, *WEIGHT_TYPES, *PLAIN_TYPES)):
            raise LoihiUnsupportedError(
                "loihi_layer_types",
                f"node '{name}' ({node.type_name}): quantize_for_loihi takes LIF, CubaLIF and IF neurons, "
                "Affine / Linear / Conv1d / Conv2d weights, Flatten and Scale"
            )


def _bias_into(graph: Graph, neuron: str) -> np.ndarray:
    """The float bias reaching ``neuron`` from the biases of the weight layers feeding it (through Flatten/Scale)."""
    total = np.zeros(graph.shapes[neuron])
    for chain in chains_into(graph, neuron):
        layer = graph.nodes[chain[0]]
        if not isinstance(layer, (Affine, Conv1d, Conv2d)) or not np.any(layer.bias):
            continue
        shape = graph.shapes[chain[0]]
        x = torch.from_numpy(np.broadcast_to(np.asarray(layer.bias, np.float64).reshape(-1, *([1] * (len(shape) - 1))),
                                             shape).copy())[None]
        for t in chain[1:-1]:
            x = apply_stateless(graph.nodes[t], x)
        total = total + x[0].numpy().reshape(total.shape)
    return total


def loihi_float_graph(graph: Graph) -> Graph:
    """``graph`` with Loihi's timing (module docstring); node names and edges unchanged.

    metadata["loihi_semantics_changed"] lists, per neuron, the Semantics fields that changed (old, new).
    """
    _check_types(graph)
    nodes: dict[str, Node] = {}
    changed: dict[str, dict[str, list[Any]]] = {}
    for name, node in graph.nodes.items():
        if isinstance(node, NEURON_TYPES):
            sem = node.semantics
            if node.v_min is not None:
                raise LoihiUnsupportedError("loihi_no_v_min", f"node '{name}': v_min (a lower membrane clamp, min "
                                           f"{float(np.min(node.v_min)):.6g}) cannot be represented: Loihi's CUBA "
                                           "neuron has no lower bound on v")
            if sem.spikes != "binary":
                raise LoihiUnsupportedError(
                    "loihi_binary_spikes",
                    f"node '{name}' ({node.type_name}): spikes={sem.spikes!r} (up to {sem.spike_cap} per step); "
                    "a Loihi LIF sends at most one spike per step (use a single-spike neuron)")
            if sem.reset == "zero" and np.any(np.asarray(node.v_reset) != 0):
                k = np.unravel_index(int(np.argmax(np.asarray(node.v_reset) != 0)), node.shape)
                raise LoihiRuleError("loihi_reset_to_zero", 
                    f"node '{name}': v_reset {float(np.asarray(node.v_reset)[k]):.6g} at {tuple(map(int, k))} "
                    "cannot be represented: Loihi resets v to 0"
                )
            target = PRESETS["loihi"].with_(initial_v=sem.initial_v)
            diff = {f: [getattr(sem, f), getattr(target, f)] for f in _CHANGED_FIELDS
                    if getattr(sem, f) != getattr(target, f)}
            if diff:
                changed[name] = diff
            params = node.params()
            nodes[name] = CubaLIF(
                shape=node.shape, semantics=target,
                alpha=np.asarray(params.get("alpha", 0.0), np.float64), beta=np.asarray(params.get("beta", 1.0)),
                threshold=node.threshold, v_reset=np.zeros(()), bias=np.asarray(node.bias) + _bias_into(graph, name),
                v_init=node.v_init,
            )
        elif isinstance(node, Affine):
            nodes[name] = Linear(weight=node.weight)
        elif isinstance(node, (Conv1d, Conv2d)):
            nodes[name] = type(node)(**{**node.params(), "bias": np.zeros_like(node.bias)})
        else:
            nodes[name] = node
    return Graph(nodes, graph.edges, dt=graph.dt, metadata={**graph.metadata, "loihi_semantics_changed": changed})


def _caps(name: str, node: CubaLIF, stats: Any, headroom: int, bias_exp_max: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """The largest scale each neuron's registers allow, and which limit set it (index into _CAP_NAMES)."""
    theta = np.broadcast_to(np.asarray(node.threshold, np.float64), node.shape)
    if np.any(theta < 0):
        k = np.unravel_index(int(np.argmax(theta < 0)), node.shape)
        raise LoihiRuleError("loihi_threshold",
                             f"node '{name}': threshold {theta[k]:.6g} at {tuple(map(int, k))} must be >= 0 "
                                "(Loihi's vth is unsigned)")
    room = 2.0 ** -headroom

    def limit(num: float, den: np.ndarray) -> np.ndarray:
        den = np.broadcast_to(np.abs(np.asarray(den, np.float64)), node.shape)
        with np.errstate(divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)

    caps = np.stack([
        limit(VTH_RANGE[1] * 2.0 ** INPUT_SHIFT, theta),
        limit(((1 << (STATE_BITS - 1)) - 1) * room, np.maximum(stats.v_max, stats.i_max)),
        limit(((1 << (DENDRITE_BITS - 1)) - 1) * 2.0 ** INPUT_SHIFT * room, stats.x_max),
        limit(BIAS_MANT_RANGE[1] * 2.0 ** bias_exp_max, np.asarray(node.bias)),
    ])
    return caps.min(axis=0), caps.argmin(axis=0)


_CAP_NAMES = ("threshold (17-bit vth)", "state (24-bit u, v)", "dendritic input (16-bit a_in)", "bias (13+3 bits)",
              "weight mantissas (8 bits at the layer's weight_exp)")


def _weight_exp(cap: np.ndarray, theta: np.ndarray, m: np.ndarray, top: int) -> int:
    """The weight_exp in -8..7 with the smallest mean predicted error over the layer's channels (module docstring).

    cap, theta, m: per output channel, the group's scale cap, its smallest threshold and max |W|.
    """
    live = (m > 0) & np.isfinite(cap) & (theta > 0)  # a threshold of 0 stays 0 at every exponent
    if not live.any():
        return 0
    cap, theta, m = cap[live], theta[live], m[live]
    best: tuple[float, int] | None = None
    for e in range(WEIGHT_EXP_RANGE[0], WEIGHT_EXP_RANGE[1] + 1):
        s = np.minimum(cap, top * 2.0 ** (e + INPUT_SHIFT) / m)
        vth = theta * s / 2.0 ** INPUT_SHIFT
        if vth.min() < 1.0:
            continue
        err = float(np.mean((0.5 * 2.0 ** e + (1.0 if e < 0 else 0.0) + 0.5) / vth))
        if best is None or err <= best[0]:
            best = (err, e)
    return WEIGHT_EXP_RANGE[1] if best is None else best[1]


def _step(mode: str, bits: int) -> int:
    """The spacing of ``bits``-bit Lava mantissas under ``mode`` (Lava clears 8 - bits (+1 if mixed) low bits)."""
    return 1 << (8 - bits + (1 if mode == "mixed" else 0))


def _mantissas(w: np.ndarray, mode: str, bits: int = 8, *, scale: np.ndarray | float | None = None) -> np.ndarray:
    """Round scaled float weights ``scale * w`` (``w`` when ``scale`` is None; it broadcasts against ``w``) to
    ``bits``-bit Loihi mantissas valid under ``mode`` (Lava's clip and truncation: 8 bits mixed are even values in
    [-256, 254]). ``w`` is not changed."""
    step = _step(mode, bits)
    lo, hi = {"mixed": (-256, 256 - step), "excitatory": (0, 256 - step), "inhibitory": (-(256 - step), 0)}[mode]
    # step * round_half_away(scale * w / step), clipped to [lo, hi], on one float and one int array (millions of
    # weights). step is a power of two, so scale * w / step == w * (scale / step): scaling by 2^k commutes with
    # rounding (in the subnormal range, where it may not, every value rounds to 0 either way), and the product is
    # the one pass over the weights. round_half_away(x) = sign(x) * floor(|x| + 0.5) (== trunc(x + copysign(0.5,
    # x)): negation is exact; -0.0 rounds to 0), computed on |x| with the sign in a boolean mask; |x| is limited
    # to 1024 first (any larger value clips to the same bound, step >= 1), and the int cast of |x| + 0.5 > 0 is its
    # floor
    factor = 1.0 / step if scale is None else np.asarray(scale, np.float64) / step
    x = np.multiply(w, factor, dtype=np.float64)
    negative = x < 0
    np.abs(x, out=x)
    np.minimum(x, 1024.0, out=x)
    x += 0.5
    q = x.astype(np.int64)
    np.negative(q, out=q, where=negative)
    if step != 1:
        q *= step
    return np.clip(q, lo, hi, out=q)


def _row_abs_max(w: np.ndarray) -> np.ndarray:
    """max |w| per output channel (0.0 for an empty row), without an |w| copy: the larger of max(w) and -min(w)."""
    rows = w.reshape(w.shape[0], -1)
    return np.maximum(rows.max(axis=1, initial=0.0), -rows.min(axis=1, initial=0.0))


def _split_scaled_bias(name: str, b: np.ndarray, netx: bool = False) -> np.ndarray:
    """round(b) (float, already scaled) as bias_mant << bias_exp with the smallest exponent (netx: exponent 6)."""
    out = np.zeros(b.shape, np.int64)
    done = np.zeros(b.shape, bool)
    exps = [NETX_BIAS_EXP] if netx else range(BIAS_EXP_RANGE[0], BIAS_EXP_RANGE[1] + 1)
    for e in exps:
        m = round_half_away(b / 2.0 ** e)
        ok = ~done & (m >= BIAS_MANT_RANGE[0]) & (m <= BIAS_MANT_RANGE[1])
        out = np.where(ok, m << e, out)
        done |= ok
    if not done.all():
        k = np.unravel_index(int(np.argmax(~done)), b.shape)
        top = BIAS_MANT_RANGE[1] << (NETX_BIAS_EXP if netx else BIAS_EXP_RANGE[1])
        raise LoihiRuleError("loihi_bias_range",
                             f"node '{name}': bias {b[k]:.6g} (integer units) does not fit bias_mant << bias_exp "
                                f"(at most {top})")
    return out


def _decay(name: str, what: str, value: np.ndarray, lo: int, hi: int) -> np.ndarray:
    v = np.asarray(value, np.float64)
    if np.any((v < 0) | (v > 1)):
        k = np.unravel_index(int(np.argmax((v < 0) | (v > 1))), v.shape)
        raise LoihiRuleError("loihi_decay_range",
                             f"node '{name}': {what}={v[k]:.6g} is outside [0, 1]; Loihi's decays cannot hold it")
    return np.clip(round_half_away(v * (1 << FRAC_BITS)), lo, hi)


@small_pages()
def quantize_for_loihi(graph: Graph, calib: np.ndarray | Mapping[str, np.ndarray] | None = None, *, seed: int = 0,
                       granularity: str = "channel", headroom_bits: int = 1, timesteps: int = 32,
                       batch: int = 16, netx: bool = False, weight_bits: int = 8) -> QGraph:
    """Encode ``graph`` for Loihi (module docstring); calib / seed / timesteps / batch as in ``quantize``.

    ``netx``: only encodings Lava's processes and netx's HDF5 hold (module docstring); granularity becomes "tensor".
    ``weight_bits``: Lava's num_weight_bits, 1..8 (mantissas on a coarser grid below 8).
    """
    if not 1 <= weight_bits <= 8:
        raise LoihiRuleError("loihi_weight_bits", f"weight bits {weight_bits}: Loihi's weight mantissas have 1..8 bits")
    if netx:
        granularity = "tensor"
    fg = loihi_float_graph(fold_pools(graph))
    plan = plan_folding(fg, granularity)
    calibration = calibrate(fg, calib, seed=seed, timesteps=timesteps, batch=batch)
    cap = np.full(plan.n_groups, np.inf)
    theta = np.full(plan.n_groups, np.inf)
    bound: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, groups in plan.neurons.items():
        node = fg.nodes[name]
        assert isinstance(node, CubaLIF)
        c, which = _caps(name, node, calibration.stats[name], headroom_bits,
                         NETX_BIAS_EXP if netx else BIAS_EXP_RANGE[1])
        np.minimum.at(cap, groups.reshape(-1), c.reshape(-1))
        np.minimum.at(theta, groups.reshape(-1), np.broadcast_to(np.asarray(node.threshold, np.float64),
                                                                 node.shape).reshape(-1))
        bound[name] = (c, which)
    weights, exps, modes, tops, maxima = {}, {}, {}, {}, {}
    for name, fold in plan.layers.items():
        w = fold.effective_weight(fg.nodes[name])  # type: ignore[arg-type]
        modes[name] = sign_mode_of(w)
        tops[name] = 256 - _step(modes[name], weight_bits)
        maxima[name] = m = _row_abs_max(w)
        weights[name] = w
        exps[name] = 0 if netx else _weight_exp(cap[fold.groups], theta[fold.groups], m, tops[name])
    scale = cap.copy()
    for name, fold in plan.layers.items():
        m = maxima[name]
        with np.errstate(divide="ignore"):
            limit = np.where(m > 0, tops[name] * 2.0 ** (exps[name] + INPUT_SHIFT) / np.where(m > 0, m, 1.0), np.inf)
        np.minimum.at(scale, fold.groups, limit)
    scale = np.where(np.isfinite(scale), scale, 1.0)
    lowered: dict[str, Node] = {}
    report: dict[str, Any] = {"weights": {}, "neurons": {}}
    scales: dict[str, Any] = {}
    for name, fold in plan.layers.items():
        s = scale[fold.groups].reshape(-1, *([1] * (weights[name].ndim - 1)))
        # == _mantissas(s * W / 2^(e+6)): the power-of-two divisor folded into the per-channel factor (_mantissas)
        mant = _mantissas(weights[name], modes[name], weight_bits, scale=s / 2.0 ** (exps[name] + INPUT_SHIFT))
        node = fg.nodes[name]
        common: dict[str, Any] = dict(name=name, weight=mant, w_bits=9, shift=exps[name])
        if isinstance(node, Linear):
            lowered[name] = QDense(**common)
        elif isinstance(node, Conv1d):
            lowered[name] = QConv1d(stride=node.stride, padding=node.padding, dilation=node.dilation,
                                    groups=node.groups, **common)
        else:
            assert isinstance(node, Conv2d)
            lowered[name] = QConv2d(stride=node.stride, padding=node.padding, dilation=node.dilation,
                                    groups=node.groups, **common)
        report["weights"][name] = {"weight_exp": exps[name], "sign_mode": sign_mode_of(mant),
                                   "num_weight_bits": num_weight_bits(mant)}
        scales[name] = _compact(scale[fold.groups])
    for name, groups in plan.neurons.items():
        node = fg.nodes[name]
        assert isinstance(node, CubaLIF)
        s = scale[groups]
        lowered[name], report["neurons"][name] = _lower_neuron(name, node, s, bound[name], calibration.stats[name],
                                                               netx)
        scales[name] = _compact(s)
    nodes = {n: lowered.get(n, _plain(n, nd)) for n, nd in fg.nodes.items()}
    metadata = {
        **graph.metadata,
        "quant_target": "loihi",
        "quant_spec": {"target": "loihi", "granularity": granularity, "headroom_bits": headroom_bits, "netx": netx,
                       "weight_bits": weight_bits},
        "calibration": {"data": calibration.description, "nodes": report["neurons"]},
        "scales": scales,
        "loihi": {"weights": report["weights"], "semantics_changed": fg.metadata["loihi_semantics_changed"]},
    }
    return QGraph(nodes, fg.edges, dt=fg.dt, metadata=metadata)


def _lower_neuron(name: str, node: CubaLIF, s: np.ndarray, bound: tuple[np.ndarray, np.ndarray], stats: Any,
                  netx: bool = False) -> tuple[QNeuron, dict[str, Any]]:
    """The QNeuron of one node at scales ``s``; bound = (own cap, which cap) per neuron, for the report."""
    theta = np.broadcast_to(np.asarray(node.threshold, np.float64), node.shape)
    vth = round_half_away(theta * s / 2.0 ** INPUT_SHIFT)
    bad = (vth < VTH_RANGE[0]) | (vth > VTH_RANGE[1]) | ((vth == 0) & (theta > 0))  # only a 0 stays 0
    if bad.any():
        k = np.unravel_index(int(np.argmax(bad)), node.shape)
        raise LoihiRuleError("loihi_vth_range", 
            f"node '{name}': threshold {theta[k]:.6g} x scale {s[k]:.6g} gives vth {int(vth[k])}, outside "
            f"{VTH_RANGE[0] if theta[k] == 0 else 1}..{VTH_RANGE[1]}; the weights are too large relative to the "
            "threshold for 8-bit mantissas"
            + (" with weight_exp 0 (netx)" if netx else f" with weight_exp >= {WEIGHT_EXP_RANGE[0]}")
        )
    bias = _split_scaled_bias(name, np.broadcast_to(np.asarray(node.bias, np.float64), node.shape) * s, netx)
    v_init = np.asarray(node.v_init, np.float64) if node.semantics.initial_v == "v_init" else np.zeros(node.shape)
    qnode = QNeuron(
        name=name, kind="CubaLIF", shape=node.shape, semantics=node.semantics,
        alpha=_decay(name, "alpha", node.alpha, 0, DECAY_MAX), beta=_decay(name, "beta", node.beta, 1, DECAY_MAX + 1),
        threshold=vth << INPUT_SHIFT, v_reset=0, bias=bias, v_init=round_half_away(v_init * s), i_init=0,
        input_shift=INPUT_SHIFT, frac_bits=FRAC_BITS, i_bits=STATE_BITS, v_bits=STATE_BITS,
        out_scale=float(np.exp(np.mean(np.log(s)))) if s.size else 1.0,
    )
    cap, which = bound
    which = np.where(s < cap * (1 - 1e-9), len(_CAP_NAMES) - 1, which)  # below its own cap: the weights set it
    counts = np.bincount(which.reshape(-1), minlength=len(_CAP_NAMES))
    entry = {
        "kind": "CubaLIF", "scale": _summary(s),
        "v_max": _int_max(stats.v_max * s), "i_max": _int_max(stats.i_max * s), "x_max": _int_max(stats.x_max * s),
        "a_in_max": _int_max(stats.x_max * s / 2.0 ** INPUT_SHIFT),
        "scale_limited_by": _CAP_NAMES[int(np.argmax(counts))], "v_bits": STATE_BITS, "i_bits": STATE_BITS,
    }
    return qnode, entry


def _plain(name: str, node: Node) -> Node:
    if isinstance(node, Scale):  # its factor is folded into the weights (plan_folding): an identity remains
        return QScale(name=name, weight=np.ones(node.scale.shape, np.int64), bias=0, w_bits=2)
    return node


def _int_max(a: np.ndarray) -> int:
    return int(np.ceil(float(np.max(a, initial=0.0))))


def _summary(s: np.ndarray) -> float | dict[str, float]:
    flat = s.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return float(flat[0])
    return {"min": float(flat.min(initial=np.inf)), "max": float(flat.max(initial=0.0))}


def _compact(a: np.ndarray) -> float | list[Any]:
    """A scale array as a float when uniform, else as a nested list (read back by quantize.node_scale)."""
    flat = a.reshape(-1)
    return float(flat[0]) if flat.size and np.all(flat == flat[0]) else a.astype(np.float64).tolist()
