"""QGraphs for the netx/Lava tests: digits-mlp quantised with netx=True, and seeded random netx-expressible chains.

A random chain has 2-4 layers of 3-24 neurons. Per layer: a sign mode (mostly mixed, some excitatory), b-bit
mantissas (b in 2..8) shifted left by j bits (so netx derives a different num_weight_bits and weight_exp per layer),
written as our QDense (mantissa, weight_exp e) with e drawn among the exponents that give the same effective
weights, random du, dv, vth, and a bias on multiples of 64 (or none).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from snncompile.backends.loihi.registers import lava_weights

from snncompile.graph import Graph
from snncompile.nodes import IF, Affine, AvgPool2d, Conv2d, Flatten, Input, Output, SumPool2d
from snncompile.quant.qnodes import QDense, QGraph, QNeuron
from snncompile.semantics import PRESETS

RANDOM_SEEDS = (1, 2, 3, 4, 5, 6)
STEPS = 30


def _neuron(name: str, n: int, rng: np.random.Generator, fan_in: int, wmax: int) -> QNeuron:
    du, dv = int(rng.choice([0, 4095, rng.integers(0, 4096)])), int(rng.choice([0, rng.integers(0, 4096)]))
    vth = int(rng.integers(1, max(2, wmax * max(1, fan_in // 4))))
    bias = (rng.integers(-40, 41, n) << 6) if rng.random() < 0.6 else np.zeros(n, np.int64)
    return QNeuron(name=name, kind="CubaLIF", shape=(n,), semantics=PRESETS["loihi"], alpha=4095 - du,
                   beta=4096 - dv, threshold=vth << 6, bias=bias.astype(np.int64), v_init=0, i_init=0,
                   input_shift=6, frac_bits=12, i_bits=24, v_bits=24)


def _weights(name: str, n_out: int, n_in: int, rng: np.random.Generator) -> tuple[QDense, int]:
    mixed = rng.random() < 0.75
    b = int(rng.integers(2, 9))
    if mixed:
        k = rng.integers(-(1 << (b - 1)), 1 << (b - 1), (n_out, n_in))
        top = 254
    else:
        k = rng.integers(0, 1 << b, (n_out, n_in))
        top = 255
    k[rng.random((n_out, n_in)) < 0.3] = 0
    if not k.any():
        k[0, 0] = 1
    room = int(np.floor(np.log2(top / max(1, int(np.abs(k).max())))))
    j = int(rng.integers(0, max(1, room) + 1)) if room >= 0 else 0
    eff = np.clip(k << j, -256, top)  # the effective weights: what Lava sums per spike
    # our encoding: mantissa m = eff >> e (exact) with e from the exponents that keep m a valid Lava mantissa
    choices = []
    for e in range(-8, 8):
        m = eff << -e if e < 0 else eff >> e
        if e > 0 and np.any((m << e) != eff):
            continue
        if np.array_equal(lava_weights(m), m) and np.abs(m).max() <= 256:
            choices.append((e, m))
    e, m = choices[int(rng.integers(0, len(choices)))]
    return QDense(name=name, weight=m.astype(np.int64), w_bits=9, shift=e), int(np.abs(eff).max())


def random_chain(seed: int) -> tuple[QGraph, np.ndarray]:
    """A seeded random netx-expressible chain and its input spikes int64 [STEPS, 1, n_in]."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(3, 25)) for _ in range(int(rng.integers(3, 6)))]
    nodes: dict[str, Any] = {"input": Input(shape=(sizes[0],))}
    edges = []
    prev = "input"
    for k in range(1, len(sizes)):
        dense, lif = f"dense{k}", f"lif{k}"
        nodes[dense], wmax = _weights(dense, sizes[k], sizes[k - 1], rng)
        nodes[lif] = _neuron(lif, sizes[k], rng, sizes[k - 1], wmax)
        edges += [(prev, dense), (dense, lif)]
        prev = lif
    nodes["output"] = Output()
    edges.append((prev, "output"))
    spikes = (rng.random((STEPS, 1, sizes[0])) < rng.uniform(0.1, 0.6)).astype(np.int64)
    return QGraph(nodes, edges), spikes


def netx_weight_params(w: np.ndarray) -> tuple[int, int, str]:
    """(weight_exp, num_weight_bits, sign mode) that netx's optimize_weight_bits gives Lava's Dense for ``w``
    (lava-dl 0.6.0 netx/utils.py, restated), for the coverage check only."""
    hi, lo = int(w.max()), int(w.min())
    mode = "inhibitory" if hi < 0 else "excitatory" if lo >= 0 else "mixed"
    signed = int(mode == "mixed")
    scale = min(127 / hi if hi > 0 else np.inf, -128 / lo) if signed else (-256 / lo if hi < 0 else 255 / hi)
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    return -scale_bits, 8 - scale_bits - (n - signed), mode


def pooled_cnn(seed: int = 0, pool_first: bool = True, avg: bool = True) -> Graph:
    """Input(2,8,8) [-> AvgPool] -> Conv -> IF -> SumPool -> Conv -> IF -> AvgPool -> Flatten -> Affine -> IF."""
    rng = np.random.default_rng(seed)
    side = 8
    nodes: dict = {"input": Input(shape=(2, 8, 8))}
    chain = ["input"]
    if pool_first:
        nodes["p0"] = (AvgPool2d if avg else SumPool2d)(kernel_size=(2, 2), stride=(2, 2))
        chain.append("p0")
        side = 4
    c1 = rng.normal(0, 0.6, (4, 2, 3, 3))
    nodes |= {"c1": Conv2d(weight=c1, bias=rng.normal(0, 0.1, 4), padding=(1, 1)), "n1": IF(shape=(4, side, side),
              threshold=np.ones(()))}
    nodes |= {"p1": SumPool2d(kernel_size=(2, 2), stride=(2, 2)),
              "c2": Conv2d(weight=rng.normal(0, 0.5, (4, 4, 3, 3)), bias=np.zeros(4), padding=(1, 1)),
              "n2": IF(shape=(4, side // 2, side // 2), threshold=np.ones(())),
              "p2": AvgPool2d(kernel_size=(2, 2), stride=(2, 2)), "f": Flatten(),
              "fc": Affine(weight=rng.normal(0, 0.8, (5, 4 * (side // 4) ** 2)), bias=rng.normal(0, 0.1, 5)),
              "n3": IF(shape=(5,), threshold=np.ones(())), "output": Output()}
    chain += ["c1", "n1", "p1", "c2", "n2", "p2", "f", "fc", "n3", "output"]
    return Graph(nodes, list(zip(chain, chain[1:], strict=False)))


def spikes(seed: int, shape: tuple[int, ...], t: int = 20, b: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).random((t, b, *shape)) < 0.4).astype(np.float64)
