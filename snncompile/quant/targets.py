"""Pick the quantiser a set of targets needs: Loihi fixes its own encodings, the rest share ``quantize``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..graph import Graph
from .qnodes import QGraph
from .quantize import quantize
from .spec import QuantSpec


def quantize_for(
    graph: Graph,
    spec: QuantSpec,
    calib: np.ndarray | Mapping[str, np.ndarray] | None,
    targets: Iterable[str] = (),
) -> QGraph:
    """``quantize`` -- or, when 'loihi' is among the targets, Loihi's encodings (8-bit mantissa x 2^exp weights,
    24-bit u/v, the loihi Semantics) for every target, so all of them run the same QGraph. The spec's
    granularity and headroom carry over; its widths do not (Loihi fixes them)."""
    if "loihi" in set(targets):
        from snncompile.backends.loihi.encode import quantize_for_loihi

        return quantize_for_loihi(graph, calib, granularity=spec.granularity, headroom_bits=spec.headroom_bits)
    return quantize(graph, spec, calib)
