"""Map a QGraph under the ``xylo`` preset onto one Xylo core: a pure function, deterministic.

What maps (anything else is refused with ``ResourceError``, exit 3, naming the node and the rule):

* one flat ``Input`` (the input channels) and ``QDense`` weight layers between neurons, each with one source
  (the Input or a neuron) and one target neuron, zero bias, a left shift >= 0 and int8 weights;
* CubaLIF ``QNeuron`` s under the ``xylo`` preset (:data:`~.rules.NODE_RULES`). A neuron that feeds an
  ``Output`` is a *readout* neuron (spike_cap 1; it may feed nothing else and be fed by hidden neurons only);
  every other neuron is *hidden* (spike_cap 31).

Hidden neurons take consecutive Xylo indices in graph order (that is also the per-event order of the
``xylo`` preset), readout neurons likewise. Input->hidden layers fill ``weights_in``, hidden->hidden layers
(forward or recurrent edges alike) ``weights_rec``, hidden->readout ``weights_out``, all on synapse 0 (a QGraph
neuron has one current; Xylo's second synapse is reachable through :class:`~.spec.XyloNet` directly). A
feed-forward network is thereby embedded in the recurrent matrix, and each hop costs the one step of delay that
the preset's ``hop_delay=1`` states: the readout of an L-hidden-layer chain answers L steps after its input
(``XyloMapping.latency``). One weight shift per matrix: the layers sharing a matrix must agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snncompile.errors import InputError, ResourceError
from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron

from .rules import NODE_RULES, dash_of
from .spec import MAX_HIDDEN_SPIKES, MAX_INPUT_EVENTS, XyloNet

Traces = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class XyloMapping:
    """Where each QGraph node landed: ``hidden`` / ``readout`` neuron index ranges, the weight layers as
    (source, target, matrix) with matrix in {"in", "rec", "out"}, and the latency in steps (hops)."""

    net: XyloNet
    hidden: dict[str, tuple[int, int]]
    readout: dict[str, tuple[int, int]]
    layers: dict[str, tuple[str, str, str]]
    latency: int
    input: str = "input"
    outputs: dict[str, tuple[str, ...]] | None = None  # Output node -> the readout neurons it reads

    def to_dict(self) -> dict[str, object]:
        """What :func:`mapping_from_dict` needs next to the spec (mapping.json)."""
        return {"format": "snncompile-xylo-mapping/1", "input": self.input, "latency_steps": self.latency,
                "hidden": {k: list(v) for k, v in self.hidden.items()},
                "readout": {k: list(v) for k, v in self.readout.items()},
                "layers": {k: list(v) for k, v in self.layers.items()},
                "outputs": {k: list(v) for k, v in (self.outputs or {}).items()}}

    def summary(self) -> dict[str, object]:
        return {"input_channels": self.net.n_in, "hidden_neurons": self.net.n_hidden,
                "output_neurons": self.net.n_out, "latency_steps": self.latency,
                "hidden": {k: list(v) for k, v in self.hidden.items()},
                "readout": {k: list(v) for k, v in self.readout.items()},
                "weight_shift": {"in": self.net.weight_shift_in, "rec": self.net.weight_shift_rec,
                                 "out": self.net.weight_shift_out},
                "nonzero_weights": {"in": int((self.net.weights_in != 0).sum()),
                                    "rec": int((self.net.weights_rec != 0).sum()),
                                    "out": int((self.net.weights_out != 0).sum())}}


def _refuse(message: str) -> None:
    raise ResourceError(f"xylo: {message}")


def _ranges(names: list[str], qgraph: QGraph) -> dict[str, tuple[int, int]]:
    out, start = {}, 0
    for name in names:
        size = int(np.prod(qgraph.shapes[name]))
        out[name] = (start, start + size)
        start += size
    return out


def _classify(qgraph: QGraph) -> tuple[str, list[str], list[str]]:
    inputs = [n for n, nd in qgraph.nodes.items() if isinstance(nd, Input)]
    if len(inputs) != 1 or len(qgraph.shapes[inputs[0]]) != 1:
        _refuse(f"one flat Input is Xylo's input channels; this graph has {len(inputs)} "
                f"({', '.join(f'{n} {qgraph.shapes[n]}' for n in inputs)})")
    readout: list[str] = []
    hidden: list[str] = []
    for name in qgraph.order:
        node = qgraph.nodes[name]
        if isinstance(node, (Input, Output)):
            continue
        if not isinstance(node, (QDense, QNeuron)):
            _refuse(f"node '{name}' ({type(node).__name__}): Xylo runs dense weights and neurons only")
        if isinstance(node, QNeuron):
            if node.v_min is not None:
                _refuse(f"node '{name}': v_min (a lower membrane clamp, min {int(np.min(node.v_min))}) cannot be "
                        "represented: Xylo's neurons saturate v at the 16-bit limits only")
            feeds_output = any(isinstance(qgraph.nodes[s], Output) for s in qgraph.successors(name))
            (readout if feeds_output else hidden).append(name)
    for name in qgraph.order:
        if isinstance(qgraph.nodes[name], Output):
            for p in qgraph.predecessors(name):
                if p not in readout:
                    _refuse(f"Output '{name}' reads '{p}'; Xylo's outputs are readout neurons' spikes")
    return inputs[0], hidden, readout


def _layer_ends(qgraph: QGraph, name: str) -> tuple[str, str]:
    preds, succs = qgraph.predecessors(name), qgraph.successors(name)
    node = qgraph.nodes[name]
    assert isinstance(node, QDense)
    if len(preds) != 1 or len(succs) != 1 or not isinstance(qgraph.nodes[succs[0]], QNeuron):
        _refuse(f"weight layer '{name}' has {len(preds)} source(s) and {len(succs)} target(s); on Xylo a weight "
                "matrix block joins one source population to one neuron population")
    if np.any(node.bias):
        _refuse(f"weight layer '{name}': bias is not 0 (Xylo has no synaptic bias; fold it into the neuron's)")
    if node.shift < 0:
        _refuse(f"weight layer '{name}': shift {node.shift} < 0 (Xylo shifts weights left only)")
    w = node.weight
    if w.size and (w.min() < -128 or w.max() > 127):
        _refuse(f"weight layer '{name}': weight {int(w.min() if w.min() < -128 else w.max())} does not fit int8")
    return preds[0], succs[0]


def lower(qgraph: QGraph) -> XyloMapping:
    """The Xylo mapping of ``qgraph`` (module docstring); ResourceError naming the first rule it breaks."""
    inp, hidden, readout = _classify(qgraph)
    for name in hidden + readout:
        node = qgraph.nodes[name]
        assert isinstance(node, QNeuron)
        for rule in NODE_RULES:
            rule(name, node, name in readout)
    hid, rd = _ranges(hidden, qgraph), _ranges(readout, qgraph)
    n_in = qgraph.shapes[inp][0]
    n, n_out = (max((b for _, b in hid.values()), default=0), max((b for _, b in rd.values()), default=0))
    w = {"in": np.zeros((n_in, n, 2), np.int64), "rec": np.zeros((n, n, 2), np.int64),
         "out": np.zeros((n, n_out), np.int64)}
    shifts: dict[str, tuple[int, str]] = {}
    layers: dict[str, tuple[str, str, str]] = {}
    for name in qgraph.order:
        node = qgraph.nodes[name]
        if not isinstance(node, QDense):
            continue
        src, dst = _layer_ends(qgraph, name)
        if src in readout:
            _refuse(f"weight layer '{name}' reads readout neuron '{src}'; Xylo's readout spikes leave the chip")
        matrix = "in" if src == inp else "out" if dst in readout else "rec"
        if matrix == "out" and src == inp:
            _refuse(f"weight layer '{name}' joins the Input to readout '{dst}'; Xylo has no input->readout weights")
        if matrix in shifts and shifts[matrix][0] != node.shift:
            _refuse(f"weight layer '{name}': shift {node.shift} != {shifts[matrix][0]} of '{shifts[matrix][1]}' "
                    f"(Xylo has one weight shift per matrix, here '{matrix}')")
        shifts.setdefault(matrix, (int(node.shift), name))
        rows = (0, n_in) if matrix == "in" else hid[src]
        cols = rd[dst] if matrix == "out" else hid[dst]
        block = (slice(*rows), slice(*cols))
        target = w[matrix][block] if matrix == "out" else w[matrix][block + (0,)]
        if target.any():
            _refuse(f"weight layer '{name}': a second layer from '{src}' to '{dst}' (Xylo holds one weight per pair)")
        target[...] = node.weight.T
        layers[name] = (src, dst, matrix)
    params: dict[str, Any] = {}
    for names, ranges, suffix in ((hidden, hid, ""), (readout, rd, "_out")):
        size = n if not suffix else n_out
        dm, ds, th, bi = (np.zeros(size, np.int64) for _ in range(4))
        for name in names:
            node = qgraph.nodes[name]
            assert isinstance(node, QNeuron)
            sl = slice(*ranges[name])
            ds[sl] = dash_of(name, "alpha", node.alpha, node.frac_bits).ravel()  # type: ignore[arg-type]
            dm[sl] = dash_of(name, "beta", node.beta, node.frac_bits).ravel()  # type: ignore[arg-type]
            th[sl] = np.ravel(node.threshold)  # type: ignore[arg-type]
            bi[sl] = np.ravel(node.bias)  # type: ignore[arg-type]
        params.update({f"dash_mem{suffix}": dm, f"dash_syn{suffix}": ds, f"threshold{suffix}": th,
                       f"bias{suffix}": bi})
    net = XyloNet(weights_in=w["in"], weights_rec=w["rec"], weights_out=w["out"], dash_syn_2=np.zeros(n, np.int64),
                  weight_shift_in=shifts.get("in", (0, ""))[0], weight_shift_rec=shifts.get("rec", (0, ""))[0],
                  weight_shift_out=shifts.get("out", (0, ""))[0], **params)
    outputs = {o: tuple(qgraph.predecessors(o)) for o, nd in qgraph.nodes.items() if isinstance(nd, Output)}
    return XyloMapping(net=net, hidden=hid, readout=rd, layers=layers, latency=_latency(qgraph, inp, layers),
                       input=inp, outputs=outputs)


def mapping_from_dict(net: XyloNet, data: Mapping[str, Any]) -> XyloMapping:
    """The :class:`XyloMapping` of :meth:`XyloMapping.to_dict` and its spec."""
    if data.get("format") != "snncompile-xylo-mapping/1":
        raise InputError("xylo mapping: not a snncompile Xylo mapping (format key missing)")
    pair = lambda d: {k: (int(v[0]), int(v[1])) for k, v in d.items()}  # noqa: E731
    return XyloMapping(net=net, hidden=pair(data["hidden"]), readout=pair(data["readout"]),
                       layers={k: (v[0], v[1], v[2]) for k, v in data["layers"].items()},
                       latency=int(data["latency_steps"]), input=str(data["input"]),
                       outputs={k: tuple(v) for k, v in data["outputs"].items()})


def layer_weights(mapping: XyloMapping, name: str) -> tuple[np.ndarray, int]:
    """Weight layer ``name``'s int8 block ``[out, in]`` and shift, read back from the mapped matrices."""
    src, dst, matrix = mapping.layers[name]
    net = mapping.net
    if matrix == "in":
        return net.weights_in[:, slice(*mapping.hidden[dst]), 0].T, net.weight_shift_in
    if matrix == "rec":
        return net.weights_rec[slice(*mapping.hidden[src]), slice(*mapping.hidden[dst]), 0].T, net.weight_shift_rec
    return net.weights_out[slice(*mapping.hidden[src]), slice(*mapping.readout[dst])].T, net.weight_shift_out


def _latency(qgraph: QGraph, inp: str, layers: Mapping[str, tuple[str, str, str]]) -> int:
    """Steps from the input to the first readout response: hidden->hidden forward hops + 1 (hidden->readout)."""
    depth = {inp: -1}
    for name in qgraph.order:
        for lname, (src, dst, _) in layers.items():
            if dst == name and (lname, dst) not in qgraph.recurrent_edges and src in depth:
                depth[name] = max(depth.get(name, 0), depth[src] + 1)
    return max((d for d in depth.values()), default=0)


#: which Xylo record holds each trace of a hidden / readout neuron node
_HIDDEN_RECORDS = {"out": "spikes", "i": "isyn", "v": "vmem"}
_READOUT_RECORDS = {"out": "spikes_out", "i": "isyn_out", "v": "vmem_out"}


def _wanted(mapping: XyloMapping, want: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    """``want`` closed under what computes it: an Output node needs its readouts' "out"."""
    if want is None:
        return {n: ("out", "i", "v") for n in (*mapping.hidden, *mapping.readout)} | \
            {n: ("out",) for n in (mapping.input, *mapping.layers, *(mapping.outputs or {}))}
    need = {n: tuple(k) for n, k in want.items()}
    for name in want:
        for p in (mapping.outputs or {}).get(name, ()):
            need[p] = tuple(dict.fromkeys((*need.get(p, ()), "out")))
    return need


def records_for(mapping: XyloMapping, want: Mapping[str, tuple[str, ...]] | None) -> tuple[str, ...]:
    """The Xylo records :func:`traces_by_node` reads to give the traces ``want`` ({node: keys}; None: all)."""
    from snncompile.backends.bitsim.xylo_c import RECORDS

    need = _wanted(mapping, want)
    rec: set[str] = set()
    for name, keys in need.items():
        table = _HIDDEN_RECORDS if name in mapping.hidden else _READOUT_RECORDS if name in mapping.readout else {}
        rec.update(table[k] for k in keys if k in table)
        if name in mapping.layers and mapping.layers[name][0] != mapping.input:
            rec.add("spikes")  # a hidden source's events: its spikes of step t-1
    return tuple(r for r in RECORDS if r in rec)


def traces_by_node(mapping: XyloMapping, inputs: np.ndarray, xt: Mapping[str, np.ndarray],
                   want: Mapping[str, tuple[str, ...]] | None = None) -> Traces:
    """Per-node traces (``out``, ``v``, ``i``) of the mapped QGraph from Xylo records ``xt``
    (``XyloTraces.items()``); ``want`` ({node: keys}, None: all) limits them to the asked nodes and keys
    (``xt`` then needs only :func:`records_for`'s records). A weight layer's ``out`` is the exact sum of the
    events it delivered in the step: its source's counts (input clamped to 15; hidden spikes of step t-1,
    clamped to 31) times ``wrap16(w << shift)``."""
    from snncompile.backends.bitsim.xylo import effective_weights

    need = _wanted(mapping, want)
    inp = mapping.input
    traces: Traces = {inp: {"out": np.asarray(inputs, np.int64)}} if inp in need else {}
    for ranges, table in ((mapping.hidden, _HIDDEN_RECORDS), (mapping.readout, _READOUT_RECORDS)):
        for name, (a, b) in ranges.items():
            if name in need:
                traces[name] = {k: xt[table[k]][:, :, a:b] for k in ("out", "i", "v") if k in need[name]}
    if any(n in need for n in mapping.layers):
        spikes = xt["spikes"] if "spikes" in xt else None
        delayed = None if spikes is None else \
            np.concatenate([np.zeros_like(spikes[:1]), np.minimum(spikes[:-1], MAX_HIDDEN_SPIKES)])
        for name, (src, _, _) in mapping.layers.items():
            if name not in need:
                continue
            counts = np.minimum(np.asarray(inputs, np.int64), MAX_INPUT_EVENTS) if src == inp else \
                delayed[:, :, slice(*mapping.hidden[src])]  # type: ignore[index]
            weight, shift = layer_weights(mapping, name)
            traces[name] = {"out": np.einsum("tbi,oi->tbo", counts.astype(np.int64),
                                             effective_weights(weight, shift))}
    for name, preds in (mapping.outputs or {}).items():
        if name in need:
            traces[name] = {"out": sum((traces[p]["out"] for p in preds[1:]), traces[preds[0]]["out"].copy())}
    if want is None:
        return traces
    return {n: {k: traces[n][k] for k in keys} for n, keys in want.items()}
