"""Run by a Python that has spyx==1.0.0 (not this project's venv): seeded Spyx networks (Linear -> LIF ->
Linear -> LIF or IF), Spyx's own step, spyx.nir.to_nir; writes net<seed>.nir and net<seed>.npz (inputs and
every neuron layer's spikes) into the folder given as argv[1]. Used by test_interop_spyx_real.py."""
# ruff: noqa
import sys

import jax.numpy as jnp
import nir
import numpy as np
import spyx.nn as snn
from flax import nnx
from spyx.nir import to_nir

OUT = sys.argv[1]
T, B = 30, 3
for seed in range(5):
    rngs = nnx.Rngs(seed)
    rng = np.random.default_rng(seed)
    l1 = nnx.Linear(10, 8, rngs=rngs); l2 = nnx.Linear(8, 5, rngs=rngs)
    l1.kernel[...] = jnp.asarray(rng.normal(0.3, 0.8, (10, 8)), jnp.float32)
    l2.kernel[...] = jnp.asarray(rng.normal(0.3, 0.8, (8, 5)), jnp.float32)
    l1.bias[...] = jnp.asarray(rng.normal(0, 0.2, 8), jnp.float32)
    lif = snn.LIF((8,), threshold=float(rng.uniform(0.6, 1.2)), rngs=rngs)  # beta per neuron, drawn by Spyx
    second = snn.IF((5,), threshold=float(rng.uniform(0.8, 1.5))) if seed % 2 else snn.LIF((5,), beta=0.8, rngs=rngs)
    model = snn.Sequential(l1, lif, l2, second)
    x = (rng.random((T, B, 10)) < 0.4).astype(np.float32)
    # record each neuron layer: run the layers by hand with the Sequential's own state contract
    state = model.initial_state(B)
    outs = {1: [], 3: []}
    for t in range(T):
        h = jnp.asarray(x[t]); new = []
        for i, (layer, s) in enumerate(zip(model.layers, state)):
            if s is None or (hasattr(s, "shape") and s.shape == ()) and not hasattr(layer, "initial_state"):
                h = layer(h); new.append(s); continue
            if hasattr(layer, "initial_state"):
                h, s = layer(h, s); outs[i].append(np.asarray(h))
            else:
                h = layer(h)
            new.append(s)
        state = new
    graph = to_nir(model, {"input": np.array([10])}, {"output": np.array([5])}, dt=1)
    nir.write(f"{OUT}/net{seed}.nir", graph)
    np.savez(f"{OUT}/net{seed}.npz", x=x, **{f"spk_layer_{i}": np.stack(v) for i, v in outs.items()})
    print(seed, {i: float(np.stack(v).sum()) for i, v in outs.items()})
