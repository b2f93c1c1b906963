"""Mutations that make a valid fuzz case slightly invalid: each takes the choices and the case, changes the case
(its graph, load options, QuantSpec fields or HDF5 edits) and says what it did, or returns None when it does not
apply to this case (no Delay to break, no subgraph to collide with)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from fuzz_graphs import Choices, GraphData, NodeData

if TYPE_CHECKING:
    from fuzz_cases import FuzzCase

BAD_SPEC_VALUES: dict[str, tuple[Any, ...]] = {
    "weight_bits": (0, 1, 17, 64, -8, 2.5, "8", None, True),
    "state_bits": (0, 7, 33, 64, "16", 16.5, True),
    "frac_bits": (0, 3, 17, 4.0, None),
    "granularity": ("layer", None, "Channel"),
    "scale_rule": ("minmax", "", None),
    "percentile": (49.9, 100.1, float("nan"), float("inf"), -1, "99", None, "abc", 1j),
    "rounding": ("up", "ceil", None),
    "overflow": ("clip", None),
    "headroom_bits": (-1, 9, 1.5, None, "1"),
}
BAD_LOAD_VALUES: dict[str, tuple[Any, ...]] = {
    "convention": ("tensorflow", "", "NIR"),
    "dt": (0.0, -1e-3, float("nan"), float("inf"), 1e300, 1e-300),
    "discretization": ("rk4", "", "Euler"),
    "reset": ("bogus", "", "Zero"),
    "reset_delay": ("yes", 2),
    "spikes": ("ternary", ""),
}



def _params(g: GraphData, path: str = "") -> list[tuple[str, NodeData]]:
    """Every node (subgraph members included) with its dotted path."""
    out = []
    for n, d in g.nodes.items():
        out.append((path + n, d))
        if d.sub is not None:
            out += _params(d.sub, f"{path}{n}.")
    return out


def _arrays(case: FuzzCase, keys: Sequence[str] | None = None) -> list[tuple[str, NodeData, str]]:
    return [(p, d, k) for p, d in _params(case.graph) for k, v in d.params.items()
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.size and (keys is None or k in keys)]


def _pick_array(c: Choices, case: FuzzCase, keys: Sequence[str] | None = None) -> tuple[str, NodeData, str] | None:
    found = _arrays(case, keys)
    return c.pick(found) if found else None


def _set_entry(c: Choices, d: NodeData, key: str, value: Any, dtype: Any = None) -> None:
    arr = np.array(d.params[key], dtype=dtype or d.params[key].dtype)
    arr.reshape(-1)[c.int(0, arr.size - 1)] = value
    d.params[key] = arr


def m_nonfinite(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case)
    if hit is None:
        return None
    value = c.pick([float("nan"), float("inf"), -float("inf")])
    _set_entry(c, hit[1], hit[2], value)
    return f"{value} in '{hit[0]}'.{hit[2]}"


def m_complex(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case)
    if hit is None:
        return None
    _set_entry(c, hit[1], hit[2], c.pick([1j, 0j, 1 + 2j]), np.complex128)
    return f"complex '{hit[0]}'.{hit[2]}"


def m_huge(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case)
    if hit is None:
        return None
    if c.chance(50):
        value = c.pick([1e9, 1e30, 1e300, -1e300, 3.5e38])
        _set_entry(c, hit[1], hit[2], value, np.float64)
        return f"{value} in '{hit[0]}'.{hit[2]}"
    factor = c.pick([1e6, 1e20, 1e-20, 1e-300])
    hit[1].params[hit[2]] = np.asarray(hit[1].params[hit[2]], np.float64) * factor
    return f"'{hit[0]}'.{hit[2]} times {factor}"


def m_zero(c: Choices, case: FuzzCase) -> str | None:
    keys = c.pick([("weight",), ("v_threshold", "threshold"), ("r",), ("scale",), ("bias", "v_leak", "v_reset")])
    hit = _pick_array(c, case, keys)
    if hit is None:
        return None
    sign = c.pick([0.0, -1.0])
    if c.chance(50):
        hit[1].params[hit[2]] = np.zeros_like(hit[1].params[hit[2]]) if sign == 0.0 else -hit[1].params[hit[2]]
        return f"'{hit[0]}'.{hit[2]} {'all zero' if sign == 0.0 else 'negated'}"
    _set_entry(c, hit[1], hit[2], 0.0)
    return f"one zero in '{hit[0]}'.{hit[2]}"


def m_bad_tau(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case, ("tau", "tau_mem", "tau_syn"))
    if hit is None:
        return None
    value = c.pick([0.0, -1e-3, -1.0, 1e-12])
    _set_entry(c, hit[1], hit[2], value)
    return f"{value} in '{hit[0]}'.{hit[2]}"


def m_wrong_shape(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case)
    if hit is None:
        return None
    arr = hit[1].params[hit[2]]
    if arr.ndim and c.chance(50):
        new = np.delete(arr, -1, axis=c.int(0, arr.ndim - 1))
    elif arr.ndim >= 2 and c.chance(50):
        new = np.swapaxes(arr, 0, 1).copy()
    else:
        new = np.concatenate([arr.reshape(-1), arr.reshape(-1)[:1]])
    hit[1].params[hit[2]] = new
    return f"'{hit[0]}'.{hit[2]} shape {arr.shape} -> {new.shape}"


def m_edges(c: Choices, case: FuzzCase) -> str | None:
    g = case.graph
    names = list(g.nodes)
    how = c.pick(["dangling_to", "dangling_from", "drop", "duplicate", "stateless_loop", "into_input",
                  "from_output", "reversed"])
    if how.startswith("dangling"):
        e = (c.pick(names), "ghost") if how == "dangling_to" else ("ghost", c.pick(names))
        g.edges.append(e)
        return f"dangling edge {e}"
    if not g.edges:
        return None
    if how == "drop":
        e = g.edges.pop(c.int(0, len(g.edges) - 1))
        return f"edge {e} dropped"
    if how == "duplicate":
        e = c.pick(g.edges)
        g.edges.append(e)
        return f"edge {e} twice"
    if how == "stateless_loop":
        stateless = [n for n, d in g.nodes.items() if d.kind in ("Affine", "Linear", "Scale", "Flatten", "Conv1d",
                                                                 "Conv2d", "Threshold")]
        if not stateless:
            return None
        n = c.pick(stateless)
        g.edges.append((n, n))
        return f"self-loop on stateless '{n}'"
    if how == "reversed":
        i = c.int(0, len(g.edges) - 1)
        g.edges[i] = (g.edges[i][1], g.edges[i][0])
        return f"edge {g.edges[i][::-1]} reversed"
    ends = [n for n, d in g.nodes.items() if d.kind == ("Input" if how == "into_input" else "Output")]
    others = [n for n in names if n not in ends]
    if not ends or not others:
        return None
    e = (c.pick(others), ends[0]) if how == "into_input" else (ends[0], c.pick(others))
    g.edges.append(e)
    return f"edge {e} ({how})"


def m_structure(c: Choices, case: FuzzCase) -> str | None:
    g = case.graph
    how = c.pick(["empty", "io_only", "drop_input", "drop_output", "drop_middle", "collision"])
    if how == "empty":
        case.graph = GraphData()
        return "empty graph"
    if how == "io_only":
        keep = {n: d for n, d in g.nodes.items() if d.kind in ("Input", "Output")}
        case.graph = GraphData(keep, [(a, b) for a, b in g.edges if a in keep and b in keep])
        return "Input and Output only"
    if how == "collision":
        subs = [(n, d) for n, d in g.nodes.items() if d.sub is not None]
        if not subs:
            return None
        name, d = c.pick(subs)
        assert d.sub is not None
        member = c.pick(list(d.sub.nodes))
        src = g.edges[0][0] if g.edges else "input"
        g.nodes[f"{name}.{member}"] = copy.deepcopy(g.nodes[src]) if src in g.nodes else NodeData(
            "Scale", {"scale": np.ones(1)})
        g.edges.append((src, f"{name}.{member}"))
        return f"top-level node '{name}.{member}' collides with a subgraph member"
    kinds = {"drop_input": ("Input",), "drop_output": ("Output",)}.get(how)
    victims = [n for n, d in g.nodes.items() if (d.kind in kinds if kinds else d.kind not in ("Input", "Output"))]
    if not victims:
        return None
    v = c.pick(victims)
    del g.nodes[v]
    if c.chance(70):
        g.edges = [e for e in g.edges if v not in e]
    return f"node '{v}' removed"


def m_shape_fields(c: Choices, case: FuzzCase) -> str | None:
    nodes = _params(case.graph)
    how = c.pick(["input", "delay", "conv", "pool", "flatten", "output"])
    if how == "input":
        ins = [(p, d) for p, d in nodes if d.kind == "Input"]
        p, d = c.pick(ins)
        shape = np.array(d.params["input_type"]["input"], np.float64)
        shape[c.int(0, shape.size - 1)] += c.pick([0.5, 1.0, -100.0])
        if c.chance(30):
            shape = np.zeros(shape.size) if c.chance(50) else np.array([])
        d.params["input_type"] = {"input": shape}
        return f"'{p}' input shape {shape.tolist()}"
    if how == "output":
        outs = [(p, d) for p, d in nodes if d.kind == "Output"]
        if not outs:
            return None
        p, d = c.pick(outs)
        d.params["output_type"] = {"output": np.array(c.pick([[7], [1, 1], [0], [2.5]]))}
        return f"'{p}' output shape {d.params['output_type']['output'].tolist()}"
    if how == "delay":
        found = [(p, d) for p, d in nodes if d.kind == "Delay"]
        if not found:
            return None
        p, d = c.pick(found)
        _set_entry(c, d, "delay", float(d.params["delay"].reshape(-1)[0]) + c.pick([0.5, -3.0, 1e9]) * 1e-3)
        return f"'{p}' delay not whole steps / negative / huge"
    if how == "conv":
        found = [(p, d) for p, d in nodes if d.kind in ("Conv1d", "Conv2d")]
        if not found:
            return None
        p, d = c.pick(found)
        key, value = c.pick([("stride", 0), ("stride", -1), ("padding", -1), ("padding", "full"), ("dilation", 0),
                             ("groups", 3), ("groups", 0), ("groups", 1.5), ("stride", 1.5), ("input_shape", 2)])
        d.params[key] = value
        if key == "input_shape" and d.kind == "Conv2d":
            d.params[key] = (value, value)
        return f"'{p}' {key}={value!r}"
    if how == "pool":
        found = [(p, d) for p, d in nodes if d.kind in ("SumPool2d", "AvgPool2d")]
        if not found:
            return None
        p, d = c.pick(found)
        key = c.pick(["kernel_size", "stride", "padding"])
        d.params[key] = np.array(c.pick([[0, 0], [9, 9], [-1, 1], [1.5, 1.5], [2]]))
        return f"'{p}' {key}={d.params[key].tolist()}"
    found = [(p, d) for p, d in nodes if d.kind == "Flatten"]
    if not found:
        return None
    p, d = c.pick(found)
    key, value = c.pick([("start_dim", 5), ("end_dim", 1.5), ("start_dim", -9), ("input_type", {"input": [99]})])
    d.params[key] = value
    return f"'{p}' {key}={value!r}"


def m_dtype(c: Choices, case: FuzzCase) -> str | None:
    hit = _pick_array(c, case)
    if hit is None:
        return None
    dtype = c.pick([np.float16, np.int64, np.int8, np.bool_])
    hit[1].params[hit[2]] = np.asarray(hit[1].params[hit[2]]).astype(dtype)
    return f"'{hit[0]}'.{hit[2]} as {np.dtype(dtype).name}"


def m_h5(c: Choices, case: FuzzCase) -> str | None:
    """An edit of the written file that nir objects cannot express: a missing parameter, an unknown type."""
    victims = [(p, d) for p, d in _params(case.graph) if d.kind not in ("Input", "Output", "NIRGraph") and d.params]
    if not victims:
        return None
    p, d = c.pick(victims)
    path = "node/nodes/" + "/nodes/".join(p.split("."))
    if c.chance(50):
        key = c.pick(sorted(k for k in d.params if not isinstance(d.params[k], dict)))
        case.h5_edits.append(("delete", f"{path}/{key}", ""))
        return f"parameter '{p}'.{key} missing from the file"
    kind = c.pick(["Frobnicate", "Identity", "NIRGraph", "Input", "LIF"])
    case.h5_edits.append(("type", f"{path}/type", kind))
    return f"'{p}' written as type {kind!r}"


def m_load_option(c: Choices, case: FuzzCase) -> str | None:
    key = c.pick(sorted(BAD_LOAD_VALUES))
    case.load[key] = c.pick(BAD_LOAD_VALUES[key])
    return f"load option {key}={case.load[key]!r}"


def m_spec(c: Choices, case: FuzzCase) -> str | None:
    if c.chance(8):
        case.spec["bits"] = 8
        return "QuantSpec field 'bits' (unknown)"
    key = c.pick(sorted(BAD_SPEC_VALUES))
    case.spec[key] = c.pick(BAD_SPEC_VALUES[key])
    return f"QuantSpec {key}={case.spec[key]!r}"


Mutation = Callable[[Choices, "FuzzCase"], "str | None"]
MUTATIONS: dict[str, Mutation] = {
    "nonfinite": m_nonfinite, "complex": m_complex, "huge": m_huge, "zero": m_zero, "bad_tau": m_bad_tau,
    "wrong_shape": m_wrong_shape, "edges": m_edges, "structure": m_structure, "shape_fields": m_shape_fields,
    "dtype": m_dtype, "h5": m_h5, "load_option": m_load_option, "spec": m_spec,
}
