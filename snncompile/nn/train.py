"""BPTT training and evaluation loops for models built from :mod:`snncompile.nn` layers.

    train(model, data, *, epochs, loss_fn, optimizer=None, lr=5e-3, seed=0, progress=True, regularizer=None,
          batch_size=64, shuffle=True) -> {"loss": [per-epoch mean], "seconds": float}
    evaluate(model, x, labels, decode="rate", batch_size=256) -> accuracy in [0, 1]

Inputs are time-major ``[T, B, ...]``. Each batch: ``out = run(model, x)`` (reset + loop over T + stack, so
the model's neurons start from their initial state), ``loss = loss_fn(out, y) (+ regularizer(out, model))``,
backward through all T steps, optimizer step. Deterministic on CPU for a given ``seed``: the call seeds
torch's global RNG, enables ``torch.use_deterministic_algorithms`` for its duration (restored after) and draws
the batch order from its own ``torch.Generator`` seeded with ``seed``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from .loss import latency_accuracy, rate_accuracy
from .neurons import run

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Arrays = tuple[Any, Any]


def _dtype(model: torch.nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _as_tensors(x: Any, y: Any, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype)
    yt = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
    if xt.ndim < 2 or yt.ndim != 1 or xt.shape[1] != yt.shape[0]:
        raise InputError(
            f"inputs must be time-major [T, N, ...] with labels [N]; got {tuple(xt.shape)} and {tuple(yt.shape)}"
        )
    return xt, yt


def _is_arrays(data: Any) -> bool:
    return (isinstance(data, tuple | list) and len(data) == 2
            and all(isinstance(a, torch.Tensor | np.ndarray) for a in data))


def train(
    model: torch.nn.Module,
    data: Arrays | Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    loss_fn: Loss,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 5e-3,
    seed: int = 0,
    progress: bool = True,
    regularizer: Callable[[torch.Tensor, torch.nn.Module], torch.Tensor] | None = None,
    batch_size: int = 64,
    shuffle: bool = True,
) -> dict[str, Any]:
    """Train ``model`` by BPTT; returns ``{"loss": [mean loss of each epoch], "seconds": wall time}``.

    data: ``(x, y)`` arrays/tensors (x time-major ``[T, N, ...]``, y ``[N]`` class indices; batched here,
    ``batch_size``, order reshuffled each epoch from ``seed`` if ``shuffle``) or any re-iterable of ``(x, y)``
    batches with x ``[T, B, ...]`` (e.g. a DataLoader with a time-major collate; its shuffling draws from
    torch's global RNG, which this call seeds). loss_fn(out [T, B, C], y) -> scalar, e.g.
    ``snncompile.nn.loss.ce_count_loss``. optimizer: default ``torch.optim.Adam(model.parameters(), lr)``.
    regularizer(out, model) -> scalar, added to the loss. progress: a tqdm bar when tqdm is importable,
    else one line per epoch on stderr.
    """
    if epochs < 0:
        raise InputError(f"train: epochs={epochs} must be >= 0")
    was_det = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(model, data, epochs, loss_fn, optimizer, lr, seed, progress, regularizer, batch_size, shuffle)
    finally:
        torch.use_deterministic_algorithms(was_det, warn_only=was_warn)


def _train(
    model: torch.nn.Module, data: Any, epochs: int, loss_fn: Loss, optimizer: torch.optim.Optimizer | None,
    lr: float, seed: int, progress: bool, regularizer: Any, batch_size: int, shuffle: bool,
) -> dict[str, Any]:
    dtype = _dtype(model)
    gen = torch.Generator().manual_seed(seed)
    if _is_arrays(data):
        x_all, y_all = _as_tensors(data[0], data[1], dtype)
        n = x_all.shape[1]

        def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
            order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
            for k in range(0, n, batch_size):
                idx = order[k:k + batch_size]
                yield x_all[:, idx], y_all[idx]
    else:
        def batches() -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
            for x, y in data:
                yield _as_tensors(x, y, dtype)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    bar = _Progress(epochs, progress)
    history: list[float] = []
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        for x, y in batches():
            optimizer.zero_grad()
            out = run(model, x)
            loss = loss_fn(out, y)
            if regularizer is not None:
                loss = loss + regularizer(out, model)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * y.shape[0]
            count += y.shape[0]
        if count == 0:
            raise InputError("train: the data gave no batches")
        history.append(total / count)
        bar.update(epoch, history[-1], time.perf_counter() - start)
    bar.close()
    return {"loss": history, "seconds": time.perf_counter() - start}


class _Progress:
    def __init__(self, epochs: int, enabled: bool) -> None:
        self.epochs, self.enabled, self.bar = epochs, enabled, None
        if enabled:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped]
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=epochs, desc="train", unit="epoch")

    def update(self, epoch: int, loss: float, seconds: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}")
            self.bar.update(1)
        else:
            print(f"epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}  ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


DECODERS = ("rate", "latency", "membrane")


@torch.no_grad()
def predict(model: torch.nn.Module, x: Any, *, batch_size: int = 256) -> torch.Tensor:
    """``run(model, x)`` in eval mode, in batches along dim 1, without gradients: outputs ``[T, N, ...]``."""
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(_dtype(model))
    was_training = model.training
    model.eval()
    try:
        return torch.cat([run(model, xt[:, k:k + batch_size]) for k in range(0, xt.shape[1], batch_size)], dim=1)
    finally:
        model.train(was_training)


def evaluate(model: torch.nn.Module, x: Any, labels: Any, decode: str = "rate", *, batch_size: int = 256) -> float:
    """Accuracy of ``model`` on time-major ``x`` [T, N, ...] with labels [N].

    decode: ``"rate"`` argmax of spike counts, ``"latency"`` earliest first spike (ties -> lowest class),
    ``"membrane"`` argmax over classes of max_t of the output (for an LI readout).
    """
    if decode not in DECODERS:
        raise InputError(f"evaluate: decode={decode!r} is not one of {', '.join(map(repr, DECODERS))}")
    out = predict(model, x, batch_size=batch_size)
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long()
    if decode == "rate":
        return rate_accuracy(out, y)
    if decode == "latency":
        return latency_accuracy(out, y)
    return float((out.max(0).values.argmax(1) == y).float().mean())
