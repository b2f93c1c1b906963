"""loihi: Loihi-style neuromorphic cores (docs/loihi.md).

``quantize_for_loihi(graph, calib)`` encodes a float Graph in Loihi's registers (a QGraph under the ``loihi``
preset); ``BACKEND.check`` applies the field rules, ``BACKEND.map`` / ``emit`` place the network on cores of a
:class:`CoreSpec` (``loihi1``, ``loihi2`` or a JSON file) and write mapping.json, cores.csv and the summary;
``BACKEND.run`` executes the mapping with the core simulator, bit-exact with bitsim.
"""

from __future__ import annotations

from .backend import BACKEND, LoihiBackend
from .registers import lava_weights
from .spec import LOIHI1, LOIHI2, PRESETS, CoreSpec, load_core_spec

__all__ = ["BACKEND", "LOIHI1", "LOIHI2", "PRESETS", "CoreSpec", "LoihiBackend", "lava_weights", "load_core_spec"]
