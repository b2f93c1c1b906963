"""The mapping as data: the arrays of mapping.json + mapping.npz (:mod:`.mapfile`: every core's compartments,
axons, synapse lists and routes), the expanded per-core tables, the per-core table (cores.csv and the printed
table) and the summary. Pure functions of a :class:`~.mapper.LoihiMapping`.

The expanded tables (:func:`mapping_tables`; format 1's layout, docs/loihi.md §7)::

    core_spec      the CoreSpec (CoreSpec.to_dict)
    nodes          [{name, kind: input|neuron|weights|pass, shape, inputs: [[predecessor, recurrent], ...]}]
    populations    [{name, shape, kind: host|compartments}]
    projections    [{name, weights, target, sources: [{population, lag}], weight_exp, delay, sign_mode,
                     num_weight_bits, stored_weight_bits, synapses, shape}]
    cores          [{core, chip, compartments: [{population, start, stop, base, du, dv, vth, bias_mant, bias_exp,
                     u0, v0}], input_axons: [[population, lag, index], ...] (axon id = position),
                     synapse_lists: [{axon, projection, encoding: dense|sparse, base | compartments, weights, bits}],
                     output_axons: [[compartment, dest_core, dest_axon], ...], usage, capacity, utilisation_percent,
                     binding_resource}]
    host_routes    [[population, index, dest_core, dest_axon], ...]    (Input spikes, sent by the host)
    summary        see :func:`summary`
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from .cost import SynapseLists
from .mapfile import ARRAYS_FILE, FORMAT, HOST, SECTIONS, expand, offsets
from .mapper import LoihiMapping
from .registers import REGISTER_FIELDS
from .spec import CAPACITY_FIELDS

__all__ = ["FORMAT", "mapping_arrays", "mapping_tables"]
CSV_COLUMNS = ("core", "chip", "allocation", "neurons", "neurons_capacity", "synapses", "input_axons",
               "input_axons_capacity", "output_axons", "output_axons_capacity", "synaptic_memory_bits",
               "synaptic_memory_capacity_bits", "utilisation_percent", "binding_resource")


def _axon_keys(m: LoihiMapping) -> list[np.ndarray]:
    """Per core: the sorted global axon ids it receives (local axon id = position)."""
    out = []
    for alloc in m.cores:
        ids = [m.cost.group(layer, a, b).axons for layer, a, b in alloc.usage.groups]
        out.append(np.unique(np.concatenate(ids)) if ids else np.zeros(0, np.int64))
    return out


def _decode_axons(m: LoihiMapping, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(population index, lag, source neuron) of global axon ids."""
    pop_id = {name: i for i, name in enumerate(m.netlist.populations)}
    bases = sorted((b, pop_id[src], lag) for (src, lag), b in m.cost.axon_base.items())
    table = np.array(bases, np.int64).reshape(-1, 3)
    which = np.searchsorted(table[:, 0], keys, side="right") - 1
    return table[which, 1], table[which, 2], keys - table[which, 0]


def _synapse_lists(m: LoihiMapping, keys: np.ndarray, groups: tuple[tuple[str, int, int], ...]
                   ) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray], list[np.ndarray]]:
    """One core's lists (columns list_*), stored weights and sparse compartments, in the order: group,
    projection into it, tap, source neuron."""
    pidx = {p.name: i for i, p in enumerate(m.netlist.projections)}
    cols: dict[str, list[np.ndarray]] = {f: [] for f in ("list_axon", "list_projection", "list_dense", "list_base",
                                                         "list_length", "list_bits")}
    weights: list[np.ndarray] = []
    sparse: list[np.ndarray] = []
    base = 0
    for layer, start, stop in groups:
        for proj in m.cost.into[layer]:
            lists = m.cost.lists(proj, start, stop)
            sl = m.cost.sliced(proj, start, stop)
            post, w = proj.post[sl][lists.order], proj.weight[sl][lists.order]
            length = np.where(lists.dense, lists.span, lists.count)
            head = np.cumsum(length) - length  # where each list's entries start
            at, local = _entry_positions(lists, head, post, start - base)
            stored = np.zeros(int(length.sum()), np.int64)
            stored[at] = w
            for tap in proj.taps:
                cols["list_axon"].append(np.searchsorted(keys, m.cost.axon_base[(tap.source, tap.lag)] + lists.pre))
                cols["list_projection"].append(np.full(len(lists.pre), pidx[proj.name], np.int64))
                cols["list_dense"].append(lists.dense.astype(np.int64))
                cols["list_base"].append(lists.low - start + base)
                cols["list_length"].append(length)
                cols["list_bits"].append(lists.bits)
                weights.append(stored)
                sparse.append(local)
        base += stop - start
    return cols, weights, sparse


def _entry_positions(lists: SynapseLists, head: np.ndarray, post: np.ndarray, shift: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(where each synapse's weight is stored, the local compartments of the sparse ones in list order) for the
    synapses ``post`` in list order: a dense list stores a weight at head + (post - low), a sparse one at head +
    its rank in the list. All-dense and all-sparse lists (the common cases) take one repeat each."""
    if lists.dense.all():
        at = np.repeat(head - lists.low, lists.count)
        at += post
        return at, np.zeros(0, post.dtype)
    if not lists.dense.any():
        at = np.repeat(head - lists.start, lists.count)
        at += np.arange(len(post))
        return at, post - shift
    rank = np.arange(len(post)) - np.repeat(lists.start, lists.count)
    dense = np.repeat(lists.dense, lists.count)
    at = np.repeat(head, lists.count) + np.where(dense, post - np.repeat(lists.low, lists.count), rank)
    return at, post[~dense] - shift


def _routes(m: LoihiMapping, keys: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Per core its output axons int64 [k, 3] (compartment, dest_core, dest_axon), in population order; and the
    host routes int64 [k, 4] (population index, neuron, dest_core, dest_axon)."""
    span = max([int(k.max(initial=-1)) + 1 for k in keys] + [1])
    flat = np.concatenate([d * span + k for d, k in enumerate(keys)] + [np.zeros(0, np.int64)])
    first = np.concatenate([[0], np.cumsum([len(k) for k in keys])])
    local = np.full(m.cost.total_neurons, -1, np.int64)  # compartment of every placed neuron on its core
    for alloc in m.cores:
        base = 0
        for layer, a, b in alloc.usage.groups:
            off = m.cost.offset[layer]
            local[off + a:off + b] = base + np.arange(b - a)
            base += b - a
    sent: list[np.ndarray] = []
    host: list[np.ndarray] = []
    for i, (name, pop) in enumerate(m.netlist.populations.items()):
        rows = m.cost.routes(name, 0, pop.size, m.core_of)
        if not len(rows):
            continue
        lag_base = np.full(m.cost.max_lag + 1, -1, np.int64)
        for lag in range(m.cost.max_lag + 1):
            lag_base[lag] = m.cost.axon_base.get((name, lag), -1)
        query = rows[:, 2] * span + lag_base[rows[:, 1]] + rows[:, 0]
        pos = np.minimum(np.searchsorted(flat, query), len(flat) - 1)
        assert np.array_equal(flat[pos], query), f"a route of '{name}' ends on no core's axon"
        axon = pos - first[rows[:, 2]]
        if pop.is_input:
            host.append(np.stack([np.full(len(rows), i), rows[:, 0], rows[:, 2], axon], axis=1))
        else:
            off = m.cost.offset[name]
            sent.append(np.stack([m.core_of[off + rows[:, 0]], local[off + rows[:, 0]], rows[:, 2], axon], axis=1))
    every = np.concatenate(sent) if sent else np.zeros((0, 4), np.int64)
    every = every[np.argsort(every[:, 0], kind="stable")]
    cuts = np.searchsorted(every[:, 0], np.arange(len(m.cores) + 1))
    per_core = [every[cuts[k]:cuts[k + 1], 1:] for k in range(len(m.cores))]
    return per_core, np.concatenate(host) if host else np.zeros((0, 4), np.int64)


def mapping_arrays(m: LoihiMapping) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The whole mapping as (index, arrays): what mapping.json and mapping.npz hold (:mod:`.mapfile`)."""
    keys = _axon_keys(m)
    out_axons, host = _routes(m, keys)
    cols: dict[str, list[np.ndarray]] = {}
    counts: dict[str, list[int]] = {off: [] for off in SECTIONS}
    cores = []
    for alloc, k in zip(m.cores, keys, strict=True):
        comps, base = [], 0
        for layer, start, stop in alloc.usage.groups:
            regs = m.netlist.populations[layer].registers
            assert regs is not None
            sel = regs.select(start, stop)
            for f in REGISTER_FIELDS:
                cols.setdefault(f, []).append(np.asarray(getattr(sel, f), np.int64))
            comps.append({"population": layer, "start": start, "stop": stop, "base": base})
            base += stop - start
        counts["compartment_offsets"].append(base)
        for f, v in zip(SECTIONS["axon_offsets"], _decode_axons(m, k), strict=True):
            cols.setdefault(f, []).append(v)
        counts["axon_offsets"].append(len(k))
        lists, weights, sparse = _synapse_lists(m, k, alloc.usage.groups)
        for f, parts in lists.items():
            cols.setdefault(f, []).extend(parts)
        cols.setdefault("weight", []).extend(weights)
        cols.setdefault("sparse_compartment", []).extend(sparse)
        counts["list_offsets"].append(sum(len(p) for p in lists["list_axon"]))
        for j, f in enumerate(SECTIONS["route_offsets"]):
            cols.setdefault(f, []).append(out_axons[alloc.index][:, j])
        counts["route_offsets"].append(len(out_axons[alloc.index]))
        cores.append({
            "core": alloc.index, "chip": alloc.chip, "compartments": comps,
            "usage": {r: alloc.usage.used(r) for r in CAPACITY_FIELDS} | {"synapses": alloc.usage.synapses},
            "capacity": {r: m.spec.capacity(r) for r in CAPACITY_FIELDS},
            "utilisation_percent": {r: round(v, 3) for r, v in alloc.utilisation(m.spec).items()},
            "binding_resource": alloc.binding(m.spec),
        })
    arrays = {f: np.concatenate([*parts, np.zeros(0, np.int64)]) for f, parts in cols.items()}
    for f in (*REGISTER_FIELDS, *(g for fields in SECTIONS.values() for g in fields), "weight", "sparse_compartment"):
        arrays.setdefault(f, np.zeros(0, np.int64))
    arrays |= {off: offsets(c) for off, c in counts.items()}
    arrays |= {f: host[:, j] for j, f in enumerate(HOST)}
    projections = [{
        "name": p.name, "weights": p.weights, "target": p.target,
        "sources": [{"population": t.source, "lag": t.lag} for t in p.taps], "weight_exp": p.weight_exp,
        "delay": p.delay, "sign_mode": p.sign_mode, "num_weight_bits": p.num_weight_bits,
        "stored_weight_bits": m.cost.weight_bits[p.name], "synapses": int(len(p.pre)) * len(p.taps),
        "shape": list(p.out_shape),
    } for p in m.netlist.projections]
    index = {
        "format": FORMAT,
        "arrays": {"file": ARRAYS_FILE, "lengths": {f: int(len(v)) for f, v in arrays.items()}},
        "core_spec": m.spec.to_dict(),
        "nodes": [{"name": n.name, "kind": n.kind, "shape": list(n.shape), "inputs": [list(i) for i in n.inputs]}
                  for n in m.netlist.nodes],
        "populations": [{"name": p.name, "shape": list(p.shape), "kind": "host" if p.is_input else "compartments"}
                        for p in m.netlist.populations.values()],
        "projections": projections,
        "cores": cores,
        "summary": summary(m),
    }
    return index, arrays


def mapping_tables(m: LoihiMapping) -> dict[str, Any]:
    """The whole mapping as expanded JSON-ready tables (format 1's layout: :func:`.mapfile.expand`)."""
    return expand(*mapping_arrays(m))


def summary(m: LoihiMapping) -> dict[str, Any]:
    """Cores, chips, utilisation (overall and peak per resource), the binding resource and the traffic."""
    n = len(m.cores)
    total = {r: sum(c.usage.used(r) for c in m.cores) for r in CAPACITY_FIELDS}
    overall = {r: round(100.0 * total[r] / (n * m.spec.capacity(r)), 3) if n else 0.0 for r in CAPACITY_FIELDS}
    peak = {r: round(max((c.utilisation(m.spec)[r] for c in m.cores), default=0.0), 3) for r in CAPACITY_FIELDS}
    binding = max(peak, key=lambda r: (peak[r], -list(CAPACITY_FIELDS).index(r)))
    return {
        "target": "loihi", "core_spec": m.spec.name, "strategy": m.strategy, "cores": n, "chips": m.chips,
        "multi_chip": m.chips > 1, "cores_per_chip": m.spec.cores_per_chip,
        "neurons": total["neurons"], "synapses": sum(c.usage.synapses for c in m.cores),
        "synaptic_memory_bits": total["synaptic_memory"],
        "utilisation_percent": overall, "peak_utilisation_percent": peak, "binding_resource": binding,
        "spikes_routed_per_step": round(m.messages_per_step, 6),
        "host_spikes_per_step": round(m.host_messages_per_step, 6),
        "inter_core_spikes_per_step": round(m.inter_core_messages_per_step, 6), "rates": m.rates_note,
    }


def core_rows(m: LoihiMapping) -> list[dict[str, Any]]:
    """One row per core with CSV_COLUMNS."""
    from .rules import allocation

    rows = []
    for c in m.cores:
        u, cap = c.usage, m.spec
        rows.append({
            "core": c.index, "chip": c.chip, "allocation": allocation(u.groups), "neurons": u.neurons,
            "neurons_capacity": cap.neurons_per_core, "synapses": u.synapses, "input_axons": u.input_axons,
            "input_axons_capacity": cap.input_axons, "output_axons": u.output_axons,
            "output_axons_capacity": cap.output_axons, "synaptic_memory_bits": u.memory_bits,
            "synaptic_memory_capacity_bits": cap.synaptic_memory_bits,
            "utilisation_percent": round(max(c.utilisation(cap).values()), 1), "binding_resource": c.binding(cap),
        })
    return rows


def cores_csv(m: LoihiMapping) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(core_rows(m))
    return buf.getvalue()


def format_table(m: LoihiMapping) -> str:
    """The per-core table as printed by export, with a summary line."""
    s = summary(m)
    head = ("core", "chip", "neurons", "synapses", "in axons", "out axons", "syn. memory bits", "util %", "binding",
            "allocation")
    body = [(str(r["core"]), str(r["chip"]), f"{r['neurons']}/{r['neurons_capacity']}", str(r["synapses"]),
             f"{r['input_axons']}/{r['input_axons_capacity']}", f"{r['output_axons']}/{r['output_axons_capacity']}",
             f"{r['synaptic_memory_bits']}/{r['synaptic_memory_capacity_bits']}", f"{r['utilisation_percent']:.1f}",
             r["binding_resource"], r["allocation"]) for r in core_rows(m)]
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in (head, *body)]
    lines.append(
        f"{s['cores']} core(s) on {s['chips']} chip(s) of spec '{s['core_spec']}' ({s['strategy']} strategy); "
        f"binding resource: {s['binding_resource']} (peak {s['peak_utilisation_percent'][s['binding_resource']]:.1f}"
        f"%); spikes routed per step: {s['spikes_routed_per_step']:.2f} ({s['rates']})"
    )
    if s["multi_chip"]:
        lines.append(f"note: the network needs {s['chips']} chips ({s['cores_per_chip']} cores per chip)")
    return "\n".join(lines) + "\n"
