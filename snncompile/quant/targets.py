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
    granularity and headroom carry over; its widths do not (Loihi fixes them). With 'xylo', Xylo's registers
    (int8 weights, 16-bit states, bit-shift decays, the xylo Semantics) -- shared only with bitsim, which runs
    them on its xylo path: the other targets have no printer of Xylo's per-event saturation."""
    chosen = set(targets)
    if "xylo" in chosen:
        others = sorted(chosen - {"xylo", "bitsim"})
        if others:
            from ..errors import ResourceError

            raise ResourceError(f"target 'xylo' cannot share its QGraph with {', '.join(others)}: Xylo's per-event "
                                "saturation and hop delays have no printer there; export them separately")
        from snncompile.backends.xylo.encode import quantize_for_xylo

        return quantize_for_xylo(graph)
    if "loihi" in chosen:
        from snncompile.backends.loihi.encode import quantize_for_loihi

        return quantize_for_loihi(graph, calib, granularity=spec.granularity, headroom_bits=spec.headroom_bits)
    return quantize(graph, spec, calib)
