"""``verify --report report.html``: one self-contained HTML page (PNG figures embedded as base64, no links out).

Sections: the verdict and what was run; every rung with its status and first mismatch; per target PASS/FAIL;
per-layer spike agreement over time; float vs fixed rasters of one sample; membrane traces of the neurons
diverging first; the per-layer table; the quantisation (spec, calibration, register widths) and the
semantics of every neuron node; register overflow events. The figures are :mod:`.plots`'.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from ..graph import Graph
from ..nodes import NeuronNode
from . import plots

STATUS_COLOUR = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INFO": "#0969da", "WARN": "#9a6700"}

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1f2328; padding: 0 1em }
h1 { font-size: 1.5em } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de }
table { border-collapse: collapse; margin: .6em 0 } td, th { border: 1px solid #d0d7de; padding: 3px 8px;
text-align: left; vertical-align: top } th { background: #f6f8fa } code { font-size: 12px }
.status { font-weight: 600; color: white; padding: 1px 8px; border-radius: 4px }
img { max-width: 100%; border: 1px solid #d0d7de } .note { color: #59636e }
"""


def figures(report: Any, graph: Graph, sample: int = 0) -> dict[str, bytes]:
    """The report's PNGs by file name (``--plots DIR`` writes these)."""
    _check_sample(report, sample)
    traces, qgraph = report.traces, report.qgraph
    chosen = plots.divergences(graph, qgraph, traces, sample)
    pngs = {
        "agreement.png": plots.agreement_png(graph, traces),
        "rasters.png": plots.rasters_png(graph, traces, sample),
        "membrane.png": plots.membrane_png(graph, qgraph, traces, chosen),
    }
    if plots.readout_layers(graph, traces):
        pngs["readout.png"] = plots.readout_png(graph, qgraph, traces, sample)
    return pngs


def _check_sample(report: Any, sample: int) -> None:
    from ..errors import InputError

    batch = int(report.info.get("batch", 0))
    if not report.traces or report.qgraph is None:
        raise InputError("the report holds no traces to plot (make it with snncompile.verify)")
    if not 0 <= sample < batch:
        raise InputError(f"--sample {sample}: the inputs have {batch} samples (0..{batch - 1})")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _status(status: str) -> str:
    return f'<span class="status" style="background:{STATUS_COLOUR.get(status, "#59636e")}">{_e(status)}</span>'


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _mismatch(rung: Any) -> str:
    if rung.first_mismatch is not None:
        return _e(rung.first_mismatch.text())
    return "" if rung.status != "FAIL" else _e(rung.message)


def render(report: Any, graph: Graph, sample: int = 0, pngs: dict[str, bytes] | None = None) -> str:
    """The HTML page of ``report`` (a :class:`~snncompile.verify.Report` made from ``graph``)."""
    pngs = pngs if pngs is not None else figures(report, graph, sample)
    info = report.info
    parts = [f"<h1>snncompile verify: {_e(info.get('model', 'model'))} {_status('PASS' if report.passed else 'FAIL')}"
             "</h1>"]
    facts = [[_e(k), _e(info[k])] for k in ("model", "inputs", "quantisation") if k in info]
    facts += [["timesteps x samples", f"{info.get('timesteps')} x {info.get('batch')}"],
              ["targets", _e(", ".join(info.get("targets", [])))],
              ["plotted sample", str(sample)]]
    parts.append(_table(["", ""], facts))
    parts.append("<h2>Rungs</h2>")
    parts.append(_table(["rung", "status", "result", "first mismatch"],
                        [[_e(r.name), _status(r.status), _e(r.message), _mismatch(r)] for r in report.rungs]))
    targets = [r for r in report.rungs if r.name.startswith("fixed<->")]
    if targets:
        parts.append("<h2>Targets (bit-exact against bitsim)</h2>")
        parts.append(_table(["target", "status", "compared", "mismatches", "first mismatch"],
                            [[_e(r.name.split("<->", 1)[1]), _status(r.status), _e(r.summary.get("compared", "")),
                              _e(r.summary.get("mismatches", "")), _mismatch(r) or "none"] for r in targets]))
    parts.append("<h2>Spike agreement over time</h2>")
    parts.append(_img(pngs["agreement.png"], "per-layer spike agreement over time"))
    parts.append(f"<h2>Spike rasters, sample {sample}</h2>")
    parts.append('<p class="note">Circled in red: spikes the other run does not have.</p>')
    parts.append(_img(pngs["rasters.png"], "float vs fixed spike rasters"))
    chosen = plots.divergences(graph, report.qgraph, report.traces, sample)
    parts.append("<h2>Membrane traces of the neurons diverging first</h2>")
    parts.append("<ul>" + "".join(f"<li>{_e(d.text())}</li>" for d in chosen) + "</ul>" if chosen else "")
    parts.append(_img(pngs["membrane.png"], "float vs fixed membrane traces"))
    if "readout.png" in pngs:
        parts.append(f"<h2>Readouts, sample {sample}</h2>")
        parts.append(_img(pngs["readout.png"], "float vs fixed readout values"))
    parts += _layers(report)
    parts += _quantisation(report)
    parts += _semantics(graph)
    overflow = next((r for r in report.rungs if r.name == "overflow"), None)
    if overflow is not None and overflow.layers:
        parts.append("<h2>Register overflow</h2>")
        keys = [k for k in overflow.layers[0] if k != "layer"]
        parts.append(_table(["layer", *keys], [[_e(row["layer"]), *(_e(row.get(k, "")) for k in keys)]
                                                for row in overflow.layers]))
    body = "\n".join(p for p in parts if p)
    title = _e(f"snncompile verify: {info.get('model', '')}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _layers(report: Any) -> list[str]:
    rung = next((r for r in report.rungs if r.name == "float<->fixed"), None)
    if rung is None or not rung.layers:
        return []
    rows = []
    for row in rung.layers:
        value = f"{row['agreement']:.4f}" if "agreement" in row else (
            f"max abs error {row['max_abs_error']:.4g}" if "max_abs_error" in row else _e(row.get("note", "")))
        rows.append([_e(row["layer"]), _e(row.get("type", "")), _e(row.get("trace", "")), value,
                     _e(row.get("float_spikes", "")), _e(row.get("fixed_spikes", ""))])
    return ["<h2>float&lt;-&gt;fixed per layer</h2>",
            _table(["layer", "type", "trace", "agreement / error", "float spikes", "fixed spikes"], rows)]


def _quantisation(report: Any) -> list[str]:
    qgraph = report.qgraph
    spec = qgraph.spec.to_dict() if qgraph.spec is not None else qgraph.metadata.get("quant_spec") or {}
    out = ["<h2>Quantisation</h2>", _table(["field", "value"], [[_e(k), _e(v)] for k, v in spec.items()])]
    calib = (qgraph.metadata.get("calibration") or {}).get("nodes", {})
    if calib:
        keys = [k for k in ("kind", "v_bits", "i_bits", "v_max", "i_max", "x_max", "scale", "headroom_bits")
                if any(k in c for c in calib.values())]
        out.append('<p class="note">Calibration: maxima in integer units, register widths in bits.</p>')
        out.append(_table(["node", *keys], [[_e(n), *(_e(_short(c.get(k, ""))) for k in keys)]
                                             for n, c in calib.items()]))
    return out


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _semantics(graph: Graph) -> list[str]:
    neurons = [(n, graph.nodes[n]) for n in graph.order if isinstance(graph.nodes[n], NeuronNode)]
    if not neurons:
        return []
    dicts = [node.semantics.to_dict() for _, node in neurons]  # type: ignore[attr-defined]
    keys = list(dicts[0])
    rows = [[_e(name), _e(node.type_name), *(_e(d[k]) for k in keys)] for (name, node), d in zip(neurons, dicts,
                                                                                                    strict=True)]
    return ["<h2>Semantics of every neuron node</h2>", _table(["node", "type", *keys], rows)]
