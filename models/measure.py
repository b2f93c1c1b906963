"""Write each bundled model's verification numbers into its card (``card["verify"]``) and print the README table.

For every model: ``snncompile.verify`` on its full test split at 8 and 4 bits (post-training quantisation,
QuantSpec defaults otherwise) and on ``qat4.nir`` at 4 bits when it exists. Rerun after retraining
(a float ``train.py`` run rewrites the card): ``python models/measure.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import snncompile as sc
from snncompile import models
from snncompile.verify import Report


def _fixed(report: Report) -> dict[str, float]:
    rung = next(r for r in report.rungs if r.name == "float<->fixed")
    keys = ("accuracy_float", "accuracy_fixed", "min_layer_agreement", "prediction_agreement")
    return {k: round(float(rung.summary[k]), 4) for k in keys if k in rung.summary}


def measure(name: str) -> dict[str, dict[str, float]]:
    root = models.ROOT / name
    data = np.load(root / "test.npz")
    inputs, labels = data["inputs"], data["labels"]
    out: dict[str, dict[str, float]] = {}
    graph = sc.load(name)
    for bits in (8, 4):
        out[f"ptq{bits}"] = _fixed(sc.verify(graph, inputs=inputs, labels=labels, spec=sc.QuantSpec(weight_bits=bits)))
    if (root / "qat4.nir").is_file():
        qat = sc.load(str(root / "qat4.nir"))
        out["qat4"] = _fixed(sc.verify(qat, inputs=inputs, labels=labels, spec=sc.QuantSpec(weight_bits=4)))
    return out


def main() -> None:
    print("| model | float acc. | 8-bit acc. | 8-bit agreement | 4-bit acc. | 4-bit agreement | 4-bit QAT |")
    print("|---|---|---|---|---|---|---|")
    for name in models.names():
        numbers = measure(name)
        card_path = Path(models.ROOT / name / "card.json")
        card = json.loads(card_path.read_text())
        card["verify"] = {"command": f"snncompile verify {name} --bits N (full test split)", **numbers}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        p8, p4, q4 = numbers["ptq8"], numbers["ptq4"], numbers.get("qat4", {})
        qat = f"{100 * q4['accuracy_fixed']:.2f} %" if q4 else "-"
        print(f"| `{name}` | {100 * p8['accuracy_float']:.2f} % | {100 * p8['accuracy_fixed']:.2f} % | "
              f"{p8['min_layer_agreement']:.3f} | {100 * p4['accuracy_fixed']:.2f} % | {p4['min_layer_agreement']:.3f} "
              f"| {qat} |")


if __name__ == "__main__":
    main()
