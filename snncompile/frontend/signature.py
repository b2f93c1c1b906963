"""Recognise which framework wrote a NIR file from the numbers its exporter leaves (used when ``--from`` is
missing): a file read under the default ``nir`` convention that fails, or that holds neurons, is told which
``--from`` its parameters point to.

Signatures (each exporter's parameter mapping, see :mod:`.conventions`):

* snnTorch 1.0.0 ``export_to_nir``: ``r = tau / 1e-4`` on every leaky neuron (``tau_mem`` for CubaLIF).
* Rockpool 3.1 ``to_nir``: ``r = tau*exp(-dt/tau)/dt`` with one round dt (two significant digits, e.g. 1e-3)
  for all neurons, r != 1 somewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GraphError
from . import discretize

_LEAKY = ("LI", "LIF", "CubaLI", "CubaLIF")
SNNTORCH_DT = 1e-4
_RTOL = 1e-5


def _taus(data: dict[str, Any]) -> np.ndarray | None:
    key = "tau_mem" if "tau_mem" in data else "tau"
    if key not in data or "r" not in data:
        return None
    return np.asarray(data[key], np.float64)


def guess(raw_nodes: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
    """(convention name, the evidence in words) when every leaky neuron carries one exporter's signature."""
    leaky = {n: d for n, d in raw_nodes.items() if str(d.get("type")) in _LEAKY}
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for d in leaky.values():
        t = _taus(d)
        if t is not None and t.size:
            pairs.append((t, np.asarray(d["r"], np.float64)))
    if not pairs or not all(np.isfinite(t).all() and np.isfinite(r).all() for t, r in pairs):
        return None
    try:
        if all(np.allclose(r, t / SNNTORCH_DT, rtol=_RTOL, atol=0.0) for t, r in pairs):
            return "snntorch", f"r = tau/{SNNTORCH_DT:g} on every leaky neuron (snnTorch's export_to_nir)"
        if any((r != 1).any() for _, r in pairs):
            dts = np.concatenate([discretize.dt_from_rockpool_r(t, r).reshape(-1) for t, r in pairs])
            dt = float(np.median(dts)) if dts.size else 0.0
            nice = float(f"{dt:.2g}")  # Rockpool's dt is a round number (default 1e-3)
            if dts.size and np.ptp(dts) <= 1e-4 * dt and abs(nice - dt) <= 1e-4 * dt:
                return "rockpool", (f"r = tau*exp(-dt/tau)/dt with one dt={float(np.median(dts)):.6g} s on every "
                                    "leaky neuron (Rockpool's to_nir)")
    except (GraphError, ValueError, FloatingPointError):
        return None
    return None


def hint(raw_nodes: dict[str, dict[str, Any]]) -> str:
    """`` (this file looks exported by ...: use --from X)`` or ""."""
    found = guess(raw_nodes)
    if found is None:
        return ""
    name, evidence = found
    return f" (no --from given; this file looks exported by {name}: {evidence}; read it with --from {name})"
