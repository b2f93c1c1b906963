"""Train the bundled ``digits-mlp`` reference network and write its artefacts.

Task: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download),
rate-coded as Bernoulli spikes over T steps (p = pixel / 16, seeded).
Network (snnTorch 1.0.0, default semantics: reset by subtraction, reset_delay):
    Linear(64, 64) -> Leaky(beta=0.9) -> Linear(64, 10) -> Leaky(beta=0.9)
Loss: cross-entropy on output spike counts; Adam; BPTT over all T steps.

Writes, next to this script: ``model.nir`` (traced with snncompile.trace, saved
with snncompile.save), ``test.npz`` (``inputs`` uint8 [T, N, 64] spikes of the
held-out split, ``labels`` int64 [N]) and ``card.json``.

Run: ``python models/digits-mlp/train.py`` (CPU, about a minute; needs the
``interop`` extra and scikit-learn).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import snntorch
import snntorch.utils
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import snncompile as sc

HERE = Path(__file__).resolve().parent
SEED = 0
T = 25
EPOCHS = 30
BATCH = 64
LR = 5e-3


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code, time-major uint8 [T, N, 64]."""
    p = images.reshape(len(images), -1) / 16.0
    return (rng.random((T, *p.shape)) < p[None]).astype(np.uint8)


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        snntorch.Leaky(beta=0.9, init_hidden=True),
        torch.nn.Linear(64, 10),
        snntorch.Leaky(beta=0.9, init_hidden=True),
    )


def run_counts(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    snntorch.utils.reset(net)
    return torch.stack([net(x[t]) for t in range(x.shape[0])]).sum(0)


def main() -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        digits.images, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target
    )
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    s_te = encode(x_te, rng)
    y_tr_t = torch.from_numpy(y_tr).long()

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    start = time.time()
    for epoch in range(EPOCHS):
        order = torch.randperm(len(y_tr))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            loss = torch.nn.functional.cross_entropy(run_counts(net, s_tr[:, idx]), y_tr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        print(f"epoch {epoch + 1}/{EPOCHS}  loss {total / len(y_tr):.4f}  ({time.time() - start:.0f} s)", flush=True)

    with torch.no_grad():
        counts = run_counts(net, torch.from_numpy(s_te).float())
    acc_torch = float((counts.argmax(1).numpy() == y_te).mean())

    graph = sc.trace(net, torch.zeros(1, 64))
    traces = sc.simulate(graph, s_te.astype(np.float32))
    out_counts = traces["3"]["out"].sum(0)
    acc_ref = float((out_counts.argmax(1) == y_te).mean())
    agree = bool(np.array_equal(out_counts, counts.numpy()))
    print(f"test accuracy: snnTorch {acc_torch:.4f}, snncompile reference {acc_ref:.4f}, counts equal: {agree}")

    sc.save(graph, HERE / "model.nir")
    np.savez_compressed(HERE / "test.npz", inputs=s_te, labels=y_te.astype(np.int64))
    card = {
        "name": "digits-mlp",
        "task": "scikit-learn load_digits (8x8, 10 classes), stratified 80/20 split, random_state=0",
        "encoding": f"Bernoulli rate code, p = pixel/16, T={T} steps, numpy default_rng({SEED})",
        "architecture": "Linear(64,64) -> snntorch.Leaky(beta=0.9) -> Linear(64,10) -> snntorch.Leaky(beta=0.9)",
        "semantics": sc.PRESETS["snntorch"].to_dict(),
        "test_samples": int(len(y_te)),
        "accuracy": {"snntorch_float32": acc_torch, "snncompile_reference_float64": acc_ref},
        "reference_counts_equal_snntorch": agree,
        "training": {"command": "python models/digits-mlp/train.py", "seed": SEED, "epochs": EPOCHS,
                     "batch": BATCH, "lr": LR, "optimizer": "Adam", "loss": "cross-entropy on spike counts"},
    }
    (HERE / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
