"""The core simulator's edges: the spike inputs it accepts and the bitsim-format traces it returns
(``{node: {"out": int64 [T, B, *shape], "v", "i" (= u) for neurons}}`` for every node; pass-through nodes are the
sum of their inputs, a recurrent input one step late)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from snncompile.errors import InputError

Traces = dict[str, dict[str, np.ndarray]]


def _shift_inplace(acc: np.ndarray, exp: int) -> np.ndarray:
    if exp >= 0:
        acc <<= exp
    else:
        acc >>= -exp
    return acc


def spike_inputs(index: Mapping[str, Any], inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The host Inputs' spikes as int64 [T, B, size]; InputError for a missing input, a wrong shape or a value
    that is not 0 or 1."""
    hosts = [p for p in index["populations"] if p["kind"] == "host"]
    if not isinstance(inputs, Mapping):
        if len(hosts) != 1:
            raise InputError(f"the mapping has {len(hosts)} inputs; pass a dict of arrays")
        inputs = {hosts[0]["name"]: inputs}
    out, steps = {}, set()
    for p in hosts:
        if p["name"] not in inputs:
            raise InputError(f"no data for input node '{p['name']}'")
        arr = np.asarray(inputs[p["name"]])
        if arr.ndim != len(p["shape"]) + 2 or list(arr.shape[2:]) != list(p["shape"]):
            raise InputError(f"input '{p['name']}': data of shape {arr.shape} does not match [T, B, *{p['shape']}]")
        as_int = np.rint(arr).astype(np.int64) if arr.dtype.kind == "f" else arr.astype(np.int64)
        if np.any((as_int != arr) | (as_int < 0) | (as_int > 1)):
            raise InputError(f"input '{p['name']}': values must be spikes (0 or 1)")
        out[p["name"]] = as_int.reshape(arr.shape[0], arr.shape[1], -1)
        steps.add(arr.shape[:2])
    if len(steps) != 1:
        raise InputError(f"inputs disagree on [T, B]: {sorted(steps)}")
    return out


def assemble(index: Mapping[str, Any], data: Mapping[str, np.ndarray], T: int, B: int,
             population: Mapping[str, dict[str, np.ndarray]], projection: Mapping[int, np.ndarray]) -> Traces:
    """bitsim's traces of every node from the simulated populations' {"out", "i", "v"} [T, B, size] and the
    projections' accumulators (shifted here, in place, into their weight node's trace)."""
    nodes = {node["name"]: node for node in index["nodes"]}
    size = {name: int(np.prod(node["shape"], dtype=np.int64)) for name, node in nodes.items()}
    traces: Traces = {}
    for name, node in nodes.items():
        if node["kind"] == "input":
            traces[name] = {"out": data[name].reshape(T, B, *node["shape"])}
        elif node["kind"] == "neuron":
            rec = population.get(name) or {k: np.zeros((T, B, size[name]), np.int64) for k in ("out", "i", "v")}
            traces[name] = {k: rec[k].reshape(T, B, *node["shape"]) for k in ("out", "i", "v")}
    for p_idx, p in enumerate(index["projections"]):  # a weight node's trace: its first projection's output
        if p["weights"] not in traces:
            acc = projection.get(p_idx)
            out = (np.zeros((T, B, size[p["weights"]]), np.int64) if acc is None
                   else _shift_inplace(acc, p["weight_exp"]))
            traces[p["weights"]] = {"out": out.reshape(T, B, *nodes[p["weights"]]["shape"])}

    def passed(name: str) -> np.ndarray:
        """A pass-through node: the sum of its inputs (a recurrent input one step late, zeros at t=0)."""
        if name not in traces:
            node = nodes[name]
            total = np.zeros((T, B, size[name]), np.int64)
            for pred, recurrent in node["inputs"]:
                x = passed(pred).reshape(T, B, size[name])
                total += np.concatenate([np.zeros_like(x[:1]), x[:-1]]) if recurrent else x
            traces[name] = {"out": total.reshape(T, B, *node["shape"])}
        return traces[name]["out"]

    for name in nodes:
        passed(name)
    return {name: traces[name] for name in nodes}
