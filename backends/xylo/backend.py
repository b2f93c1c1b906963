"""The xylo backend object (docs/xylo.md): ``check``, ``emit`` and ``run``.

The artifact folder holds ``xylo_spec.json`` (the Rockpool Xylo specification, :meth:`.spec.XyloNet.save`),
``mapping.json`` (which QGraph node landed where, :class:`.lower.XyloMapping`), ``summary.json``,
``stimuli.npy`` and ``golden.npz`` (bitsim's traces on the stimuli, ``<node>/<trace>`` keys) and a README
that shows how Rockpool loads the specification. ``run`` executes the specification in the real XyloSim and maps
its records back onto the QGraph's nodes; ``check`` applies every design rule before anything is written.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.atomic import write_dir
from snncompile.errors import InputError
from snncompile.quant.qnodes import QGraph

from .lower import XyloMapping, lower, mapping_from_dict, traces_by_node
from .rules import check_net
from .spec import XYLO_AUDIO2, XyloCore, load

SPEC_FILE = "xylo_spec.json"
MAPPING_FILE = "mapping.json"
SUMMARY_FILE = "summary.json"

Inputs = np.ndarray | Mapping[str, np.ndarray]

README = """# Xylo specification written by snncompile

`xylo_spec.json` is a Rockpool Xylo specification: the keyword arguments of Rockpool 3.1's
`rockpool.devices.xylo.syns61201.config_from_specification` and `XyloSim.from_specification`.

```python
import json, numpy as np
from rockpool.devices.xylo.syns61201 import XyloSim, config_from_specification
spec = json.load(open("xylo_spec.json")); spec.pop("format")
spec = {k: (v if k == "aliases" else np.array(v)) for k, v in spec.items()}
sim = XyloSim.from_specification(**spec)                    # XyloSim (pip install xylosim==0.1.3)
config, ok, msg = config_from_specification(**spec)         # a chip configuration (needs samna)
```

Input channel i is `mapping.json`'s input node element i; readout neuron j is the j-th output spike column.
Latency: the readout answers {latency} step(s) after its input (one step per hidden->hidden and hidden->readout
hop). `golden.npz` holds snncompile's bit-exact traces on `stimuli.npy` ([T, B, channels] event counts).
"""


def _single_input(qgraph: QGraph, inputs: Inputs) -> np.ndarray:
    if isinstance(inputs, Mapping):
        if len(inputs) != 1:
            raise InputError(f"xylo: one input array expected, got {len(inputs)} ({', '.join(inputs)})")
        return np.asarray(next(iter(inputs.values())))
    return np.asarray(inputs)


@dataclass(frozen=True)
class XyloBackend:
    name: str = "xylo"

    def map(self, qgraph: QGraph, core: XyloCore = XYLO_AUDIO2) -> XyloMapping:
        """The mapping, after every node rule (while lowering) and every resource rule of ``core``."""
        mapping = lower(qgraph)
        check_net(mapping.net, core)
        return mapping

    def check(self, qgraph: QGraph) -> None:
        self.map(qgraph)

    def emit(self, qgraph: QGraph, out_dir: str | Path, inputs: Inputs, core: XyloCore = XYLO_AUDIO2,
             **_: Any) -> dict[str, Any]:
        from snncompile.backends.bitsim import simulate

        mapping = self.map(qgraph, core)
        x = _single_input(qgraph, inputs)
        golden = simulate(qgraph, x, allow_counts=True)
        buf = io.BytesIO()
        np.savez_compressed(buf, **{f"{n}/{k}": v for n, tr in golden.items() for k, v in tr.items()})
        stim = io.BytesIO()
        np.save(stim, np.asarray(x, np.int64))
        summary = {"core": core.name, **mapping.summary()}
        files: dict[str, str | bytes] = {
            MAPPING_FILE: json.dumps(mapping.to_dict(), indent=2) + "\n",
            SUMMARY_FILE: json.dumps(summary, indent=2) + "\n",
            "README.md": README.replace("{latency}", str(mapping.latency)),
            "golden.npz": buf.getvalue(),
            "stimuli.npy": stim.getvalue(),
            SPEC_FILE: mapping.net.to_json(),
        }
        written = write_dir(out_dir, files)
        return {**{p.name: p for p in written}, "summary": summary}

    def run(self, artifact_dir: str | Path, inputs: Inputs) -> dict[str, dict[str, np.ndarray]]:
        """XyloSim's execution of the emitted specification, as per-node traces (they must equal bitsim's)."""
        from .xylosim import run_xylosim

        folder = Path(artifact_dir)
        net = load(folder / SPEC_FILE)
        try:
            mapping = mapping_from_dict(net, json.loads((folder / MAPPING_FILE).read_text()))
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"xylo: {folder / MAPPING_FILE} cannot be read ({err})") from None
        x = np.asarray(inputs[mapping.input] if isinstance(inputs, Mapping) else inputs)
        return traces_by_node(mapping, x, dict(run_xylosim(net, x).items()))


BACKEND = XyloBackend()
