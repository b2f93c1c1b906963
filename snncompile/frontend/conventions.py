"""Source conventions: how a framework steps the NIR nodes it exports.

NIR files carry no dt and no discrete-time rules, so a file that snncompile did
not write is read under a *convention*: the Semantics per neuron type and the dt
the exporter used. Each entry says where its facts come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from ..semantics import PRESETS, Semantics


@dataclass(frozen=True)
class Convention:
    name: str
    dt: float
    semantics: Semantics
    #: per NIR neuron type, overrides of the default semantics
    per_type: dict[str, Semantics] = field(default_factory=dict)
    source: str = ""

    def semantics_for(self, nir_type: str) -> Semantics:
        return self.per_type.get(nir_type, self.semantics)


_SNNTORCH = PRESETS["snntorch"]

CONVENTIONS: dict[str, Convention] = {
    "nir": Convention(
        name="nir",
        dt=1e-3,
        semantics=PRESETS["nir"],
        source="NIR 1.0.8 node docstrings: strict '>' and reset to v_reset in the same step; "
        "dt is not defined by NIR, 1e-3 s is assumed (override with --dt)",
    ),
    "snntorch": Convention(
        name="snntorch",
        dt=1e-4,
        semantics=_SNNTORCH,
        # Leaky zero-reset keeps the new input; Synaptic/RLeaky/RSynaptic drop it (snnTorch 1.0.0).
        per_type={"CubaLIF": _SNNTORCH.with_(delayed_zero="total")},
        source="snnTorch 1.0.0 defaults (reset_mechanism='subtract', reset_delay=True); "
        "export_to_nir hard-codes dt=1e-4 s and does not record the reset mode",
    ),
}


def convention(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise InputError(
            f"unknown source convention {name!r}; known: {', '.join(sorted(CONVENTIONS))}"
        ) from None
