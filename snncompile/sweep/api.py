"""``sweep(...)``, the Python entry point of design-space sweeps (re-exported as ``snncompile.sweep``)."""


from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..graph import Graph
from ..quant.spec import QuantSpec
from .runner import SweepResult, run
from .space import DEFAULT_BITS, Space, parse_ints


def sweep(
    model: Graph | str | Path,
    *,
    bits: int | str | Iterable[int] = DEFAULT_BITS,
    state_bits: int | str | None | Iterable[int | None] = None,
    targets: str | Iterable[str] = ("hls",),
    inputs: np.ndarray | Mapping[str, np.ndarray] | str | Path | None = None,
    labels: np.ndarray | None = None,
    out: str | Path | None = None,
    unroll: int | Iterable[int] = 1,
    lanes: int | Iterable[int] = 8,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    spec: QuantSpec | None = None,
    force: bool = False,
    address: str | None = None,
    workers: int | None = None,
    check_samples: int = 8,
    progress: bool = True,
) -> SweepResult:
    """Run every configuration of bits x state_bits x targets (x unroll for hls, x lanes for rtl) on Ray.

    ``model``: a Graph, a ``.nir`` file or a bundled model name. ``inputs``: spikes ``[T, B, *shape]`` (or a
    dict per Input node, or a DATA file); None uses a bundled model's test set (with labels) or seeded random
    spikes. ``bits`` / ``state_bits``: ints, iterables or strings like ``"2..8"`` / ``"auto,16"`` (None or
    "auto": sized by calibration). ``options``: fixed emit options per target (hls: clock_mhz, sparse; rtl:
    simulator, device, clock_mhz, synthesise, pnr; loihi: core_spec). ``out``: the sweep folder (cache, table,
    plot), None to keep the results in memory only. Returns the table (:class:`SweepResult`).
    """
    from ..data import load_data
    from ..frontend.nir_read import load

    path: Path | None = None
    if isinstance(model, Graph):
        graph, name, note = model, "graph", ""
    else:
        loaded = load(model)
        graph, name, path = loaded.graph, str(model), loaded.path
    if inputs is None or isinstance(inputs, (str, Path)):
        data = load_data(inputs, graph, path if path is not None else Path("graph.nir"))
        arrays, note = data.inputs, data.note
        labels = data.labels if labels is None else labels
    else:
        arrays = dict(inputs) if isinstance(inputs, Mapping) else _single(graph, inputs)
        note = "inputs given in Python"
    if labels is not None:
        labels = np.asarray(labels)
    space = Space(bits=_ints(bits, "bits"), state_bits=_ints(state_bits, "state_bits", auto=True),
                  targets=tuple(dict.fromkeys([targets] if isinstance(targets, str) else targets)),
                  unroll=_ints(unroll, "unroll"), lanes=_ints(lanes, "lanes"), options=dict(options or {}),
                  base=spec if spec is not None else QuantSpec())
    return run(
        graph, arrays, labels, space, out=out, model=name, data_note=note, force=force, address=address,
        workers=workers, check_samples=check_samples, progress=progress,
        protect=[p for p in (path, inputs) if isinstance(p, (str, Path)) and Path(p).is_file()])


def _single(graph: Graph, inputs: np.ndarray) -> dict[str, np.ndarray]:
    if len(graph.inputs) != 1:
        raise InputError(f"the graph has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}); give a dict")
    return {graph.inputs[0]: np.asarray(inputs)}


def _ints(value: Any, what: str, *, auto: bool = False) -> tuple[Any, ...]:
    if value is None and auto:
        return (None,)
    if isinstance(value, str):
        return parse_ints(value, what, auto=auto)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    try:
        items = list(value)
    except TypeError:
        raise InputError(f"sweep: {what} must be an int, a string like '2..8' or an iterable, got {value!r}") from None
    values = set(None if v is None and auto else int(v) for v in items)
    return ((None,) if None in values else ()) + tuple(sorted(v for v in values if v is not None))  # as parse_ints
