"""Train the bundled ``digits-mlp`` reference network and write its artefacts.

Task: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download),
rate-coded as Bernoulli spikes over T steps (p = pixel / 16, seeded).
Network (snnTorch 1.0.0, default semantics: reset by subtraction, reset_delay):
    Linear(64, 64) -> Leaky(beta=0.9) -> Linear(64, 10) -> Leaky(beta=0.9)
Loss: cross-entropy on output spike counts; Adam; BPTT over all T steps.

Writes, next to this script: ``model.nir`` (traced with snncompile.trace, saved
with snncompile.save), ``test.npz`` (``inputs`` uint8 [T, N, 64] spikes of the
held-out split, ``labels`` int64 [N]) and ``card.json``.

Run: ``python models/digits-mlp/train.py`` (CPU; measured 17 s of CPU time for the whole script with
one torch thread, OMP_NUM_THREADS=1; needs snnTorch (the ``interop`` extra) and scikit-learn, and says so
when either is missing).

QAT: ``python models/digits-mlp/train.py --qat 4`` does not retrain or rewrite
``model.nir``: it ports the stored float network to the equivalent
snncompile.nn layers (Linear -> snncompile.nn.Leaky(beta=0.9), snnTorch
semantics; snncompile.nn.qat does not take snnTorch layers), loads the weights
of ``model.nir``, fine-tunes with snncompile.nn.qat at
QuantSpec(weight_bits=BITS), quantises (calibrated on the test inputs, as
``snncompile verify`` does), runs bitsim on ``test.npz`` and writes
``qat<BITS>.nir`` plus ``accuracy["qat<BITS>_fixed"]`` and ``training["qat"]``
into ``card.json`` (other fields untouched).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from snncompile.models import zoo

import snncompile as sc
from snncompile import nn as snn

HERE = Path(__file__).resolve().parent
SEED = 0
T = 25
EPOCHS = 30
BATCH = 64
LR = 5e-3
QAT_EPOCHS = 10
QAT_LR = 1e-3


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code, time-major uint8 [T, N, 64]."""
    p = images.reshape(len(images), -1) / 16.0
    return (rng.random((T, *p.shape)) < p[None]).astype(np.uint8)


def build() -> torch.nn.Sequential:
    import snntorch

    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        snntorch.Leaky(beta=0.9, init_hidden=True),
        torch.nn.Linear(64, 10),
        snntorch.Leaky(beta=0.9, init_hidden=True),
    )


def run_counts(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    import snntorch.utils

    snntorch.utils.reset(net)
    return torch.stack([net(x[t]) for t in range(x.shape[0])]).sum(0)


def main(argv: list[str] | None = None) -> None:
    zoo.require("snntorch", "snntorch==1.0.0", "the network is built from snnTorch layers")
    zoo.cli("digits-mlp", train_float, qat_main, QAT_EPOCHS, argv)


def train_float(out_dir: Path) -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    x_tr, x_te, y_tr, y_te = zoo.digits_split(SEED)
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

    sc.save(graph, out_dir / "model.nir")
    np.savez_compressed(out_dir / "test.npz", inputs=s_te, labels=y_te.astype(np.int64))
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
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")


def build_snn() -> torch.nn.Sequential:
    """The same network in snncompile.nn layers (snnTorch semantics), for QAT."""
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        snn.Leaky(0.9),
        torch.nn.Linear(64, 10),
        snn.Leaky(0.9),
    )


def qat_main(out: Path, bits: int, epochs: int) -> None:
    """QAT fine-tune of the stored float model (see the module docstring and snncompile.models.zoo)."""
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x_tr, x_te, y_tr, y_te = zoo.digits_split(SEED)
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    test = np.load(HERE / "test.npz")
    s_te, labels = test["inputs"], test["labels"]
    assert np.array_equal(labels, y_te)
    zoo.qat_finetune(name="digits-mlp", out=out, net=build_snn(), sample=torch.zeros(1, 64), bits=bits,
                     epochs=epochs, lr=QAT_LR, batch=BATCH, train_spikes=s_tr, train_labels=y_tr, test_spikes=s_te,
                     test_labels=labels,
                     card_notes={"init": "model.nir float weights, ported to snncompile.nn.Leaky(beta=0.9) "
                                 "(snnTorch semantics)"})

if __name__ == "__main__":
    main()
