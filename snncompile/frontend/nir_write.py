"""Write a snncompile Graph as a ``.nir`` file other tools can read.

Each node is written as its continuous NIR equivalent under forward Euler at
the graph's dt (tau = dt/(1-beta), r = tau/dt, so the gain is 1; v_leak =
bias/(1-beta)); IF and I get r = 1/dt. Because that conversion is not exact in
floating point, neuron and Delay nodes also carry their discrete parameters and
Semantics as node metadata (``sc.<field>``, ``sc.semantics``), and the graph
carries ``metadata['snncompile']`` (JSON: format, dt, node order, graph
metadata). snncompile reads those back, so snncompile -> NIR -> snncompile is
exact. The file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import nir
import numpy as np

from .. import __version__
from .. import nodes as ir
from ..atomic import write_file
from ..errors import GraphError
from ..graph import Graph
from .discretize import tau_from_decay
from .nir_read import FORMAT_VERSION, META_KEY


def _neuron_meta(node: ir.NeuronNode) -> dict[str, Any]:
    meta: dict[str, Any] = {"sc.semantics": json.dumps(node.semantics.to_dict(), sort_keys=True)}
    meta["sc.shape"] = np.asarray(node.shape, dtype=np.int64)
    for key in (*node.ARRAYS, "v_init"):
        meta[f"sc.{key}"] = np.asarray(getattr(node, key))
    if node.v_min is not None:  # NIR has no lower clamp: only snncompile's metadata carries it
        meta["sc.v_min"] = np.asarray(node.v_min)
    return meta


def _v_leak(bias: np.ndarray, beta: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(beta < 1.0, bias / np.maximum(1.0 - beta, 1e-300), 0.0)


def to_nir_node(name: str, node: ir.Node, graph: Graph) -> nir.NIRNode:
    dt = graph.dt
    f64 = np.float64
    if isinstance(node, ir.Input):
        return nir.Input(input_type={"input": np.asarray(node.shape, np.int64)})
    if isinstance(node, ir.Output):
        return nir.Output(output_type={"output": np.asarray(graph.shapes[name], np.int64)})
    if isinstance(node, ir.Affine):
        return nir.Affine(weight=np.asarray(node.weight), bias=np.asarray(node.bias))
    if isinstance(node, ir.Linear):
        return nir.Linear(weight=np.asarray(node.weight))
    if isinstance(node, ir.Scale):
        return nir.Scale(scale=np.asarray(node.scale))
    if isinstance(node, (ir.Conv1d, ir.Conv2d)):
        in_sp = graph.input_shape(name)[1:]
        cls = nir.Conv1d if isinstance(node, ir.Conv1d) else nir.Conv2d
        in_shape: Any = int(in_sp[0]) if isinstance(node, ir.Conv1d) else tuple(int(s) for s in in_sp)
        return cls(input_shape=in_shape, weight=np.asarray(node.weight), stride=node.stride,
                   padding=node.padding, dilation=node.dilation, groups=node.groups, bias=np.asarray(node.bias))
    if isinstance(node, (ir.SumPool2d, ir.AvgPool2d)):
        cls2 = nir.SumPool2d if isinstance(node, ir.SumPool2d) else nir.AvgPool2d
        return cls2(kernel_size=np.asarray(node.kernel_size), stride=np.asarray(node.stride),
                    padding=np.asarray(node.padding))
    if isinstance(node, ir.Flatten):
        return nir.Flatten(input_type={"input": np.asarray(graph.input_shape(name), np.int64)},
                           start_dim=node.start_dim, end_dim=node.end_dim)
    if isinstance(node, ir.Delay):
        return nir.Delay(delay=np.asarray(node.delay, f64) * dt,
                         metadata={"sc.delay": np.asarray(node.delay)})
    if not isinstance(node, ir.NeuronNode):
        raise GraphError(f"node '{name}': no NIR form for {node.type_name}")
    meta = _neuron_meta(node)
    if isinstance(node, ir.Threshold):
        return nir.Threshold(threshold=np.asarray(node.threshold), metadata=meta)
    if isinstance(node, ir.I):
        return nir.I(r=np.full(node.shape, 1.0 / dt), metadata=meta)
    if isinstance(node, ir.IF):
        return nir.IF(r=np.full(node.shape, 1.0 / dt), v_threshold=np.asarray(node.threshold, f64),
                      v_reset=np.asarray(node.v_reset, f64), metadata=meta)
    beta = np.asarray(node.beta, f64)  # type: ignore[attr-defined]
    tau = tau_from_decay(beta, dt)
    v_leak = _v_leak(np.asarray(node.bias, f64), beta)  # type: ignore[attr-defined]
    if isinstance(node, ir.LI):
        return nir.LI(tau=tau, r=tau / dt, v_leak=v_leak, metadata=meta)
    if isinstance(node, ir.LIF):
        return nir.LIF(tau=tau, r=tau / dt, v_leak=v_leak, v_threshold=np.asarray(node.threshold, f64),
                       v_reset=np.asarray(node.v_reset, f64), metadata=meta)
    tau_syn = tau_from_decay(np.asarray(node.alpha, f64), dt)  # type: ignore[attr-defined]
    if isinstance(node, ir.CubaLI):
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=v_leak, w_in=tau_syn / dt, metadata=meta)
    assert isinstance(node, ir.CubaLIF)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=tau / dt, v_leak=v_leak, w_in=tau_syn / dt,
                       v_threshold=np.asarray(node.threshold, f64), v_reset=np.asarray(node.v_reset, f64),
                       metadata=meta)


def to_nir(graph: Graph) -> nir.NIRGraph:
    """The graph as a ``nir.NIRGraph`` (with snncompile metadata)."""
    try:
        json.dumps(dict(graph.metadata))
    except TypeError as err:
        raise GraphError(f"graph metadata must be JSON-serialisable to be written: {err}") from None
    header = {"format": FORMAT_VERSION, "dt": graph.dt, "order": list(graph.nodes),
              "metadata": dict(graph.metadata), "writer": f"snncompile {__version__}"}
    nodes = {name: to_nir_node(name, node, graph) for name, node in graph.nodes.items()}
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), metadata={META_KEY: json.dumps(header)},
                        type_check=False)


def nir_bytes(graph: nir.NIRGraph, *, compression: str | None = "gzip") -> bytes:
    """``graph`` as the bytes of a .nir (HDF5) file, built in memory; ``compression`` of its array datasets is
    nir.write's (gzip by default; None stores them as they are).

    h5py never writes the disk itself: under a full disk or a file size limit it can crash the
    process (a segfault after the failed write), where a plain write raises OSError (ENOSPC, EFBIG).
    """
    buf = io.BytesIO()
    nir.write(buf, graph, compression=compression)  # type: ignore[arg-type]
    return buf.getvalue()


def write(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` atomically (a staging file in the same folder, then rename)."""
    return write_file(path, nir_bytes(to_nir(graph)))
