"""A NIR graph (nested dicts from the HDF5 file) read under a source convention.

The steps, in order: flatten nested subgraphs; find the nodes on cycles (snnTorch
steps recurrent neurons differently); fix dt (given, the convention's, or --
Rockpool -- recovered from r); convert every node (:mod:`.nir_nodes`); drop a
size-1 batch dim that an exporter left on an Input or Output; give neurons
written with 0-d parameters their input's shape; fold the input gains; insert
Spyx's one-step output delays; validate. Everything the convention had to
assume is returned as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import GraphError, UnsupportedNodeError
from ..graph import Graph
from ..nodes import Node
from . import discretize
from .conventions import Convention
from .nir_nodes import NEURON_TYPES, convert_node
from .nir_passes import (
    apply_gains,
    check_output_shapes,
    cycle_nodes,
    drop_input_batch_dims,
    fit_neuron_shapes,
    flatten_hint,
    flatten_subgraphs,
    imply_input_identities,
    insert_output_delays,
    move_affine_bias_into,
    relax_output_batch_dims,
)

#: Rockpool's r -> dt inference: all neurons must agree to this relative tolerance (float32 r)
DT_AGREEMENT = 1e-4


@dataclass(frozen=True)
class ReadResult:
    graph: Graph
    warnings: tuple[str, ...]
    dt_origin: str
    method_text: str
    neuron_types: frozenset[str]


def read_nir_dict(
    root: dict[str, Any], conv: Convention, dt: float | None, method: str | None, stated: set[str]
) -> ReadResult:
    """Read ``root`` under ``conv``; ``dt``/``method`` None mean the convention's; ``stated``: the load options
    the user gave (their facts are not warned about)."""
    raw_nodes, edges = flatten_subgraphs(root)
    kinds = {n: str(d.get("type")) for n, d in raw_nodes.items()}
    neurons = {n for n, k in kinds.items() if k in NEURON_TYPES}
    types = frozenset(kinds[n] for n in neurons)
    on_cycle = cycle_nodes(list(raw_nodes), edges)
    if conv.no_recurrence and on_cycle & neurons:
        raise UnsupportedNodeError(f"recurrent nodes {sorted(on_cycle)} are not supported under --from {conv.name}: "
                                   f"{conv.no_recurrence}")
    step, dt_origin, warnings = _dt(raw_nodes, neurons, conv, dt)
    nodes: dict[str, Node] = {}
    gains: dict[str, np.ndarray] = {}
    for name, data in raw_nodes.items():
        node, gain = convert_node(name, data, conv, step, method, recurrent=name in on_cycle)
        nodes[name] = node
        if gain is not None:
            gains[name] = gain
    nodes, notes = drop_input_batch_dims(nodes, edges)
    warnings += notes
    nodes, notes = fit_neuron_shapes(nodes, edges)
    warnings += notes
    nodes, written = relax_output_batch_dims(nodes)
    try:  # validate first, so shape errors name the source's nodes, not gain or identity nodes
        Graph(nodes, edges, step)
    except GraphError as err:
        raise GraphError(f"{err}{flatten_hint(nodes, edges)}") from None
    if conv.bias_into:
        nodes = move_affine_bias_into(nodes, edges, {n for n in raw_nodes if kinds[n] in conv.bias_into})
    nodes, edges = imply_input_identities(nodes, edges)
    if gains:
        nodes, edges = apply_gains(nodes, edges, gains)
    delayed = [n for n in raw_nodes if kinds[n] in conv.output_delay]
    if delayed:
        nodes, edges = insert_output_delays(nodes, edges, delayed)
    methods = _methods(conv, types, method)
    used = "/".join(sorted(set(methods.values())) or [method or "euler"])
    method_text = f"{used} discretization"
    if method is None and len(set(methods.values())) > 1:
        method_text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(methods.items())) + ")"
    graph = Graph(nodes, edges, step, {"source": f"nir convention={conv.name} discretization={used}"})
    preds = {n: graph.predecessors(n)[0] for n in written}
    warnings += check_output_shapes(graph.shapes, written, preds)
    warnings += conv.warnings_for(set(types), stated)
    warnings += _method_warnings(conv, types, method)
    warnings += _tau_unit_warnings(raw_nodes, neurons, conv, step)
    return ReadResult(graph, tuple(warnings), dt_origin, method_text, types)


def _methods(conv: Convention, types: frozenset[str], method: str | None) -> dict[str, str]:
    """The decay used per leaky neuron type present (integrators are exact under both)."""
    leaky = types & {"LI", "LIF", "CubaLI", "CubaLIF"}
    return {k: method or conv.rule_for(k).decay or "euler" for k in leaky}


def _method_warnings(conv: Convention, types: frozenset[str], method: str | None) -> list[str]:
    if method is None:
        return []
    return [f"--discretization {method} differs from {conv.name}'s own {conv.rule_for(k).decay} decays for {k}"
            for k in sorted(types) if conv.rule_for(k).decay not in (None, method)]


def _tau_unit_warnings(raw: dict[str, dict[str, Any]], neurons: set[str], conv: Convention, dt: float) -> list[str]:
    """Norse 1.1.0 writes tau = dt/tau_inv, far below dt; a written tau >= dt means seconds (older Norse)."""
    out = []
    for name in sorted(neurons):
        data = raw[name]
        if conv.rule_for(str(data["type"])).tau_unit != "dt":
            continue
        taus = [np.asarray(data[k], np.float64) for k in ("tau", "tau_mem", "tau_syn") if k in data]
        if any((t >= dt).any() for t in taus):
            out.append(f"node '{name}': a written time constant >= dt={dt:g} s; --from {conv.name} reads tau as "
                       "dt*tau (Norse 1.1.0's to_nir); a file with tau in seconds needs --from norse-seconds")
    return out


def _dt(
    raw: dict[str, dict[str, Any]], neurons: set[str], conv: Convention, dt: float | None
) -> tuple[float, str, list[str]]:
    """The step, where it came from, and warnings."""
    if conv.dt_rule != "rockpool_r":
        return (dt, "--dt", []) if dt is not None else (conv.dt, f"'{conv.name}' default", [])
    try:
        inferred = _rockpool_dt(raw, neurons)
    except GraphError as err:
        if dt is None:
            raise
        return dt, "--dt", [f"{err} (--dt {dt:g} used)"]
    if inferred is None:
        return (dt, "--dt", []) if dt is not None else (conv.dt, f"'{conv.name}' default", [])
    if dt is None:
        return inferred, "recovered from r = tau*exp(-dt/tau)/dt", []
    if abs(dt - inferred) > DT_AGREEMENT * inferred:
        return dt, "--dt", [f"--dt {dt:g} differs from the dt={inferred:g} s that Rockpool's r = "
                            "tau*exp(-dt/tau)/dt implies; the neurons' input gains will not be 1"]
    return dt, "--dt", []


def _rockpool_dt(raw: dict[str, dict[str, Any]], neurons: set[str]) -> float | None:
    values = []
    for name in sorted(neurons):
        data = raw[name]
        tau_key = "tau_mem" if "tau_mem" in data else "tau"
        if tau_key not in data or "r" not in data:
            continue
        try:
            values.append((name, discretize.dt_from_rockpool_r(np.asarray(data[tau_key]), np.asarray(data["r"]))))
        except GraphError as err:
            raise GraphError(f"node '{name}': {err}") from None
    if not values:
        return None
    flat = np.concatenate([v.reshape(-1) for _, v in values])
    lo, hi = float(flat.min()), float(flat.max())
    if hi - lo > DT_AGREEMENT * hi:
        worst = max(values, key=lambda nv: float(np.ptp(nv[1])) if nv[1].size else 0.0)[0]
        raise GraphError(f"--from rockpool: the neurons' r = tau*exp(-dt/tau)/dt imply different dt "
                         f"({lo:.6g}..{hi:.6g} s, e.g. node '{worst}'); pass the exporter's dt with --dt")
    middle = float(np.median(flat))
    nice = float(f"{middle:.6g}")
    return nice if abs(nice - middle) <= DT_AGREEMENT * middle else middle
