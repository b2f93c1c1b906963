"""Helpers shared by the interop tests: seeded inputs, writing an exporter's graph, spike comparison.

Every framework test follows one recipe: build a random network in the framework (seeded), run the framework's
own forward pass on random binary spikes, export with the framework's exporter, write the file with
``nir.write``, import it with ``load(path, convention=...)``, run ``snncompile.reference.run`` and compare the
spikes of every neuron layer exactly (a non-spiking readout to 1e-4 + 1e-5 relative: the framework runs in
float32, the reference in float64).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from conftest import assert_spikes_equal

from snncompile.frontend.nir_read import Loaded, load
from snncompile.reference import run

#: Input spikes per step and input element.
RATE = 0.3


def spikes(seed: int, shape: tuple[int, ...], rate: float = RATE) -> np.ndarray:
    """Binary float32 input spikes ``[T, B, ...]``, seeded."""
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.float32)


def write_and_load(graph: Any, path: Path, convention: str, **options: Any) -> Loaded:
    """``nir.write`` the exporter's graph (no type check on read: we parse the HDF5 ourselves) and load it."""
    import nir

    nir.write(path, graph)
    return load(path, convention=convention, **options)


def compare_layers(
    label: str, loaded: Loaded, x: np.ndarray, expected: dict[str, np.ndarray], readouts: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Spikes of every layer in ``expected`` equal exactly; readouts within 1e-4 (+1e-5 relative). Each spiking
    layer must spike, but not at every entry, so no case passes vacuously. Returns the reference traces."""
    traces = run(loaded.graph, x)
    for layer, want in expected.items():
        got = traces[layer]["out"]
        assert_spikes_equal(f"{label}/{layer}", want, got)
        assert 0 < np.count_nonzero(want) < want.size, f"{label}/{layer}: vacuous case ({np.count_nonzero(want)} "\
            f"spiking entries of {want.size})"
    for layer, want in readouts.items():
        np.testing.assert_allclose(traces[layer]["out"], want, rtol=1e-5, atol=1e-4, err_msg=f"{label}/{layer} readout")
    return traces


def fill_input_shapes(graph: Any, net: Any, sample: Any) -> None:
    """Set the input shapes that the exporter left None on Conv2d and Flatten nodes (named by their index in
    ``net``), from a forward pass of ``sample``.

    Norse's and Sinabs' exporters (with nirtorch 2.6) leave ``Conv2d.input_shape`` / ``Flatten.input_type``
    None, which ``nir.write`` 1.0.8 cannot store (h5py has no None); NIR's type inference would set them from
    the sample, as done here.
    """
    import torch

    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args, k=str(i): shapes.__setitem__(k, tuple(args[0].shape)))
             for i, m in enumerate(net) if isinstance(m, (torch.nn.Conv2d, torch.nn.Flatten))]
    with torch.no_grad():
        try:
            net(sample)
        finally:
            for h in hooks:
                h.remove()
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind == "Conv2d" and node.input_shape is None:
            node.input_shape = np.array(shapes[name][-2:])
        elif kind == "Flatten" and (node.input_type or {}).get("input") is None:
            node.input_type = {"input": np.array(shapes[name][1:])}
