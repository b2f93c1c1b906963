"""The ``lava-dl`` convention against lava-dl itself: a netx network run in Lava vs its NIR file, ``--from lava-dl``.

lava-dl 0.6.0 (the PyPI release the Lava side venv installs, .ci/lava-venv.sh) ships no NIR exporter: its
netx/ holds hdf5.py, blocks/, utils.py and sequential_modules.py only. lava-dl's netx -> NIR converter,
``lava/lib/dl/netx/nir.py`` (``convert_to_nir`` -> ``read_node`` -> ``read_cuba_lif``), exists only in the
lava-nc/lava-dl repository after the release and does not import in the side venv (it needs ``nir``, which lava-dl
0.6.0 does not depend on). So the file is written here by :func:`netx_to_nir`, which restates that converter's
mapping for dense CUBA layers field by field:

* ``dense`` layer -> ``nir.Affine(weight, bias)`` when the layer has ``bias``, else ``nir.Linear(weight)``;
* its neuron -> ``nir.CubaLIF(tau_syn = 1/iDecay, tau_mem = 1/vDecay (inf for 0), r = 1, v_leak = 0,
  v_threshold = vThMant, w_in = tau_syn)``; the ``input`` layer writes no node.

The reference is lava-dl's own runtime: ``lava.lib.dl.netx.hdf5.Network`` on the same ``network.net`` under Lava
0.10.0's ``fixed_pt`` models (lava_netx_run.py), the layer spikes recorded. snncompile then loads the NIR file with
``convention="lava-dl"`` and runs its float64 reference (snncompile.reference.run); spikes are compared with ``==``.

Three variants per seed, all compared with ``==``: ``exact`` (no bias, iDecay 4096 and vDecay 0, so Lava's
products are exact), ``decays`` (no bias, the chain's random iDecay/vDecay: Lava truncates u*(4096-iDecay)/4096 and
v*(4096-vDecay)/4096 toward zero in 2^6 units, the float reference does not; no spike moved in these networks) and
``bias`` (the chain's biases). netx gives a layer's ``bias`` to the neuron (``bias_mant`` at ``bias_exp`` 6, added
to v every step) but the converter writes it as the Affine's bias; read as NIR says (into the current, decaying with
iDecay) 1,007 of 9,330 entries differed, so the convention moves it back into the neuron (``bias_into``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
import pytest
from netx_cases import random_chain
from snncompile.backends.loihi import BACKEND
from snncompile.backends.loihi.netx import NETX_FILE
from test_loihi_netx_lava import DEFAULT_VENV, RUNNER, lava_python

from snncompile import nodes as ir
from snncompile.frontend.nir_read import load
from snncompile.quant.qnodes import QGraph, QNeuron
from snncompile.reference import run

#: seeds of netx_cases.random_chain (2-4 CUBA layers, mixed-sign weights, biases on some layers)
SEEDS = (1, 2, 3, 4, 5, 6)


def netx_to_nir(net: Path) -> nir.NIRGraph:
    """lava-dl's netx/nir.py read_node + read_cuba_lif for a chain of dense CUBA layers, restated (see above)."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    with h5py.File(net, "r") as f:
        layers = f["layer"]
        n_in = int(layers["0/shape"][()][0])
        nodes["input"] = nir.Input(input_type={"input": np.array([n_in])})
        prev = "input"
        for key in sorted(layers, key=int)[1:]:
            layer = layers[key]
            assert layer["type"][0] == b"dense", layer["type"][0]
            w = layer["weight"][:].astype(np.float64)
            n = w.shape[0]
            syn = nir.Affine(weight=w, bias=layer["bias"][:].astype(np.float64)) if "bias" in layer else (
                nir.Linear(weight=w))
            neuron = layer["neuron"]
            vdecay, idecay = float(neuron["vDecay"][()]), float(neuron["iDecay"][()])
            tau_mem = 1.0 / vdecay if vdecay != 0 else np.inf
            tau_syn = 1.0 / idecay if idecay != 0 else np.inf
            vth = float(neuron["vThMant"][()])
            # netx stores scalars; NIR wants arrays of the layer size
            lif = nir.CubaLIF(**{k: np.full(n, v, np.float64) for k, v in (
                ("tau_syn", tau_syn), ("tau_mem", tau_mem), ("r", 1.0), ("v_leak", 0.0), ("v_threshold", vth),
                ("w_in", tau_syn))})
            nodes[f"{key}.w"], nodes[key] = syn, lif
            edges += [(prev, f"{key}.w"), (f"{key}.w", key)]
            prev = key
        nodes["output"] = nir.Output(output_type={"output": np.array([n])})
        edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _exact_decays(qgraph: QGraph) -> QGraph:
    """The same chain with iDecay 4096 and vDecay 0 (alpha 0, beta 1): Lava's decay products are then exact."""
    for node in qgraph.nodes.values():
        if isinstance(node, QNeuron):
            object.__setattr__(node, "alpha", np.zeros(node.shape, np.int64))
            object.__setattr__(node, "beta", np.full(node.shape, 4096, np.int64))
    return qgraph


def _no_bias(qgraph: QGraph) -> QGraph:
    for node in qgraph.nodes.values():
        if isinstance(node, QNeuron):
            object.__setattr__(node, "bias", np.zeros_like(node.bias))
    return qgraph


VARIANTS = {"exact": lambda q: _exact_decays(_no_bias(q)), "decays": _no_bias, "bias": lambda q: q}


@pytest.fixture(scope="module")
def lava_dl_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Any]:
    """{(variant, seed): (NIR path, input [T, 1, n], Lava's npz)}, every network run in Lava in one subprocess."""
    py = lava_python()
    if py is None or not py.exists():
        msg = f"Lava side venv missing ({py or DEFAULT_VENV}); run: bash .ci/lava-venv.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    root = tmp_path_factory.mktemp("lava_dl_nir")
    jobs, cases = [], {}
    for variant, make in VARIANTS.items():
        for seed in SEEDS:
            qgraph, x = random_chain(seed)
            case = root / f"{variant}{seed}"
            BACKEND.emit(make(qgraph), case, x, netx="required")
            nir.write(case / "lava-dl.nir", netx_to_nir(case / NETX_FILE))
            np.save(case / "in.npy", x[:, 0])
            jobs.append({"net": str(case / NETX_FILE), "spikes": str(case / "in.npy"), "out": str(case / "out.npz")})
            cases[variant, seed] = (case / "lava-dl.nir", x, case / "out.npz")
    (root / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([str(py), str(RUNNER), str(root / "jobs.json")], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"Lava run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return {k: (p, x, dict(np.load(o))) for k, (p, x, o) in cases.items()}


def compare(nir_path: Path, x: np.ndarray, lava: dict[str, np.ndarray]) -> tuple[int, int, str]:
    """(differing spike entries, entries, first mismatch 'layer L neuron N step T: Lava a, snncompile b' or '')."""
    loaded = load(nir_path, convention="lava-dl")
    assert loaded.graph.dt == 2.0**-12
    traces = run(loaded.graph, x.astype(np.float64))
    layers = sorted((k for k in loaded.graph.nodes if k.isdigit()), key=int)
    bad_total, total, first = 0, 0, ""
    for k, name in enumerate(layers, start=1):
        want = lava[f"layer{k}_s"].reshape(x.shape[0], -1)
        got = np.asarray(traces[name]["out"])[:, 0, :]
        assert got.shape == want.shape, (name, got.shape, want.shape)
        bad = np.argwhere(got != want)
        bad_total += len(bad)
        total += want.size
        if len(bad) and not first:
            t, i = bad[0]
            first = f"layer {name} neuron {i} step {t}: Lava {want[t, i]}, snncompile {got[t, i]}"
    return bad_total, total, first


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_lava_dl_nir_spikes_equal_lava(lava_dl_runs: dict[tuple[str, int], Any], variant: str, seed: int) -> None:
    path, x, lava = lava_dl_runs[variant, seed]
    bad, total, first = compare(path, x, lava)
    assert bad == 0, f"{variant} seed {seed}: {bad} of {total} spike entries differ; first mismatch at {first}"


def test_lava_dl_cases_exercise_lava(lava_dl_runs: dict[tuple[str, int], Any]) -> None:
    """Every variant spikes in Lava, the random decays are not all trivial, and the bias variant has biases that
    the import moved from the Affine into the neuron (the Affines become Linear)."""
    for variant in VARIANTS:
        fired = sum(int(lava[k].sum()) for _, _, lava in (lava_dl_runs[variant, s] for s in SEEDS)
                    for k in lava if k.endswith("_s"))
        print(variant, "spikes in Lava:", fired)
        assert fired > 100, variant
    biased, rounded = 0, 0
    for seed in SEEDS:
        loaded = load(lava_dl_runs["bias", seed][0], convention="lava-dl")
        neurons = [n for n in loaded.graph.nodes.values() if isinstance(n, ir.CubaLIF)]
        assert not any(isinstance(n, ir.Affine) for n in loaded.graph.nodes.values())
        biased += sum(int(np.any(n.bias != 0)) for n in neurons)
        decays = load(lava_dl_runs["decays", seed][0], convention="lava-dl").graph.nodes
        rounded += sum(int(np.any((n.alpha % 1 != 0) | (n.beta % 1 != 0))) for n in decays.values()
                       if isinstance(n, ir.CubaLIF))  # a decay factor strictly between 0 and 1: Lava truncates
    print(f"lava-dl cases: {biased} biased layers, {rounded} layers with a rounded decay")
    assert biased >= 3 and rounded >= 6, (biased, rounded)
