"""Source conventions: how a framework's exporter writes NIR and how its simulator steps what it wrote.

NIR files carry no dt and no discrete-time rules, so a file that snncompile did
not write is read under a *convention*: the Semantics per neuron type, the dt
the exporter used, and per NIR neuron type a :class:`Rule` -- which gain rule of
:mod:`.discretize` inverts the exporter's parameter mapping, which decay the
framework's simulator uses, and the unit of the written time constants. What an
exporter does not write is listed as :class:`Lost`; ``load`` turns those into
warnings unless the user states the value (``reset=``, ``reset_delay=``,
``spikes=``). Each entry names its source (package, file, function) and whether
a test runs the real framework against it. docs/interop.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import InputError
from ..semantics import PRESETS, Semantics


@dataclass(frozen=True)
class Rule:
    """How one NIR neuron type written by one exporter becomes a discrete node.

    gain: a key of ``discretize.GAIN_RULES``; decay: ``None`` follows ``load(discretization=)``
    (default Euler), ``"euler"``/``"exact"`` is the framework's own; tau_unit ``"dt"``: the file's
    time constants are dt*tau (Norse 1.1.0's to_nir), so tau = written/dt.
    """

    gain: str = "nir"
    decay: str | None = None
    tau_unit: str = "s"


@dataclass(frozen=True)
class Lost:
    """Something the exporter does not write, which the convention assumes.

    types: the NIR neuron types it concerns (a warning is given when the file has one);
    stated_by: the ``load`` options that state it -- when all are given there is no warning.
    """

    text: str
    types: tuple[str, ...]
    stated_by: tuple[str, ...] = ()


#: the command-line flags that state a lost fact (load() takes the same names as keyword arguments)
FLAGS = {"reset": "--reset", "reset_delay": "--reset-delay/--no-reset-delay", "spikes": "--spikes", "dt": "--dt"}


@dataclass(frozen=True)
class Convention:
    """One framework's exporter + simulator as data (see the module docstring and docs/interop.md)."""

    name: str
    dt: float
    semantics: Semantics
    #: per NIR neuron type, overrides of the default semantics
    per_type: Mapping[str, Semantics] = field(default_factory=dict)
    #: per NIR neuron type, the semantics of a neuron on a cycle (snnTorch RLeaky/RSynaptic)
    recurrent: Mapping[str, Semantics] = field(default_factory=dict)
    rules: Mapping[str, Rule] = field(default_factory=dict)
    #: "fixed": the exporter always uses ``dt``; "assumed": a default the file does not record (warned);
    #: "rockpool_r": recovered from r = tau*exp(-dt/tau)/dt (Rockpool's to_nir)
    dt_rule: str = "fixed"
    #: timing for ``reset_delay=False``
    immediate_timing: str = "immediate"
    #: NIR types whose output leaves one step after the membrane that made it (Spyx): a Delay(1) is inserted
    output_delay: tuple[str, ...] = ()
    #: NIR types whose exporter writes the neuron's bias (added to v) as the bias of the Affine feeding it
    #: (lava-dl's netx/nir.py): moved back into the neuron (nir_passes.move_affine_bias_into)
    bias_into: tuple[str, ...] = ()
    #: NIR type -> why this convention cannot import it
    unsupported: Mapping[str, str] = field(default_factory=dict)
    #: non-empty: why a graph with a cycle cannot be imported under this convention
    no_recurrence: str = ""
    lost: tuple[Lost, ...] = ()
    source: str = ""
    verified: str = ""

    def semantics_for(self, nir_type: str, recurrent: bool = False) -> Semantics:
        if recurrent and nir_type in self.recurrent:
            return self.recurrent[nir_type]
        return self.per_type.get(nir_type, self.semantics)

    def rule_for(self, nir_type: str) -> Rule:
        return self.rules.get(nir_type, Rule())

    def with_overrides(
        self, *, reset: str | None = None, reset_delay: bool | None = None, spikes: str | None = None
    ) -> Convention:
        """The convention with the user's statement of what the exporter lost (validated by Semantics)."""
        changes: dict[str, Any] = {}
        if reset is not None:
            changes["reset"] = reset
        if reset_delay is not None:
            changes["timing"] = "delayed" if reset_delay else self.immediate_timing
        if spikes is not None:
            changes["spikes"] = spikes
        if not changes:
            return self

        def apply(s: Semantics) -> Semantics:
            return s.with_(**changes)

        return replace(
            self,
            semantics=apply(self.semantics),
            per_type={k: apply(v) for k, v in self.per_type.items()},
            recurrent={k: apply(v) for k, v in self.recurrent.items()},
        )

    def warnings_for(self, types: set[str], stated: set[str]) -> list[str]:
        """One line per lost fact that concerns a neuron type in the file and was not stated by the user."""
        out = []
        for lost in self.lost:
            if types & set(lost.types) and not (lost.stated_by and set(lost.stated_by) <= stated):
                how = f" (state it with {' and '.join(FLAGS[k] for k in lost.stated_by)})" if lost.stated_by else ""
                out.append(f"--from {self.name}: {lost.text}{how}")
        return out


_SNNTORCH = PRESETS["snntorch"]
_NORSE = Semantics(compare="gt", reset="zero", timing="immediate", initial_v="v_init")
#: Rockpool's LIFTorch default max_spikes_per_dt; Sinabs' MultiSpike has no cap, this one is exact below 2^16 spikes
MULTI_SPIKE_CAP = 2**16
_SINABS = Semantics(compare="ge", reset="subtract", timing="immediate", spikes="multi", spike_cap=MULTI_SPIKE_CAP)
_ROCKPOOL = _SINABS.with_(synapse_order="add_then_decay")
_SPYX = Semantics(compare="gt", reset="subtract", timing="delayed")

_NORSE_RULES = {
    "LIF": Rule(tau_unit="dt"), "LI": Rule(tau_unit="dt"),
    "CubaLIF": Rule(gain="membrane_step", tau_unit="dt"), "IF": Rule(gain="r"),
}
_NORSE_LOST = (
    Lost("v_reset is not written by Norse's to_nir; NIR's default 0 is used", ("LIF", "CubaLIF")),
    Lost("dt is not stored; Norse's default 1e-3 s is assumed (the dt given to to_nir)",
         ("LIF", "LI", "CubaLIF"), ("dt",)),
)

CONVENTIONS: dict[str, Convention] = {
    "nir": Convention(
        name="nir",
        dt=1e-3,
        semantics=PRESETS["nir"],
        dt_rule="assumed",
        lost=(Lost("dt is not stored in NIR: 1e-3 s is assumed", ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"),
                   ("dt",)),),
        source="NIR 1.0.8 node docstrings: strict '>' and reset to v_reset in the same step; "
        "dt is not defined by NIR, 1e-3 s is assumed (override with --dt)",
        verified="canonical reading; checked against hand-computed Euler traces (tests/frontend)",
    ),
    "snntorch": Convention(
        name="snntorch",
        dt=1e-4,
        semantics=_SNNTORCH,
        # Leaky zero-reset keeps the new input; Synaptic/RLeaky/RSynaptic drop it (snnTorch 1.0.0).
        per_type={"CubaLIF": _SNNTORCH.with_(delayed_zero="total")},
        recurrent={"LIF": _SNNTORCH.with_(delayed_zero="total"), "CubaLIF": _SNNTORCH.with_(delayed_zero="total")},
        immediate_timing="snntorch_immediate",
        lost=(
            Lost("the reset mechanism is not stored by snnTorch's export_to_nir: assumed reset_mechanism="
                 "'subtract' (snnTorch's default)", ("LIF", "CubaLIF"), ("reset",)),
            Lost("the reset delay is not stored by snnTorch's export_to_nir: assumed reset_delay=True "
                 "(snnTorch's default)", ("LIF", "CubaLIF"), ("reset_delay",)),
            Lost("graded_spikes_factor is not stored: assumed 1", ("LIF", "CubaLIF")),
        ),
        source="snnTorch 1.0.0, snntorch/export_nir.py _extract_snntorch_module: Leaky -> LIF(tau=dt/(1-beta), "
        "r=tau/dt), Synaptic -> CubaLIF(w_in=tau_syn/dt), RLeaky/RSynaptic -> nodes '<i>.lif' + '<i>.w_rec'; "
        "dt hard-coded 1e-4 s; defaults reset_mechanism='subtract', reset_delay=True",
        verified="snnTorch 1.0.0 (tests/interop/test_interop_snntorch.py, tests/equivalence)",
    ),
    "norse": Convention(
        name="norse",
        dt=1e-3,
        semantics=_NORSE,
        rules=_NORSE_RULES,
        dt_rule="assumed",
        lost=_NORSE_LOST,
        source="Norse 1.1.0, norse/torch/utils/export_nir.py _extract_norse_module: LIFBoxCell -> LIF, "
        "LIFCell -> CubaLIF, LIBoxCell -> LI, IAFCell -> IF, all with tau = dt/tau_inv (i.e. dt*tau) and "
        "r = w_in = 1; steps from norse/torch/functional/{lif_box,lif,leaky_integrator_box,iaf}.py; "
        "the initial v is p.v_leak (LIFCell.initial_state)",
        verified="Norse 1.1.0 (tests/interop/test_interop_norse.py)",
    ),
    "norse-seconds": Convention(
        name="norse-seconds",
        dt=1e-3,
        semantics=_NORSE,
        rules={k: replace(v, tau_unit="s") for k, v in _NORSE_RULES.items()},
        dt_rule="assumed",
        lost=_NORSE_LOST,
        source="Norse's exporter before 1.1 (NIR 0.1/0.2 files, e.g. the NIR paper's lif_norse.nir) and after "
        "(time_scaling_factor=1): tau in seconds (1/tau_inv); otherwise as 'norse'",
        verified="same step rules as 'norse'; the tau unit is from the Norse repository, not run here",
    ),
    "sinabs": Convention(
        name="sinabs",
        dt=1.0,
        semantics=_SINABS,
        rules={"IF": Rule(gain="r"), "LIF": Rule(decay="exact"), "LI": Rule(gain="r", decay="exact")},
        lost=(
            Lost(f"spike_fn is not stored by sinabs.nir.to_nir: assumed MultiSpike (spikes=multi, capped at "
                 f"{MULTI_SPIKE_CAP} per step)", ("IF", "LIF"), ("spikes",)),
            Lost("reset_fn is not stored by sinabs.nir.to_nir: assumed MembraneSubtract (reset=subtract)",
                 ("IF", "LIF"), ("reset",)),
            Lost("min_v_mem is not stored and cannot be represented: assumed None (no lower clamp)",
                 ("IF", "LIF", "LI")),
            Lost("LIF norm_input and tau_syn are not stored: assumed norm_input=True, no synaptic current",
                 ("LIF",)),
        ),
        source="Sinabs 3.1.3, sinabs/nir.py _extract_sinabs_module: IAF/IAFSqueeze -> IF(r=1), LIF -> LIF(tau, "
        "r=1), ExpLeak -> LI(tau, r=1); steps from sinabs/layers/functional/lif.py lif_forward_single "
        "(alpha = exp(-1/tau), tau in steps, so dt = 1), activation/spike_generation.py MultiSpike, "
        "activation/reset_mechanism.py MembraneSubtract",
        verified="Sinabs 3.1.3 (tests/interop/test_interop_sinabs.py)",
    ),
    "rockpool": Convention(
        name="rockpool",
        dt=1e-3,
        semantics=_ROCKPOOL,
        per_type={"LIF": _SINABS, "LI": _SINABS},  # add_then_decay concerns the current of CubaLIF only
        rules={"CubaLIF": Rule(gain="rockpool", decay="exact"), "LIF": Rule(gain="rockpool", decay="exact"),
               "LI": Rule(gain="rockpool_synapse", decay="exact")},
        dt_rule="rockpool_r",
        lost=(
            Lost("the neurons' bias is written as v_leak=0 and LIFTorch's w_rec is dropped by Rockpool's to_nir: "
                 "a model that used a bias or recurrent weights is not reproduced", ("CubaLIF", "LIF")),
        ),
        source="Rockpool 3.1.0, rockpool/nn/modules/torch/nir.py _extract_rockpool_module: LIFTorch -> CubaLIF("
        "r = tau_mem*exp(-dt/tau_mem)/dt, w_in = 1, v_leak = 0), LIFNeuronTorch -> LIF, ExpSynTorch -> LI("
        "r = tau*exp(-dt/tau)/dt), LinearTorch -> Linear/Affine; steps from lif_torch.py LIFTorch.forward, "
        "lif_neuron_torch.py, exp_syn_torch.py; dt is recovered from r",
        verified="Rockpool 3.1.0 (tests/interop/test_interop_rockpool.py)",
    ),
    "lava-dl": Convention(
        name="lava-dl",
        dt=2.0**-12,
        semantics=PRESETS["loihi"],
        rules={"CubaLIF": Rule(gain="lava_dl")},
        bias_into=("CubaLIF",),
        lost=(
            Lost("refDelay, gradedSpike and the weight exponent of a netx layer are not written by lava-dl's "
                 "netx/nir.py: assumed refDelay 1, binary spikes, the written weights as the per-spike input",
                 ("CubaLIF",)),
        ),
        source="lava-dl's netx/nir.py (lava-nc/lava-dl repository, after the 0.6.0 release, which ships no NIR "
        "exporter) read_cuba_lif: dense -> Affine(weight, bias) / Linear(weight), CUBA -> CubaLIF(tau_syn = "
        "1/iDecay, tau_mem = 1/vDecay with decays in 1/4096 units (so dt = 2^-12), r = 1, w_in = tau_syn, v_leak = "
        "0, v_threshold = vThMant); the Affine's bias is netx's neuron bias (added to v: bias_mant at bias_exp 6) "
        "and is moved back into the neuron. Steps: lava-dl 0.6.0 netx/hdf5.py (du = iDecay - 1, dv = vDecay) on "
        "Lava 0.10.0 PyLifModelBitAcc (current decay du + 1): i = (1-iDecay/4096)*i + x, v = (1-vDecay/4096)*v + "
        "i + bias, spike v > vth, v -> 0, one step of delay per Dense",
        verified="lava-dl 0.6.0 + Lava 0.10.0 fixed_pt (tests/backends/loihi/test_lava_dl_nir_real.py, when the "
        "Lava side venv exists): 18 seeded 2-4 layer netx networks (mixed-sign weights, biases, random decays) "
        "written to NIR with netx/nir.py's mapping restated, 0 of 27,990 spike entries differ from Lava",
    ),
    "spyx": Convention(
        name="spyx",
        dt=1.0,
        semantics=_SPYX,
        rules={"IF": Rule(gain="one"), "LIF": Rule(gain="one")},
        dt_rule="assumed",
        output_delay=("IF", "LIF"),
        unsupported={"CubaLIF": "Spyx's CuBaLIF (1.0.0) subtracts the reset once but before the leak, V = beta*(V - "
                     "s*theta) + I, so the reset term decays with beta; no snncompile Semantics expresses that "
                     "(the delayed subtract applies theta undecayed)"},
        no_recurrence="Spyx's to_nir routes a recurrent layer's input through w_rec (input -> w_rec -> lif), "
        "which Spyx's own from_nir ignores; the written edges do not describe Spyx's RLIF/RIF",
        lost=(Lost("dt is not stored; spyx.nir.to_nir's default dt=1 is assumed (the dt given to to_nir)",
                   ("IF", "LIF"), ("dt",)),),
        source="Spyx 1.0, spyx/nir.py to_nir: LIF -> LIF(tau = dt/(1-beta), r = beta), IF -> IF(r = 1); "
        "spyx/nn.py LIF/IF: s[t] = H(V[t-1] - theta), V = beta*V + x - s*theta, i.e. snnTorch's delayed subtract "
        "with the spike emitted one step later",
        verified="Spyx 1.0.0 (LIF, IF) in CI, in the side venv .ci/spyx-venv.sh builds "
        "(tests/interop/test_interop_spyx_real.py; jax/flax are not in this project's venv); always against "
        "spyx/nn.py equations written out in tests/interop/test_interop_unverified.py",
    ),
}


def convention(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise InputError(
            f"unknown source convention {name!r}; known: {', '.join(sorted(CONVENTIONS))}"
        ) from None
