"""The configuration grid of a sweep and the hash that names each configuration.

A sweep crosses quantisation points (weight bits x state bits) with targets, and each target with its own
knobs (hls: ``unroll``; rtl: ``lanes``). One :class:`Job` is one row of the result table:
``(QuantPoint, target, knobs)``. Every job of one :class:`QuantPoint` runs on the same QGraph.

The ``loihi`` target fixes its own encodings (8-bit mantissa x 2^exp weights, 24-bit u/v, the loihi
Semantics: :func:`snncompile.quant.targets.quantize_for`), so it contributes one point, ``quantiser="loihi"``,
whatever the bit grid says; every other target runs on ``quantize(graph, QuantSpec(weight_bits=b,
state_bits=s))`` for every (b, s) of the grid.

:func:`job_hash` names a job by everything its result depends on: the snncompile version, the float model
(:func:`graph_digest`), the data, the number of samples of the bit-exact check, the quantisation and the
target with its options. The sweep folder caches each job's row under that name, so a rerun reuses it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import InputError
from ..graph import Graph
from ..nodes import NeuronNode
from ..quant.spec import QuantSpec

#: bump when a row's meaning changes: older cached rows are then recomputed
CACHE_FORMAT = 1
LOIHI = "loihi"
#: the knob that forms an axis of the grid, per target (the other options are fixed for the whole sweep)
AXES = {"hls": "unroll", "rtl": "lanes"}
DEFAULT_BITS = tuple(range(2, 9))


@dataclass(frozen=True)
class QuantPoint:
    """One quantisation: ``quantiser`` "generic" (``weight_bits``, ``state_bits``; None = sized by calibration)
    or "loihi" (Loihi's fixed encodings; both widths None)."""

    quantiser: str
    weight_bits: int | None
    state_bits: int | None

    @property
    def label(self) -> str:
        if self.quantiser == LOIHI:
            return "loihi-enc"  # Loihi's fixed encodings (8-bit mantissa weights, 24-bit state)
        return f"{self.weight_bits}b" + ("" if self.state_bits is None else f"/s{self.state_bits}")

    def spec(self, base: QuantSpec) -> QuantSpec:
        """The QuantSpec of this point: ``base`` with its widths (Loihi keeps granularity and headroom only)."""
        if self.quantiser == LOIHI:
            return base
        assert self.weight_bits is not None  # a generic point always has its weight width
        return dataclasses.replace(base, weight_bits=self.weight_bits, state_bits=self.state_bits)

    def key(self, base: QuantSpec) -> dict[str, Any]:
        """What the quantisation depends on (part of the hash)."""
        if self.quantiser == LOIHI:
            return {"quantiser": LOIHI, "granularity": base.granularity, "headroom_bits": base.headroom_bits}
        return {"quantiser": "generic", **self.spec(base).to_dict()}


@dataclass(frozen=True)
class Job:
    """One row of the table: a point, a target and that target's options (the axis knob included)."""

    point: QuantPoint
    target: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def knob(self) -> tuple[str, Any] | None:
        axis = AXES.get(self.target)
        return (axis, dict(self.options)[axis]) if axis and axis in dict(self.options) else None

    @property
    def label(self) -> str:
        knob = self.knob
        return f"{self.point.label} {self.target}" + (f" {knob[0]}={knob[1]}" if knob else "")


@dataclass(frozen=True)
class Space:
    """The grid: bits x state bits x targets (x the target's axis values).

    ``options``: fixed options per target, passed to its ``emit`` (hls: clock_mhz, sparse; rtl: simulator,
    device, clock_mhz, synthesise, pnr; loihi: core_spec). ``unroll`` / ``lanes``: the values of the hls / rtl
    axis. ``base``: the QuantSpec every point starts from (granularity, rounding, ...).
    """

    bits: tuple[int, ...] = DEFAULT_BITS
    state_bits: tuple[int | None, ...] = (None,)
    targets: tuple[str, ...] = ("hls",)
    unroll: tuple[int, ...] = (1,)
    lanes: tuple[int, ...] = (8,)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    base: QuantSpec = field(default_factory=QuantSpec)

    def points(self) -> list[QuantPoint]:
        out = []
        if any(t != LOIHI for t in self.targets):
            out += [QuantPoint("generic", b, s) for b, s in product(self.bits, self.state_bits)]
        if LOIHI in self.targets:
            out.append(QuantPoint(LOIHI, None, None))
        return out

    def jobs(self) -> list[Job]:
        axis_values = {"hls": self.unroll, "rtl": self.lanes}
        jobs = []
        for point in self.points():
            for target in self.targets:
                if (target == LOIHI) != (point.quantiser == LOIHI):
                    continue
                fixed = dict(self.options.get(target, {}))
                values: Sequence[Any] = axis_values.get(target, (None,))
                for value in values:
                    opts = dict(fixed) if value is None else {**fixed, AXES[target]: value}
                    jobs.append(Job(point, target, tuple(sorted(opts.items()))))
        return jobs

    def validate(self) -> None:
        """Refuse a grid that cannot be run at all (unknown target, widths QuantSpec refuses) before any work."""
        from snncompile.backends import get

        if not self.targets:
            raise InputError("sweep: no target given (--target T, repeatable)")
        for target in self.targets:
            get(target)  # UnsupportedNodeError naming the known targets
        if not self.bits and any(t != LOIHI for t in self.targets):
            raise InputError("sweep: the bit grid is empty")
        for point in self.points():
            point.spec(self.base)  # QuantizationError naming the field and its range
        for name, values in (("unroll", self.unroll), ("lanes", self.lanes)):
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise InputError(f"sweep: {name} must be one or more integers >= 1, got {list(values)}")


def parse_ints(text: str, what: str, *, auto: bool = False) -> tuple[Any, ...]:
    """``"2..8"``, ``"2,4,8"``, ``"4"``, ``"2..4,8"`` (and ``"auto"`` when allowed) -> sorted unique values.

    ``auto`` stands for None (a width sized by calibration) and sorts first.
    """
    values: set[int] = set()
    has_auto = False
    for part in text.split(","):
        part = part.strip()
        if auto and part == "auto":
            has_auto = True
            continue
        m = re.fullmatch(r"(-?\d+)(?:\.\.(-?\d+))?", part)
        if not m:
            allowed = "'auto', " if auto else ""
            raise InputError(f"{what} {text!r}: {part!r} is not an integer or a range LO..HI (use {allowed}"
                             "'4', '2..8', '2,4,8')")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise InputError(f"{what} {text!r}: the range {part} is empty (LO..HI needs LO <= HI)")
        if hi - lo > 64:
            raise InputError(f"{what} {text!r}: the range {part} has {hi - lo + 1} values, more than 65")
        values.update(range(lo, hi + 1))
    return ((None,) if has_auto else ()) + tuple(sorted(values))


def graph_digest(graph: Graph) -> str:
    """A hash of everything that defines a float graph: nodes in order with every parameter, semantics, edges, dt."""
    h = hashlib.sha256(f"dt={graph.dt!r};".encode())
    for name in graph.order:
        node = graph.nodes[name]
        h.update(f"node {name} {node.type_name};".encode())
        for key, value in sorted(node.params().items()):
            if isinstance(value, np.ndarray):
                arr = np.ascontiguousarray(value)
                h.update(f"{key}:{arr.dtype.str}:{arr.shape};".encode() + arr.tobytes())
            else:
                h.update(f"{key}={value!r};".encode())
        if isinstance(node, NeuronNode):
            h.update(json.dumps(node.semantics.to_dict(), sort_keys=True).encode())
    for a, b in graph.edges:
        h.update(f"edge {a}->{b};".encode())
    return h.hexdigest()


def data_digest(inputs: Mapping[str, np.ndarray], labels: np.ndarray | None) -> str:
    from ..data import array_sha256

    extra = {} if labels is None else {"__labels__": np.asarray(labels)}
    return array_sha256({**inputs, **extra})


def job_hash(job: Job, *, model: str, data: str, check_samples: int, base: QuantSpec) -> str:
    """The configuration hash of ``job`` (see the module docstring): 16 hex digits."""
    key = {"format": CACHE_FORMAT, "snncompile": __version__, "model": model, "data": data,
           "check_samples": check_samples, "quant": job.point.key(base), "target": job.target,
           "options": {k: _plain(v) for k, v in job.options}}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """An option as hashed: a file (a CoreSpec JSON) by its content, so that editing it invalidates the cache."""
    if isinstance(value, str) and value.endswith(".json") and Path(value).is_file():
        return {"file": value, "sha256": hashlib.sha256(Path(value).read_bytes()).hexdigest()}
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def describe(values: Iterable[int | None]) -> str:
    return ", ".join("auto" if v is None else str(v) for v in values)
