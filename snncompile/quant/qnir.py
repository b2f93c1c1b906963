"""Write a QGraph as a ``.nir`` file and read it back exactly.

Layout of the file (HDF5 via ``nir.write``):

* integer weight layers become NIR ``Affine`` (``Linear`` when the bias is all
  zero), ``Conv1d``/``Conv2d`` or ``Scale`` holding the **integer** arrays: the
  weights in the narrowest of int8/int16 that their ``w_bits`` allow (the reader
  widens them to int64, exactly), the biases as int64; their node metadata ``sc.*`` holds every field of the
  QDense/QConv/QScale (``sc.name``, ``sc.w_bits``, ``sc.b_bits``, ``sc.shift``,
  ``sc.bias``, conv geometry);
* each QNeuron becomes the NIR neuron of its ``kind`` (``LIF``, ``CubaLIF``,
  ...) with float parameters derived from the integers, so that other tools read
  something sensible: ``beta = beta_q / 2^D`` (likewise alpha), thresholds,
  v_reset and the leak divided by ``out_scale``, and an input gain
  ``r`` (``w_in`` for Cuba kinds) of ``2^input_shift * 2^shift / out_scale``,
  where ``shift`` is that of a single feeding weight layer.
  The node metadata ``sc.*`` holds every QNeuron field exactly (``sc.kind``,
  ``sc.alpha`` ... ``sc.i_init`` as int64, ``sc.input_shift``, ``sc.frac_bits``,
  ``sc.i_bits``, ``sc.v_bits``, ``sc.out_scale``, ``sc.semantics`` JSON);
* Input, Output, Flatten, SumPool2d and Delay are written as for float graphs;
* the graph metadata ``snncompile`` is JSON: ``format``, ``"qgraph": true``,
  ``dt``, the node ``order``, the graph ``metadata`` (with the quantiser's
  calibration report), the ``quant_spec`` (or null) and ``writer``.

The datasets are stored without compression (``nir.write(..., compression=None)``): gzip of
6.3 M weights cost more than the rest of the write, for a file that is smaller in int8 uncompressed
than it was gzipped in int64. Any HDF5 reader (``nir.read``) reads it.

:func:`read_qgraph` rebuilds the QGraph from the ``sc.*`` fields only, so
write -> read is exact (``Graph.equals`` plus an equal ``spec``). The write is
atomic: a temporary file in the target folder, renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

from .. import __version__
from ..atomic import write_file
from ..errors import GraphError, InputError
from ..frontend.conventions import convention
from ..frontend.discretize import tau_from_decay
from ..frontend.nir_nodes import convert_node, node_from_snncompile_meta, semantics_from_meta
from ..frontend.nir_passes import flatten_subgraphs
from ..frontend.nir_read import FORMAT_VERSION, META_KEY, _read_group, header_dt, header_order_and_metadata, read_raw
from ..frontend.nir_write import nir_bytes, to_nir_node
from ..nodes import Delay, Node
from ..values import number_problem, whole_problem, whole_tuple, whole_tuple_problem
from .qnodes import CUBA_KINDS, QConv1d, QConv2d, QDense, QGraph, QNeuron, QScale, QWeightNode
from .spec import QuantSpec

_WEIGHT_SCALARS = ("w_bits", "b_bits", "shift")
_CONV_FIELDS = ("stride", "padding", "dilation", "groups")
_NEURON_ARRAYS = ("alpha", "beta", "threshold", "v_reset", "bias", "v_init", "i_init")
_NEURON_INTS = ("input_shift", "frac_bits", "i_bits", "v_bits")
_Q_TYPES: dict[str, type[QWeightNode]] = {"QDense": QDense, "QConv1d": QConv1d, "QConv2d": QConv2d,
                                          "QScale": QScale}


# -- writing ----------------------------------------------------------------------------------------------------------

def _h5(value: Any) -> Any:
    """A value nir.write can store: 0-d arrays become numpy scalars (HDF5 cannot compress scalar datasets)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    if isinstance(value, dict):
        return {k: _h5(v) for k, v in value.items()}
    return value


def _weight_meta(node: QWeightNode) -> dict[str, Any]:
    meta: dict[str, Any] = {"sc.qtype": node.type_name, "sc.name": node.name, "sc.bias": np.asarray(node.bias)}
    for key in _WEIGHT_SCALARS:
        meta[f"sc.{key}"] = np.int64(getattr(node, key))
    if isinstance(node, (QConv1d, QConv2d)):
        for key in _CONV_FIELDS:
            meta[f"sc.{key}"] = np.asarray(getattr(node, key), np.int64)
    return _h5(meta)  # type: ignore[no-any-return]


def stored_weight_dtype(w_bits: int) -> type[np.signedinteger[Any]]:
    """The dataset type of a weight array of ``w_bits`` (2..16) bits: int8 up to 8 bits, else int16."""
    return np.int8 if w_bits <= 8 else np.int16


def _weight_to_nir(name: str, node: QWeightNode, graph: QGraph) -> nir.NIRNode:
    meta = _weight_meta(node)
    w = np.asarray(node.weight).astype(stored_weight_dtype(node.w_bits))  # exact: the node checked the width
    if isinstance(node, QScale):
        return nir.Scale(scale=w, metadata=meta)
    if isinstance(node, QDense):
        bias = np.asarray(node.bias, np.int64)
        if not bias.any():
            return nir.Linear(weight=w, metadata=meta)
        return nir.Affine(weight=w, bias=bias, metadata=meta)
    in_sp = graph.input_shape(name)[1:]
    bias = np.broadcast_to(np.asarray(node.bias, np.int64), (w.shape[0],)).copy()
    if isinstance(node, QConv1d):
        return nir.Conv1d(input_shape=int(in_sp[0]), weight=w, stride=node.stride, padding=node.padding,
                          dilation=node.dilation, groups=node.groups, bias=bias, metadata=meta)
    assert isinstance(node, QConv2d)
    return nir.Conv2d(input_shape=(int(in_sp[0]), int(in_sp[1])), weight=w, stride=node.stride,
                      padding=node.padding, dilation=node.dilation, groups=node.groups, bias=bias, metadata=meta)


def _input_gain(name: str, node: QNeuron, graph: QGraph) -> float:
    """2^input_shift (times 2^shift of a single feeding weight layer) / out_scale: int input -> float units."""
    gain = float(2 ** node.input_shift) / node.out_scale
    preds = graph.predecessors(name)
    if len(preds) == 1 and isinstance(graph.nodes[preds[0]], QWeightNode):
        gain *= 2.0 ** graph.nodes[preds[0]].shift  # type: ignore[attr-defined]
    return gain


def _neuron_to_nir(name: str, node: QNeuron, graph: QGraph) -> nir.NIRNode:
    meta: dict[str, Any] = {
        "sc.qtype": "QNeuron", "sc.name": node.name, "sc.kind": node.kind,
        "sc.shape": np.asarray(node.shape, np.int64),
        "sc.semantics": json.dumps(node.semantics.to_dict(), sort_keys=True),
        "sc.out_scale": np.float64(node.out_scale),
    }
    for key in _NEURON_ARRAYS:
        meta[f"sc.{key}"] = np.asarray(getattr(node, key), np.int64)
    for key in _NEURON_INTS:
        meta[f"sc.{key}"] = np.int64(getattr(node, key))
    if node.v_min is not None:
        meta["sc.v_min"] = np.asarray(node.v_min, np.int64)
    meta = _h5(meta)
    one, scale, dt = float(1 << node.frac_bits), node.out_scale, graph.dt
    f64 = np.float64
    theta = np.asarray(node.threshold, f64) / scale
    v_reset = np.asarray(node.v_reset, f64) / scale
    gain = _input_gain(name, node, graph)
    beta = np.asarray(node.beta, f64) / one
    bias = np.asarray(node.bias, f64) / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        v_leak = np.where(beta < 1.0, bias / np.maximum(1.0 - beta, 1e-300), 0.0)
    tau = tau_from_decay(beta, dt)
    kind = node.kind
    if kind == "Threshold":
        return nir.Threshold(threshold=theta, metadata=meta)
    if kind == "I":
        return nir.I(r=np.full(node.shape, gain / dt), metadata=meta)
    if kind == "IF":
        return nir.IF(r=np.full(node.shape, gain / dt), v_threshold=theta, v_reset=v_reset, metadata=meta)
    if kind == "LI":
        return nir.LI(tau=tau, r=tau / dt * gain, v_leak=v_leak, metadata=meta)
    if kind == "LIF":
        return nir.LIF(tau=tau, r=tau / dt * gain, v_leak=v_leak, v_threshold=theta, v_reset=v_reset, metadata=meta)
    tau_syn = tau_from_decay(np.asarray(node.alpha, f64) / one, dt)
    if kind == "CubaLI":
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=v_leak, w_in=tau_syn / dt * gain,
                          metadata=meta)
    assert kind in CUBA_KINDS
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=v_leak, v_threshold=theta, v_reset=v_reset,
                       w_in=tau_syn / dt * gain, metadata=meta)


def to_nir(qgraph: QGraph) -> nir.NIRGraph:
    """The QGraph as a ``nir.NIRGraph`` with exact snncompile metadata."""
    spec = qgraph.spec.to_dict() if qgraph.spec is not None else None
    header = {"format": FORMAT_VERSION, "qgraph": True, "dt": qgraph.dt, "order": list(qgraph.nodes),
              "metadata": dict(qgraph.metadata), "quant_spec": spec, "writer": f"snncompile {__version__}"}
    try:
        text = json.dumps(header)
    except TypeError as err:
        raise GraphError(f"QGraph metadata must be JSON-serialisable to be written: {err}") from None
    nodes: dict[str, nir.NIRNode] = {}
    for name, node in qgraph.nodes.items():
        if isinstance(node, QWeightNode):
            nodes[name] = _weight_to_nir(name, node, qgraph)
        elif isinstance(node, QNeuron):
            nodes[name] = _neuron_to_nir(name, node, qgraph)
        else:
            nodes[name] = to_nir_node(name, node, qgraph)
    return nir.NIRGraph(nodes=nodes, edges=list(qgraph.edges), metadata={META_KEY: text}, type_check=False)


def write_qgraph(qgraph: QGraph, path: str | Path) -> Path:
    """Write ``qgraph`` to ``path`` atomically (a staging file in the same folder, then rename)."""
    return write_file(path, nir_bytes(to_nir(qgraph), compression=None))


# -- reading ----------------------------------------------------------------------------------------------------------

def _header(path: Path, root: dict[str, Any]) -> dict[str, Any]:
    meta = root.get("metadata", {})
    raw = meta.get(META_KEY) if isinstance(meta, dict) else None
    try:
        header = json.loads(raw) if raw is not None else None
    except (TypeError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("qgraph") is not True:
        raise InputError(f"'{path}' is not a QGraph file (no snncompile metadata with \"qgraph\": true)")
    if header.get("format") != FORMAT_VERSION:
        raise InputError(f"'{path}': QGraph format {header.get('format')!r}; this snncompile reads {FORMAT_VERSION}")
    return header


def _meta(name: str, meta: dict[str, Any], key: str) -> Any:
    try:
        return meta[f"sc.{key}"]
    except KeyError:
        raise GraphError(f"node '{name}': QGraph metadata lacks 'sc.{key}'") from None


def _meta_int(name: str, meta: dict[str, Any], key: str) -> int:
    """An integer field (w_bits, shift, frac_bits, ...): 4.7 or 'abc' is refused, not truncated or a traceback."""
    value = _meta(name, meta, key)
    flat = np.asarray(value).reshape(-1)
    item: Any = flat[0].item() if flat.size == 1 else value
    problem = whole_problem(item, low=-(1 << 62))
    if problem is not None:
        raise GraphError(f"node '{name}': 'sc.{key}' {item!r} {problem}")
    return int(float(item))


def _meta_array(name: str, meta: dict[str, Any], key: str) -> np.ndarray:
    """An integer array field as stored; the node constructor checks it holds integers of its width."""
    return np.asarray(_meta(name, meta, key))


def _weight_from_nir(name: str, data: dict[str, Any], meta: dict[str, Any]) -> QWeightNode:
    qtype = str(_meta(name, meta, "qtype"))
    if qtype not in _Q_TYPES:
        raise GraphError(f"node '{name}': unknown integer node type {qtype!r}")
    key = "scale" if qtype == "QScale" else "weight"
    if key not in data:
        raise GraphError(f"node '{name}' ({qtype}): missing parameter '{key}'")
    fields: dict[str, Any] = {"name": str(_meta(name, meta, "name")), "weight": np.asarray(data[key]),
                              "bias": _meta_array(name, meta, "bias")}
    for k in _WEIGHT_SCALARS:
        fields[k] = _meta_int(name, meta, k)
    if qtype == "QConv1d":
        fields.update({k: _meta_int(name, meta, k) for k in _CONV_FIELDS})
    elif qtype == "QConv2d":
        for k in ("stride", "padding", "dilation"):
            problem = whole_tuple_problem(f"'sc.{k}'", _meta(name, meta, k))
            if problem is not None:
                raise GraphError(f"node '{name}': {problem}")
            pair = whole_tuple(_meta(name, meta, k))
            fields[k] = (pair[0], pair[-1])
        fields["groups"] = _meta_int(name, meta, "groups")
    return _Q_TYPES[qtype](**fields)


def _neuron_from_nir(name: str, meta: dict[str, Any]) -> QNeuron:
    kind = str(_meta(name, meta, "kind"))
    problem = whole_tuple_problem("'sc.shape'", _meta(name, meta, "shape"))
    if problem is not None:
        raise GraphError(f"node '{name}': {problem}")
    out_scale = _meta_array(name, meta, "out_scale")
    problem = number_problem(out_scale) if out_scale.size == 1 else f"has {out_scale.size} values, not one"
    if problem is not None:
        raise GraphError(f"node '{name}': 'sc.out_scale' {problem}")
    fields: dict[str, Any] = {
        "name": str(_meta(name, meta, "name")), "kind": kind, "shape": whole_tuple(_meta(name, meta, "shape")),
        "semantics": semantics_from_meta(name, kind, _meta(name, meta, "semantics")),
        "out_scale": float(out_scale.reshape(-1)[0]),
    }
    for key in _NEURON_ARRAYS:
        fields[key] = _meta_array(name, meta, key)
    for key in _NEURON_INTS:
        fields[key] = _meta_int(name, meta, key)
    if "sc.v_min" in meta:  # optional: written only for a clamped neuron
        fields["v_min"] = _meta_array(name, meta, "v_min")
    return QNeuron(**fields)


def read_qgraph(path: str | Path) -> QGraph:
    """The QGraph written by :func:`write_qgraph`, exactly (nodes, edges, dt, metadata, spec)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"'{path}': no such file")
    root, _version = read_raw(path)
    header = _header(path, root)
    what = f"'{path}' QGraph header"
    dt = header_dt(header, what)
    order, extra = header_order_and_metadata(header, what)
    raw_nodes, edges = flatten_subgraphs(root)
    conv = convention("nir")
    nodes: dict[str, Node] = {}
    for name, data in raw_nodes.items():
        meta = data.get("metadata", {})
        meta = meta if isinstance(meta, dict) else {}
        qtype = meta.get("sc.qtype")
        if qtype == "QNeuron":
            nodes[name] = _neuron_from_nir(name, meta)
        elif qtype is not None:
            nodes[name] = _weight_from_nir(name, data, meta)
        elif "sc.delay" in meta:
            nodes[name] = node_from_snncompile_meta(name, data)
            assert isinstance(nodes[name], Delay)
        else:
            node, gain = convert_node(name, data, conv, dt, "euler")
            if gain is not None:
                raise GraphError(f"node '{name}': unexpected input gain in a QGraph file")
            nodes[name] = node
    order = [n for n in order if n in nodes]
    ordered = {n: nodes[n] for n in order} | {n: nodes[n] for n in nodes if n not in order}
    spec = QuantSpec.from_dict(header["quant_spec"]) if header.get("quant_spec") is not None else None
    return QGraph(ordered, edges, dt, extra, spec)


def is_qgraph_file(path: str | Path) -> bool:
    """True when ``path`` is a ``.nir`` file written by :func:`write_qgraph` (reads only the graph's metadata, not
    its arrays: every command asks this of its model file)."""
    import h5py

    try:
        if not h5py.is_hdf5(path):
            return False
        with h5py.File(path, "r") as f:
            node = f.get("node")
            meta = node.get("metadata") if isinstance(node, h5py.Group) else None
            root = {"metadata": _read_group(meta) if isinstance(meta, h5py.Group) else {}}
        _header(Path(path), root)
    except (InputError, OSError, RuntimeError, KeyError, ValueError):
        return False
    return True
