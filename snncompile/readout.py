"""On-chip readout: the classifier head a hardware target computes, so the device returns a class, not a spike train.

Defined once here; bitsim's traces give the reference (:func:`compute`), the HLS C and the RTL print it.
A readout reads the graph's single Output node over one sample of T timesteps (``out[t][n]``, n over the
flattened Output shape, t = 0..T-1, after a reset):

    counts   score[n] = sum_t out[t][n]                   spike counts (a multi-spike output adds its counts)
    argmax   score as for counts;  class = argmax_n score[n]
    max-v    score[n] = max_t out[t][n]                   the largest membrane of a non-spiking readout (LI,
                                                          CubaLI, I: its output is v);  class = argmax_n score[n]

Tie-breaking: ``argmax`` returns the **smallest** index n among the maxima (as ``numpy.argmax``); the hardware
scans n = 0, 1, ... and replaces the best only on a strictly larger score. A sample of T = 0 steps has
score = 0 (counts) and class 0.

Rules (:func:`plan`, a ReadoutError naming the node otherwise): the graph has exactly one Output node; counts
and argmax need a spiking Output (fed by a spiking neuron), max-v a non-spiking one. Score widths come from the
core range analysis (:func:`snncompile.quant.ranges.analyse`): counts lie in ``[T_max * lo, T_max * hi]`` of the
Output's range, max-v in its range; both must fit int32 (the C and RTL word).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .quant.qnodes import QGraph

READOUTS = ("counts", "argmax", "max-v")
WORD_BITS = 32


class ReadoutError(InputError):
    """A readout that the graph cannot have (exit 2)."""


@dataclass(frozen=True)
class Readout:
    """A planned readout: ``mode``, the Output node, its flattened size ``n``, whether a class is computed, and
    the proven range ``[lo, hi]`` of every score (fits int32)."""

    mode: str
    output: str
    n: int
    has_class: bool
    lo: int
    hi: int

    @property
    def words(self) -> int:
        """Values per sample in a readout file / on the port: n scores, then the class when there is one."""
        return self.n + (1 if self.has_class else 0)


def _is_spiking(graph: QGraph, name: str) -> bool:
    from .nodes import Output
    from .quant.qnodes import QNeuron

    node = graph.nodes[name]
    if isinstance(node, Output):
        preds = graph.predecessors(name)
        return len(preds) == 1 and _is_spiking(graph, preds[0])
    return isinstance(node, QNeuron) and node.SPIKING


def plan(graph: QGraph, mode: str, t_max: int) -> Readout:
    """Check that ``graph`` can have readout ``mode`` over up to ``t_max`` steps; its Readout."""
    from .quant.ranges import analyse

    if mode not in READOUTS:
        raise ReadoutError(f"readout {mode!r} is not one of {', '.join(READOUTS)}")
    if len(graph.outputs) != 1:
        raise ReadoutError(f"readout '{mode}': the graph has {len(graph.outputs)} Output nodes "
                           f"({', '.join(graph.outputs)}); a readout reads exactly one")
    out = graph.outputs[0]
    spiking = _is_spiking(graph, out)
    if mode in ("counts", "argmax") and not spiking:
        raise ReadoutError(f"readout '{mode}': Output node '{out}' does not carry spikes (a non-spiking readout "
                           "neuron feeds it); use --readout max-v")
    if mode == "max-v" and spiking:
        raise ReadoutError(f"readout 'max-v': Output node '{out}' carries spikes; max-v reads the membrane of a "
                           "non-spiking readout (LI, CubaLI, I); use --readout counts or argmax")
    lo, hi = analyse(graph)[out]
    if mode != "max-v":
        lo, hi = min(0, lo * t_max), max(0, hi * t_max)
    limit = (1 << (WORD_BITS - 1)) - 1
    if lo < -limit or hi > limit:
        raise ReadoutError(f"readout '{mode}': Output node '{out}': the score can reach [{lo}, {hi}] over t_max="
                           f"{t_max} steps, beyond int{WORD_BITS}; give a smaller t_max")
    n = int(np.prod(graph.shapes[out], dtype=np.int64))
    return Readout(mode, out, n, mode != "counts", int(lo), int(hi))


def compute(readout: Readout, out: np.ndarray) -> dict[str, np.ndarray]:
    """The reference readout of an Output trace ``out`` [T, B, *shape] (bitsim's integers):
    ``{"score": int64 [B, n], "class": int64 [B]}`` (no "class" for counts)."""
    arr = np.asarray(out, np.int64)
    T, B = arr.shape[0], arr.shape[1]
    flat = arr.reshape(T, B, int(np.prod(arr.shape[2:], dtype=np.int64)))
    if readout.mode == "max-v":
        score = flat.max(axis=0) if T else np.zeros((B, flat.shape[2]), np.int64)
    else:
        score = flat.sum(axis=0)
    result = {"score": score.astype(np.int64)}
    if readout.has_class:
        result["class"] = np.argmax(score, axis=1).astype(np.int64)  # the first maximum: the documented tie rule
    return result


def words(readout: Readout, values: dict[str, np.ndarray]) -> np.ndarray:
    """int64 [B, words]: the scores, then the class (the order of a readout file and of the hardware port)."""
    parts = [values["score"]] + ([values["class"][:, None]] if readout.has_class else [])
    return np.concatenate(parts, axis=1).astype(np.int64)
