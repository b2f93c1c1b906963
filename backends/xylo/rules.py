"""Xylo design rules: one named function per limit, each raising ``ResourceError`` (exit 3) that names the
resource, the limit and the value -- e.g. ``xylo: hidden neurons 1200 > 1000 (xylo-audio2 (SYNS61201))``.

``NET_RULES`` check a :class:`~.spec.XyloNet` against a :class:`~.spec.XyloCore` (the chip's resources);
``NODE_RULES`` check one QGraph neuron against what a Xylo neuron computes (:mod:`.lower` applies them while it
maps). The C-type ranges (int8 weights, 16-bit thresholds and biases, 4-bit dashes, shifts 0..15) are already
enforced by ``XyloNet`` itself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from snncompile.errors import ResourceError
from snncompile.quant.qnodes import QNeuron
from snncompile.semantics import PRESETS

from .spec import MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES, STATE_BITS, XyloCore, XyloNet

#: Semantics fields a Xylo neuron fixes (spike_cap too: 31 hidden, 1 readout)
XYLO_SEMANTICS = ("compare", "reset", "timing", "synapse_delay", "spikes", "synapse_order", "rounding",
                  "overflow_i", "overflow_v", "accumulate", "hop_delay")


def _over(core: XyloCore, resource: str, value: int, limit: int, where: str = "") -> None:
    if value > limit:
        raise ResourceError(f"xylo: {resource} {value} > {limit} ({core.name}){where}")


def rule_input_channels(net: XyloNet, core: XyloCore) -> None:
    _over(core, "input channels", net.n_in, core.inputs)


def rule_hidden_neurons(net: XyloNet, core: XyloCore) -> None:
    _over(core, "hidden neurons", net.n_hidden, core.hidden)


def rule_output_neurons(net: XyloNet, core: XyloCore) -> None:
    _over(core, "output neurons", net.n_out, core.outputs)


def rule_synapses(net: XyloNet, core: XyloCore) -> None:
    if core.synapses < 2 and net.uses_syn2:
        raise ResourceError(f"xylo: synapses per hidden neuron 2 > {core.synapses} ({core.name})")


def rule_fanout(net: XyloNet, core: XyloCore) -> None:
    """Recurrent (both synapses) plus readout targets of each hidden neuron."""
    fanout = (net.weights_rec != 0).sum(axis=(1, 2)) + (net.weights_out != 0).sum(axis=1)
    if fanout.size:
        worst = int(np.argmax(fanout))
        _over(core, "fan-out of hidden neuron", int(fanout[worst]), core.max_fanout, f" (hidden neuron {worst})")


def rule_aliases(net: XyloNet, core: XyloCore) -> None:
    for src, targets in enumerate(net.aliases):
        _over(core, "aliases of hidden neuron", len(targets), core.aliases_per_neuron, f" (hidden neuron {src})")


NET_RULES: tuple[Callable[[XyloNet, XyloCore], None], ...] = (
    rule_input_channels, rule_hidden_neurons, rule_output_neurons, rule_synapses, rule_fanout, rule_aliases,
)


def check_net(net: XyloNet, core: XyloCore) -> None:
    for rule in NET_RULES:
        rule(net, core)


# -- node rules: what one Xylo neuron computes ------------------------------------------------------------------------

def rule_neuron_kind(name: str, node: QNeuron, readout: bool) -> None:
    if node.kind != "CubaLIF":
        raise ResourceError(f"xylo: node '{name}': neuron kind {node.kind}, a Xylo neuron is CubaLIF "
                            "(a synaptic current decaying by a bit shift, a membrane, a threshold)")


def rule_neuron_semantics(name: str, node: QNeuron, readout: bool) -> None:
    want = PRESETS["xylo"]
    for field in XYLO_SEMANTICS:
        if getattr(node.semantics, field) != getattr(want, field):
            raise ResourceError(f"xylo: node '{name}': semantics {field}={getattr(node.semantics, field)!r}, "
                                f"Xylo computes {getattr(want, field)!r} (the 'xylo' preset)")
    cap = MAX_OUTPUT_SPIKES if readout else MAX_HIDDEN_SPIKES
    if node.semantics.spike_cap != cap:
        raise ResourceError(f"xylo: node '{name}': spike_cap {node.semantics.spike_cap}, a Xylo "
                            f"{'readout' if readout else 'hidden'} neuron fires at most {cap} per step")


def rule_state_width(name: str, node: QNeuron, readout: bool) -> None:
    for quantity in ("i_bits", "v_bits"):
        if getattr(node, quantity) != STATE_BITS:
            raise ResourceError(f"xylo: node '{name}': {quantity} {getattr(node, quantity)}, Xylo's states are "
                                f"{STATE_BITS} bits")


def rule_input_shift(name: str, node: QNeuron, readout: bool) -> None:
    if node.input_shift != 0:
        raise ResourceError(f"xylo: node '{name}': input_shift {node.input_shift} > 0 (Xylo shifts weights per "
                            "matrix, not neuron inputs)")


def rule_initial_state(name: str, node: QNeuron, readout: bool) -> None:
    for quantity in ("v_init", "i_init"):
        if np.any(getattr(node, quantity)):
            raise ResourceError(f"xylo: node '{name}': {quantity} is not 0 (Xylo starts every state at 0)")


def dash_of(name: str, quantity: str, m: np.ndarray, frac_bits: int) -> np.ndarray:
    """The bit shift k with ``m = 2^D - 2^(D-k)`` (decay 1 - 2^-k), or ResourceError naming the first value
    that is not one (k in 0..min(15, D))."""
    one = 1 << frac_bits
    dash = np.full(m.shape, -1, np.int64)
    for k in range(min(15, frac_bits) + 1):
        dash[m == one - (1 << (frac_bits - k))] = k
    if (dash < 0).any():
        idx = tuple(int(i) for i in np.argwhere(dash < 0)[0])
        raise ResourceError(f"xylo: node '{name}': {quantity} {int(m[idx])}/2^{frac_bits} at {list(idx)} is not a "
                            f"Xylo bit-shift decay 1 - 2^-k (k in 0..{min(15, frac_bits)})")
    return dash


def rule_decays(name: str, node: QNeuron, readout: bool) -> None:
    dash_of(name, "alpha", node.alpha, node.frac_bits)  # type: ignore[arg-type]
    dash_of(name, "beta", node.beta, node.frac_bits)  # type: ignore[arg-type]


def rule_threshold(name: str, node: QNeuron, readout: bool) -> None:
    hi = (1 << (STATE_BITS - 1)) - 1
    if np.max(node.threshold) > hi:  # type: ignore[call-overload]
        raise ResourceError(f"xylo: node '{name}': threshold {int(np.max(node.threshold))} > {hi} "  # type: ignore
                            f"({STATE_BITS}-bit)")


NODE_RULES: tuple[Callable[[str, QNeuron, bool], None], ...] = (
    rule_neuron_kind, rule_neuron_semantics, rule_state_width, rule_input_shift, rule_initial_state, rule_decays,
    rule_threshold,
)
