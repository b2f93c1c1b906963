"""The loihi backend object (docs/loihi.md): ``check``, ``map``, ``emit`` and ``run``.

The artifact folder holds ``mapping.json`` + ``mapping.npz`` (:mod:`.mapfile`; everything the core simulator
needs), ``cores.csv`` (one row per core), ``cores.txt`` (the printed table), ``summary.json`` and, when netx
holds the network, ``network.net``. It is written
atomically (a temporary sibling folder renamed into place); a network that does not fit raises ResourceError
before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.atomic import write_dir
from snncompile.errors import QuantizationError, UnsupportedNodeError
from snncompile.pages import small_pages
from snncompile.quant.qnodes import QGraph, QNeuron

from . import mapfile
from .coresim import Traces, simulate
from .mapfile import ARRAYS_FILE, MAPPING_FILE
from .mapper import LoihiMapping, map_network
from .netlist import Netlist, lower
from .netx import NETX_FILE, netx_bytes
from .rules import LoihiRuleError, as_rule_error
from .spec import CoreSpec, load_core_spec
from .tables import cores_csv, format_table, mapping_arrays

CORES_FILE = "cores.csv"
TABLE_FILE = "cores.txt"
SUMMARY_FILE = "summary.json"

Inputs = np.ndarray | Mapping[str, np.ndarray]
SpecArg = str | Path | CoreSpec | Mapping[str, Any]


def measured_rates(qgraph: QGraph, inputs: Inputs, golden: Mapping[str, Mapping[str, np.ndarray]] | None = None
                   ) -> dict[str, np.ndarray]:
    """Mean spikes per step of every Input and neuron (flat), from bitsim on ``inputs`` (or its traces ``golden``
    on them, when already computed)."""
    from snncompile.backends.bitsim import simulate as bitsim

    traces = bitsim(qgraph, inputs) if golden is None else golden
    return {n: traces[n]["out"].reshape(traces[n]["out"].shape[0] * traces[n]["out"].shape[1], -1).mean(axis=0)
            for n, node in qgraph.nodes.items() if isinstance(node, QNeuron) or n in qgraph.inputs}


def read_mapping(artifact: str | Path) -> dict[str, Any]:
    """The expanded per-core tables (:func:`.mapfile.expand`) of an artifact folder (or its mapping.json)."""
    return mapfile.expand(*mapfile.read(artifact))


@dataclass(frozen=True)
class LoihiBackend:
    """Loihi-style cores: design rules, mapping, per-core tables and a core simulator bit-exact with bitsim."""

    name: str = "loihi"
    default_spec: str = "loihi1"

    def check(self, qgraph: QGraph) -> None:
        """Raise UnsupportedNodeError / QuantizationError (node, quantity, value, limit) for what Loihi cannot hold.

        Resource rules need a CoreSpec; they run in :meth:`map` and :meth:`emit`.
        """
        self._netlist(qgraph)

    def _netlist(self, qgraph: QGraph) -> Netlist:
        if not isinstance(qgraph, QGraph):
            raise UnsupportedNodeError(f"backend '{self.name}' takes a QGraph, got {type(qgraph).__name__}; "
                                       "quantise with quantize_for_loihi first")
        try:
            return lower(qgraph)
        except (QuantizationError, UnsupportedNodeError) as exc:
            raise as_rule_error("loihi_lowering", exc) from None

    @small_pages()
    def map(self, qgraph: QGraph, *, core_spec: SpecArg | None = None, rates: Mapping[str, np.ndarray] | None = None,
            inputs: Inputs | None = None, golden: Any = None) -> LoihiMapping:
        """The mapping (pure); rates default to bitsim's measured rates on ``inputs`` when given (from ``golden``,
        bitsim's traces on them, when passed)."""
        netlist = self._netlist(qgraph)
        spec = load_core_spec(self.default_spec if core_spec is None else core_spec)
        if rates is None and inputs is not None:
            rates = measured_rates(qgraph, inputs, golden)
        return map_network(netlist, spec, rates)

    @small_pages()
    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Inputs | None = None, *,
             core_spec: SpecArg | None = None, rates: Mapping[str, np.ndarray] | None = None,
             netx: str = "auto", golden: Any = None) -> dict[str, Any]:
        """Write mapping.json, mapping.npz, cores.csv, cores.txt, summary.json and network.net into ``out_dir``
        (atomically).

        network.net (lava-dl netx HDF5, :mod:`.netx`) is written when netx holds the network exactly; otherwise
        (``netx="auto"``) summary["netx"]["reason"] names the netx rule it breaks, or (``"required"``) that
        LoihiRuleError is raised.

        ``golden``: bitsim's traces on ``inputs`` when already computed (the rates are read from them).

        Returns {"files": [Path, ...], "summary": {...}, "table": "<per-core table>"}; ResourceError (exit code 3)
        before anything is written when the network does not fit.
        """
        mapping = self.map(qgraph, core_spec=core_spec, rates=rates, inputs=inputs, golden=golden)
        index, arrays = mapping_arrays(mapping)
        table = format_table(mapping)
        files: dict[str, str | bytes] = {}
        try:
            files[NETX_FILE], layers = netx_bytes(qgraph, mapping.netlist)
            index["summary"]["netx"] = {"file": NETX_FILE, "layers": len(layers)}
            convs = sum(layer.conv is not None for layer in layers)
            table += f"\n{NETX_FILE} (lava-dl netx HDF5): {len(layers) - convs} dense, {convs} conv layers\n"
        except LoihiRuleError as exc:
            if netx == "required":
                raise
            index["summary"]["netx"] = {"file": None, "reason": str(exc)}
            table += f"\n{NETX_FILE} not written: {exc}\n"
        files |= {
            MAPPING_FILE: json.dumps(index, indent=1) + "\n",
            ARRAYS_FILE: mapfile.to_bytes(arrays),
            CORES_FILE: cores_csv(mapping),
            TABLE_FILE: table,
            SUMMARY_FILE: json.dumps(index["summary"], indent=2) + "\n",
        }
        return {"files": write_dir(out_dir, files), "summary": index["summary"], "table": table}

    @small_pages()
    def run(self, artifact_or_qgraph: str | Path | QGraph, inputs: Inputs, *,
            core_spec: SpecArg | None = None) -> Traces:
        """Core-simulate an emitted folder (its mapping.json) or a QGraph (mapped with ``core_spec`` first)."""
        if isinstance(artifact_or_qgraph, QGraph):
            return simulate(mapping_arrays(self.map(artifact_or_qgraph, core_spec=core_spec)), inputs)
        return simulate(mapfile.read(artifact_or_qgraph), inputs)


BACKEND = LoihiBackend()
