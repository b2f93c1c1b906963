"""A float model whose integrator readout saturates an 8-bit v register from step 5 (shared by the verify and
CLI tests of register overflow).

Input (2) -> Affine [[1.0, 0.17]] -> LI readout with beta = 1 (an integrator) -> Output. Quantised with 8-bit
weights the weights become [127, 22]; driven on input 1 at every step, v = 22 (t + 1) leaves int8 (max 127) at
step 5 and stays clipped. Sample 0 gets no spikes, sample 1 spikes on input 1 at every step.
"""

from __future__ import annotations

import numpy as np

import snncompile as sc
from snncompile.nodes import LI, Affine, Input, Output


def integrator_graph() -> sc.Graph:
    nodes = {"input": Input(shape=(2,)), "fc": Affine(weight=np.array([[1.0, 0.17]]), bias=np.zeros(1)),
             "readout": LI(shape=(1,), beta=np.ones(1)), "output": Output()}
    return sc.Graph(nodes, [("input", "fc"), ("fc", "readout"), ("readout", "output")], 1e-3)


def integrator_inputs(steps: int = 300) -> np.ndarray:
    """Spikes [steps, 2, 2]: sample 1 drives input 1 at every step; so v saturates (steps - 5) times."""
    x = np.zeros((steps, 2, 2), np.float32)
    x[:, 1, 1] = 1
    return x
