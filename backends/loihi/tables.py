"""The mapping as data: mapping.json (every core's compartments, axons, synapse lists and routes), the per-core
table (cores.csv and the printed table) and the summary. Pure functions of a :class:`~.mapper.LoihiMapping`.

mapping.json (``format`` = ``snncompile-loihi-mapping/1``; docs/loihi.md has the field reference)::

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

from .mapper import LoihiMapping
from .registers import REGISTER_FIELDS
from .spec import CAPACITY_FIELDS

FORMAT = "snncompile-loihi-mapping/1"
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


def _decode_axons(m: LoihiMapping, keys: np.ndarray) -> list[list[Any]]:
    bases = sorted((b, src, lag) for (src, lag), b in m.cost.axon_base.items())
    starts = np.array([b for b, _, _ in bases], np.int64)
    which = np.searchsorted(starts, keys, side="right") - 1
    return [[bases[w][1], bases[w][2], int(k - bases[w][0])] for k, w in zip(keys.tolist(), which.tolist(),
                                                                              strict=True)]


def _synapse_lists(m: LoihiMapping, keys: np.ndarray, groups: tuple[tuple[str, int, int], ...]
                   ) -> list[dict[str, Any]]:
    pidx = {p.name: i for i, p in enumerate(m.netlist.projections)}
    rows: list[dict[str, Any]] = []
    base = 0
    for layer, start, stop in groups:
        for proj in m.cost.into[layer]:
            lists = m.cost.lists(proj, start, stop)
            sl = m.cost.sliced(proj, start, stop)
            post, w = proj.post[sl][lists.order], proj.weight[sl][lists.order]
            for tap in proj.taps:
                axon_ids = np.searchsorted(keys, m.cost.axon_base[(tap.source, tap.lag)] + lists.pre)
                for i in range(len(lists.pre)):
                    a, n = int(lists.start[i]), int(lists.count[i])
                    local = post[a:a + n] - start + base
                    row: dict[str, Any] = {"axon": int(axon_ids[i]), "projection": pidx[proj.name]}
                    if lists.dense[i]:
                        full = np.zeros(int(lists.span[i]), np.int64)
                        full[local - local[0]] = w[a:a + n]
                        row.update(encoding="dense", base=int(local[0]), weights=full.tolist())
                    else:
                        row.update(encoding="sparse", compartments=local.tolist(), weights=w[a:a + n].tolist())
                    row["bits"] = int(lists.bits[i])
                    rows.append(row)
        base += stop - start
    return rows


def _compartments(m: LoihiMapping, groups: tuple[tuple[str, int, int], ...]) -> list[dict[str, Any]]:
    out, base = [], 0
    for layer, start, stop in groups:
        regs = m.netlist.populations[layer].registers
        assert regs is not None
        sel = regs.select(start, stop)
        out.append({"population": layer, "start": start, "stop": stop, "base": base,
                    **{f: getattr(sel, f).tolist() for f in REGISTER_FIELDS}})
        base += stop - start
    return out


def _routes(m: LoihiMapping, keys: list[np.ndarray]) -> tuple[list[list[list[int]]], list[list[Any]]]:
    """Per core its output axons [compartment, dest_core, dest_axon]; and the host routes."""
    per_core: list[list[list[int]]] = [[] for _ in m.cores]
    host: list[list[Any]] = []
    local: dict[tuple[str, int], tuple[int, int]] = {}
    for alloc in m.cores:
        base = 0
        for layer, a, b in alloc.usage.groups:
            for n in range(a, b):
                local[(layer, n)] = (alloc.index, base + n - a)
            base += b - a
    for name, pop in m.netlist.populations.items():
        rows = m.cost.routes(name, 0, pop.size, m.core_of)
        for pre, lag, dest in rows.tolist():
            axon = int(np.searchsorted(keys[dest], m.cost.axon_base[(name, lag)] + pre))
            if pop.is_input:
                host.append([name, pre, dest, axon])
            else:
                core, comp = local[(name, pre)]
                per_core[core].append([comp, dest, axon])
    return per_core, host


def mapping_tables(m: LoihiMapping) -> dict[str, Any]:
    """The whole mapping as JSON-ready data (the module docstring lists the fields)."""
    keys = _axon_keys(m)
    out_axons, host = _routes(m, keys)
    cores = []
    for alloc, k in zip(m.cores, keys, strict=True):
        cores.append({
            "core": alloc.index, "chip": alloc.chip,
            "compartments": _compartments(m, alloc.usage.groups),
            "input_axons": _decode_axons(m, k),
            "synapse_lists": _synapse_lists(m, k, alloc.usage.groups),
            "output_axons": out_axons[alloc.index],
            "usage": {r: alloc.usage.used(r) for r in CAPACITY_FIELDS} | {"synapses": alloc.usage.synapses},
            "capacity": {r: m.spec.capacity(r) for r in CAPACITY_FIELDS},
            "utilisation_percent": {r: round(v, 3) for r, v in alloc.utilisation(m.spec).items()},
            "binding_resource": alloc.binding(m.spec),
        })
    projections = [{
        "name": p.name, "weights": p.weights, "target": p.target,
        "sources": [{"population": t.source, "lag": t.lag} for t in p.taps], "weight_exp": p.weight_exp,
        "delay": p.delay, "sign_mode": p.sign_mode, "num_weight_bits": p.num_weight_bits,
        "stored_weight_bits": m.cost.weight_bits[p.name], "synapses": int(len(p.pre)) * len(p.taps),
        "shape": list(p.out_shape),
    } for p in m.netlist.projections]
    return {
        "format": FORMAT,
        "core_spec": m.spec.to_dict(),
        "nodes": [{"name": n.name, "kind": n.kind, "shape": list(n.shape), "inputs": [list(i) for i in n.inputs]}
                  for n in m.netlist.nodes],
        "populations": [{"name": p.name, "shape": list(p.shape), "kind": "host" if p.is_input else "compartments"}
                        for p in m.netlist.populations.values()],
        "projections": projections,
        "cores": cores,
        "host_routes": host,
        "summary": summary(m),
    }


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
