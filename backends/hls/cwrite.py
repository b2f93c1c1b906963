"""Small helpers that write C99 text: integer types chosen from value ranges, array literals, indented code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CType:
    """A fixed-width C integer type: its name, range, bit width and the trace-table tag of snn_trace.h."""

    name: str
    lo: int
    hi: int
    bits: int
    tag: str

    def holds(self, lo: int, hi: int) -> bool:
        return self.lo <= lo and hi <= self.hi


U8 = CType("uint8_t", 0, 255, 8, "SNN_U8")
I8 = CType("int8_t", -128, 127, 8, "SNN_I8")
U16 = CType("uint16_t", 0, 65535, 16, "SNN_U16")
I16 = CType("int16_t", -(2**15), 2**15 - 1, 16, "SNN_I16")
I32 = CType("int32_t", -(2**31), 2**31 - 1, 32, "SNN_I32")
I64 = CType("int64_t", -(2**63), 2**63 - 1, 64, "SNN_I64")

#: types for buffers and registers (unsigned allowed), narrowest first
BUFFER_TYPES = (U8, I8, U16, I16, I32, I64)
#: types for constant data: signed; weights and parameters always fit int32 (int64 only for initial outputs)
DATA_TYPES = (I8, I16, I32, I64)


def ctype_for(lo: int, hi: int, *, signed_only: bool = False) -> CType:
    """The narrowest buffer type holding every value of [lo, hi] (int64 when nothing narrower does)."""
    for t in BUFFER_TYPES:
        if (not signed_only or t.lo < 0) and t.holds(lo, hi):
            return t
    return I64


def data_type_for(values: np.ndarray) -> CType:
    """The narrowest of int8/int16/int32 (int64 beyond) holding every value."""
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    return next((t for t in DATA_TYPES if t.holds(lo, hi)), I64)


def index_type(n: int) -> CType:
    """An unsigned type for indices 0..n-1."""
    return U8 if n <= 256 else (U16 if n <= 65536 else I32)


def c_string(text: str) -> str:
    """A C string literal for any text (UTF-8 bytes; non-printable and non-ASCII bytes as octal escapes)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= byte < 127 and ch != "?":  # '?' escaped: no trigraphs
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def int_fields(values: np.ndarray) -> np.ndarray:
    """Decimal text of every integer of ``values`` (any shape), right-aligned to one width: a uint8 array
    ``[*shape, width]`` of ASCII, built with numpy arithmetic (no Python loop over the values).

    Many values over a narrow span (weights: int8/int16) are looked up in the text of every value of the span,
    formatted by the same arithmetic: one gather instead of a digit loop over millions of values (4.2 M int8
    values: 0.23 s -> 0.02 s). The span has the same largest magnitude and sign, so the same width."""
    v = np.asarray(values)
    if v.size:
        lo, hi = int(v.min()), int(v.max())
        if hi - lo < min(v.size // 4, 1 << 17):
            return _fields(np.arange(lo, hi + 1, dtype=np.int64))[np.subtract(v, lo, dtype=np.int64)]
    return _fields(v)


def _fields(values: np.ndarray) -> np.ndarray:
    """int_fields by digit arithmetic over every value."""
    v = np.asarray(values, np.int64)
    mag = np.abs(v)
    top = int(mag.max(initial=0))
    if top < 2**31:  # narrower arithmetic, same digits
        v, mag = v.astype(np.int32), mag.astype(np.int32)
    width = len(str(top)) + int(bool((v < 0).any()))
    out = np.full((*v.shape, width), ord(" "), np.uint8)
    ndig = np.ones(v.shape, np.int16)
    rest = mag.copy()
    for pos in range(width - 1, -1, -1):
        digit = (rest % 10).astype(np.uint8) + ord("0")
        show = (rest > 0) | (pos == width - 1)
        out[..., pos] = np.where(show, digit, out[..., pos])
        ndig += (rest >= 10)
        rest //= 10
    if (v < 0).any():
        sign = np.maximum(width - 1 - ndig, 0)
        neg = np.where(v < 0)
        out[(*neg, sign[neg])] = ord("-")
    return out


def _value_lines(a: np.ndarray, pad: str, per_line: int) -> list[str]:
    """``a`` ([R, C]) as lines of at most ``per_line`` values, each value followed by a comma; row r's lines
    come before row r+1's. Every line is assembled in place in one numpy buffer (pad, right-aligned fields,
    commas, a newline where the line ends), decoded once and split: no Python loop over values or lines."""
    rows, cols = a.shape
    if cols == 0 or rows == 0:
        return []
    fields = int_fields(a)  # [R, C, w]
    w = fields.shape[-1]
    per = min(per_line, cols)
    lead = np.frombuffer(pad.encode("ascii"), np.uint8)
    n_full, rem = divmod(cols, per)
    parts = [(0, per, n_full), (n_full * per, rem, int(rem > 0))]  # full lines, then each row's rest
    widths = [n * (len(lead) + count * (w + 2)) for _, count, n in parts]
    text = np.empty((rows, sum(widths)), np.uint8)
    offset = 0
    for (start, count, n), width in zip(parts, widths, strict=True):
        if not n:
            continue
        line = text[:, offset:offset + width].reshape(rows, n, len(lead) + count * (w + 2))
        line[..., :len(lead)] = lead
        slot = line[..., len(lead):].reshape(rows, n, count, w + 2)  # "  -12, " ... the last space ends the line
        slot[..., :w] = fields[:, start:start + n * count].reshape(rows, n, count, w)
        slot[..., w] = ord(",")
        slot[..., w + 1] = ord(" ")
        line[..., -1] = ord("\n")  # in place of the trailing space
        offset += width
    return str(text.data, "ascii").split("\n")[:-1]  # one decode of the C-contiguous buffer


def c_array(name: str, ctype: CType, values: np.ndarray, *, per_line: int = 16) -> list[str]:
    """``static const T name[d0][d1]... = {...};`` with nested braces, exact integer values (formatted by numpy:
    6.3 M weights in well under a second)."""
    arr = np.asarray(values)
    dims = "".join(f"[{d}]" for d in arr.shape)
    if arr.ndim == 0:
        return [f"static const {ctype.name} {name} = {int(arr)};"]
    head = [f"static const {ctype.name} {name}{dims} = {{"]
    if arr.ndim == 1:
        return [*head, *_value_lines(arr.reshape(1, -1), "    ", per_line), "};"]
    inner = arr.reshape(-1, arr.shape[-1])
    text_rows = _value_lines(inner, "    " * arr.ndim, per_line)
    per_row = -(-arr.shape[-1] // min(per_line, max(arr.shape[-1], 1))) if arr.shape[-1] else 0
    lines = head
    strides = [int(np.prod(arr.shape[k:-1], dtype=np.int64)) for k in range(1, arr.ndim)]  # rows per sub-block
    for r in range(inner.shape[0]):
        for k, st in enumerate(strides):  # open every block that starts at row r (outermost first)
            if r % st == 0:
                lines.append("    " * (k + 1) + "{")
        lines += text_rows[r * per_row:(r + 1) * per_row]
        for k in range(len(strides) - 1, -1, -1):  # close every block that ends at row r (innermost first)
            if (r + 1) % strides[k] == 0:
                lines.append("    " * (k + 1) + "},")
    return [*lines, "};"]


class Code:
    """Lines of C with an indentation level; ``block`` opens and closes braces."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._level = 0

    def __call__(self, *lines: str) -> Code:
        for line in lines:
            self.lines.append(("    " * self._level + line) if line else "")
        return self

    def pragma(self, text: str) -> Code:
        """``#pragma HLS text`` at column 0 of the current block (gcc ignores it)."""
        self.lines.append("    " * self._level + f"#pragma HLS {text}")
        return self

    @contextmanager
    def block(self, head: str) -> Iterator[Code]:
        self(head + " {")
        self._level += 1
        try:
            yield self
        finally:
            self._level -= 1
            self("}")

    def extend(self, other: Code) -> Code:
        for line in other.lines:
            self.lines.append(("    " * self._level + line) if line else "")
        return self

    @property
    def empty(self) -> bool:
        return not self.lines

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
