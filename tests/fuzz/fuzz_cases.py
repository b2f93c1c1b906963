"""Random NIR graphs, load options and QuantSpecs for the pipeline fuzz test (issue 11): valid cases and slightly
invalid mutations of them.

One generator, two sources of choices: :func:`fuzz_cases` (a hypothesis strategy, for tests/fuzz/test_fuzz.py)
and :func:`case_from_seed` (``random.Random``, for benchmarks/fuzz.py, so case k of a long run is replayed alone
from its seed). A case holds

* a NIR graph as plain data (:class:`NodeData` per node, edges as pairs), turned into ``nir`` objects by
  :meth:`FuzzCase.nir_graph` and written with ``nir.write``: Input (1-d, (C, L) or (C, H, W), sometimes two),
  Affine / Linear / Conv1d / Conv2d (stride, padding incl. "same"/"valid", dilation, groups), SumPool2d /
  AvgPool2d, Flatten, Scale, Delay, every neuron (LIF, CubaLIF, IF, LI, I, CubaLI, Threshold) with parameters
  per neuron or 0-d, fan-in (two layers into one neuron), recurrent Linear edges, blocks wrapped in nested
  NIRGraph subgraphs, one or two Outputs;
* the ``snncompile.load`` options: a convention (every one, or none), sometimes dt, discretization, reset,
  reset_delay, spikes;
* QuantSpec fields, the quantiser ("spec": ``snncompile.quantize``; "loihi": ``quantize_for(..., ["loihi"])``),
  calibration (the inputs, or quantize's default) and seeded Bernoulli spikes (T 1..8, one case in ten 16..32;
  B 1..3).

The networks are built in :mod:`fuzz_graphs` (written the way each convention's exporter writes them, so most
valid cases load and spike). About a third of the cases are mutated (:mod:`fuzz_mutations`): NaN / Inf /
complex / huge / tiny parameters, wrong shapes, dangling, duplicated and dropped edges, stateless self-loops,
missing Input or Output, an empty graph, negative or zero time constants, zero thresholds, colliding subgraph
names, fractional delays and shapes, bad conv options, a bad load option, a QuantSpec field out of range or of
the wrong type, a missing parameter or an unknown type in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import nir
import numpy as np
from fuzz_graphs import Choices, DrawChoices, GraphData, RandomChoices, all_nodes, build_network, to_nir
from fuzz_mutations import MUTATIONS
from hypothesis import strategies as st

from snncompile.frontend.conventions import CONVENTIONS


@dataclass
class FuzzCase:
    """One case: what to write and load, how to quantise, which spikes to run (see the module docstring)."""

    graph: GraphData
    load: dict[str, Any]
    spec: dict[str, Any]
    quantiser: str
    calib: str
    timesteps: int
    batch: int
    rate: float
    spike_seed: int
    mutation: str = ""
    #: edits of the written HDF5 file: ("delete", dataset path, "") or ("type", dataset path, new type)
    h5_edits: list[tuple[str, str, str]] = field(default_factory=list)

    def nir_graph(self) -> nir.NIRGraph:
        return to_nir(self.graph)

    def write(self, path: Path) -> None:
        """``nir.write`` the graph to ``path``, then apply the HDF5 edits."""
        graph = self.nir_graph()
        # nir.write's gzip filter refuses 0-d datasets (neuron parameters written as scalars)
        scalar = any(isinstance(v, np.ndarray) and v.ndim == 0 for d in all_nodes(self.graph) for v in
                     d.params.values())
        nir.write(path, graph, compression=None if scalar else "gzip")
        if self.h5_edits:
            with h5py.File(path, "a") as f:
                for op, where, value in self.h5_edits:
                    if where in f:
                        del f[where]
                    if op == "type":
                        f[where] = value

    def spikes(self, inputs: Sequence[str], shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """Bernoulli(rate) spikes [T, B, *shape] per Input node of the loaded graph."""
        rng = np.random.default_rng(self.spike_seed)
        return {n: (rng.random((self.timesteps, self.batch, *shapes[n])) < self.rate).astype(np.int64)
                for n in inputs}

    def describe(self) -> str:
        kinds = sorted({d.kind for d in all_nodes(self.graph)})
        return (f"{len(self.graph.nodes)} nodes ({', '.join(kinds)}), load {self.load}, spec {self.spec}, "
                f"quantiser {self.quantiser}, calib {self.calib}, T={self.timesteps} B={self.batch} "
                f"rate={self.rate} seed={self.spike_seed}; mutation: {self.mutation or 'none'}")


# -- load options and QuantSpecs --------------------------------------------------------------------------------------

CONVENTION_NAMES = (None, *sorted(CONVENTIONS))


def load_options(c: Choices) -> dict[str, Any]:
    opts: dict[str, Any] = {"convention": c.pick(CONVENTION_NAMES)}
    conv = CONVENTIONS[opts["convention"] or "nir"]
    if c.chance(10):
        opts["dt"] = conv.dt * c.pick([0.5, 1.0, 2.0])
    if c.chance(12):
        opts["discretization"] = c.pick(["euler", "exact"])
    if c.chance(8):
        opts["reset"] = c.pick(["zero", "subtract", "none"])
    if c.chance(8):
        opts["reset_delay"] = c.pick([True, False])
    if c.chance(8):
        opts["spikes"] = c.pick(["binary", "multi"])
    return opts


def quant_spec(c: Choices) -> dict[str, Any]:
    spec: dict[str, Any] = {"weight_bits": c.int(2, 16)}
    if c.chance(50):
        spec["state_bits"] = None if c.chance(40) else c.int(8, 32)
        spec["frac_bits"] = c.int(4, 16)
        spec["headroom_bits"] = c.int(0, 8)
    if c.chance(40):
        spec["granularity"] = c.pick(["channel", "tensor"])
        spec["scale_rule"] = c.pick(["maxabs", "percentile", "pow2"])
        spec["percentile"] = c.pick([50.0, 90.0, 99.9, 100.0])
    if c.chance(40):
        spec["rounding"] = c.pick(["toward_zero", "floor", "nearest"])
        spec["overflow"] = c.pick(["saturate", "wrap"])
    return spec


#: percent of the cases that are mutated
MUTATED_PERCENT = 35


def make_case(c: Choices) -> FuzzCase:
    # the mutation is chosen first: hypothesis spreads a case's early draws more evenly than its late ones
    mutations = [c.pick(sorted(MUTATIONS)) for _ in range(4)] if c.chance(MUTATED_PERCENT) else []
    rng = np.random.default_rng(c.int(0, 2**32 - 1))
    load = load_options(c)
    conv = CONVENTIONS[load["convention"] or "nir"]
    quantiser = "loihi" if c.chance(30) else "spec"
    graph = build_network(c, rng, conv.name, load.get("dt", conv.dt), loihi=quantiser == "loihi")
    calib = "default" if c.chance(25) else "inputs"
    timesteps = c.int(16, 32) if c.chance(10) else c.int(1, 8)
    case = FuzzCase(graph=graph, load=load, spec=quant_spec(c), quantiser=quantiser, calib=calib,
                    timesteps=timesteps, batch=c.int(1, 3), rate=c.pick([0.1, 0.3, 0.6]), spike_seed=c.int(0, 2**16))
    for name in mutations:  # a mutation may not apply to this graph (no Delay to break, ...): try the next
        what = MUTATIONS[name](c, case)
        if what is not None:
            case.mutation = f"{name}: {what}"
            break
    return case


@st.composite
def _drawn_cases(draw: Callable[[st.SearchStrategy[Any]], Any]) -> FuzzCase:
    return make_case(DrawChoices(draw))


def fuzz_cases() -> st.SearchStrategy[FuzzCase]:
    """Half the cases drawn choice by choice (hypothesis can shrink them), half from a drawn seed through
    ``random.Random`` (a derandomized run of 80 examples drawn choice by choice covers 7 of the 13 mutations and
    repeats itself; seeds spread like benchmarks/fuzz.py)."""
    return st.one_of(_drawn_cases(), st.integers(0, 2**32 - 1).map(case_from_seed))


def case_from_seed(seed: int) -> FuzzCase:
    return make_case(RandomChoices(seed))
