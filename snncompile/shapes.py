"""Output-shape arithmetic for convolution, pooling and flatten (torch conventions)."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import GraphError


def conv_out(
    name: str,
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    out = []
    for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True):
        size = (n + 2 * p - d * (k - 1) - 1) // s + 1
        if size < 1:
            raise GraphError(
                f"node '{name}': kernel {tuple(kernel)} (dilation {tuple(dilation)}) does not fit input "
                f"{tuple(spatial)} with padding {tuple(padding)}"
            )
        out.append(int(size))
    return tuple(out)


def pool_out(
    name: str, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int]
) -> tuple[int, ...]:
    return conv_out(name, spatial, kernel, stride, padding, (1,) * len(kernel))


def flatten_out(name: str, shape: Sequence[int], start_dim: int, end_dim: int) -> tuple[int, ...]:
    nd = len(shape)
    start = start_dim + nd if start_dim < 0 else start_dim
    end = end_dim + nd if end_dim < 0 else end_dim
    if nd == 0 or not (0 <= start <= end < nd):
        raise GraphError(
            f"node '{name}' (Flatten): dims {start_dim}..{end_dim} are not valid for input shape {tuple(shape)}"
        )
    merged = 1
    for s in shape[start : end + 1]:
        merged *= int(s)
    return (*map(int, shape[:start]), merged, *map(int, shape[end + 1 :]))
