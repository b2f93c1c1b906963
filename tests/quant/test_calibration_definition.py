"""Calibration's per-neuron maxima equal their definition (docs/quantisation.md) written out plainly: the export
path computes them with fewer temporaries (in-place sums, max/min instead of |a| copies), and must not change one
value -- the register widths and the calibration report depend on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import snncompile as sc
from snncompile import nodes as ir
from snncompile.quant.calibrate import neuron_statistics
from snncompile.reference import run
from snncompile.semantics import Semantics


def definition(graph: sc.Graph, inputs: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """x_max, i_max, v_max as the module docstring defines them, one plain numpy expression each."""
    import torch

    from snncompile.reference import NeuronState, _initial_outputs

    traces = run(graph, inputs)
    T, B = next(iter(inputs.values())).shape[:2]
    states = {n: NeuronState.fresh(nd, B, torch.float64) for n, nd in graph.nodes.items()
              if isinstance(nd, ir.NeuronNode)}
    with torch.no_grad():
        initial = {n: t.numpy() for n, t in _initial_outputs(graph, states, B, torch.float64).items()}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, ir.NeuronNode):
            continue
        x = np.zeros((T, B, *node.shape))
        for p in graph.predecessors(name):
            o = traces[p]["out"]
            x = x + (np.concatenate([initial[p][None], o[:-1]]) if (p, name) in graph.recurrent_edges else o)
        zeros = np.zeros(node.shape)
        rec: dict[str, np.ndarray] = {"x_max": np.abs(x).max(axis=(0, 1)), "i_max": zeros, "v_max": zeros}
        if not isinstance(node, ir.Threshold):
            tr, sem = traces[name], node.semantics
            rec["i_max"] = np.abs(tr["i"]).max(axis=(0, 1)) if "i" in tr else zeros
            v = tr["v"]
            rec["v_max"] = np.abs(v).max(axis=(0, 1))
            if node.SPIKING and sem.timing != "delayed":
                if sem.synapse_delay == 1:
                    x = np.concatenate([np.zeros((1, *x.shape[1:])), x[:-1]])
                drive = tr["i"] if "i" in tr else x
                v0 = np.broadcast_to(np.asarray(node.v_init if sem.initial_v == "v_init" else 0.0, np.float64),
                                     v.shape[1:])
                beta = np.asarray(node.beta) if hasattr(node, "beta") else 1.0
                prev = np.concatenate([v0[None], v[:-1]])
                p = node.params()
                v_pre = np.abs(beta * prev + drive + np.asarray(p["bias"], np.float64))
                if sem.timing == "snntorch_immediate":
                    v_pre = v_pre + sem.spike_cap * np.abs(np.asarray(p["threshold"], np.float64))
                rec["v_max"] = np.maximum(rec["v_max"], v_pre.max(axis=(0, 1)))
        out[name] = rec
    return out


def _graph(seed: int) -> tuple[sc.Graph, dict[str, np.ndarray]]:
    """Input -> Affine -> (random neuron kind, random semantics) -> Affine -> LIF, a second input path into the last
    layer (two predecessors), and with odd seeds a recurrent weight on the hidden layer."""
    rng = np.random.default_rng(seed)
    sem = Semantics(compare=str(rng.choice(["gt", "ge"])), reset=str(rng.choice(["zero", "subtract", "none"])),
                    timing=str(rng.choice(["immediate", "delayed", "snntorch_immediate"])),
                    synapse_delay=int(rng.integers(0, 2)), spikes=str(rng.choice(["binary", "multi"])),
                    initial_v=str(rng.choice(["zero", "v_init"])))
    n_in, n_h, n_o = 7, 9, 4

    def w(o: int, i: int) -> Any:
        return rng.normal(0, 0.6, (o, i)).astype(np.float32)

    common = dict(threshold=rng.uniform(0.5, 1.5, n_h).astype(np.float32),
                  bias=rng.normal(0, 0.1, n_h).astype(np.float32), v_init=rng.normal(0, 0.2, n_h))
    kind = str(rng.choice(["LIF", "CubaLIF", "IF", "Threshold"]))
    hidden: ir.Node
    if kind == "LIF":
        hidden = ir.LIF(shape=(n_h,), beta=rng.uniform(0.5, 1, n_h), semantics=sem, **common)
    elif kind == "CubaLIF":
        hidden = ir.CubaLIF(shape=(n_h,), alpha=rng.uniform(0.5, 1, n_h), beta=rng.uniform(0.5, 1, n_h),
                            semantics=sem, **common)
    elif kind == "IF":
        hidden = ir.IF(shape=(n_h,), semantics=sem, **common)
    else:
        hidden = ir.Threshold(shape=(n_h,), threshold=common["threshold"], semantics=sem)
    nodes: dict[str, ir.Node] = {
        "x": ir.Input(shape=(n_in,)), "a": ir.Affine(weight=w(n_h, n_in), bias=np.zeros(n_h, np.float32)),
        "h": hidden, "b": ir.Linear(weight=w(n_o, n_h)), "c": ir.Linear(weight=w(n_o, n_in)),
        "o": ir.LIF(shape=(n_o,), beta=np.float32(0.9), threshold=np.float32(1.0), semantics=sem), "y": ir.Output()}
    edges = [("x", "a"), ("a", "h"), ("h", "b"), ("b", "o"), ("x", "c"), ("c", "o"), ("o", "y")]
    if seed % 2 and kind != "Threshold":
        nodes["r"] = ir.Linear(weight=w(n_h, n_h))
        edges += [("h", "r"), ("r", "h")]
    x = (rng.random((12, 3, n_in)) < 0.4).astype(np.float64)
    return sc.Graph(nodes, edges), {"x": x}


@pytest.mark.parametrize("seed", range(24))
def test_statistics_equal_the_definition(seed: int) -> None:
    graph, inputs = _graph(seed)
    want = definition(graph, inputs)
    got = neuron_statistics(graph, inputs)
    assert set(got) == set(want)
    for name, rec in want.items():
        for key, value in rec.items():
            have = getattr(got[name], key)
            assert have.dtype == value.dtype and np.array_equal(have, value), (seed, name, key, have, value)


def test_the_export_benchmark_network_is_unchanged() -> None:
    """A 3-layer snnTorch MLP with float32 weights on 0/1 spikes, the shape of benchmarks/compile.py's networks."""
    rng = np.random.default_rng(0)
    sem = sc.PRESETS["snntorch"]
    sizes = (64, 48, 32, 10)
    nodes: dict[str, ir.Node] = {"input": ir.Input(shape=(sizes[0],))}
    edges, prev = [], "input"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        nodes[f"fc{k}"] = ir.Affine(weight=rng.normal(0, 1.5 / np.sqrt(a), (b, a)).astype(np.float32),
                                    bias=np.zeros(b, np.float32))
        nodes[f"lif{k}"] = ir.LIF(shape=(b,), beta=np.float32(0.9), threshold=np.float32(1.0), semantics=sem)
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = ir.Output()
    edges.append((prev, "output"))
    graph = sc.Graph(nodes, edges)
    inputs = {"input": (rng.random((40, 8, sizes[0])) < 0.1).astype(np.float64)}
    want, got = definition(graph, inputs), neuron_statistics(graph, inputs)
    for name, rec in want.items():
        for key, value in rec.items():
            assert np.array_equal(getattr(got[name], key), value), (name, key)
