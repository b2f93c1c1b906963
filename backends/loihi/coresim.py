"""The core simulator: executes mapping.json core by core, spikes travelling as messages along the routes.

Each step t, in Lava's order (tests/data/lava_loihi/README.md):

1. every core updates its compartments from the dendritic input scheduled for t (Loihi arithmetic, below);
2. every spike leaves its core as one message per output axon ``(compartment, dest_core, dest_axon)``, and the
   host sends one per Input spike along ``host_routes``; a message on an axon with lag L arrives at step t + L;
3. every core reads the messages that arrived for t: each axon's synapse lists add their weights into one
   accumulator per projection; ``acc << weight_exp`` (floor shift when negative) is scheduled as dendritic
   input for step t + delay.

Compartment update (rtz(p) = sign(p) * (|p| >> 12); written from Lava's PyLifModelBitAcc, not from bitsim)::

    u' = rtz(u * (4096 - (du + 1))) + (a_in << 6);  u = u' - 2^24 if u' > 2^23, u' + 2^24 if u' <= -2^23
    v  = clip(rtz(v * (4096 - dv)) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    s  = v > (vth << 6);  v = 0 where s

The traces are bitsim's: {node: {"out": int64 [T, B, *shape], "v", "i" (= u) for neurons}} for every node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snncompile.errors import InputError

Traces = dict[str, dict[str, np.ndarray]]
_HALF = 1 << 23
_FULL = 1 << 24


def _rtz_decay(y: np.ndarray, factor: np.ndarray) -> np.ndarray:
    p = y * factor
    return np.sign(p) * (np.abs(p) >> 12)


@dataclass
class Core:
    """One core's static tables and state (arrays over its compartments; state [B, n])."""

    index: int
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray
    u0: np.ndarray
    v0: np.ndarray
    lags: np.ndarray  # per input axon
    synapses: dict[int, np.ndarray]  # projection -> int64 [n_axons, n_compartments]
    routes: np.ndarray  # [k, 3]: compartment, dest core, dest axon
    u: np.ndarray = field(init=False)
    v: np.ndarray = field(init=False)

    def reset(self, batch: int) -> None:
        n = len(self.du)
        self.u = np.broadcast_to(self.u0, (batch, n)).copy()
        self.v = np.broadcast_to(self.v0, (batch, n)).copy()

    def step(self, a_in: np.ndarray) -> np.ndarray:
        """One compartment update; returns the spikes [B, n] (int64 0/1)."""
        u = _rtz_decay(self.u, 4096 - (self.du + 1)) + (a_in << 6)
        self.u = np.where(u > _HALF, u - _FULL, np.where(u <= -_HALF, u + _FULL, u))
        v = np.clip(_rtz_decay(self.v, 4096 - self.dv) + self.u + self.bias, -(_HALF - 1), _HALF - 1)
        s = v > (self.vth << 6)
        self.v = np.where(s, 0, v)
        return s.astype(np.int64)


def build_cores(tables: Mapping[str, Any]) -> list[Core]:
    """The cores of a mapping.json dict, with dense per-projection synapse matrices."""
    cores = []
    for c in tables["cores"]:
        regs = {f: np.concatenate([np.asarray(g[f], np.int64) for g in c["compartments"]] or [np.zeros(0, np.int64)])
                for f in ("du", "dv", "vth", "bias_mant", "bias_exp", "u0", "v0")}
        n, n_axons = len(regs["du"]), len(c["input_axons"])
        synapses: dict[int, np.ndarray] = {}
        for lst in c["synapse_lists"]:
            proj = int(lst["projection"])
            if proj not in synapses:  # (not setdefault: that would allocate a matrix per list)
                synapses[proj] = np.zeros((n_axons, n), np.int64)
            mat = synapses[proj]
            w = np.asarray(lst["weights"], np.int64)
            comps = (int(lst["base"]) + np.arange(len(w)) if lst["encoding"] == "dense"
                     else np.asarray(lst["compartments"], np.int64))
            mat[int(lst["axon"]), comps] += w
        cores.append(Core(
            index=int(c["core"]), du=regs["du"], dv=regs["dv"], vth=regs["vth"],
            bias=regs["bias_mant"] << regs["bias_exp"], u0=regs["u0"], v0=regs["v0"],
            lags=np.asarray([a[1] for a in c["input_axons"]], np.int64), synapses=synapses,
            routes=np.asarray(c["output_axons"], np.int64).reshape(-1, 3),
        ))
    return cores


def _inputs(tables: Mapping[str, Any], inputs: np.ndarray | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    hosts = [p for p in tables["populations"] if p["kind"] == "host"]
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


@dataclass(frozen=True)
class _Delivery:
    """The messages into one core from one sender (a core, or the host's spikes of one Input): sender columns
    ``src`` land on the receiver's axons ``axon`` (distinct: one axon per (source, lag)) with lags ``lag``."""

    sender: int | str
    src: np.ndarray
    axon: np.ndarray
    lag: np.ndarray


def _deliveries(tables: Mapping[str, Any], cores: list[Core]) -> list[list[_Delivery]]:
    """Per receiving core, its deliveries: every route of mapping.json, grouped once instead of per step."""
    out: list[list[_Delivery]] = [[] for _ in cores]

    def add(sender: int | str, src: np.ndarray, dest: np.ndarray, axon: np.ndarray) -> None:
        for d in np.unique(dest).tolist():
            sel = dest == d
            out[d].append(_Delivery(sender, src[sel], axon[sel], cores[d].lags[axon[sel]]))

    for k, core in enumerate(cores):
        add(k, core.routes[:, 0], core.routes[:, 1], core.routes[:, 2])
    host = tables["host_routes"]
    for name in dict.fromkeys(str(r[0]) for r in host):
        rows = np.asarray([r[1:] for r in host if str(r[0]) == name], np.int64).reshape(-1, 3)
        add(name, rows[:, 0], rows[:, 1], rows[:, 2])
    return out


def _accumulate(arrived: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """``arrived @ mat`` (int64, exact) for spike messages: per sample, the sum of the weight rows of the axons
    that carry a message (a few hundred rows of a core's matrix; no BLAS call, whose threads cost more than the
    work on matrices this small)."""
    out = np.zeros((arrived.shape[0], mat.shape[1]), np.int64)
    for b in range(arrived.shape[0]):
        live = np.flatnonzero(arrived[b])
        if live.size:
            w = mat[live]
            out[b] = w.sum(axis=0) if np.all(arrived[b, live] == 1) else arrived[b, live] @ w
    return out


def simulate(tables: Mapping[str, Any], inputs: np.ndarray | Mapping[str, np.ndarray]) -> Traces:
    """Run a mapping (a mapping.json dict) on spike inputs ``[T, B, *shape]``; bitsim-format traces."""
    data = _inputs(tables, inputs)
    T, B = next(iter(data.values())).shape[:2]
    cores = build_cores(tables)
    projections = tables["projections"]
    for core in cores:
        core.reset(B)
    max_lag = max([int(a[1]) for c in tables["cores"] for a in c["input_axons"]] + [0])
    max_delay = max([int(p["delay"]) for p in projections] + [1])
    # inbox[core][t % (max_lag + 1)]: messages arrived for step t, per axon; dendrite[core][t % (max_delay+1)]
    inbox = [np.zeros((max_lag + 1, B, len(c.lags)), np.int64) for c in cores]
    dendrite = [np.zeros((max_delay + 1, B, len(c.du)), np.int64) for c in cores]
    rec = {k: [np.zeros((T, B, len(c.du)), np.int64) for c in cores] for k in ("out", "v", "i")}
    shifted = [{p: np.zeros((T, B, len(c.du)), np.int64) for p in c.synapses} for c in cores]
    deliveries = _deliveries(tables, cores)
    for t in range(T):
        spikes = []
        for k, core in enumerate(cores):
            slot = t % (max_delay + 1)
            s = core.step(dendrite[k][slot])
            dendrite[k][slot] = 0
            spikes.append(s)
            rec["out"][k][t], rec["v"][k][t], rec["i"][k][t] = s, core.v, core.u
        for dest, into in enumerate(deliveries):  # messages from the cores and the host, one scatter per sender
            for d in into:
                sent = spikes[d.sender] if isinstance(d.sender, int) else data[d.sender][t]
                inbox[dest][(t + d.lag) % (max_lag + 1), :, d.axon] += sent[:, d.src].T
        for k in range(len(cores)):
            arrived = inbox[k][t % (max_lag + 1)].copy()
            inbox[k][t % (max_lag + 1)] = 0
            for p, mat in cores[k].synapses.items():
                acc = _accumulate(arrived, mat)
                exp = int(projections[p]["weight_exp"])
                out = acc << exp if exp >= 0 else acc >> (-exp)
                shifted[k][p][t] = out
                dendrite[k][(t + int(projections[p]["delay"])) % (max_delay + 1)] += out
    return _traces(tables, data, cores, rec, shifted, T, B)


def _assemble(tables: Mapping[str, Any], population: str, size: int, per_core: list[np.ndarray], T: int, B: int
              ) -> np.ndarray:
    out = np.zeros((T, B, size), np.int64)
    for k, c in enumerate(tables["cores"]):
        for g in c["compartments"]:
            if g["population"] == population:
                n = g["stop"] - g["start"]
                out[:, :, g["start"]:g["stop"]] = per_core[k][:, :, g["base"]:g["base"] + n]
    return out


def _traces(tables: Mapping[str, Any], data: dict[str, np.ndarray], cores: list[Core],
            rec: dict[str, list[np.ndarray]], shifted: list[dict[int, np.ndarray]], T: int, B: int) -> Traces:
    traces: Traces = {}
    first_projection: dict[str, int] = {}
    for p_idx, p in enumerate(tables["projections"]):
        first_projection.setdefault(p["weights"], p_idx)
    nodes = {node["name"]: node for node in tables["nodes"]}
    for name, node in nodes.items():
        shape = tuple(node["shape"])
        size = int(np.prod(shape, dtype=np.int64))
        if node["kind"] == "input":
            traces[name] = {"out": data[name].reshape(T, B, *shape)}
        elif node["kind"] == "neuron":
            traces[name] = {key: _assemble(tables, name, size, rec[key], T, B).reshape(T, B, *shape)
                            for key in ("out", "i", "v")}
        elif node["kind"] == "weights":
            p_idx = first_projection[name]
            target = tables["projections"][p_idx]["target"]
            per_core = [s.get(p_idx, np.zeros((T, B, len(c.du)), np.int64)) for s, c in zip(shifted, cores,
                                                                                              strict=True)]
            traces[name] = {"out": _assemble(tables, target, size, per_core, T, B).reshape(T, B, *shape)}

    def passed(name: str) -> np.ndarray:
        """A pass-through node: the sum of its inputs (a recurrent input one step late, zeros at t=0)."""
        if name not in traces:
            node = nodes[name]
            size = int(np.prod(node["shape"], dtype=np.int64))
            total = np.zeros((T, B, size), np.int64)
            for pred, recurrent in node["inputs"]:
                x = passed(pred).reshape(T, B, size)
                total += np.concatenate([np.zeros_like(x[:1]), x[:-1]]) if recurrent else x
            traces[name] = {"out": total.reshape(T, B, *node["shape"])}
        return traces[name]["out"]

    for name in nodes:
        passed(name)
    return {name: traces[name] for name in nodes}
