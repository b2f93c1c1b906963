"""Trainable SNN layers with the compiler's exact semantics (see docs/nn.md).

Layers (:mod:`.neurons`): :class:`Leaky`, :class:`Synaptic`, :class:`RLeaky`, :class:`RSynaptic`,
:class:`IF`, :class:`LI`; :func:`reset` / :func:`run` for time loops. Surrogates: :mod:`.surrogate`.
Encoders: :mod:`.encode`. Losses and accuracy: :mod:`.loss`. Fake quantisation: :mod:`.qat`.
``snncompile.trace`` turns a model
built from these layers into the IR.
"""

from __future__ import annotations

from . import encode, loss, qat, surrogate
from .neurons import IF, LI, NEURON_LAYERS, Leaky, RLeaky, RSynaptic, Synaptic, detach_states, reset, run

__all__ = [
    "IF", "LI", "NEURON_LAYERS", "Leaky", "RLeaky", "RSynaptic", "Synaptic", "detach_states", "encode", "loss", "qat",
    "reset", "run", "surrogate",
]
