"""One NIR node (as a dict read from HDF5) -> one snncompile IR node.

Stateless nodes map field by field (an Affine without a bias, or with a 0-d one,
gets a zero / broadcast bias). Neuron nodes are discretised (:mod:`.discretize`)
under the source convention's :class:`~.conventions.Rule` for their type (gain
rule, decay, unit of the written time constants) and get its Semantics (another
one for a neuron on a cycle, when the convention says so); their input gain is
returned separately so the reader can fold it into the preceding weights.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import nodes as ir
from ..errors import GraphError, UnsupportedNodeError
from ..semantics import Semantics
from . import discretize
from .conventions import Convention, Rule

NEURON_TYPES = ("Threshold", "I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
SUPPORTED = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
    "Delay", *NEURON_TYPES,
)


def _get(name: str, data: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in data:
        return data[key]
    if default is not None:
        return default
    raise GraphError(f"node '{name}' ({data.get('type')}): missing parameter '{key}'")


def _arr(name: str, data: dict[str, Any], key: str, default: Any = None) -> np.ndarray:
    return np.asarray(_get(name, data, key, default))


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in np.asarray(value).reshape(-1))


def _conv_padding(name: str, padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...], stride: tuple[int, ...]):
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * len(kernel)
        if padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            if any(t % 2 for t in total) or any(s != 1 for s in stride):
                raise UnsupportedNodeError(
                    f"node '{name}': padding 'same' needs stride 1 and an odd dilated kernel, got kernel {kernel}, "
                    f"dilation {dilation}, stride {stride}"
                )
            return tuple(t // 2 for t in total)
        raise GraphError(f"node '{name}': padding {padding!r} is not 'same', 'valid' or integers")
    pad = _shape(padding)
    return pad * len(kernel) if len(pad) == 1 else pad


def _conv(name: str, data: dict[str, Any], dims: int) -> ir.Node:
    weight = _arr(name, data, "weight")
    if weight.ndim != dims + 2:
        raise GraphError(f"node '{name}' (Conv{dims}d): weight must have {dims + 2} dims, got {weight.shape}")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _shape(_get(name, data, "stride", 1)) or (1,)
    dilation = _shape(_get(name, data, "dilation", 1)) or (1,)
    stride = stride * dims if len(stride) == 1 else stride
    dilation = dilation * dims if len(dilation) == 1 else dilation
    padding = _conv_padding(name, _get(name, data, "padding", 0), kernel, dilation, stride)
    bias = _arr(name, data, "bias", np.zeros(weight.shape[0], weight.dtype))
    if bias.ndim == 0:
        bias = np.full(weight.shape[0], bias, weight.dtype)
    groups = int(_get(name, data, "groups", 1))
    raw_in = data.get("input_shape")
    in_shape = _shape(raw_in) if raw_in is not None and np.asarray(raw_in).size else None
    if dims == 1:
        return ir.Conv1d(weight=weight, bias=bias, stride=stride[0], padding=padding[0], dilation=dilation[0],
                         groups=groups, input_shape=in_shape)
    return ir.Conv2d(weight=weight, bias=bias, stride=(stride[0], stride[1]), padding=(padding[0], padding[1]),
                     dilation=(dilation[0], dilation[1]), groups=groups,
                     input_shape=(in_shape[0], in_shape[1]) if in_shape else None)


def _delay_steps(name: str, delay: np.ndarray, dt: float) -> np.ndarray:
    steps = np.asarray(delay, np.float64) / dt
    rounded = np.rint(steps)
    if (np.abs(steps - rounded) > 1e-6 * np.maximum(1.0, np.abs(steps))).any() or (rounded < 0).any():
        raise GraphError(f"node '{name}' (Delay): delays {delay.min():g}..{delay.max():g} s are not whole steps of "
                         f"dt={dt:g} s")
    return rounded.astype(np.int64)


def convert_node(
    name: str, data: dict[str, Any], conv: Convention, dt: float, method: str | None, *, recurrent: bool = False
) -> tuple[ir.Node, np.ndarray | None]:
    """The IR node for one NIR node, and its input gain (None when exactly 1).

    method: "euler"/"exact", or None for the convention's rule of that neuron type (default Euler);
    recurrent: the node lies on a cycle (some conventions step such neurons differently).
    """
    kind = data.get("type")
    if kind not in SUPPORTED:
        raise UnsupportedNodeError(
            f"node '{name}': unknown NIR node type {kind!r}; supported: {', '.join(SUPPORTED)}"
        )
    if kind == "Input":
        return ir.Input(shape=_shape(_get(name, data, "shape"))), None
    if kind == "Output":
        return ir.Output(shape=_shape(data["shape"]) if "shape" in data else None), None
    if kind == "Affine":
        weight = _arr(name, data, "weight")
        bias = _arr(name, data, "bias", np.zeros(weight.shape[:1], weight.dtype))
        return ir.Affine(weight=weight, bias=np.broadcast_to(bias, weight.shape[:1]) if bias.ndim == 0 else bias), None
    if kind == "Linear":
        return ir.Linear(weight=_arr(name, data, "weight")), None
    if kind == "Scale":
        return ir.Scale(scale=_arr(name, data, "scale")), None
    if kind in ("Conv1d", "Conv2d"):
        return _conv(name, data, 1 if kind == "Conv1d" else 2), None
    if kind in ("SumPool2d", "AvgPool2d"):
        cls = ir.SumPool2d if kind == "SumPool2d" else ir.AvgPool2d
        kernel = _get(name, data, "kernel_size")
        return cls(kernel_size=kernel, stride=_get(name, data, "stride", kernel),
                   padding=_get(name, data, "padding", 0)), None
    if kind == "Flatten":
        raw_in = data.get("input_type")
        in_shape = _shape(raw_in["input"] if isinstance(raw_in, dict) else raw_in) if raw_in is not None else None
        return ir.Flatten(start_dim=int(_get(name, data, "start_dim", 0) or 0),
                          end_dim=int(_get(name, data, "end_dim", -1)), input_shape=in_shape or None), None
    if kind == "Delay":
        return ir.Delay(delay=_delay_steps(name, _arr(name, data, "delay"), dt)), None
    if kind in conv.unsupported:
        raise UnsupportedNodeError(f"node '{name}' ({kind}): not supported under --from {conv.name}: "
                                   f"{conv.unsupported[kind]}")
    rule = conv.rule_for(kind)
    return _neuron(name, data, kind, conv.semantics_for(kind, recurrent), dt, method or rule.decay or "euler", rule)


def _tau(name: str, data: dict[str, Any], key: str, rule: Rule, dt: float) -> np.ndarray:
    tau = _arr(name, data, key)
    return tau / dt if rule.tau_unit == "dt" else tau


def _neuron(
    name: str, data: dict[str, Any], kind: str, sem: Semantics, dt: float, method: str, rule: Rule
) -> tuple[ir.Node, np.ndarray | None]:
    if kind == "Threshold":
        theta = _arr(name, data, "threshold")
        return ir.Threshold(shape=theta.shape, threshold=theta, semantics=sem), None
    if kind in ("I", "IF"):
        r = _arr(name, data, "r")
        d = discretize.integrator(r, dt, rule.gain)
        if kind == "I":
            return ir.I(shape=r.shape, semantics=sem), d.gain
        theta = _arr(name, data, "v_threshold")
        v_reset = _arr(name, data, "v_reset", np.zeros_like(theta))
        return ir.IF(shape=theta.shape, threshold=theta, v_reset=v_reset, semantics=sem), d.gain
    v_leak = _arr(name, data, "v_leak")
    shape = v_leak.shape
    if kind in ("LI", "LIF"):
        d = discretize.leaky(name, _tau(name, data, "tau", rule, dt), _arr(name, data, "r"), v_leak, dt, method,
                             rule.gain)
    else:
        d = discretize.cuba(name, _tau(name, data, "tau_syn", rule, dt), _tau(name, data, "tau_mem", rule, dt),
                            _arr(name, data, "r"), v_leak, _arr(name, data, "w_in", np.ones_like(v_leak)), dt,
                            method, rule.gain)
    common: dict[str, Any] = {"shape": shape, "beta": d.beta, "bias": d.bias, "v_init": v_leak, "semantics": sem}
    if kind == "LI":
        return ir.LI(**common), d.gain
    if kind == "CubaLI":
        return ir.CubaLI(alpha=d.alpha, **common), d.gain  # type: ignore[arg-type]
    theta = _arr(name, data, "v_threshold")
    v_reset = _arr(name, data, "v_reset", np.zeros_like(theta))
    if kind == "LIF":
        return ir.LIF(threshold=theta, v_reset=v_reset, **common), d.gain
    return ir.CubaLIF(alpha=d.alpha, threshold=theta, v_reset=v_reset, **common), d.gain  # type: ignore[arg-type]


def node_from_snncompile_meta(name: str, data: dict[str, Any]) -> ir.Node:
    """A neuron or Delay node exactly as snncompile wrote it (``sc.*`` node metadata)."""
    meta = data.get("metadata", {})
    kind = data["type"]
    if kind == "Delay":
        return ir.Delay(delay=np.asarray(meta["sc.delay"]))
    try:
        sem = Semantics.from_dict(json.loads(meta["sc.semantics"]))
        cls = ir.NODE_TYPES[kind]
        fields = {key[3:]: np.asarray(val) for key, val in meta.items() if key.startswith("sc.") and key not in
                  ("sc.semantics", "sc.shape")}
        shape = tuple(int(s) for s in np.asarray(meta["sc.shape"]).reshape(-1))
    except KeyError as err:
        raise GraphError(f"node '{name}': snncompile metadata lacks {err}") from None
    return cls(shape=shape, semantics=sem, **fields)  # type: ignore[call-arg]
