"""The binary files of a generated project: stimuli.bin (inputs) and golden.bin (bitsim's traces).

All integers little-endian. Both files start with a 4-byte magic, ``u32 version``,
``u32 B`` (samples) and ``u32 T`` (timesteps).

stimuli.bin ("SNNS", ``u32 version = 1``): ``u32 n_in`` (values per step, all Input nodes concatenated in
graph order), ``u32 n_inputs``, then per Input node ``str name, u32 size``; then
``B*T*n_in`` bytes (uint8 spikes), sample-major: ``[b][t][k]``.

golden.bin ("SNNG", ``u32 version = 2``): ``u32 n_traces``, ``u32 words`` (values per step), then per
trace ``str node, str key, u32 ndim, ndim*u32 dims, u32 width`` (``node``: the node's label, its name cut to a
bounded length with a hash when long; project.json maps labels to names; ``width``: bytes per value, 1, 2, 4 or 8
-- the narrowest signed little-endian integer that holds every value of that trace); then per sample and step
each trace's values in its width, ``[b][t][trace][element]`` in C order (a step is ``sum(size * width)``
bytes). ``str`` is ``u32 length`` + UTF-8 bytes. Version 1 (every width 8, no width field) still reads.
The traces are bitsim's: every node's "out", and each neuron's "i" (Cuba kinds)
and "v", in bitsim's order.

readout.bin ("SNNR", projects with a readout): ``u32 words`` (per sample: the n scores, then the class when
the readout has one), then ``B*words`` int64, ``[b][word]`` (:func:`snncompile.readout.compute`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from snncompile.errors import InputError

VERSION = 1  # stimuli.bin, readout.bin
GOLDEN_VERSION = 2
WIDTHS = (1, 2, 4, 8)


@dataclass(frozen=True)
class TraceSpec:
    """One trace of golden.bin; ``label`` is the (bounded) name the file carries, ``node`` by default."""

    node: str
    key: str
    shape: tuple[int, ...]
    label: str | None = None
    width: int = 8  # bytes per value in golden.bin

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<I", len(raw)) + raw


def stimuli_bytes(names: Sequence[str], sizes: Sequence[int], data: np.ndarray) -> bytes:
    """``data``: uint8 [B, T, n_in]."""
    B, T, n_in = data.shape
    head = b"SNNS" + struct.pack("<IIIII", VERSION, B, T, n_in, len(names))
    head += b"".join(_str(n) + struct.pack("<I", s) for n, s in zip(names, sizes, strict=True))
    return head + np.ascontiguousarray(data, dtype=np.uint8).tobytes()


def readout_bytes(T: int, values: np.ndarray) -> bytes:
    """``values``: int64 [B, words] (:func:`snncompile.readout.words`) of samples of T steps."""
    B, words = values.shape
    return (b"SNNR" + struct.pack("<IIII", VERSION, B, T, words)
            + np.ascontiguousarray(values, dtype="<i8").tobytes())


def read_readout(path: str | Path) -> np.ndarray:
    """int64 [B, words] of a readout.bin."""
    p = Path(path)
    r = _Reader(p.read_bytes(), p)
    if r.take(4) != b"SNNR" or r.u32() != VERSION:
        raise InputError(f"{p}: not a readout.bin of format version {VERSION}")
    B, _, words = r.u32(), r.u32(), r.u32()
    return np.frombuffer(r.raw, dtype="<i8", count=B * words, offset=r.pos).reshape(B, words).astype(np.int64)


def golden_header(layout: Sequence[TraceSpec], B: int, T: int) -> bytes:
    words = sum(t.size for t in layout)
    head = b"SNNG" + struct.pack("<IIIII", GOLDEN_VERSION, B, T, len(layout), words)
    for t in layout:
        name = t.node if t.label is None else t.label
        head += _str(name) + _str(t.key) + struct.pack(f"<I{len(t.shape)}II", len(t.shape), *t.shape, t.width)
    return head


def width_of(values: np.ndarray) -> int:
    """Bytes of the narrowest signed integer (1, 2, 4, 8) that holds every value of ``values``."""
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    return next(w for w in WIDTHS if -(1 << (8 * w - 1)) <= lo and hi < 1 << (8 * w - 1))


def golden_bytes(layout: Sequence[TraceSpec], traces: dict[str, dict[str, np.ndarray]]) -> bytearray:
    """bitsim traces ({node: {key: [T, B, *shape]}}) in golden.bin's layout, each trace in its narrowest width
    (``layout``'s widths are replaced): the header and every value written into one buffer in place."""
    cols = [np.asarray(traces[t.node][t.key]) for t in layout]
    T, B = cols[0].shape[:2]
    layout = [replace(t, width=width_of(c)) for t, c in zip(layout, cols, strict=True)]
    step = sum(t.size * t.width for t in layout)
    head = golden_header(layout, B, T)
    out = bytearray(len(head) + B * T * step)
    out[:len(head)] = head
    flat = np.frombuffer(out, np.uint8, offset=len(head)).reshape(B, T, step)
    offset = 0
    for t, c in zip(layout, cols, strict=True):
        n = t.size * t.width
        flat[:, :, offset:offset + n].view(f"<i{t.width}")[...] = c.reshape(T, B, t.size).transpose(1, 0, 2)
        offset += n
    return out


class _Reader:
    def __init__(self, raw: bytes, path: Path) -> None:
        self.raw, self.pos, self.path = raw, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.raw):
            raise InputError(f"{self.path}: truncated")
        out = self.raw[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def text(self) -> str:
        return self.take(self.u32()).decode("utf-8")


def read_layout(path: str | Path) -> tuple[list[TraceSpec], int, int, bytes, int]:
    """(layout with widths, B, T, the file's bytes, byte offset of the values) of a golden.bin (version 1 or 2)."""
    p = Path(path)
    r = _Reader(p.read_bytes(), p)
    version = r.u32() if r.take(4) == b"SNNG" else 0
    if version not in (1, GOLDEN_VERSION):
        raise InputError(f"{p}: not a golden.bin of format version 1 or {GOLDEN_VERSION}")
    B, T, n, _ = r.u32(), r.u32(), r.u32(), r.u32()
    layout = []
    for _ in range(n):
        node, key = r.text(), r.text()
        ndim = r.u32()
        shape = tuple(r.u32() for _ in range(ndim))
        width = r.u32() if version > 1 else 8
        if width not in WIDTHS:
            raise InputError(f"{p}: trace '{node}' ({key}): value width {width} is not one of {WIDTHS}")
        layout.append(TraceSpec(node, key, shape, width=width))
    need = r.pos + B * T * sum(t.size * t.width for t in layout)
    if len(r.raw) < need:
        raise InputError(f"{p}: truncated ({len(r.raw)} bytes, the header promises {need})")
    return layout, B, T, r.raw, r.pos


def golden_values(path: str | Path) -> tuple[list[TraceSpec], list[np.ndarray]]:
    """(layout, each trace's values [B, T, size] in its width, read only: views of the file's bytes)."""
    layout, values, _ = _golden(path)
    return layout, values


def read_golden(path: str | Path) -> tuple[list[TraceSpec], np.ndarray, int]:
    """(layout, int64 data [B, T, words], byte offset of the values) of a golden.bin (any width)."""
    layout, values, start = _golden(path)
    return layout, np.concatenate([v.astype(np.int64) for v in values], axis=2), start


def _golden(path: str | Path) -> tuple[list[TraceSpec], list[np.ndarray], int]:
    layout, B, T, raw, start = read_layout(path)
    step = sum(t.size * t.width for t in layout)
    flat = np.frombuffer(raw, np.uint8, count=B * T * step, offset=start).reshape(B, T, step)
    values, offset = [], 0
    for t in layout:
        values.append(flat[:, :, offset:offset + t.size * t.width].view(f"<i{t.width}"))
        offset += t.size * t.width
    return layout, values, start


def golden_slot(path: str | Path, b: int, t: int, node: str, key: str, element: int) -> tuple[int, int]:
    """(byte offset, width in bytes) in golden.bin of one recorded value (for tools and tests)."""
    layout, _, T, _, start = read_layout(path)
    step = sum(s.size * s.width for s in layout)
    col = 0
    for spec in layout:
        if (spec.node, spec.key) == (node, key):
            return start + (b * T + t) * step + col + element * spec.width, spec.width
        col += spec.size * spec.width
    raise InputError(f"{path}: no trace {node!r}/{key!r}")


def split_traces(layout: Sequence[TraceSpec], values: Sequence[np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Each trace's values [B, T, size] (golden_values) -> bitsim's traces {node: {key: [T, B, *shape]}}, each an
    array of its own in the trace's width."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for spec, v in zip(layout, values, strict=True):
        B, T, _ = v.shape
        part = v.transpose(1, 0, 2).reshape(T, B, *spec.shape)
        out.setdefault(spec.node, {})[spec.key] = part.astype(part.dtype.newbyteorder("="), order="C")
    return out
