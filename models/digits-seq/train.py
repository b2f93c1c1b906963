"""Train the bundled ``digits-seq`` reference network and write its artefacts.

Task: scikit-learn's bundled 8x8 handwritten digits (1797 images, no download)
read as a *sequence*: one image row at a time, top to bottom, each row held for
REPEAT steps (T = 8 * REPEAT). The input at step t is the 8 pixels of row
t // REPEAT, Bernoulli-coded (p = pixel / 16, seeded), so the network sees one
row at a time and must remember earlier rows to classify the digit.
Network (snncompile.nn layers, semantics PRESETS["snntorch"]):
    Linear(8, 64) -> RLeaky(beta=0.9, all-to-all Linear(64, 64) recurrence)
    -> Linear(64, 10) -> Leaky(beta=0.9)
Readout: output spike counts over all T steps (argmax).
Loss: cross-entropy on output spike counts; Adam with cosine learning-rate decay;
BPTT over all T steps; the training spikes are redrawn every epoch (augmentation).

Writes, next to this script: ``model.nir`` (traced with snncompile.trace, saved
with snncompile.save), ``test.npz`` (``inputs`` uint8 [T, N, 8] spikes of the
held-out split, ``labels`` int64 [N]) and ``card.json``.

Run: ``python models/digits-seq/train.py`` (CPU; measured 45 s of CPU time for the whole script with
one torch thread; needs scikit-learn, and says so when it is missing).

QAT: ``python models/digits-seq/train.py --qat 4`` does not retrain or rewrite
``model.nir``: it loads the weights of ``model.nir`` into the same network,
fine-tunes with snncompile.nn.qat at QuantSpec(weight_bits=BITS) (training spikes redrawn each epoch), quantises
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
REPEAT = 3
T = 8 * REPEAT
HIDDEN = 128
EPOCHS = 100
BATCH = 64
LR = 3e-3
BETA = 0.9
SAMPLE = (1, 8)
QAT_EPOCHS = 20
QAT_LR = 1e-3


def encode(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row-sequential Bernoulli code, time-major uint8 [T, N, 8]: step t shows row t // REPEAT."""
    rows = np.repeat(images.transpose(1, 0, 2) / 16.0, REPEAT, axis=0)  # [T, N, 8]
    return (rng.random(rows.shape) < rows).astype(np.uint8)


def build() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(8, HIDDEN),
        snn.RLeaky(BETA, size=HIDDEN),
        torch.nn.Linear(HIDDEN, 10),
        snn.Leaky(BETA),
    )


def run_counts(net: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    return snn.run(net, x).sum(0)


def main(argv: list[str] | None = None) -> None:
    zoo.cli("digits-seq", train_float, qat_main, QAT_EPOCHS, argv)


def train_float(out_dir: Path) -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    x_tr, x_te, y_tr, y_te = zoo.digits_split(SEED)
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    s_te = encode(x_te, rng)  # drawn once, before the per-epoch training redraws
    y_tr_t = torch.from_numpy(y_tr).long()

    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    start = time.time()
    for epoch in range(EPOCHS):
        net.train()
        if epoch:  # fresh Bernoulli draw of the training set each epoch (augmentation; same seeded rng)
            s_tr = torch.from_numpy(encode(x_tr, rng)).float()
        order = torch.randperm(len(y_tr))
        total = 0.0
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            loss = torch.nn.functional.cross_entropy(run_counts(net, s_tr[:, idx]), y_tr_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        print(f"epoch {epoch + 1}/{EPOCHS}  loss {total / len(y_tr):.4f}  ({time.time() - start:.0f} s)", flush=True)
    train_seconds = time.time() - start

    net.eval()
    with torch.no_grad():
        counts = run_counts(net, torch.from_numpy(s_te).float())
    acc_torch = float((counts.argmax(1).numpy() == y_te).mean())

    graph = sc.trace(net, torch.zeros(1, 8))
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
        "name": "digits-seq",
        "task": "scikit-learn load_digits (8x8, 10 classes) read row by row as a sequence, "
                "stratified 80/20 split, random_state=0",
        "encoding": f"row t//{REPEAT} at step t (each row held {REPEAT} steps, T={T}), its 8 pixels Bernoulli-coded "
                    f"p = pixel/16, numpy default_rng({SEED}); inputs [T, N, 8]",
        "architecture": f"Linear(8,{HIDDEN}) -> snncompile.nn.RLeaky(beta=0.9, size={HIDDEN}, all-to-all "
                        f"Linear({HIDDEN},{HIDDEN}) recurrence) -> Linear({HIDDEN},10) "
                        "-> snncompile.nn.Leaky(beta=0.9)",
        "semantics": sc.PRESETS["snntorch"].to_dict(),
        "readout": "spike counts of the Output's predecessor over all T steps, argmax",
        "test_samples": int(len(y_te)),
        "accuracy": {"torch_float32": acc_torch, "snncompile_reference_float64": acc_ref},
        "reference_counts_equal_torch": agree,
        "training": {"command": "python models/digits-seq/train.py", "seed": SEED, "epochs": EPOCHS,
                     "batch": BATCH, "lr": LR, "optimizer": "Adam", "lr_schedule": "cosine",
                     "augmentation": "training spikes redrawn each epoch", "loss": "cross-entropy on spike counts",
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
    zoo.qat_finetune(name="digits-seq", out=out, net=build(), sample=torch.zeros(SAMPLE), bits=bits, epochs=epochs,
                     lr=QAT_LR, batch=BATCH, train_spikes=s_tr, train_labels=y_tr, test_spikes=s_te,
                     test_labels=labels, redraw=lambda: torch.from_numpy(encode(x_tr, rng)).float(),
                     card_notes={"augmentation": "training spikes redrawn each epoch"})

if __name__ == "__main__":
    main()
