"""The source<->float rung's comparison of a non-spiking readout (an LI/CubaLI/I membrane a framework
recorded): frameworks step in float32, the reference in float64, so the values agree to rounding, not bit for
bit. An entry matches when ``|recorded - reference| <= READOUT_ATOL + READOUT_RTOL * |reference|``; the
report states that tolerance and the largest error measured. Spikes are still compared with ``==``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: float32 rounding of a framework's readout, as the interop tests measure it (tests/interop)
READOUT_ATOL = 1e-4
READOUT_RTOL = 1e-5


def tolerance_text() -> str:
    return f"|recorded - float| <= {READOUT_ATOL:g} + {READOUT_RTOL:g}*|float|"


def compare_readouts(order: Sequence[str], pairs: Mapping[str, tuple[np.ndarray, np.ndarray]]
                     ) -> tuple[int, int, tuple[str, tuple[int, ...], float, float] | None, list[dict[str, Any]]]:
    """(entries compared, entries outside the tolerance, the earliest such (layer, index, recorded, ours) in time
    then graph order, one row per layer with its largest absolute error)."""
    position = {n: i for i, n in enumerate(order)}
    compared = bad = 0
    first: tuple[tuple[int, int], tuple[str, tuple[int, ...], float, float]] | None = None
    rows: list[dict[str, Any]] = []
    for layer in sorted(pairs, key=lambda n: position.get(n, len(position))):
        recorded, ours = (np.asarray(a, np.float64) for a in pairs[layer])
        err = np.abs(recorded - ours)
        outside = ~(err <= READOUT_ATOL + READOUT_RTOL * np.abs(ours))  # NaN counts as outside
        compared += recorded.size
        bad += int(outside.sum())
        rows.append({"layer": layer, "trace": "out", "compared": int(recorded.size), "mismatches": int(outside.sum()),
                     "max_abs_error": float(err.max(initial=0.0)), "tolerance": tolerance_text()})
        hits = np.argwhere(outside)
        if len(hits):
            idx = tuple(int(i) for i in hits[0])
            rank = (idx[0], position.get(layer, len(position)))
            if first is None or rank < first[0]:
                first = (rank, (layer, idx, float(recorded[idx]), float(ours[idx])))
    return compared, bad, None if first is None else first[1], rows
