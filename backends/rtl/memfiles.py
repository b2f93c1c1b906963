"""Memory-init files ($readmemh: one hex word per line) of the layer engine, packed with numpy.

A word is a concatenation of fields, the first field in the lowest bits; each field is a
two's-complement value of its width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snncompile.quant.shiftleak import leak_shift

from .plan import Layer

#: the per-neuron parameters of a layer, in PMASK bit order (snn_layer.v)
PARAM_FIELDS = ("xbias", "alpha", "beta", "theta", "vreset", "nbias", "vinit", "iinit", "vmin")


def pack_hex(columns: Sequence[tuple[np.ndarray, int]]) -> str:
    """Rows of concatenated fields (values int64 [rows], width) as $readmemh text; field 0 in the low bits."""
    rows = len(columns[0][0])
    bits = np.concatenate([((np.asarray(v, np.int64)[:, None] >> np.arange(w)) & 1).astype(np.uint8)
                           for v, w in columns], axis=1)
    width = bits.shape[1]
    digits = -(-width // 4)
    bits = np.concatenate([bits, np.zeros((rows, digits * 4 - width), np.uint8)], axis=1)
    nibbles = bits.reshape(rows, digits, 4) @ np.array([1, 2, 4, 8], np.uint8)
    chars = np.frombuffer(b"0123456789abcdef", np.uint8)[nibbles[:, ::-1]]
    lines = np.concatenate([chars, np.full((rows, 1), ord("\n"), np.uint8)], axis=1)
    return lines.tobytes().decode("ascii")


def weight_words(layer: Layer) -> str:
    """Word ``base_k + j*G + g`` holds W_k[g*P + p, j] in lane p (zero beyond the last neuron)."""
    P, G = layer.lanes, layer.groups
    blocks = []
    for e in layer.edges:
        wt = np.zeros((e.weight.shape[1], G * P), np.int64)
        wt[:, : layer.n] = e.weight.T
        blocks.append(wt.reshape(-1, P))
    lanes = np.concatenate(blocks, axis=0)
    return pack_hex([(lanes[:, p], layer.w_bits) for p in range(P)])


def param_values(layer: Layer) -> dict[str, np.ndarray]:
    """Every per-neuron parameter of the layer engine, int64 [N].

    Under rounding ``shift_subtract`` alpha and beta hold the leak shift k (``NO_LEAK`` = -1 for no leak), not
    the multiplier: snn_neuron's shift datapath computes ``y - (y >>> k)`` and has no multiplier."""
    node, n = layer.node, layer.n
    alpha, beta = node.alpha, node.beta
    if node.semantics.rounding == "shift_subtract":
        alpha, beta = leak_shift(alpha, node.frac_bits), leak_shift(beta, node.frac_bits)
    flat = {"alpha": alpha, "beta": beta, "theta": node.threshold, "vreset": node.v_reset,
            "nbias": node.bias, "vinit": node.v_init, "iinit": node.i_init,
            "vmin": node.v_min if node.v_min is not None else 0}  # HAS_VMIN = 0 ignores it
    out = {"xbias": layer.xbias}
    out.update({k: np.broadcast_to(np.asarray(v, np.int64).reshape(-1), (n,)).copy() for k, v in flat.items()})
    return out


def field_bits(values: np.ndarray) -> int:
    lo, hi = int(values.min(initial=0)), int(values.max(initial=0))
    return max(2, max(-lo - 1, hi, 0).bit_length() + 1)


def param_layout(layer: Layer) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """(values, {field: (offset, width)} of the fields that differ between neurons)."""
    values = param_values(layer)
    layout: dict[str, tuple[int, int]] = {}
    offset = 0
    for name in PARAM_FIELDS:
        v = values[name]
        if v.size and np.any(v != v[0]):
            layout[name] = (offset, field_bits(v))
            offset += layout[name][1]
    return values, layout


def param_words(layer: Layer) -> str | None:
    values, layout = param_layout(layer)
    if not layout:
        return None
    return pack_hex([(values[name], width) for name, (_, width) in layout.items()])
