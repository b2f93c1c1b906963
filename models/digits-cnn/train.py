"""Train the bundled ``digits-cnn`` reference network and write its artefacts.

Task: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download),
rate-coded as Bernoulli spikes over T steps (p = pixel / 16, seeded), fed as
[1, 8, 8] images.
Network (snncompile.nn layers, semantics PRESETS["snntorch"]):
    Conv2d(1, 8, 3, padding=1) -> AvgPool2d(2) -> Leaky(beta=0.9)
    -> Flatten -> Linear(8*4*4, 10) -> Leaky(beta=0.9)
Loss: cross-entropy on output spike counts; Adam; BPTT over all T steps.

Writes, next to this script: ``model.nir`` (traced with snncompile.trace, saved
with snncompile.save), ``test.npz`` (``inputs`` uint8 [T, N, 1, 8, 8] spikes of the
held-out split, ``labels`` int64 [N]) and ``card.json``.

Run: ``python models/digits-cnn/train.py`` (CPU; measured 22 s of CPU time for the whole script with
one torch thread; needs scikit-learn, and says so when it is missing).

QAT: ``python models/digits-cnn/train.py --qat 4`` does not retrain or rewrite
``model.nir``: it loads the weights of ``model.nir`` into the same network,
fine-tunes with snncompile.nn.qat at QuantSpec(weight_bits=BITS), quantises
(calibrated on the test inputs, as ``snncompile verify`` does), runs bitsim on
``test.npz`` and writes ``qat<BITS>.nir`` plus ``accuracy["qat<BITS>_fixed"]`` and
``training["qat"]`` into ``card.json`` (other fields untouched).
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
EPOCHS = 20
BATCH = 64
LR = 1e-2
BETA = 0.9
SAMPLE = (1, 1, 8, 8)
QAT_EPOCHS = 10
QAT_LR = 1e-3


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code, time-major uint8 [T, N, 1, 8, 8]."""
    p = images[:, None, :, :] / 16.0
    return (rng.random((T, *p.shape)) < p[None]).astype(np.uint8)


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.AvgPool2d(2),
        snn.Leaky(BETA),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 10),
        snn.Leaky(BETA),
    )


def run_counts(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    return snn.run(net, x).sum(0)


def main(argv: list[str] | None = None) -> None:
    zoo.cli("digits-cnn", train_float, qat_main, QAT_EPOCHS, argv)


def train_float(out_dir: Path) -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x_tr, x_te, y_tr, y_te = zoo.digits_split(SEED)
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    s_te = encode(x_te, rng)
    y_tr_t = torch.from_numpy(y_tr).long()

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    start = time.time()
    for epoch in range(EPOCHS):
        net.train()
        order = torch.randperm(len(y_tr))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            loss = torch.nn.functional.cross_entropy(run_counts(net, s_tr[:, idx]), y_tr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch + 1}/{EPOCHS}  loss {total / len(y_tr):.4f}  ({time.time() - start:.0f} s)", flush=True)
    train_seconds = time.time() - start

    net.eval()
    with torch.no_grad():
        counts = run_counts(net, torch.from_numpy(s_te).float())
    acc_torch = float((counts.argmax(1).numpy() == y_te).mean())

    graph = sc.trace(net, torch.zeros(1, 1, 8, 8))
    traces = sc.simulate(graph, s_te.astype(np.float32))
    (out,) = graph.outputs
    (last,) = graph.predecessors(out)
    out_counts = traces[last]["out"].sum(0)
    acc_ref = float((out_counts.argmax(1) == y_te).mean())
    agree = bool(np.array_equal(out_counts, counts.numpy()))
    print(f"test accuracy: torch {acc_torch:.4f}, snncompile reference {acc_ref:.4f}, counts equal: {agree}")

    sc.save(graph, out_dir / "model.nir")
    np.savez_compressed(out_dir / "test.npz", inputs=s_te, labels=y_te.astype(np.int64))
    card = {
        "name": "digits-cnn",
        "task": "scikit-learn load_digits (8x8, 10 classes), stratified 80/20 split, random_state=0",
        "encoding": f"Bernoulli rate code, p = pixel/16, T={T} steps, numpy default_rng({SEED}); "
                    "inputs [T, N, 1, 8, 8]",
        "architecture": "Conv2d(1,8,3,padding=1) -> AvgPool2d(2) -> snncompile.nn.Leaky(beta=0.9) -> Flatten -> "
                        "Linear(128,10) -> snncompile.nn.Leaky(beta=0.9)",
        "semantics": sc.PRESETS["snntorch"].to_dict(),
        "readout": "spike counts of the Output's predecessor, argmax",
        "test_samples": int(len(y_te)),
        "accuracy": {"torch_float32": acc_torch, "snncompile_reference_float64": acc_ref},
        "reference_counts_equal_torch": agree,
        "training": {"command": "python models/digits-cnn/train.py", "seed": SEED, "epochs": EPOCHS,
                     "batch": BATCH, "lr": LR, "optimizer": "Adam", "loss": "cross-entropy on spike counts",
                     "surrogate": "atan(2)", "threads": 1, "seconds": round(train_seconds, 1)},
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")


def qat_main(out: Path, bits: int, epochs: int) -> None:
    """QAT fine-tune of the stored float model (see the module docstring and snncompile.models.zoo)."""
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x_tr, x_te, y_tr, y_te = zoo.digits_split(SEED)
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    test = np.load(HERE / "test.npz")
    s_te, labels = encode(x_te, rng), test["labels"]
    assert np.array_equal(s_te, test["inputs"]) and np.array_equal(labels, y_te)
    zoo.qat_finetune(name="digits-cnn", out=out, net=build(), sample=torch.zeros(SAMPLE), bits=bits, epochs=epochs,
                     lr=QAT_LR, batch=BATCH, train_spikes=s_tr, train_labels=y_tr, test_spikes=s_te,
                     test_labels=labels)

if __name__ == "__main__":
    main()
