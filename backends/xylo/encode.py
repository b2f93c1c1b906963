"""Quantise a float Graph into Xylo's registers: a QGraph under the ``xylo`` preset that :mod:`.lower` maps.

Per neuron j (a CubaLIF; Xylo has no synapse-less neuron), after the float model's convention:

* decays become bit shifts: ``k = clip(round(-log2(1 - decay)), 0, 15)``, i.e. decay 1 - 2^-k (the nearest in
  log scale; a float decay of 1 becomes k = 15);
* Xylo decays the current after adding the input (``i = alpha*(i + x)``); the float models decay it before
  (``i = alpha*i + x``), so the incoming weights are divided by the neuron's quantised alpha first, which makes
  the two recurrences equal;
* one scale ``s_j`` for all weights into the neuron: its largest incoming |w| becomes 127 (int8), unless the
  threshold would then pass 2^13 (a quarter of the 16-bit state, headroom for the membrane above threshold);
  ``threshold = max(1, round(theta*s_j))``, ``bias = round(b*s_j)``;
* every weight shift is 0 (the per-neuron scale lives in the threshold, which Xylo holds per neuron).

What differs from the float model is measured, not hidden: the float<->fixed rung reports the agreement.
Refused (``ResourceError``): weight layers with a non-zero bias (Xylo has no synaptic bias), neurons other than
CubaLIF, and anything but Linear/Affine weight layers (the rest of the graph's rules are :mod:`.lower`'s).
"""

from __future__ import annotations

import numpy as np

from snncompile.errors import ResourceError
from snncompile.graph import Graph
from snncompile.nodes import Affine, CubaLIF, Input, Linear, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS

from .spec import MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES

FRAC_BITS = 16
THRESHOLD_HEADROOM = 1 << 13


def dash_for(decay: np.ndarray) -> np.ndarray:
    """The bit shift k in 0..15 whose decay 1 - 2^-k is nearest ``decay`` in log(1 - decay)."""
    d = np.clip(np.asarray(decay, np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        k = np.rint(-np.log2(np.maximum(1.0 - d, 2.0 ** -15)))
    return np.clip(k, 0, 15).astype(np.int64)


def multiplier(dash: np.ndarray) -> np.ndarray:
    """The QNeuron decay multiplier (``FRAC_BITS`` fractional bits) of bit shift ``dash``."""
    return (1 << FRAC_BITS) - (1 << (FRAC_BITS - dash))


def quantize_for_xylo(graph: Graph) -> QGraph:
    """The xylo-preset QGraph of ``graph`` (module docstring). Names and edges are kept."""
    readout = {p for n, nd in graph.nodes.items() if isinstance(nd, Output) for p in graph.predecessors(n)}
    nodes: dict[str, object] = {}
    for name in graph.order:
        node = graph.nodes[name]
        if isinstance(node, (Input, Output)):
            nodes[name] = node
        elif isinstance(node, (Linear, Affine)):
            if isinstance(node, Affine) and np.any(node.bias):
                raise ResourceError(f"xylo: node '{name}': weight layer bias is not 0 (Xylo has no synaptic bias)")
        elif isinstance(node, CubaLIF):
            if node.v_min is not None:
                raise ResourceError(f"xylo: node '{name}': v_min (a lower membrane clamp, min "
                                    f"{float(np.min(node.v_min)):.6g}) cannot be represented: Xylo's neurons "
                                    "saturate v at the 16-bit limits only")
        else:
            raise ResourceError(f"xylo: node '{name}' ({type(node).__name__}): Xylo runs Linear/Affine weights and "
                                "CubaLIF neurons")
    for name in graph.order:
        node = graph.nodes[name]
        if not isinstance(node, CubaLIF):
            continue
        n = int(np.prod(graph.shapes[name]))
        dash_syn = np.broadcast_to(dash_for(node.alpha), (n,))
        dash_mem = np.broadcast_to(dash_for(node.beta), (n,))
        alpha_q = 1.0 - 2.0 ** -dash_syn.astype(np.float64)
        layers = [p for p in graph.predecessors(name) if isinstance(graph.nodes[p], (Linear, Affine))]
        if len(layers) != len(graph.predecessors(name)):
            raise ResourceError(f"xylo: node '{name}': every input of a Xylo neuron is a weight layer")
        gain = np.where(alpha_q > 0, 1.0 / np.maximum(alpha_q, 1e-12), 0.0)  # alpha 0 (k=0): the input is lost
        weights = {p: np.asarray(graph.nodes[p].weight, np.float64) * gain[:, None] for p in layers}  # type: ignore
        peak = np.max(np.stack([np.abs(w).max(axis=1) for w in weights.values()]), axis=0)
        theta = np.broadcast_to(np.asarray(node.threshold, np.float64), (n,))
        scale = np.where(peak > 0, 127.0 / np.where(peak > 0, peak, 1.0), 1.0)
        scale = np.minimum(scale, np.where(theta > 0, THRESHOLD_HEADROOM / np.maximum(theta, 1e-12), scale))
        for p, w in weights.items():
            nodes[p] = QDense(name=p, weight=np.clip(np.rint(w * scale[:, None]), -128, 127).astype(np.int64),
                              w_bits=8, shift=0)
        bias = np.broadcast_to(np.asarray(node.bias, np.float64), (n,))
        cap = MAX_OUTPUT_SPIKES if name in readout else MAX_HIDDEN_SPIKES
        nodes[name] = QNeuron(
            name=name, kind="CubaLIF", shape=(n,), semantics=PRESETS["xylo"].with_(spike_cap=cap),
            alpha=multiplier(dash_syn), beta=multiplier(dash_mem),
            threshold=np.clip(np.rint(theta * scale), 1, (1 << 15) - 1).astype(np.int64),
            bias=np.clip(np.rint(bias * scale), -(1 << 15), (1 << 15) - 1).astype(np.int64),
            frac_bits=FRAC_BITS, i_bits=16, v_bits=16, out_scale=float(np.mean(scale)),
        )
    missing = [n for n in graph.order if n not in nodes]
    if missing:
        raise ResourceError(f"xylo: weight layer '{missing[0]}' feeds no Xylo neuron")
    return QGraph(nodes=nodes, edges=graph.edges, metadata={**graph.metadata, "quantiser": "xylo"})  # type: ignore
