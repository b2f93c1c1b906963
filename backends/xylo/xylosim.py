"""Run a :class:`~.spec.XyloNet` in the real XyloSim (SynSense's C++ simulator, ``xylosim==0.1.3``).

Two routes, both the same C++ ``xylosim.v2.XyloLayer``:

* :func:`run_xylosim` builds the layer directly, synapse lists made exactly as Rockpool 3.1.0's
  ``XyloSim.from_specification`` (syns61201) makes them (per source: synapse-0 targets ascending, then
  synapse-1 targets; zero weights left out).
* :func:`rockpool_xylosim` calls Rockpool's own ``XyloSim.from_specification`` on the specification dict.
  Rockpool 3.1.0's ``rockpool.devices.xylo`` package ``__init__`` imports ``samna`` unconditionally (through
  ``syns65302``), and samna is not installable from PyPI (its PyPI package is a stub that downloads the real one
  at import time), so the ``syns61201`` subpackage is imported with that one package ``__init__`` skipped
  (:func:`rockpool_syns61201`); every Rockpool module it runs is Rockpool's own file.

XyloSim steps one sample at a time; a batch is run sample by sample from the reset state.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from snncompile.backends.bitsim.xylo import XyloTraces, check_counts

from snncompile.errors import BackendError

from .spec import XyloNet


def _xylosim_v2() -> Any:
    try:
        return importlib.import_module("xylosim.v2")
    except ImportError as err:
        raise BackendError(
            "XyloSim is not installed: pip install wheel pybind11 && pip install --no-build-isolation "
            f"xylosim==0.1.3 (or the 'xylo' extra) ({err})"
        ) from None


def _synapses(v2: Any, w: np.ndarray) -> list[list[Any]]:
    out = []
    for pre in range(w.shape[0]):
        row = [v2.XyloSynapse(int(post), 0, int(w[pre, post, 0])) for post in np.flatnonzero(w[pre, :, 0])]
        if w.shape[2] > 1:
            row += [v2.XyloSynapse(int(post), 1, int(w[pre, post, 1])) for post in np.flatnonzero(w[pre, :, 1])]
        out.append(row)
    return out


class _Layer:
    """A ``xylosim.v2.XyloLayer`` and the Python synapse objects it points to (the C++ layer keeps raw pointers
    to them, so they must live as long as it does -- Rockpool keeps them in ``_xylo_sim_params`` for that)."""

    def __init__(self, layer: Any, synapses: list[Any]) -> None:
        self.layer = layer
        self.synapses = synapses


def xylo_layer(net: XyloNet) -> _Layer:
    """A ``xylosim.v2.XyloLayer`` holding ``net`` (``.layer``), with its synapse objects kept alive."""
    v2 = _xylosim_v2()
    syn_in = _synapses(v2, net.weights_in)
    syn_rec = _synapses(v2, net.weights_rec)
    syn_out = _synapses(v2, net.weights_out[:, :, None])
    return _Layer(v2.XyloLayer(
        synapses_in=syn_in,
        synapses_rec=syn_rec,
        synapses_out=syn_out,
        aliases=[list(a) for a in net.aliases],
        threshold=net.threshold.tolist(),
        threshold_out=net.threshold_out.tolist(),
        has_bias=net.has_bias,
        bias=net.bias.tolist(),
        bias_out=net.bias_out.tolist(),
        weight_shift_inp=net.weight_shift_in,
        weight_shift_rec=net.weight_shift_rec,
        weight_shift_out=net.weight_shift_out,
        dash_mem=net.dash_mem.tolist(),
        dash_mem_out=net.dash_mem_out.tolist(),
        dash_syns=[[int(a), int(b)] for a, b in zip(net.dash_syn, net.dash_syn_2, strict=True)],
        dash_syns_out=[[int(a)] for a in net.dash_syn_out],
        name="snncompile",
    ), [syn_in, syn_rec, syn_out])


def _record(layer: Any, T: int, n: int, n_out: int) -> dict[str, np.ndarray]:
    def mat(rows: Any, width: int) -> np.ndarray:  # XyloSim records [neuron][t]
        arr = np.array([list(r) for r in rows], np.int64).reshape(width, -1)
        return arr.T if arr.size else np.zeros((T, width), np.int64)

    return {
        "spikes": np.array(layer.rec_recurrent_spikes, np.int64).reshape(T, n),
        "isyn": mat(layer.rec_i_syn, n), "isyn2": mat(layer.rec_i_syn2, n), "vmem": mat(layer.rec_v_mem, n),
        "spikes_out": np.array(layer.rec_out_spikes, np.int64).reshape(T, n_out),
        "isyn_out": mat(layer.rec_i_syn_out, n_out), "vmem_out": mat(layer.rec_v_mem_out, n_out),
    }


def run_xylosim(net: XyloNet, inputs: np.ndarray) -> XyloTraces:
    """XyloSim's records of ``net`` on input counts ``[T, B, Nin]``, stacked ``[T, B, n]`` like
    :func:`~snncompile.backends.bitsim.xylo.run_xylo`'s."""
    counts = check_counts(net, inputs)
    T, B = counts.shape[:2]
    held = xylo_layer(net)
    layer = held.layer
    per_sample = []
    for b in range(B):
        layer.reset_all()
        layer.evolve(counts[:, b].tolist())
        per_sample.append(_record(layer, T, net.n_hidden, net.n_out))
    return XyloTraces(**{k: np.stack([s[k] for s in per_sample], axis=1) for k in per_sample[0]}) if B else \
        XyloTraces(**{k: np.zeros((T, 0, net.n_out if k.endswith("_out") else net.n_hidden), np.int64)
                      for k in ("spikes", "isyn", "isyn2", "vmem", "spikes_out", "isyn_out", "vmem_out")})


def rockpool_syns61201() -> Any:
    """``rockpool.devices.xylo.syns61201`` without the samna-only parent ``__init__`` (module docstring)."""
    name = "rockpool.devices.xylo"
    if name not in sys.modules:
        try:
            devices = importlib.import_module("rockpool.devices")
        except ImportError as err:
            raise BackendError(f"Rockpool is not installed: pip install --no-deps rockpool==3.1.0 ({err})") from None
        package = types.ModuleType(name)
        package.__path__ = [str(Path(str(devices.__file__)).parent / "xylo")]
        sys.modules[name] = package
    try:
        return importlib.import_module(f"{name}.syns61201")
    except ImportError as err:
        raise BackendError(f"Rockpool's Xylo support does not import ({err}); XyloSim needs xylosim==0.1.3") \
            from None


def rockpool_xylosim(net: XyloNet, inputs: np.ndarray) -> XyloTraces:
    """:func:`run_xylosim` through Rockpool's ``XyloSim.from_specification`` and ``evolve(record=True)``."""
    counts = check_counts(net, inputs)
    T, B = counts.shape[:2]
    module = rockpool_syns61201().XyloSim.from_specification(**net.to_spec(), output_mode="Spike")
    per_sample = []
    for b in range(B):
        module.reset_state()
        out, _, rec = module.evolve(counts[:, b], record=True)
        per_sample.append({
            "spikes": np.asarray(rec["Spikes"], np.int64).reshape(T, net.n_hidden),
            "isyn": np.asarray(rec["Isyn"], np.int64).reshape(T, net.n_hidden),
            "isyn2": np.asarray(rec["Isyn2"], np.int64).reshape(T, net.n_hidden),
            "vmem": np.asarray(rec["Vmem"], np.int64).reshape(T, net.n_hidden),
            "spikes_out": np.asarray(out, np.int64).reshape(T, net.n_out),
            "isyn_out": np.asarray(rec["Isyn_out"], np.int64).reshape(T, net.n_out),
            "vmem_out": np.asarray(rec["Vmem_out"], np.int64).reshape(T, net.n_out),
        })
    return XyloTraces(**{k: np.stack([s[k] for s in per_sample], axis=1) for k in per_sample[0]})
