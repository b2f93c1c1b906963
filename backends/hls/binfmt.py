"""The binary files of a generated project: stimuli.bin (inputs) and golden.bin (bitsim's traces).

All integers little-endian. Both files start with a 4-byte magic, ``u32 version = 1``,
``u32 B`` (samples) and ``u32 T`` (timesteps).

stimuli.bin ("SNNS"): ``u32 n_in`` (values per step, all Input nodes concatenated in
graph order), ``u32 n_inputs``, then per Input node ``str name, u32 size``; then
``B*T*n_in`` bytes (uint8 spikes), sample-major: ``[b][t][k]``.

golden.bin ("SNNG"): ``u32 n_traces``, ``u32 words`` (values per step), then per
trace ``str node, str key, u32 ndim, ndim*u32 dims`` (``node``: the node's label, its name cut to a bounded
length with a hash when long; project.json maps labels to names); then ``B*T*words`` int64,
``[b][t][trace][element]`` in C order. ``str`` is ``u32 length`` + UTF-8 bytes.
The traces are bitsim's: every node's "out", and each neuron's "i" (Cuba kinds)
and "v", in bitsim's order.

readout.bin ("SNNR", projects with a readout): ``u32 words`` (per sample: the n scores, then the class when
the readout has one), then ``B*words`` int64, ``[b][word]`` (:func:`snncompile.readout.compute`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snncompile.errors import InputError

VERSION = 1


@dataclass(frozen=True)
class TraceSpec:
    """One trace of golden.bin; ``label`` is the (bounded) name the file carries, ``node`` by default."""

    node: str
    key: str
    shape: tuple[int, ...]
    label: str | None = None

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
    head = b"SNNG" + struct.pack("<IIIII", VERSION, B, T, len(layout), words)
    for t in layout:
        name = t.node if t.label is None else t.label
        head += _str(name) + _str(t.key) + struct.pack(f"<I{len(t.shape)}I", len(t.shape), *t.shape)
    return head


def golden_bytes(layout: Sequence[TraceSpec], traces: dict[str, dict[str, np.ndarray]]) -> bytearray:
    """bitsim traces ({node: {key: [T, B, *shape]}}) in golden.bin's layout: the header and every value, written
    into one buffer in place (no int64 copy of the whole file besides the file itself)."""
    cols = [np.asarray(traces[t.node][t.key]) for t in layout]
    T, B = cols[0].shape[:2]
    words = sum(t.size for t in layout)
    head = golden_header(layout, B, T)
    out = bytearray(len(head) + 8 * B * T * words)
    out[:len(head)] = head
    flat = np.frombuffer(out, "<i8", offset=len(head)).reshape(B, T, words)
    offset = 0
    for c in cols:
        n = int(np.prod(c.shape[2:], dtype=np.int64))
        flat[:, :, offset:offset + n] = c.reshape(T, B, n).transpose(1, 0, 2)
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


def read_golden(path: str | Path) -> tuple[list[TraceSpec], np.ndarray, int]:
    """(layout, int64 data [B, T, words] (read only), byte offset of the data) of a golden.bin."""
    p = Path(path)
    r = _Reader(p.read_bytes(), p)
    if r.take(4) != b"SNNG" or r.u32() != VERSION:
        raise InputError(f"{p}: not a golden.bin of format version {VERSION}")
    B, T, n, words = r.u32(), r.u32(), r.u32(), r.u32()
    layout = []
    for _ in range(n):
        node, key = r.text(), r.text()
        ndim = r.u32()
        layout.append(TraceSpec(node, key, tuple(r.u32() for _ in range(ndim))))
    data = np.frombuffer(r.raw, dtype="<i8", count=B * T * words, offset=r.pos).reshape(B, T, words)
    return layout, data.astype(np.int64, copy=False), r.pos  # read only: a view of the file's bytes


def golden_offset(path: str | Path, b: int, t: int, node: str, key: str, element: int) -> int:
    """Byte offset in golden.bin of one recorded value (for tools and tests)."""
    layout, data, start = read_golden(path)
    words = data.shape[2]
    col = 0
    for spec in layout:
        if (spec.node, spec.key) == (node, key):
            return start + 8 * ((b * data.shape[1] + t) * words + col + element)
        col += spec.size
    raise InputError(f"{path}: no trace {node!r}/{key!r}")


def split_traces(layout: Sequence[TraceSpec], flat: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """[B, T, words] int64 -> bitsim's traces {node: {key: [T, B, *shape]}}."""
    B, T, _ = flat.shape
    out: dict[str, dict[str, np.ndarray]] = {}
    col = 0
    for spec in layout:
        part = flat[:, :, col:col + spec.size].transpose(1, 0, 2).reshape(T, B, *spec.shape)
        out.setdefault(spec.node, {})[spec.key] = np.ascontiguousarray(part)
        col += spec.size
    return out
