"""The verify report's figures, as PNG bytes: float vs fixed, drawn from a :class:`~snncompile.verify.Report`.

    agreement_png   per spiking layer, the fraction of equal spike entries at each timestep
    rasters_png     per spiking layer, float and fixed spikes of one sample side by side, disagreements marked
    membrane_png    float vs fixed (dequantised) membrane of the neurons that diverge first, threshold line
    readout_png     float vs fixed (dequantised) value of every non-spiking readout neuron of one sample

matplotlib's object API with the Agg canvas: no pyplot, no global backend switch (safe inside a notebook).
What is drawn comes from :func:`divergences`, which the HTML page also lists in text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..graph import Graph
from ..nodes import NeuronNode
from ..quant.qnodes import QGraph, QNeuron

FLOAT_COLOUR, FIXED_COLOUR, BAD_COLOUR, THRESHOLD_COLOUR = "#1f77b4", "#ff7f0e", "#d62728", "#555555"
Traces = dict[str, dict[str, np.ndarray]]


def spiking_layers(graph: Graph, traces: dict[str, Traces]) -> list[str]:
    """Spiking neuron nodes, in graph order, that both runs recorded."""
    return [n for n in graph.order if isinstance(node := graph.nodes[n], NeuronNode) and node.SPIKING
            and n in traces["float"] and n in traces["fixed"]]


@dataclass(frozen=True)
class Divergence:
    """A neuron whose float and fixed spike trains differ: where it first does."""

    layer: str
    neuron: int  # flat index into the layer's neurons
    sample: int
    timestep: int  # first step with different spikes (-1: none; chosen by membrane error instead)
    max_v_error: float
    index: tuple[int, ...] = ()  # the neuron's (channel, row, column) in a layer of more than one dim

    def text(self) -> str:
        when = f"first differs at timestep {self.timestep}" if self.timestep >= 0 else "spikes never differ"
        which = str(self.index) if len(self.index) > 1 else str(self.neuron)
        return (f"layer '{self.layer}' neuron {which}, sample {self.sample}: {when}; max |v float - v fixed| "
                f"{self.max_v_error:.4g}")


def _flat(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).reshape(a.shape[0], a.shape[1], -1)


def fixed_v(qgraph: QGraph, name: str, ints: np.ndarray) -> np.ndarray:
    """Dequantised membrane ``[T, B, N]``: ints / the neuron's exact scale."""
    from ..quant.quantize import node_scale

    try:
        scale = node_scale(qgraph, name).reshape(-1)
    except Exception:  # a QGraph read from a file without scales: its out_scale
        node = qgraph.nodes[name]
        size = int(np.prod(node.shape)) if isinstance(node, QNeuron) else _flat(ints).shape[2]
        scale = np.full(size, node.out_scale if isinstance(node, QNeuron) else 1.0)
    return _flat(ints).astype(np.float64) / scale


def divergences(graph: Graph, qgraph: QGraph, traces: dict[str, Traces], sample: int, limit: int = 4
                ) -> list[Divergence]:
    """Up to ``limit`` neurons of ``sample`` whose spikes differ earliest (then in graph order); when none differ,
    the neurons with the largest membrane error (so the figure still shows how close the runs are)."""
    found: list[Divergence] = []
    ranked_by_error: list[Divergence] = []
    for layer in spiking_layers(graph, traces):
        f = _flat(traces["float"][layer]["out"])[:, sample]
        q = _flat(traces["fixed"][layer]["out"])[:, sample]
        verr = _v_error(graph, qgraph, traces, layer, sample)
        differ = f != q
        for n in np.flatnonzero(differ.any(axis=0)):
            found.append(Divergence(layer, int(n), sample, int(np.argmax(differ[:, n])), float(verr[n])))
        if verr.size:
            worst = int(np.argmax(verr))
            ranked_by_error.append(Divergence(layer, worst, sample, -1, float(verr[worst])))
    position = {n: i for i, n in enumerate(graph.order)}
    if found:
        found.sort(key=lambda d: (d.timestep, position[d.layer], d.neuron))
        chosen = found[:limit]
    else:
        ranked_by_error.sort(key=lambda d: -d.max_v_error)
        chosen = ranked_by_error[:limit]
    return [replace(d, index=tuple(int(i) for i in np.unravel_index(d.neuron, graph.shapes[d.layer])))
            for d in chosen]


def _v_error(graph: Graph, qgraph: QGraph, traces: dict[str, Traces], layer: str, sample: int) -> np.ndarray:
    fv, qv = traces["float"][layer].get("v"), traces["fixed"][layer].get("v")
    if fv is None or qv is None:
        return np.zeros(0)
    diff = np.abs(_flat(fv)[:, sample] - fixed_v(qgraph, layer, qv)[:, sample])
    return np.asarray(diff.max(axis=0))


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def agreement_png(graph: Graph, traces: dict[str, Traces]) -> bytes:
    layers = spiking_layers(graph, traces)
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    lowest = 1.0
    for layer in layers:
        same = (_flat(traces["float"][layer]["out"]) == _flat(traces["fixed"][layer]["out"])).mean(axis=(1, 2))
        lowest = min(lowest, float(same.min()))
        ax.plot(np.arange(len(same)), same, marker="o", markersize=3, label=f"{layer} ({graph.nodes[layer].type_name})")
    ax.set_xlabel("timestep")
    ax.set_ylabel("spike agreement (float == fixed)")
    ax.set_title("Per-layer spike agreement over time, all samples")
    ax.set_ylim(max(0.0, lowest - max(0.02, (1 - lowest) * 0.2)), 1.0 + max(0.004, (1 - lowest) * 0.05))
    ax.axhline(1.0, color=THRESHOLD_COLOUR, linewidth=0.8, linestyle=":")
    ax.grid(alpha=0.3)
    if layers:
        ax.legend(loc="lower left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no spiking layers", ha="center", va="center", transform=ax.transAxes)
    return _png(fig)


def rasters_png(graph: Graph, traces: dict[str, Traces], sample: int, max_neurons: int = 128) -> bytes:
    layers = spiking_layers(graph, traces)
    rows = max(1, len(layers))
    fig = _figure(10, 1.2 + 2.2 * rows)
    axes = fig.subplots(rows, 2, squeeze=False, sharex=True)
    for r, layer in enumerate(layers):
        f = _flat(traces["float"][layer]["out"])[:, sample, :max_neurons]
        q = _flat(traces["fixed"][layer]["out"])[:, sample, :max_neurons]
        shown = "" if _flat(traces["float"][layer]["out"]).shape[2] <= max_neurons else f", first {max_neurons}"
        for c, (what, s, colour) in enumerate((("float", f, FLOAT_COLOUR), ("fixed", q, FIXED_COLOUR))):
            ax = axes[r][c]
            t, n = np.nonzero(s)
            tick = float(np.clip(1500.0 / max(s.shape[1], 1), 7.0, 90.0))  # taller ticks for small layers
            ax.scatter(t, n, s=tick, marker="|", color=colour, linewidths=1.2)
            bad_t, bad_n = np.nonzero((f != q) & (s != 0))  # this panel's spikes the other run does not have
            if len(bad_t):
                ax.scatter(bad_t, bad_n, s=22, facecolors="none", edgecolors=BAD_COLOUR, linewidths=0.9,
                           label=f"{len(bad_t)} not in the {'fixed' if what == 'float' else 'float'} run")
                ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
            ax.set_xlim(-0.5, s.shape[0] - 0.5)
            ax.set_ylim(-0.5, s.shape[1] - 0.5)
            ax.set_title(f"{layer}: {what} ({int(s.sum())} spikes{shown})", fontsize=9)
            ax.set_ylabel("neuron" if len(graph.shapes[layer]) <= 1 else "neuron (flat C,H,W index)", fontsize=8)
            ax.tick_params(labelsize=7)
    for c in range(2):
        axes[-1][c].set_xlabel("timestep", fontsize=8)
    if not layers:
        axes[0][0].text(0.5, 0.5, "no spiking layers", ha="center", va="center", transform=axes[0][0].transAxes)
    fig.suptitle(f"Spike rasters of sample {sample}: float reference vs fixed point (bitsim)", fontsize=10)
    return _png(fig)


def membrane_png(graph: Graph, qgraph: QGraph, traces: dict[str, Traces], chosen: list[Divergence]) -> bytes:
    rows = max(1, len(chosen))
    fig = _figure(8.5, 0.8 + 2.1 * rows)
    axes = fig.subplots(rows, 1, squeeze=False, sharex=True)
    for r, d in enumerate(chosen):
        ax = axes[r][0]
        fv = _flat(traces["float"][d.layer]["v"])[:, d.sample, d.neuron]
        qv = fixed_v(qgraph, d.layer, traces["fixed"][d.layer]["v"])[:, d.sample, d.neuron]
        steps = np.arange(len(fv))
        ax.plot(steps, fv, color=FLOAT_COLOUR, linewidth=1.4, label="float v")
        ax.plot(steps, qv, color=FIXED_COLOUR, linewidth=1.2, linestyle="--", label="fixed v (int / scale)")
        theta = np.broadcast_to(np.asarray(getattr(graph.nodes[d.layer], "threshold", np.nan), np.float64),
                                graph.nodes[d.layer].shape).reshape(-1)[d.neuron]  # type: ignore[attr-defined]
        ax.axhline(theta, color=THRESHOLD_COLOUR, linestyle=":", linewidth=1.0, label="threshold")
        for what, colour, y in (("float", FLOAT_COLOUR, 1.07), ("fixed", FIXED_COLOUR, 1.025)):
            spikes = np.flatnonzero(_flat(traces[what][d.layer]["out"])[:, d.sample, d.neuron])
            ax.plot(spikes, np.full(len(spikes), y), "v", color=colour, markersize=4,
                    transform=ax.get_xaxis_transform(), clip_on=False)
        if d.timestep >= 0:
            ax.axvline(d.timestep, color=BAD_COLOUR, linewidth=1.0, alpha=0.6, label="first divergence")
        ax.set_title(f"{d.text()}; threshold {theta:.4g}", fontsize=8.5, pad=16)
        ax.set_ylabel("membrane v", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if chosen:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    axes[-1][0].set_xlabel("timestep (triangles above each panel: spikes, float top row, fixed below)", fontsize=8)
    if not chosen:
        axes[0][0].text(0.5, 0.5, "no spiking neuron with a membrane trace", ha="center", va="center",
                        transform=axes[0][0].transAxes)
    fig.suptitle("Membrane traces, float vs fixed, of the neurons that diverge first", fontsize=10)
    return _png(fig)


def readout_layers(graph: Graph, traces: dict[str, Traces]) -> list[str]:
    """Non-spiking neuron nodes (LI, CubaLI, I readouts) that both runs recorded."""
    return [n for n in graph.order if isinstance(node := graph.nodes[n], NeuronNode) and not node.SPIKING
            and n in traces["float"] and n in traces["fixed"]]


def readout_png(graph: Graph, qgraph: QGraph, traces: dict[str, Traces], sample: int, max_neurons: int = 10) -> bytes:
    layers = readout_layers(graph, traces)
    fig = _figure(8.5, 0.9 + 2.3 * max(1, len(layers)))
    axes = fig.subplots(max(1, len(layers)), 1, squeeze=False)
    colours = [f"C{k}" for k in range(10)]
    for r, layer in enumerate(layers):
        ax = axes[r][0]
        f = _flat(traces["float"][layer]["out"])[:, sample, :max_neurons]
        q = fixed_v(qgraph, layer, traces["fixed"][layer]["out"])[:, sample, :max_neurons]
        steps = np.arange(f.shape[0])
        for n in range(f.shape[1]):
            ax.plot(steps, f[:, n], color=colours[n % 10], linewidth=1.3)
            ax.plot(steps, q[:, n], color=colours[n % 10], linewidth=1.0, linestyle="--")
        err = float(np.abs(f - q).max(initial=0.0))
        ax.set_title(f"{layer} ({graph.nodes[layer].type_name}), sample {sample}: solid float, dashed fixed "
                     f"(int / scale); max |error| {err:.4g}", fontsize=8.5)
        ax.set_ylabel("value", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("timestep (one colour per neuron)", fontsize=8)
    fig.suptitle("Non-spiking readouts, float vs fixed", fontsize=10)
    return _png(fig)
