"""Pooling on Loihi: a SumPool2d / AvgPool2d folded into the weight layer it feeds (fixed-weight synapses).

A pool is linear, so ``W(pool(x))`` is one weight layer on the unpooled spikes ``x``: on Loihi its synapses go from
the pool's source neurons straight to the next layer's compartments (sparse, like a convolution's), with no extra
population or step of delay. :func:`fold_pools` rewrites the float Graph before quantisation:

* ``Conv2d`` -> pool (the conv feeding only the pool, dilation 1): one Conv2d whose kernel is the conv kernel
  summed over the window's shifts (``W'[.., r] = p * sum_a W[.., r - a*s]``, size ``K + (k-1)*s``), stride ``k*s``,
  the conv's padding, bias ``b * k*k * p`` -- when its output shape equals the pool's (checked);
* pool -> ``Conv2d`` (groups g, dilation 1): a Conv2d with every kernel tap repeated over the k x k window
  (``W'[o, i, kh*k + a, kw*k + b] = p * W[o, i, kh, kw]``), stride ``s*k``, padding ``P*k``; the pool must tile
  its input exactly (stride = kernel, no padding, H and W divisible by k), so the padded border lines up;
* pool -> ``Flatten`` -> ``Linear`` / ``Affine``: ``W'[o, (c, h, w)] = p * W[o, (c, h // k, w // k)]`` (rows and
  columns the pool drops get weight 0), and the Flatten takes the unpooled shape;

with p = 1 (SumPool2d) or 1 / (kh * kw) (AvgPool2d; the average is folded into the float weights, which the
quantiser then scales like any other). Anything else -- a pool into a neuron, another pool, a Scale, several
consumers, overlapping or padded windows -- raises LoihiUnsupportedError ``loihi_pooling`` naming the node.
"""

from __future__ import annotations

import numpy as np

from snncompile.graph import Graph
from snncompile.nodes import Affine, AvgPool2d, Conv2d, Flatten, Linear, Node, SumPool2d

from .rules import LoihiUnsupportedError

POOLS = (SumPool2d, AvgPool2d)


def _refuse(name: str, node: Node, why: str) -> LoihiUnsupportedError:
    return LoihiUnsupportedError("loihi_pooling", f"node '{name}' ({node.type_name}): {why}")


def _window(name: str, node: SumPool2d | AvgPool2d, in_shape: tuple[int, ...]) -> tuple[int, int, float]:
    kh, kw = node.kernel_size
    if tuple(node.stride) != (kh, kw) or tuple(node.padding) != (0, 0):
        raise _refuse(name, node, f"stride {tuple(node.stride)} / padding {tuple(node.padding)}: Loihi folds only "
                                  "pools whose windows tile the input (stride = kernel_size, no padding)")
    return kh, kw, 1.0 if isinstance(node, SumPool2d) else 1.0 / (kh * kw)


def _into_conv(name: str, pool: SumPool2d | AvgPool2d, in_shape: tuple[int, ...], conv: Conv2d) -> Conv2d:
    kh, kw, p = _window(name, pool, in_shape)
    if in_shape[1] % kh or in_shape[2] % kw:
        raise _refuse(name, pool, f"input {in_shape[1]}x{in_shape[2]} is not a whole number of {kh}x{kw} windows, "
                                  "so the pool cannot fold into the convolution after it")
    if tuple(conv.dilation) != (1, 1):
        raise _refuse(name, pool, "the convolution after it has dilation != 1")
    w = np.asarray(conv.weight, np.float64)
    folded = np.repeat(np.repeat(w, kh, axis=2), kw, axis=3) * p
    return Conv2d(weight=folded, bias=conv.bias, stride=(conv.stride[0] * kh, conv.stride[1] * kw),
                  padding=(conv.padding[0] * kh, conv.padding[1] * kw), dilation=(1, 1), groups=conv.groups,
                  input_shape=(in_shape[1], in_shape[2]))


def _after_conv(name: str, pool: SumPool2d | AvgPool2d, conv_in: tuple[int, ...], conv: Conv2d,
                out_shape: tuple[int, ...]) -> Conv2d:
    kh, kw, p = _window(name, pool, conv_in)
    if tuple(conv.dilation) != (1, 1):
        raise _refuse(name, pool, "the convolution before it has dilation != 1")
    w = np.asarray(conv.weight, np.float64)
    (sh, sw), (o, i, K, L) = conv.stride, w.shape
    folded = np.zeros((o, i, K + (kh - 1) * sh, L + (kw - 1) * sw))
    for a in range(kh):
        for b in range(kw):
            folded[:, :, a * sh:a * sh + K, b * sw:b * sw + L] += w * p
    out = Conv2d(weight=folded, bias=np.asarray(conv.bias, np.float64) * kh * kw * p, stride=(kh * sh, kw * sw),
                 padding=conv.padding, dilation=(1, 1), groups=conv.groups, input_shape=(conv_in[1], conv_in[2]))
    got = out.output_shape(name, conv_in)
    if tuple(got) != tuple(out_shape):
        raise _refuse(name, pool, f"folded into the convolution before it, the output would be {tuple(got)}, not "
                                  f"{tuple(out_shape)}")
    return out


def _into_dense(name: str, pool: SumPool2d | AvgPool2d, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                layer: Linear | Affine) -> Linear | Affine:
    kh, kw, p = _window(name, pool, in_shape)
    c, h, w = in_shape
    hp, wp = out_shape[1], out_shape[2]
    weight = np.asarray(layer.weight, np.float64).reshape(-1, c, hp, wp)
    rows = np.minimum(np.arange(h) // kh, hp - 1)
    cols = np.minimum(np.arange(w) // kw, wp - 1)
    folded = weight[:, :, rows][:, :, :, cols] * p
    folded[:, :, np.arange(h) // kh >= hp] = 0.0  # rows / columns the pool drops
    folded[:, :, :, np.arange(w) // kw >= wp] = 0.0
    folded = folded.reshape(weight.shape[0], c * h * w)
    if isinstance(layer, Affine):
        return Affine(weight=folded, bias=layer.bias)
    return Linear(weight=folded)


def fold_pools(graph: Graph) -> Graph:
    """``graph`` with every pool folded into the weight layer it feeds (module docstring); unchanged without pools."""
    pools = [n for n in graph.order if isinstance(graph.nodes[n], POOLS)]
    if not pools:
        return graph
    nodes = dict(graph.nodes)
    edges = list(graph.edges)
    recurrent = set(graph.recurrent_edges)
    for name in pools:
        pool = graph.nodes[name]
        assert isinstance(pool, POOLS)
        preds, succs = graph.predecessors(name), graph.successors(name)
        if len(preds) != 1 or len(succs) != 1 or any((a, b) in recurrent for a, b in edges if name in (a, b)):
            raise _refuse(name, pool, f"{len(preds)} inputs and {len(succs)} consumers; Loihi folds a pool into "
                                      "the one weight layer it feeds")
        in_shape, out_shape = graph.shapes[preds[0]], graph.shapes[name]
        nxt, prev = nodes[succs[0]], nodes[preds[0]]
        if isinstance(prev, Conv2d) and len(graph.successors(preds[0])) == 1 \
                and len(graph.predecessors(preds[0])) == 1:
            nodes[preds[0]] = _after_conv(name, pool, graph.shapes[graph.predecessors(preds[0])[0]], prev, out_shape)
        elif isinstance(nxt, Conv2d):
            nodes[succs[0]] = _into_conv(name, pool, in_shape, nxt)
        elif isinstance(nxt, Flatten) and len(graph.successors(succs[0])) == 1 \
                and isinstance(nodes[graph.successors(succs[0])[0]], (Linear, Affine)) \
                and nxt.start_dim in (0, -3) and nxt.end_dim in (-1, 2):
            dense = graph.successors(succs[0])[0]
            nodes[dense] = _into_dense(name, pool, in_shape, out_shape, nodes[dense])  # type: ignore[arg-type]
            nodes[succs[0]] = Flatten(start_dim=0, end_dim=-1)
        else:
            raise _refuse(name, pool, f"it feeds '{succs[0]}' ({nxt.type_name}); on Loihi a pool must feed a Conv2d, "
                                      "or a Flatten then a Linear/Affine, to fold into its synapses")
        del nodes[name]
        edges = [e for e in edges if name not in e] + [(preds[0], succs[0])]
    return Graph(nodes, edges, dt=graph.dt, metadata={**graph.metadata, "loihi_folded_pools": pools})
