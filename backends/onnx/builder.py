"""A small ONNX graph builder: typed values, cached constants and casts, exact integer helpers.

Every value is a :class:`Val` (an ONNX value name and its numpy dtype). Arithmetic
helpers take and return Vals; constants are initializers shared by value; a cast
of a value to a dtype is built once. The integer helpers use only operators whose
result on negative numbers the ONNX specification fixes (``Mod`` with ``fmod=0``
takes the divisor's sign, ``Div`` is only applied to exact multiples or to
non-negative numbers, ``Abs``/``Sign``), so they do not depend on how a runtime
rounds an integer division.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: The opset and IR version of every emitted model (onnxruntime >= 1.12 runs them).
OPSET = 17
IR_VERSION = 8

I64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
#: Storage types for integer model inputs/outputs, narrowest first.
INT_STORAGE = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.int32), I64)


def onnx_type(dtype: np.dtype) -> int:
    return int(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def storage_dtype(lo: int, hi: int) -> np.dtype:
    """The narrowest of uint8, int8, int16, int32, int64 that holds every integer in [lo, hi]."""
    for dt in INT_STORAGE:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    return I64


def value_info(name: str, dtype: np.dtype, dims: Sequence[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx_type(dtype), list(dims))


@dataclass(frozen=True)
class Val:
    """A named ONNX value of a known element type."""

    name: str
    dtype: np.dtype


#: float64 weight constants of at least this many values are stored as float32 when that is exact
NARROW_MIN = 1 << 12


class Builder:
    """Collects nodes and initializers of one ONNX graph."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._consts: dict[tuple[str, tuple[int, ...], bytes], Val] = {}
        self._casts: dict[tuple[str, str], Val] = {}
        self._bool_origin: dict[str, Val] = {}  # value name -> the bool it is an exact cast of

    # -- plumbing ----------------------------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"t{self._count}_{hint}"

    def op(self, op_type: str, inputs: Sequence[Val | str], dtype: np.dtype, hint: str = "",
           out: str | None = None, **attrs: Any) -> Val:
        """Append one node with a single output of ``dtype``; ``out`` names the output (else a fresh name)."""
        name = out if out is not None else self.fresh(hint or op_type.lower())
        ins = [v.name if isinstance(v, Val) else v for v in inputs]
        self.nodes.append(helper.make_node(op_type, ins, [name], name=f"n_{name}", **attrs))
        return Val(name, np.dtype(dtype))

    def const(self, value: Any, dtype: Any = None) -> Val:
        """An initializer holding ``value`` (shared with every equal constant); a scalar stays 0-d."""
        arr = np.array(value, dtype=dtype, order="C")  # not ascontiguousarray: it makes a scalar 1-d
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.fresh("c")
            self.initializers.append(numpy_helper.from_array(arr, name))
            self._consts[key] = Val(name, arr.dtype)
        return self._consts[key]

    def weights(self, value: Any, dtype: Any) -> Val:
        """A weight constant of ``dtype``. A large float64 one whose every value is a float32 number (weights
        trained in float32) is stored as float32 and widened by a Cast -- the same float64 values in half the
        bytes; onnxruntime folds the Cast of a constant when it loads the model. Anything else: :meth:`const`."""
        arr = np.array(value, dtype=dtype, order="C")
        if arr.dtype == np.float64 and arr.size >= NARROW_MIN:
            narrow = arr.astype(np.float32)
            if np.array_equal(narrow, arr):
                return self.op("Cast", [self.const(narrow)], arr.dtype, "widen", to=onnx.TensorProto.DOUBLE)
        return self.const(arr)

    def param(self, arr: np.ndarray, dtype: Any = I64) -> Val:
        """A per-neuron parameter: a scalar constant when every entry is equal, else the whole array."""
        a = np.asarray(arr, dtype=dtype)
        if a.size and np.all(a == a.reshape(-1)[0]):
            return self.const(a.reshape(-1)[0], dtype)
        return self.const(a, dtype)

    def cast(self, v: Val, dtype: Any, out: str | None = None) -> Val:
        """``v`` as ``dtype`` (built once per pair; an exact cast of a bool is re-cast from the bool)."""
        dt = np.dtype(dtype)
        if v.dtype == dt:
            return v if out is None else self.identity(v, out)
        src = self._bool_origin.get(v.name, v)
        if src.dtype == dt:
            return src if out is None else self.identity(src, out)
        key = (src.name, dt.str)
        if out is None and key in self._casts:
            return self._casts[key]
        res = self.op("Cast", [src], dt, "cast", out=out, to=onnx_type(dt))
        if out is None:
            self._casts[key] = res
        if src.dtype == BOOL:
            self._bool_origin[res.name] = src
        return res

    def identity(self, v: Val, out: str) -> Val:
        return self.op("Identity", [v], v.dtype, out=out)

    # -- arithmetic (operands of equal dtype; Python ints become constants of the other operand's dtype) -----------
    def _pair(self, a: Val | int | float, b: Val | int | float) -> tuple[Val, Val]:
        if not isinstance(a, Val):
            assert isinstance(b, Val)
            a = self.const(a, b.dtype)
        if not isinstance(b, Val):
            b = self.const(b, a.dtype)
        return a, b

    def binary(self, op_type: str, a: Val | int | float, b: Val | int | float, **attrs: Any) -> Val:
        x, y = self._pair(a, b)
        return self.op(op_type, [x, y], x.dtype, op_type.lower(), **attrs)

    def add(self, a: Val | int | float, b: Val | int | float) -> Val:
        return self.binary("Add", a, b)

    def sub(self, a: Val | int | float, b: Val | int | float) -> Val:
        return self.binary("Sub", a, b)

    def mul(self, a: Val | int | float, b: Val | int | float) -> Val:
        return self.binary("Mul", a, b)

    def compare(self, op_type: str, a: Val | int | float, b: Val | int | float) -> Val:
        x, y = self._pair(a, b)
        return self.op(op_type, [x, y], BOOL, op_type.lower())

    def where(self, cond: Val, a: Val | int | float, b: Val | int | float) -> Val:
        x, y = self._pair(a, b)
        return self.op("Where", [cond, x, y], x.dtype, "where")

    def clip(self, x: Val, lo: int | float, hi: int | float) -> Val:
        return self.op("Clip", [x, self.const(lo, x.dtype), self.const(hi, x.dtype)], x.dtype, "clip")

    def sum(self, vals: Sequence[Val]) -> Val:
        """vals[0] + vals[1] + ... in that order."""
        total = vals[0]
        for v in vals[1:]:
            total = self.add(total, v)
        return total

    # -- exact integer division by a power of two ---------------------------------------------------------------------
    def floor_div_pow2(self, p: Val, bits: int) -> Val:
        """floor(p / 2^bits) on int64: Mod (sign of the divisor) leaves an exact multiple to divide."""
        if bits == 0:
            return p
        d = 1 << bits
        exact = self.sub(p, self.binary("Mod", p, d, fmod=0))
        return self.binary("Div", exact, d)

    def trunc_div_pow2(self, p: Val, bits: int) -> Val:
        """round-toward-zero(p / 2^bits) on int64: sign(p) * (|p| / 2^bits), dividing non-negatives only."""
        mag = self.binary("Div", self.op("Abs", [p], p.dtype, "abs"), 1 << bits)
        return self.mul(self.op("Sign", [p], p.dtype, "sign"), mag)


def make_model(graph: onnx.GraphProto, doc: str) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="snncompile", doc_string=doc)
    return model
