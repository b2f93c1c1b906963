"""Lava's bit-accurate golden cases (tests/data/lava_loihi) as QGraphs, shared by the bitsim, onnx and loihi tests.

Dense -> LIF (-> Dense -> LIF) exactly as Lava ran each case: Lava's processed weights with weight_exp as the
QDense shift, current decay 4095-du, voltage decay 4096-dv, threshold and input scaled by 2^6, bias
mantissa << exponent, 24-bit wrap_loihi current and saturating voltage (the ``loihi`` preset).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from conftest import SHARED

from snncompile.nodes import Input, Output
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS

LAVA = SHARED / "lava_loihi"
LAVA_CASES = sorted(p.stem for p in LAVA.glob("p*.npz")) if LAVA.is_dir() else []


def loihi_neuron(name: str, shape: tuple[int, ...], *, du: Any, dv: Any, vth: Any, bias_mant: Any = 0,
                 bias_exp: Any = 0, u0: Any = 0, v0: Any = 0) -> QNeuron:
    """A QNeuron with Lava's LIF registers (the mapping of registers/netlist, written out by hand)."""
    bias = np.asarray(bias_mant, np.int64) << np.asarray(bias_exp, np.int64)
    return QNeuron(name=name, kind="CubaLIF", shape=shape, semantics=PRESETS["loihi"],
                   alpha=4095 - np.asarray(du, np.int64), beta=4096 - np.asarray(dv, np.int64),
                   threshold=np.asarray(vth, np.int64) << 6, bias=bias, v_init=v0, i_init=u0, input_shift=6,
                   frac_bits=12, i_bits=24, v_bits=24)


def lava_qgraph(d: Any) -> QGraph:
    """Dense -> LIF (-> Dense -> LIF) exactly as Lava ran case ``d`` (an opened npz)."""
    n_in = d["input_spikes"].shape[1]
    nodes: dict[str, Any] = {"input": Input(shape=(n_in,))}
    edges = []
    prev = "input"
    for k in range(1, int(d["n_layers"]) + 1):
        dense, lif = f"dense{k}", f"lif{k}"
        w = d[f"dense{k}_weights_lava"]
        nodes[dense] = QDense(name=dense, weight=w, w_bits=9, shift=int(d[f"dense{k}_weight_exp"]))
        nodes[lif] = loihi_neuron(lif, (w.shape[0],), du=int(d[f"lif{k}_du"]), dv=int(d[f"lif{k}_dv"]),
                                  vth=int(d[f"lif{k}_vth"]), bias_mant=d[f"lif{k}_bias_mant"],
                                  bias_exp=d[f"lif{k}_bias_exp"], u0=d[f"lif{k}_u0"], v0=d[f"lif{k}_v0"])
        edges += [(prev, dense), (dense, lif)]
        prev = lif
    nodes["output"] = Output()
    edges.append((prev, "output"))
    return QGraph(nodes, edges)
