"""Pick the quantiser a target needs: Loihi and Xylo fix their own encodings (their own *families*), the rest share
``quantize``.

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
XYLO = "xylo"
#: what --target loihi changes, printed once as a warning line
LOIHI_CHANGES = ("reset to zero, one step of synapse delay per weight layer, CubaLIF neurons, {bits}-bit weight "
                 "mantissas at one weight_exp per layer, 24-bit u/v")


def target_family(target: str) -> str:
    """The QGraph family of a target: 'loihi' (Loihi's encodings), 'xylo' (Xylo's registers and the xylo
    Semantics) or 'spec' (``quantize`` with the QuantSpec)."""
    return target if target in (LOIHI, XYLO) else GENERIC


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


def shared_qgraph(spec: QuantSpec, targets: Iterable[str]) -> tuple[str, str] | None:
    """(header, warning) for ``verify``, which runs one QGraph for all its targets (:func:`quantize_for`), when a
    target fixes its own encodings; None when every target takes the QuantSpec's QGraph."""
    chosen = list(dict.fromkeys(targets))
    others = ", ".join(t for t in chosen if t not in (LOIHI, XYLO))
    too = f" ({others} too)" if others else ""
    if XYLO in chosen:
        what = "Xylo's registers (int8 weights, 16-bit states, bit-shift decays, the xylo semantics)"
        return f"{what}, for every target", f"--target xylo: every target of this run{too} gets {what}; " \
            "--bits and --state-bits do not apply"
    if LOIHI in chosen:
        what = f"Loihi's encodings ({LOIHI_CHANGES.format(bits=spec.weight_bits)})"
        return f"{what}, for every target", f"--target loihi: every target of this run{too} gets {what}; " \
            "`export` gives each target family its own QGraph"
    return None


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
    1..8; more is a LoihiRuleError, exit code 3), Xylo's registers (the spec's widths do not apply) or
    ``quantize(graph, spec, calib)``."""
    if family == XYLO:
        from snncompile.backends.xylo.encode import quantize_for_xylo

        return quantize_for_xylo(graph)
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
        return quantize_family(graph, spec, calib, XYLO)
    return quantize_family(graph, spec, calib, LOIHI if LOIHI in chosen else GENERIC)


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
