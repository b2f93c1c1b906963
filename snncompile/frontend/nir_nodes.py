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
from ..errors import GraphError, ParameterError, UnsupportedNodeError
from ..semantics import Semantics
from ..values import number_problem, whole_problem, whole_tuple, whole_tuple_problem
from . import discretize
from .conventions import Convention, Rule

NEURON_TYPES = ("Threshold", "I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
SUPPORTED = (
    "Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
    "Delay", *NEURON_TYPES,
)
#: continuous parameters that may be infinite: no decay (tau = inf), and the gains written with it (r = tau/dt)
INFINITE_OK = ("tau", "tau_syn", "tau_mem", "r", "w_in")


def _get(name: str, data: dict[str, Any], key: str, default: Any = None) -> Any:
    if key in data:
        return data[key]
    if default is not None:
        return default
    raise GraphError(f"node '{name}' ({data.get('type')}): missing parameter '{key}'")


def _arr(name: str, data: dict[str, Any], key: str, default: Any = None) -> np.ndarray:
    """A parameter as an array of real numbers, not NaN (infinite only for :data:`INFINITE_OK`)."""
    value = np.asarray(_get(name, data, key, default))
    problem = number_problem(value, allow_inf=key in INFINITE_OK)
    if problem is not None:
        raise ParameterError(str(data.get("type")), f"parameter '{key}' {problem}")
    return value


def _shape(data: dict[str, Any], key: str, value: Any) -> tuple[int, ...]:
    """Whole numbers >= 0 (a shape, stride, padding): 4.7 is refused, not truncated."""
    problem = whole_tuple_problem(key, value)
    if problem is not None:
        raise ParameterError(str(data.get("type")), problem)
    return whole_tuple(value)


def _int(data: dict[str, Any], key: str, default: int, low: int = 0) -> int:
    """A whole-number attribute (groups, start_dim, ...) >= ``low``; 1.5 is refused, not truncated."""
    value = data.get(key)
    flat = np.asarray(default if value is None else value).reshape(-1)
    item: Any = flat[0].item() if flat.size == 1 else flat.tolist()
    problem = whole_problem(item, low=low)
    if problem is not None:
        raise ParameterError(str(data.get("type")), f"{key} {item!r} {problem}")
    return int(float(item))


def _conv_padding(name: str, data: dict[str, Any], padding: Any, kernel: tuple[int, ...],
                  dilation: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
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
    pad = _shape(data, "padding", padding)
    return pad * len(kernel) if len(pad) == 1 else pad


def _conv(name: str, data: dict[str, Any], dims: int) -> ir.Node:
    weight = _arr(name, data, "weight")
    if weight.ndim != dims + 2:
        raise GraphError(f"node '{name}' (Conv{dims}d): weight must have {dims + 2} dims, got {weight.shape}")
    kernel = tuple(int(k) for k in weight.shape[2:])
    stride = _shape(data, "stride", _get(name, data, "stride", 1)) or (1,)
    dilation = _shape(data, "dilation", _get(name, data, "dilation", 1)) or (1,)
    stride = stride * dims if len(stride) == 1 else stride
    dilation = dilation * dims if len(dilation) == 1 else dilation
    padding = _conv_padding(name, data, _get(name, data, "padding", 0), kernel, dilation, stride)
    bias = _arr(name, data, "bias", np.zeros(weight.shape[0], weight.dtype))
    if bias.ndim == 0:
        bias = np.full(weight.shape[0], bias, weight.dtype)
    groups = _int(data, "groups", 1, low=1)
    raw_in = data.get("input_shape")
    in_shape = _shape(data, "input_shape", raw_in) if raw_in is not None and np.asarray(raw_in).size else None
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
    A parameter that is NaN, infinite (but a time constant), complex or not a number is a GraphError naming
    the node and the parameter; so is an input gain that comes out NaN or infinite.
    """
    try:
        with np.errstate(invalid="ignore"):  # inf/inf in a gain: reported below, with the node's name
            node, gain = _convert(name, data, conv, dt, method, recurrent)
    except ParameterError as err:
        raise err.named(name) from None
    if gain is not None and number_problem(gain) is not None:
        raise GraphError(f"node '{name}' ({data.get('type')}): its input gain (from r, tau and dt={dt:g} s) "
                         f"{number_problem(gain)}")
    return node, gain


def _convert(
    name: str, data: dict[str, Any], conv: Convention, dt: float, method: str | None, recurrent: bool
) -> tuple[ir.Node, np.ndarray | None]:
    kind = data.get("type")
    if kind not in SUPPORTED:
        raise UnsupportedNodeError(
            f"node '{name}': unknown NIR node type {kind!r}; supported: {', '.join(SUPPORTED)}"
        )
    if kind == "Input":
        return ir.Input(shape=_shape(data, "shape", _get(name, data, "shape"))), None
    if kind == "Output":
        return ir.Output(shape=_shape(data, "shape", data["shape"]) if "shape" in data else None), None
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
        in_shape = (_shape(data, "input_type", raw_in["input"] if isinstance(raw_in, dict) else raw_in)
                    if raw_in is not None else None)
        return ir.Flatten(start_dim=_int(data, "start_dim", 0, low=-64),
                          end_dim=_int(data, "end_dim", -1, low=-64), input_shape=in_shape or None), None
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


def _fit(kind: str, shape: tuple[int, ...], source: str, arrays: dict[str, np.ndarray]) -> None:
    """Every parameter broadcasts to the neuron shape (that of ``source``): numpy's broadcast error while
    discretising would name neither the node nor the parameter."""
    for key, value in arrays.items():
        try:
            np.broadcast_to(value, shape)
        except ValueError:
            raise ParameterError(kind, f"parameter '{key}' of shape {value.shape} does not fit the neuron shape "
                                 f"{shape} (that of '{source}')") from None


def _common(*arrays: np.ndarray) -> tuple[int, ...]:
    """The shape all parameters broadcast to (mixed 0-d and (1,) parameters load); when they do not broadcast,
    the first one's shape, so that :func:`_fit` names the parameter that does not fit."""
    try:
        return tuple(int(s) for s in np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        return arrays[0].shape


def _neuron(
    name: str, data: dict[str, Any], kind: str, sem: Semantics, dt: float, method: str, rule: Rule
) -> tuple[ir.Node, np.ndarray | None]:
    if kind == "Threshold":
        theta = _arr(name, data, "threshold")
        return ir.Threshold(shape=theta.shape, threshold=theta, semantics=sem), None
    if kind in ("I", "IF"):
        r = _arr(name, data, "r")
        if kind == "I":
            return ir.I(shape=r.shape, semantics=sem), discretize.integrator(r, dt, rule.gain).gain
        theta = _arr(name, data, "v_threshold")
        v_reset = _arr(name, data, "v_reset", np.zeros_like(theta))
        shape = _common(theta, r, v_reset)
        _fit(kind, shape, "v_threshold", {"v_threshold": theta, "r": r, "v_reset": v_reset})
        d = discretize.integrator(r, dt, rule.gain)
        return ir.IF(shape=shape, threshold=theta, v_reset=v_reset, semantics=sem), d.gain
    v_leak = _arr(name, data, "v_leak")
    extra = [_arr(name, data, k) for k in ("v_threshold", "v_reset") if k in data and kind in ("LIF", "CubaLIF")]
    if kind in ("LI", "LIF"):
        tau, r = _tau(name, data, "tau", rule, dt), _arr(name, data, "r")
        shape = _common(v_leak, tau, r, *extra)
        _fit(kind, shape, "v_leak", {"v_leak": v_leak, "tau": tau, "r": r})
        d = discretize.leaky(name, tau, r, v_leak, dt, method, rule.gain)
    else:
        tau_syn, tau_mem = _tau(name, data, "tau_syn", rule, dt), _tau(name, data, "tau_mem", rule, dt)
        r = _arr(name, data, "r")
        w_in = _arr(name, data, "w_in", np.ones_like(v_leak))
        shape = _common(v_leak, tau_syn, tau_mem, r, w_in, *extra)
        _fit(kind, shape, "v_leak", {"v_leak": v_leak, "tau_syn": tau_syn, "tau_mem": tau_mem, "r": r, "w_in": w_in})
        d = discretize.cuba(name, tau_syn, tau_mem, r, v_leak, w_in, dt, method, rule.gain)
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


def semantics_from_meta(name: str, kind: str, raw: Any) -> Semantics:
    """``sc.semantics`` (a JSON object of Semantics fields) of node ``name``; GraphError naming it otherwise."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        raise GraphError(f"node '{name}' ({kind}): 'sc.semantics' is not valid JSON: {str(raw)[:60]!r}") from None
    if not isinstance(data, dict):
        raise GraphError(f"node '{name}' ({kind}): 'sc.semantics' is JSON {type(data).__name__}, not an object of "
                         "Semantics fields")
    try:
        return Semantics.from_dict(data)
    except GraphError as err:
        raise GraphError(f"node '{name}' ({kind}): sc.{err}") from None


def node_from_snncompile_meta(name: str, data: dict[str, Any]) -> ir.Node:
    """A neuron or Delay node exactly as snncompile wrote it (``sc.*`` node metadata).

    Every field of the node type must be there (``sc.shape``, ``sc.semantics`` and each parameter), and no other;
    a missing, extra or unusable field is a GraphError naming the node and the field.
    """
    meta = data.get("metadata", {})
    kind = str(data["type"])
    if not isinstance(meta, dict):
        raise GraphError(f"node '{name}' ({kind}): its metadata is not a group of 'sc.*' fields")
    try:
        if kind == "Delay":
            if "sc.delay" not in meta:
                raise GraphError(f"node '{name}' ({kind}): snncompile metadata lacks 'sc.delay'")
            return ir.Delay(delay=np.asarray(meta["sc.delay"]))
        cls = ir.NODE_TYPES[kind]
        wanted = {f"sc.{k}" for k in (*cls.ARRAYS, "v_init", "shape", "semantics")}  # type: ignore[attr-defined]
        given = {k for k in meta if k.startswith("sc.")}
        if "sc.v_min" in given:  # optional: written only for a clamped neuron
            wanted.add("sc.v_min")
        missing, extra = sorted(wanted - given), sorted(given - wanted)
        if missing:
            raise GraphError(f"node '{name}' ({kind}): snncompile metadata lacks '{missing[0]}'")
        if extra:
            raise GraphError(f"node '{name}' ({kind}): snncompile metadata has '{extra[0]}', which is not a field of "
                             f"{kind} (expected {', '.join(sorted(wanted))})")
        problem = whole_tuple_problem("sc.shape", meta["sc.shape"])
        if problem is not None:
            raise GraphError(f"node '{name}' ({kind}): {problem}")
        fields = {key[3:]: np.asarray(meta[key]) for key in wanted - {"sc.semantics", "sc.shape"}}
        sem = semantics_from_meta(name, kind, meta["sc.semantics"])
        return cls(shape=whole_tuple(meta["sc.shape"]), semantics=sem, **fields)  # type: ignore[call-arg]
    except ParameterError as err:
        raise err.named(name) from None
