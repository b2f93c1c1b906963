"""Trainable SNN layers with the compiler's exact semantics (see docs/nn.md).

Layers (:mod:`.neurons`): :class:`Leaky`, :class:`Synaptic`, :class:`RLeaky`, :class:`RSynaptic`,
:class:`IF`, :class:`LI`; :func:`reset` / :func:`run` for time loops. Surrogates: :mod:`.surrogate`.
Encoders: :mod:`.encode`. Losses and accuracy: :mod:`.loss`. Fake quantisation: :mod:`.qat`
(``qat.qat(model, spec, sample)``). Training loops: :func:`train`, :func:`evaluate` (:mod:`.train`).
``snncompile.trace`` turns a model
built from these layers into the IR.
"""

from __future__ import annotations

from . import encode, loss, qat, surrogate
from .neurons import IF, LI, NEURON_LAYERS, Leaky, RLeaky, RSynaptic, Synaptic, detach_states, reset, run
from .qat import QATHandle
from .train import evaluate, predict, train

__all__ = [
    "IF", "LI", "NEURON_LAYERS", "Leaky", "QATHandle", "RLeaky", "RSynaptic", "Synaptic", "detach_states", "encode",
    "evaluate", "loss", "predict", "qat", "reset", "run", "surrogate", "train",
]
