"""The mapping on disk: ``mapping.json`` (a small index) + ``mapping.npz`` (every per-compartment, per-axon,
per-list and per-route array), and the expanded per-core tables as one JSON-ready dict.

Format ``snncompile-loihi-mapping/2`` (docs/loihi.md §7 has the field reference). Arrays are concatenated over the
cores in core order; ``*_offsets`` (int64 [cores + 1]) say where each core's rows start:

    compartment_offsets   du, dv, vth, bias_mant, bias_exp, u0, v0        per compartment (local id = row - offset)
    axon_offsets          axon_population (index into ``populations``), axon_lag, axon_index   (axon id = row - offset)
    list_offsets          list_axon, list_projection (index into ``projections``), list_dense (1 dense, 0 sparse),
                          list_base (first compartment; a dense list covers base .. base + length - 1), list_length
                          (weights stored), list_bits; weight: the lists' stored weights one after another (dense
                          lists include the zeros inside their span); sparse_compartment: the compartments of the
                          sparse lists' weights, in the same order
    route_offsets         route_compartment, route_dest_core, route_dest_axon           (output axons)
    host_population, host_index, host_dest_core, host_dest_axon                         (Input spikes)

Each array is stored in the narrowest integer type holding its values. :func:`expand` gives the per-core tables of
format 1 (lists of dicts; tests and people read them); :func:`collapse` turns such tables back into arrays, so a
format-1 mapping.json still runs.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import InputError

from .registers import REGISTER_FIELDS

FORMAT = "snncompile-loihi-mapping/2"
FORMAT_1 = "snncompile-loihi-mapping/1"
MAPPING_FILE = "mapping.json"
ARRAYS_FILE = "mapping.npz"
SECTIONS = {  # offsets array -> the per-row arrays it indexes
    "compartment_offsets": REGISTER_FIELDS,
    "axon_offsets": ("axon_population", "axon_lag", "axon_index"),
    "list_offsets": ("list_axon", "list_projection", "list_dense", "list_base", "list_length", "list_bits"),
    "route_offsets": ("route_compartment", "route_dest_core", "route_dest_axon"),
}
HOST = ("host_population", "host_index", "host_dest_core", "host_dest_axon")
Arrays = dict[str, np.ndarray]


def narrow(values: np.ndarray) -> np.ndarray:
    """``values`` in the narrowest signed integer type that holds them (int8 for an empty array)."""
    a = np.asarray(values)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return a.astype(dtype)
    return a.astype(np.int64)


def offsets(counts: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(counts, np.int64))]).astype(np.int64)


def to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The arrays as one uncompressed .npz (zip of .npy files)."""
    buf = io.BytesIO()
    stored: dict[str, Any] = {k: np.asarray(v, np.int64) if k.endswith("_offsets") else narrow(v)
                              for k, v in arrays.items()}
    np.savez(buf, **stored)
    return buf.getvalue()


def entry_compartments(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """int64 per stored weight: its compartment (dense lists: base + position; sparse: sparse_compartment)."""
    length = np.asarray(arrays["list_length"], np.int64)
    dense = np.asarray(arrays["list_dense"], bool)
    start = np.cumsum(length) - length
    # base + (entry - start) for every entry, as one repeat added to one arange in place
    out = np.arange(int(length.sum()), dtype=np.int64)
    out += np.repeat(np.asarray(arrays["list_base"], np.int64) - start, length)
    if not dense.all():
        out[np.repeat(~dense, length)] = np.asarray(arrays["sparse_compartment"], np.int64)
    return out


def check_arrays(index: Mapping[str, Any], arrays: Mapping[str, np.ndarray], where: str) -> None:
    """InputError unless the arrays have the lengths the index and the offsets say."""
    n_cores = len(index["cores"])
    for off, fields in SECTIONS.items():
        o = arrays.get(off)
        if o is None or o.shape != (n_cores + 1,) or o[0] != 0 or np.any(np.diff(o) < 0):
            raise InputError(f"loihi: {where}: '{off}' must be {n_cores + 1} ascending offsets from 0")
        for f in fields:
            if f not in arrays or arrays[f].shape != (int(o[-1]),):
                raise InputError(f"loihi: {where}: array '{f}' must have {int(o[-1])} values ('{off}')")
    n_host = len(arrays.get("host_index", ()))
    if any(f not in arrays or arrays[f].shape != (n_host,) for f in HOST):
        raise InputError(f"loihi: {where}: the host_* arrays must have one length")
    length, dense = np.asarray(arrays["list_length"], np.int64), np.asarray(arrays["list_dense"], bool)
    if np.any(length < 1) or arrays.get("weight", np.zeros(0)).shape != (int(length.sum()),) or \
            arrays.get("sparse_compartment", np.zeros(0)).shape != (int(length[~dense].sum()),):
        raise InputError(f"loihi: {where}: 'weight' / 'sparse_compartment' do not match list_length")


def read(artifact: str | Path) -> tuple[dict[str, Any], Arrays]:
    """(index, arrays) of an artifact folder (or its mapping.json); a format-1 mapping is collapsed to arrays."""
    path = Path(artifact)
    if path.is_dir():
        path = path / MAPPING_FILE
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"loihi: cannot read mapping '{path}' ({exc})") from None
    fmt = index.get("format") if isinstance(index, dict) else None
    if fmt == FORMAT_1:
        return collapse(index)
    if fmt != FORMAT:
        raise InputError(f"loihi: '{path}' is not a {FORMAT} mapping")
    npz = path.with_name(str(index.get("arrays", {}).get("file", ARRAYS_FILE)))
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"loihi: cannot read the mapping's arrays '{npz}' ({exc})") from None
    check_arrays(index, arrays, str(npz))
    return index, arrays


def _rows(arrays: Mapping[str, np.ndarray], off: str, k: int, fields: tuple[str, ...]) -> list[np.ndarray]:
    a, b = int(arrays[off][k]), int(arrays[off][k + 1])
    return [np.asarray(arrays[f][a:b], np.int64) for f in fields]


def expand(index: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The format-1 tables (every core's compartments, axons, lists and routes as JSON lists) of a mapping."""
    pops = [p["name"] for p in index["populations"]]
    weight = np.asarray(arrays["weight"], np.int64)
    sparse_comp = np.asarray(arrays["sparse_compartment"], np.int64)
    length = np.asarray(arrays["list_length"], np.int64)
    w_start = np.cumsum(length) - length
    s_start = np.cumsum(np.where(arrays["list_dense"], 0, length)) - np.where(arrays["list_dense"], 0, length)
    cores = []
    for k, core in enumerate(index["cores"]):
        regs = dict(zip(REGISTER_FIELDS, _rows(arrays, "compartment_offsets", k, REGISTER_FIELDS), strict=True))
        comps = [{**g, **{f: regs[f][g["base"]:g["base"] + g["stop"] - g["start"]].tolist() for f in REGISTER_FIELDS}}
                 for g in core["compartments"]]
        pop, lag, idx = _rows(arrays, "axon_offsets", k, SECTIONS["axon_offsets"])
        lists = []
        a, b = int(arrays["list_offsets"][k]), int(arrays["list_offsets"][k + 1])
        for i in range(a, b):
            w = weight[w_start[i]:w_start[i] + length[i]].tolist()
            row: dict[str, Any] = {"axon": int(arrays["list_axon"][i]), "projection": int(arrays["list_projection"][i])}
            if arrays["list_dense"][i]:
                row.update(encoding="dense", base=int(arrays["list_base"][i]), weights=w)
            else:
                row.update(encoding="sparse", compartments=sparse_comp[s_start[i]:s_start[i] + length[i]].tolist(),
                           weights=w)
            row["bits"] = int(arrays["list_bits"][i])
            lists.append(row)
        routes = np.stack(_rows(arrays, "route_offsets", k, SECTIONS["route_offsets"]), axis=1)
        cores.append({"core": core["core"], "chip": core["chip"], "compartments": comps,
                      "input_axons": [[pops[p], g, i] for p, g, i in zip(pop.tolist(), lag.tolist(), idx.tolist(),
                                                                          strict=True)],
                      "synapse_lists": lists, "output_axons": routes.tolist(),
                      **{key: core[key] for key in ("usage", "capacity", "utilisation_percent", "binding_resource")}})
    host = [[pops[p], i, d, a] for p, i, d, a in zip(*(np.asarray(arrays[f]).tolist() for f in HOST), strict=True)]
    out = {key: value for key, value in index.items() if key not in ("arrays", "cores")}
    return {**out, "cores": cores, "host_routes": host}


def collapse(tables: Mapping[str, Any]) -> tuple[dict[str, Any], Arrays]:
    """(index, arrays) of format-1 tables (:func:`expand`'s inverse)."""
    pop_id = {p["name"]: i for i, p in enumerate(tables["populations"])}
    cols: dict[str, list[Any]] = {f: [] for fields in SECTIONS.values() for f in fields}
    cols |= {f: [] for f in (*HOST, "weight", "sparse_compartment")}
    counts: dict[str, list[int]] = {off: [] for off in SECTIONS}
    index_cores = []
    for core in tables["cores"]:
        for f in REGISTER_FIELDS:
            cols[f] += [v for g in core["compartments"] for v in g[f]]
        counts["compartment_offsets"].append(sum(g["stop"] - g["start"] for g in core["compartments"]))
        for pop, lag, idx in core["input_axons"]:
            cols["axon_population"].append(pop_id[pop])
            cols["axon_lag"].append(lag)
            cols["axon_index"].append(idx)
        counts["axon_offsets"].append(len(core["input_axons"]))
        for lst in core["synapse_lists"]:
            dense = lst["encoding"] == "dense"
            for f, v in (("list_axon", lst["axon"]), ("list_projection", lst["projection"]), ("list_dense", dense),
                         ("list_base", lst["base"] if dense else lst["compartments"][0]),
                         ("list_length", len(lst["weights"])), ("list_bits", lst["bits"])):
                cols[f].append(v)
            cols["weight"] += lst["weights"]
            if not dense:
                cols["sparse_compartment"] += lst["compartments"]
        counts["list_offsets"].append(len(core["synapse_lists"]))
        for f, v in zip(SECTIONS["route_offsets"], zip(*core["output_axons"], strict=True) if core["output_axons"]
                        else ((), (), ()), strict=True):
            cols[f] += list(v)
        counts["route_offsets"].append(len(core["output_axons"]))
        index_cores.append({"core": core["core"], "chip": core["chip"],
                            "compartments": [{k: g[k] for k in ("population", "start", "stop", "base")}
                                             for g in core["compartments"]],
                            **{key: core[key] for key in ("usage", "capacity", "utilisation_percent",
                                                          "binding_resource") if key in core}})
    for pop, i, d, a in tables["host_routes"]:
        for f, v in zip(HOST, (pop_id[pop], i, d, a), strict=True):
            cols[f].append(v)
    arrays = {f: np.asarray(v, np.int64) for f, v in cols.items()} | {off: offsets(c) for off, c in counts.items()}
    index = {k: v for k, v in tables.items() if k not in ("cores", "host_routes")}
    return {**index, "format": FORMAT, "cores": index_cores}, arrays
