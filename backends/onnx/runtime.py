"""Running the emitted models with onnxruntime (CPU provider) and reading traces back in bitsim's format.

Traces are ``{node: {"out": [T, B, ...], "v": ..., "i": ...}}``: ``out`` for every
node (an Input's is its data), ``v`` for every neuron but Threshold, ``i`` for
CubaLI/CubaLIF -- the keys bitsim's ``run_plain`` and the float reference record.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from snncompile.errors import InputError

Traces = dict[str, dict[str, np.ndarray]]


def session(model: onnx.ModelProto | str | Path, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session; ``threads`` intra-op threads (0: onnxruntime's default)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    src: Any = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def input_names(sess: ort.InferenceSession) -> list[str]:
    """The graph's Input node names (model inputs ``in/<node>``)."""
    return [i.name[3:] for i in sess.get_inputs() if i.name.startswith("in/")]


def feeds(sess: ort.InferenceSession, inputs: np.ndarray | Mapping[str, np.ndarray], *, per_step: bool
          ) -> dict[str, np.ndarray]:
    """The model's ``in/<node>`` feeds [T, B, *shape] in the model's dtype.

    An integer model takes spikes: every value must be 0 or 1 (the ranges its exact
    lowerings were chosen for assume so); a float model takes any values.
    """
    names = input_names(sess)
    if not isinstance(inputs, Mapping):
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} inputs ({', '.join(names)}); pass a dict of arrays")
        inputs = {names[0]: inputs}
    args = {i.name: i for i in sess.get_inputs()}
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in inputs:
            raise InputError(f"no data for input node '{name}'")
        arg = args[f"in/{name}"]
        dtype = np.dtype(_NP_TYPES[arg.type])
        arr = np.asarray(inputs[name])
        want = arg.shape[1:] if per_step else arg.shape[2:]
        if arr.ndim != len(want) + 2 or tuple(arr.shape[2:]) != tuple(want):
            raise InputError(f"input '{name}': data of shape {arr.shape} does not match [T, B, *{tuple(want)}]")
        cast = arr.astype(dtype)
        if dtype.kind in "iu" and arr.size and not np.all((arr == 0) | (arr == 1)):
            idx = tuple(int(i) for i in np.argwhere((arr != 0) & (arr != 1))[0])
            raise InputError(f"input '{name}': value {arr[idx]} at [t={idx[0]}, b={idx[1]}, {idx[2:]}] "
                             "is not a spike (0 or 1)")
        out[name] = np.ascontiguousarray(cast)
    return out


_NP_TYPES = {"tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(int16)": np.int16,
             "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(float)": np.float32,
             "tensor(double)": np.float64}


def _to_traces(data: Mapping[str, np.ndarray], results: Mapping[str, np.ndarray], dtype: Any) -> Traces:
    traces: Traces = {n: {"out": np.asarray(a, dtype)} for n, a in data.items()}
    for name, arr in results.items():
        key, _, node = name.partition("/")
        if key in ("out", "v", "i"):
            traces.setdefault(node, {})[key] = np.asarray(arr, dtype)
    return traces


def run_scan(sess: ort.InferenceSession, inputs: np.ndarray | Mapping[str, np.ndarray], dtype: Any) -> Traces:
    """All T steps in one call of a ``scan.onnx`` session."""
    data = feeds(sess, inputs, per_step=False)
    names = [o.name for o in sess.get_outputs()]
    values = sess.run(names, {f"in/{n}": a for n, a in data.items()})
    return _to_traces(data, dict(zip(names, values, strict=True)), dtype)


def run_step(sess: ort.InferenceSession, inputs: np.ndarray | Mapping[str, np.ndarray],
             initial: Mapping[str, np.ndarray], dtype: Any) -> Traces:
    """A Python loop over ``step.onnx``: feed the states back each step. ``initial``: state name -> [1, ...]."""
    data = feeds(sess, inputs, per_step=True)
    first = next(iter(data.values()))
    steps, batch = int(first.shape[0]), int(first.shape[1])
    states = {k: np.ascontiguousarray(np.broadcast_to(v, (batch, *v.shape[1:]))) for k, v in initial.items()}
    names = [o.name for o in sess.get_outputs()]
    recorded: dict[str, list[np.ndarray]] = {}
    for t in range(steps):
        step_feeds = {f"in/{n}": a[t] for n, a in data.items()}
        step_feeds.update(states)
        values = dict(zip(names, sess.run(names, step_feeds), strict=True))
        states = {f"state/{k[5:]}": values[k] for k in values if k.startswith("next/")}
        for k, arr in values.items():
            if k.startswith("out/"):
                recorded.setdefault(k, []).append(arr)
            elif k.startswith("next/") and k.rpartition("/")[2] in ("v", "i"):
                node, _, key = k[5:].rpartition("/")
                recorded.setdefault(f"{key}/{node}", []).append(arr)
    return _to_traces(data, {k: np.stack(v) for k, v in recorded.items()}, dtype)
