"""The mapped network in lava-dl netx's HDF5 format (``network.net``), which ``lava.lib.dl.netx.hdf5.Network`` loads.

Layout (lava-dl 0.6.0, ``netx/hdf5.py`` and ``netx/utils.py``; the one slayer's ``export_hdf5`` writes)::

    /layer/0    type "input", shape [n_in]                       (no neuron: the spikes go straight to layer 1)
    /layer/k    type "dense", shape [n], inFeatures, outFeatures,
                weight   int [n, n_in_k]   per-spike input to u, before Lava's << 6 (effective weight m * 2^e)
                bias     int [n]           bias_mant; netx builds the LIF with bias_exp 6
                neuron/  type "CUBA", iDecay = du + 1 (netx passes du = iDecay - 1 to Lava's LIF), vDecay = dv,
                         vThMant = vth, refDelay 1 (none), gradedSpike False

netx reads no weight exponent: ``optimize_weight_bits`` derives Lava's (weights, num_weight_bits, weight_exp) from
the matrix itself -- exactly, for integers in [-256, 254] (mixed sign), [0, 255] or [-256, 0] -- and clips anything
else. So a layer is written as its effective integer weights, and only what netx reproduces exactly is written;
every other network raises :class:`~.rules.LoihiRuleError` (exit code 3) naming the ``netx_*`` rule:

* ``netx_chain``: Input -> (weights -> neurons)+ -> Output, one projection per population, no recurrence, no
  extra synaptic delay (netx builds a feed-forward chain of Dense blocks);
* ``netx_layer_registers``: one du, dv and vth per layer (Lava's LIF holds them as scalars);
* ``netx_weights``: effective weights m * 2^e integers in netx's range, not all zero (netx divides by the maximum);
* ``netx_bias``: bias a multiple of 64 with a signed 13-bit mantissa (bias_exp is fixed to 6);
* ``netx_initial_state``: u0 = v0 = 0 (netx starts every LIF at zero).

``quantize_for_loihi(..., netx=True)`` produces encodings that pass the register rules. Convolutions, already
sparse synapses in the netlist, are written as dense layers of their synapse matrix (same synapses, same sums).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.atomic import write_file
from snncompile.quant.qnodes import QConv2d, QDense, QGraph

from .netlist import Netlist, Projection, lower
from .registers import BIAS_MANT_RANGE, NETX_BIAS_EXP
from .rules import LoihiRuleError

NETX_FILE = "network.net"
FORMAT = "snncompile-netx/1"
#: netx's optimize_weight_bits keeps these exactly (its clip is [-256, 254] for mixed-sign matrices)
NETX_WEIGHT_RANGE = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-256, 0)}


@dataclass(frozen=True)
class NetxLayer:
    """One netx dense block: the neuron population ``name`` and the weight layer ``weights`` feeding it."""

    name: str
    weights: str
    weight: np.ndarray  # int64 effective: dense [n_out, n_in]; conv [C_out, C_in / groups, KH, KW] (torch layout)
    bias: np.ndarray  # int64 [n_out] (flat C order), bias_mant at bias_exp 6
    i_decay: int
    v_decay: int
    vth: int
    shape: tuple[int, ...] = ()  # the population's (C, H, W) or (n,)
    conv: dict[str, Any] | None = None  # stride, padding, dilation (h, w), groups; None for a dense block


def _fail(rule: str, text: str) -> LoihiRuleError:
    return LoihiRuleError(rule, f"network.net (lava-dl netx): {text}")


def _scalar(rule: str, name: str, what: str, values: np.ndarray) -> int:
    if values.size and np.any(values != values[0]):
        i = int(np.argmax(values != values[0]))
        raise _fail(rule, f"node '{name}': {what} {int(values[i])} at neuron {i} differs from {int(values[0])} at "
                          "neuron 0; Lava's LIF holds one value per layer")
    return int(values[0]) if values.size else 0


#: the largest dense matrix written (entries); a convolution goes as a netx conv block instead
MAX_DENSE_ENTRIES = 1 << 22


def _check_range(name: str, w: np.ndarray, exp: int) -> None:
    w_min, w_max = (int(w.min()), int(w.max())) if w.size else (0, 0)  # two passes, no matrix-sized temporaries
    mode = "excitatory" if w_min >= 0 else "inhibitory" if w_max <= 0 else "mixed"
    lo, hi = NETX_WEIGHT_RANGE[mode]
    if w_min < lo or w_max > hi:
        at = tuple(int(i) for i in np.argwhere((w < lo) | (w > hi))[0])
        raise _fail("netx_weights", f"node '{name}': effective weight {int(w[at])} (mantissa x 2^{exp}) at {at} is "
                                    f"outside netx's {mode} range {lo}..{hi}")
    if w_min == 0 and w_max == 0:
        raise _fail("netx_weights", f"node '{name}': every weight is 0 (netx's optimize_weight_bits divides by "
                                    "the largest weight)")


def _conv_kernel(name: str, node: QConv2d) -> np.ndarray:
    w = np.asarray(node.weight, np.int64)
    if node.shift >= 0:
        eff = w << node.shift
    else:
        if np.any(w % (1 << -node.shift)):
            raise _fail("netx_weights", f"node '{name}': weights with weight_exp {node.shift} are not integers at "
                                        "exponent 0; netx stores integer weights")
        eff = w >> -node.shift
    _check_range(name, eff, node.shift)
    return eff


def _effective_weights(p: Projection, n_in: int, n_out: int, matrix: np.ndarray | None = None) -> np.ndarray:
    """The effective integer matrix [n_out, n_in] of ``p``, read only. ``matrix``: the QDense weight matrix whose
    nonzero entries are p's synapses (:func:`.netlist.dense_synapses`), used instead of scattering them back."""
    if n_in * n_out > MAX_DENSE_ENTRIES:
        raise _fail("netx_size", f"node '{p.weights}': a dense matrix of {n_out} x {n_in} entries (at most "
                                 f"{MAX_DENSE_ENTRIES} are written)")
    if matrix is not None:
        return _dense_effective(p, np.asarray(matrix, np.int64))
    eff = np.asarray(p.weight, np.int64)  # not changed in place: the shifts below make new arrays
    if p.weight_exp > 0:
        eff = eff << p.weight_exp
    elif p.weight_exp < 0:
        k = -p.weight_exp
        if np.any(eff % (1 << k)):
            i = int(np.argmax(eff % (1 << k) != 0))
            raise _fail("netx_weights", f"node '{p.weights}': weight {int(eff[i])} at (post {int(p.post[i])}, pre "
                                        f"{int(p.pre[i])}) with weight_exp {p.weight_exp} is not an integer multiple "
                                        "of the exponent; netx stores integer weights at exponent 0")
        eff = eff >> k
    if len(eff) == n_in * n_out:  # every entry a synapse, sorted by (post, pre): the matrix in C order
        w = eff.reshape(n_out, n_in)
    else:
        w = np.zeros((n_out, n_in), np.int64)
        w.reshape(-1)[p.post * n_in + p.pre] = eff
    _check_range(p.weights, w, p.weight_exp)
    w.flags.writeable = False
    return w


def _dense_effective(p: Projection, w: np.ndarray) -> np.ndarray:
    """:func:`_effective_weights` from the weight matrix itself: the same integers (its zeros stay zero under
    either shift) and, for a weight_exp < 0 that leaves a fraction, the same first offending synapse (C order of
    the matrix is the synapses' (post, pre) order)."""
    if p.weight_exp > 0:
        w = w << p.weight_exp
    elif p.weight_exp < 0:
        k = -p.weight_exp
        frac = w & ((1 << k) - 1)  # == w % 2^k for two's complement integers
        if frac.any():
            post, pre = np.unravel_index(int(np.argmax(frac != 0)), w.shape)
            raise _fail("netx_weights", f"node '{p.weights}': weight {int(w[post, pre])} at (post {int(post)}, pre "
                                        f"{int(pre)}) with weight_exp {p.weight_exp} is not an integer multiple "
                                        "of the exponent; netx stores integer weights at exponent 0")
        w = w >> k
    _check_range(p.weights, w, p.weight_exp)
    w = w.view()  # read only: the QGraph's own matrix when weight_exp is 0
    w.flags.writeable = False
    return w


def netx_layers(qgraph: QGraph, netlist: Netlist | None = None) -> tuple[int, list[NetxLayer]]:
    """(n_in, layers) of a QGraph that netx can hold exactly; LoihiRuleError names the first rule it breaks."""
    net = lower(qgraph) if netlist is None else netlist
    hosts = [n for n, p in net.populations.items() if p.is_input]
    if len(hosts) != 1:
        raise _fail("netx_chain", f"{len(hosts)} Input nodes; netx takes one input layer")
    into = {p.target: [q for q in net.projections if q.target == p.target] for p in net.projections}
    prev, size = hosts[0], net.populations[hosts[0]].size
    layers: list[NetxLayer] = []
    for name in [n for n in qgraph.order if n in net.layers]:  # graph (topological) order
        projs = into.get(name, [])
        if len(projs) != 1 or len(projs[0].taps) != 1:
            raise _fail("netx_chain", f"node '{name}' is fed by {sum(len(p.taps) for p in projs)} sources; netx "
                                      "builds a chain with one weight layer per population")
        p = projs[0]
        tap = p.taps[0]
        if tap.source != prev or tap.lag != 0 or p.delay != 1:
            raise _fail("netx_chain", f"node '{p.weights}' reads '{tap.source}' (lag {tap.lag}, delay {p.delay}); "
                                      f"netx builds a feed-forward chain, so it must read '{prev}' with Lava's one "
                                      "step of Dense delay")
        pop = net.populations[name]
        regs = pop.registers
        assert regs is not None
        for what, arr in (("u0", regs.u0), ("v0", regs.v0)):
            if np.any(arr != 0):
                i = int(np.argmax(arr != 0))
                raise _fail("netx_initial_state", f"node '{name}': {what} {int(arr[i])} at neuron {i}; netx starts "
                                                  "every LIF at u = v = 0")
        bias = np.asarray(regs.bias_mant, np.int64) << np.asarray(regs.bias_exp, np.int64)
        mant = bias >> NETX_BIAS_EXP
        if np.any(mant << NETX_BIAS_EXP != bias) or mant.min(initial=0) < BIAS_MANT_RANGE[0] \
                or mant.max(initial=0) > BIAS_MANT_RANGE[1]:
            bad = (mant << NETX_BIAS_EXP != bias) | (mant < BIAS_MANT_RANGE[0]) | (mant > BIAS_MANT_RANGE[1])
            i = int(np.argmax(bad))
            raise _fail("netx_bias", f"node '{name}': bias {int(bias[i])} at neuron {i} is not bias_mant << 6 with "
                                     f"bias_mant in {BIAS_MANT_RANGE[0]}..{BIAS_MANT_RANGE[1]} (netx's bias_exp is 6)")
        node = qgraph.nodes[p.weights]
        src_shape = net.populations[prev].shape
        conv: dict[str, Any] | None = None
        if isinstance(node, QConv2d) and len(src_shape) == 3:
            weight = _conv_kernel(p.weights, node)
            conv = {"stride": tuple(node.stride), "padding": tuple(node.padding), "dilation": tuple(node.dilation),
                    "groups": int(node.groups), "input_shape": tuple(src_shape)}
        else:
            matrix = node.weight if isinstance(node, QDense) and np.shape(node.weight) == (pop.size, size) else None
            weight = _effective_weights(p, size, pop.size, matrix)
        layers.append(NetxLayer(
            name=name, weights=p.weights, weight=weight, bias=mant, shape=tuple(pop.shape), conv=conv,
            i_decay=_scalar("netx_layer_registers", name, "du", regs.du) + 1,
            v_decay=_scalar("netx_layer_registers", name, "dv", regs.dv),
            vth=_scalar("netx_layer_registers", name, "vth", regs.vth),
        ))
        prev, size = name, pop.size
    if not layers:
        raise _fail("netx_chain", "no neuron layer")
    return net.populations[hosts[0]].size, layers


def netx_bytes(qgraph: QGraph, netlist: Netlist | None = None) -> tuple[bytes, list[NetxLayer]]:
    """The bytes of ``network.net`` (module docstring); LoihiRuleError when netx cannot hold the network."""
    import h5py

    n_in, layers = netx_layers(qgraph, netlist)

    def text(group: h5py.Group, key: str, value: str) -> None:
        group.create_dataset(key, (1,), "S10", [value.encode("ascii")])

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["loader"] = "lava.lib.dl.netx.hdf5.Network(net_config=...)"
        root = f.create_group("layer")
        index = iter(range(1 << 30))
        g = root.create_group(str(next(index)))
        text(g, "type", "input")
        first = layers[0].conv
        g.create_dataset("shape", data=np.array(first["input_shape"] if first else [n_in], np.int64))  # (C, H, W)
        spatial = first is not None  # the previous block's output is (x, y, c): a dense block needs a flatten
        for layer in layers:
            if layer.conv is None and spatial:
                text(root.create_group(str(next(index))), "type", "flatten")
            g = root.create_group(str(next(index)))
            g.attrs["node"] = layer.name
            g.attrs["weights_node"] = layer.weights
            if layer.conv is None:
                text(g, "type", "dense")
                g.create_dataset("shape", data=np.array([layer.weight.shape[0]], np.int64))
                g.create_dataset("inFeatures", data=layer.weight.shape[1])
                g.create_dataset("outFeatures", data=layer.weight.shape[0])
                g.create_dataset("bias", data=layer.bias.astype(np.int32))
            else:  # netx reverses shape/stride/padding/dilation to (x, y[, c]); the kernel stays in torch layout
                text(g, "type", "conv")
                g.create_dataset("shape", data=np.array(layer.shape, np.int64))
                for key in ("stride", "padding", "dilation"):
                    g.create_dataset(key, data=np.array(layer.conv[key], np.int64))
                g.create_dataset("groups", data=layer.conv["groups"])
                g.create_dataset("bias", data=layer.bias.reshape(layer.shape).transpose(2, 1, 0).astype(np.int32))
            spatial = layer.conv is not None
            g.create_dataset("weight", data=layer.weight.astype(np.int32))
            text(g, "neuron/type", "CUBA")
            g.create_dataset("neuron/iDecay", data=layer.i_decay)
            g.create_dataset("neuron/vDecay", data=layer.v_decay)
            g.create_dataset("neuron/vThMant", data=layer.vth)
            g.create_dataset("neuron/refDelay", data=1)
            g.create_dataset("neuron/gradedSpike", data=False)
    return buf.getvalue(), layers


def write_netx(qgraph: QGraph, path: str | Path) -> list[NetxLayer]:
    """Write ``network.net`` at ``path`` (atomically); LoihiRuleError before anything is written."""
    data, layers = netx_bytes(qgraph)
    write_file(path, data)
    return layers
