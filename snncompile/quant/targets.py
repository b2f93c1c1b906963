"""Pick the quantiser a target needs: Loihi fixes its own encodings (its own *family*), the rest share ``quantize``.

``export`` quantises once per family (:func:`families`, :func:`quantize_family`), so ``--target hls --target
loihi`` checks hls against the same QGraph as ``--target hls`` alone, and the manifest says which QGraph every
target got. ``verify`` (and older callers) use :func:`quantize_for`: one QGraph for all targets -- Loihi's when
'loihi' is among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..graph import Graph
from .qnodes import QGraph
from .quantize import quantize
from .spec import QuantSpec

GENERIC = "spec"
LOIHI = "loihi"
#: what --target loihi changes, printed once as a warning line
LOIHI_CHANGES = ("reset to zero, one step of synapse delay per weight layer, CubaLIF neurons, {bits}-bit weight "
                 "mantissas at one weight_exp per layer, 24-bit u/v")


def target_family(target: str) -> str:
    """The QGraph family of a target: 'loihi' (Loihi's encodings) or 'spec' (``quantize`` with the QuantSpec)."""
    return LOIHI if target == "loihi" else GENERIC


def families(targets: Iterable[str]) -> dict[str, list[str]]:
    """{family: [targets]} in first-seen order."""
    out: dict[str, list[str]] = {}
    for t in targets:
        out.setdefault(target_family(t), []).append(t)
    return out


def loihi_warning(spec: QuantSpec) -> str:
    """The one warning line --target loihi prints: what it changes in the network."""
    ignored = f", --state-bits {spec.state_bits} ignored" if spec.state_bits is not None else ""
    return (f"warning: --target loihi changes the network ({LOIHI_CHANGES.format(bits=spec.weight_bits)}{ignored}); "
            "it gets its own QGraph, the other targets the --bits one")


def check_family_specs(spec: QuantSpec, targets: Iterable[str]) -> None:
    """Refuse, before any work, a QuantSpec a target family cannot take (Loihi: --bits above 8, exit code 3)."""
    if LOIHI in families(targets) and not 1 <= spec.weight_bits <= 8:
        from snncompile.backends.loihi.rules import LoihiRuleError

        raise LoihiRuleError("loihi_weight_bits", f"weight bits {spec.weight_bits}: Loihi's weight mantissas have "
                                                  "1..8 bits (--bits 8 or less with --target loihi)")


def quantize_family(
    graph: Graph,
    spec: QuantSpec,
    calib: np.ndarray | Mapping[str, np.ndarray] | None,
    family: str,
) -> QGraph:
    """The QGraph of ``family``: Loihi's netx-compatible encodings (``spec.weight_bits`` as Lava's num_weight_bits,
    1..8; more is a LoihiRuleError, exit code 3) or ``quantize(graph, spec, calib)``."""
    if family == LOIHI:
        check_loihi_layers(graph, spec)
        from snncompile.backends.loihi.encode import quantize_for_loihi

        return quantize_for_loihi(graph, calib, headroom_bits=spec.headroom_bits, netx=True,
                                  weight_bits=spec.weight_bits)
    return quantize(graph, spec, calib)


def quantize_for(
    graph: Graph,
    spec: QuantSpec,
    calib: np.ndarray | Mapping[str, np.ndarray] | None,
    targets: Iterable[str] = (),
) -> QGraph:
    """One QGraph for every target: Loihi's (:func:`quantize_family`) when 'loihi' is among them, else
    ``quantize``."""
    return quantize_family(graph, spec, calib, LOIHI if LOIHI in set(targets) else GENERIC)


def check_loihi_layers(graph: Graph, spec: QuantSpec) -> None:
    """Loihi's rule for per-layer precision: every core has 8-bit weight mantissas, 24-bit u/v and 12-bit decays,
    so an override that asks for other widths is a ResourceError (exit 3) naming the layer; one equal to them
    is accepted (it changes nothing)."""
    if not spec.layers:
        return
    from snncompile.backends.loihi.registers import FRAC_BITS, STATE_BITS

    from ..errors import ResourceError
    from .fold import plan_folding
    from .layers import layer_overrides

    fixed = {"weight_bits": spec.weight_bits, "state_bits": STATE_BITS, "frac_bits": FRAC_BITS}
    for layer, fields in layer_overrides(graph, plan_folding(graph, spec.granularity), spec).items():
        for field, value in fields.items():
            if value != fixed[field]:
                raise ResourceError(
                    f"loihi: layer '{layer}': {field}={value} is not what Loihi has ({field}={fixed[field]}: "
                    f"{spec.weight_bits}-bit weight mantissas (--bits), 24-bit u/v registers and 12-bit decays "
                    "on every core); drop the per-layer override for the loihi target")
