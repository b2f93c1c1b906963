"""What the bundled models' training scripts share: the digits split, the command line, and the QAT fine-tune.

Imported by ``models/<name>/train.py`` as ``snncompile.models.zoo``. A script defines its own network, encoding
and float training; ``qat_finetune`` then loads the stored float model's weights into that network, fine-tunes it
with ``snncompile.nn.qat`` at ``QuantSpec(weight_bits=bits)``, compiles it and measures the fixed-point accuracy
with bitsim, and records ``qat<bits>.nir`` plus the card entries.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import snncompile as sc
from snncompile import nn as snn


def require(module: str, package: str, why: str) -> None:
    """Exit with one line saying what to install when ``module`` is missing (not a ModuleNotFoundError)."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise SystemExit(f"this training script needs {package} ({why}): pip install {package}, or install "
                         "snncompile with its extras: pip install -e '.[dev,interop]'")


def digits_split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits, stratified 80/20: x_train, x_test, y_train, y_test."""
    require("sklearn", "scikit-learn", "the digits data set and its split")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return tuple(train_test_split(  # type: ignore[return-value]
        digits.images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    ))


def cli(name: str, train_float: Callable[[Path], None], qat: Callable[[Path, int, int], None], qat_epochs: int,
        argv: list[str] | None = None) -> None:
    """``train.py [--out DIR] [--qat BITS [--qat-epochs N]]``: the float run by default, else the QAT fine-tune."""
    require("sklearn", "scikit-learn", "the digits data set and its split")
    here = Path(__file__).resolve().parent / name
    ap = argparse.ArgumentParser(description=f"Train {name} (default) or fine-tune it with QAT (--qat BITS).")
    ap.add_argument("--qat", type=int, metavar="BITS", help="QAT fine-tune at QuantSpec(weight_bits=BITS)")
    ap.add_argument("--qat-epochs", type=int, default=qat_epochs, metavar="N")
    ap.add_argument("--out", metavar="DIR", help="write the model, test split and card here (default: next to "
                    "the script; the stored model is always read from there)")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else here
    out.mkdir(parents=True, exist_ok=True)
    if args.qat is not None:
        qat(out, args.qat, args.qat_epochs)
    else:
        train_float(out)


def load_float_weights(net: torch.nn.Module, stored: sc.Graph) -> None:
    """Copy every Linear/Conv weight and bias of the stored float graph into ``net`` (by node name)."""
    with torch.no_grad():
        for name, mod in net.named_modules():
            if isinstance(mod, torch.nn.Linear | torch.nn.Conv2d):
                node = stored.nodes[name.replace(".recurrent", ".w_rec")]
                mod.weight.copy_(torch.as_tensor(np.asarray(node.weight)))  # type: ignore[attr-defined]
                if mod.bias is not None:
                    mod.bias.copy_(torch.as_tensor(np.asarray(node.bias)))  # type: ignore[attr-defined]


def qat_finetune(
    *,
    name: str,
    out: Path,
    net: torch.nn.Module,
    sample: torch.Tensor,
    bits: int,
    epochs: int,
    lr: float,
    batch: int,
    train_spikes: torch.Tensor,
    train_labels: np.ndarray,
    test_spikes: np.ndarray,
    test_labels: np.ndarray,
    redraw: Callable[[], torch.Tensor] | None = None,
    card_notes: dict[str, Any] | None = None,
) -> float:
    """Fine-tune ``net`` (built by the caller, seeded) with QAT, compile, measure with bitsim, record; returns the
    fixed-point test accuracy. ``redraw``: a fresh Bernoulli draw of the training spikes for every epoch after
    the first (as the float run did), or None."""
    from snncompile.backends.bitsim import simulate as bitsim

    here = Path(__file__).resolve().parent / name
    load_float_weights(net, sc.load(str(here / "model.nir")))
    spec = sc.QuantSpec(weight_bits=bits)
    handle = snn.qat.qat(net, spec, sample)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    y = torch.from_numpy(train_labels).long()
    s_tr = train_spikes
    start = time.time()
    for epoch in range(epochs):
        net.train()
        if epoch and redraw is not None:
            s_tr = redraw()
        order = torch.randperm(len(y))
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = torch.nn.functional.cross_entropy(snn.run(net, s_tr[:, idx]).sum(0), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"qat epoch {epoch + 1}/{epochs}  loss {total / len(y):.4f}  ({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start
    handle.remove()
    net.eval()

    graph = sc.trace(net, sample)
    inputs = test_spikes.astype(np.float32)
    traces = bitsim(sc.quantize(graph, spec, inputs), inputs)
    acc = float((traces[graph.outputs[0]]["out"].sum(0).argmax(1) == test_labels).mean())
    print(f"{bits}-bit QAT test accuracy (bitsim, fixed point): {acc:.4f}  ({seconds:.1f} s)")

    sc.save(graph, out / f"qat{bits}.nir")
    card = json.loads((here / "card.json").read_text())
    card["accuracy"][f"qat{bits}_fixed"] = acc
    card["training"]["qat"] = {
        "command": f"python models/{name}/train.py --qat {bits}", "spec": spec.to_dict(), "epochs": epochs,
        "init": "model.nir float weights", "lr": lr, "optimizer": "Adam", "batch": batch, "threads": 1,
        "seconds": round(seconds, 1), "model": f"qat{bits}.nir",
        "accuracy": "bitsim on test.npz, quantised calibrated on test inputs", **(card_notes or {}),
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return acc
