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
    granularity and headroom carry over; its widths do not (Loihi fixes them), so a per-layer override
    (``spec.layers``) is accepted only where it asks for Loihi's own widths (:func:`check_loihi_layers`)."""
    if "loihi" in set(targets):
        check_loihi_layers(graph, spec)
        from snncompile.backends.loihi.encode import quantize_for_loihi

        return quantize_for_loihi(graph, calib, granularity=spec.granularity, headroom_bits=spec.headroom_bits)
    return quantize(graph, spec, calib)


def check_loihi_layers(graph: Graph, spec: QuantSpec) -> None:
    """Loihi's rule for per-layer precision: every core has 8-bit weight mantissas, 24-bit u/v and 12-bit decays,
    so an override that asks for other widths is a ResourceError (exit 3) naming the layer; one equal to them
    is accepted (it changes nothing)."""
    if not spec.layers:
        return
    from snncompile.backends.loihi.registers import FRAC_BITS, STATE_BITS, WEIGHT_BITS

    from ..errors import ResourceError
    from .fold import plan_folding
    from .layers import layer_overrides

    fixed = {"weight_bits": WEIGHT_BITS, "state_bits": STATE_BITS, "frac_bits": FRAC_BITS}
    for layer, fields in layer_overrides(graph, plan_folding(graph, spec.granularity), spec).items():
        for field, value in fields.items():
            if value != fixed[field]:
                raise ResourceError(
                    f"loihi: layer '{layer}': {field}={value} is not what Loihi has ({field}={fixed[field]}: 8-bit "
                    f"weight mantissas, 24-bit u/v registers, 12-bit decays on every core); drop the per-layer "
                    "override for the loihi target")
