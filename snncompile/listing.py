"""``snncompile models`` (the bundled models and their cards) and ``inspect`` of a QGraph file (``qgraph.nir``
written by ``export``): plain aligned text for people, one JSON object with ``--json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import models  # type: ignore[attr-defined]  # snncompile.models maps to models/
from .quant.qnodes import QGraph, QNeuron, QWeightNode


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def model_cards() -> list[dict[str, Any]]:
    """Each bundled model: name, folder, whether it has a test set, and its card.json (task, accuracy ...)."""
    out = []
    for name in models.names():
        folder = Path(models.ROOT) / name
        card_path = folder / "card.json"
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        test = folder / "test.npz"
        out.append({"name": name, "folder": str(folder), "model": str(folder / "model.nir"),
                    "test_set": str(test) if test.is_file() else None, "card": card})
    return out


def format_models(cards: list[dict[str, Any]]) -> str:
    rows = [["name", "test set", "float accuracy", "architecture"]]
    for c in cards:
        acc = c["card"].get("accuracy", {})
        value = acc.get("snncompile_reference_float64", acc.get("snntorch_float32"))
        samples = c["card"].get("test_samples")
        test = "none" if c["test_set"] is None else (f"{samples} samples" if samples else "yes")
        rows.append([c["name"], test, "" if value is None else f"{value:.4f}", c["card"].get("architecture", "")])
    lines = _table(rows)
    lines += ["", f"folder: {models.ROOT}",
              "use a name as MODEL (snncompile verify digits-mlp); without --inputs its test set is used"]
    return "\n".join(lines) + "\n"


def is_qgraph(path: Path) -> bool:
    """Whether ``path`` holds a QGraph (snncompile metadata with ``"qgraph": true``), read without importing the
    ``nir`` package (``quant.qnir`` does; ``inspect`` of a float model then stays light)."""
    from .errors import InputError
    from .frontend.nir_read import META_KEY, read_raw

    try:
        root, _ = read_raw(path)
    except InputError:
        return False  # the float reader gives the precise message
    meta = root.get("metadata", {})
    raw = meta.get(META_KEY) if isinstance(meta, dict) else None
    try:
        header = json.loads(raw) if raw is not None else None
    except (TypeError, ValueError):
        return False
    return isinstance(header, dict) and header.get("qgraph") is True


def _bits(node: Any) -> str:
    if isinstance(node, QNeuron):
        return f"v{node.v_bits}" + (f" i{node.i_bits}" if node.kind in ("CubaLIF", "CubaLI") else "")
    if isinstance(node, QWeightNode):
        return f"w{node.w_bits} b{node.b_bits}"  # type: ignore[attr-defined]
    return ""


def _type(node: Any) -> str:
    return f"QNeuron({node.kind})" if isinstance(node, QNeuron) else node.type_name  # type: ignore[no-any-return]


def qgraph_report(qgraph: QGraph, *, model: str, path: str) -> dict[str, Any]:
    nodes = []
    for name in qgraph.order:
        node = qgraph.nodes[name]
        entry: dict[str, Any] = {"name": name, "type": _type(node), "shape_out": list(qgraph.shapes[name]),
                                 "bits": _bits(node)}
        if isinstance(node, QNeuron):
            entry["semantics"] = node.semantics.to_dict()
            entry["threshold"] = {"min": int(np.min(node.threshold)), "max": int(np.max(node.threshold))}
        if isinstance(node, QWeightNode):
            entry["weights"] = int(node.weight.size)  # type: ignore[attr-defined]
        nodes.append(entry)
    neurons = sum(int(np.prod(n.shape)) for n in qgraph.nodes.values() if isinstance(n, QNeuron))
    weights = sum(int(n.weight.size) for n in qgraph.nodes.values() if isinstance(n, QWeightNode))  # type: ignore
    weight_bits = sum(int(n.weight.size) * int(n.w_bits) for n in qgraph.nodes.values()  # type: ignore[attr-defined]
                      if isinstance(n, QWeightNode))
    return {"model": model, "path": path, "source": "QGraph (fixed point, written by snncompile export)",
            "dt": qgraph.dt, "quant_spec": qgraph.metadata.get("quant_spec"), "nodes": nodes,
            "edges": [list(e) for e in qgraph.edges],
            "totals": {"neurons": neurons, "weights": weights, "weight_bits": weight_bits}}


def format_qgraph(report: dict[str, Any]) -> str:
    from .semantics import Semantics

    lines = [f"model: {report['model']}", f"source: {report['source']}", f"dt: {report['dt']:.6g} s", ""]
    rows = [["name", "type", "output", "bits", "semantics"]]
    for n in report["nodes"]:
        sem = Semantics.from_dict(n["semantics"]).describe() if "semantics" in n else ""
        rows.append([n["name"], n["type"], "x".join(map(str, n["shape_out"])) or "scalar", n["bits"], sem])
    lines += _table(rows)
    t = report["totals"]
    lines += ["", "totals:", *("  " + line for line in _table([
        ["neurons", str(t["neurons"]), ""],
        ["weights", str(t["weights"]), f"({t['weight_bits']} bits = {t['weight_bits'] / 8 / 1024:.1f} KiB)"]]))]
    return "\n".join(lines) + "\n"
