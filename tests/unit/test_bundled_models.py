"""Bundled models load by name and reproduce the accuracy stored in their card."""

from __future__ import annotations

import json

import numpy as np
import pytest

import snncompile as sc
from snncompile import models


def test_digits_mlp_is_bundled() -> None:
    assert "digits-mlp" in models.names()


@pytest.mark.parametrize("name", models.names())
def test_bundled_model_reproduces_card_accuracy(name: str) -> None:
    root = models.ROOT / name
    card = json.loads((root / "card.json").read_text())
    data = np.load(root / "test.npz")
    graph = sc.load(name)
    assert graph.metadata  # written by snncompile: dt and semantics come from metadata
    traces = sc.simulate(graph, data["inputs"].astype(np.float32))
    (out,) = graph.outputs
    (last,) = graph.predecessors(out)
    acc = float((traces[last]["out"].sum(0).argmax(1) == data["labels"]).mean())
    assert acc == card["accuracy"]["snncompile_reference_float64"]
