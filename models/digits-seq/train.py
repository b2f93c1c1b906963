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

Run: ``python models/digits-seq/train.py`` (CPU, a minute or two; needs scikit-learn).

QAT: ``python models/digits-seq/train.py --qat 4`` does not retrain or rewrite
``model.nir``: it loads the weights of ``model.nir`` into the same network,
fine-tunes with snncompile.nn.qat at QuantSpec(weight_bits=BITS) (training spikes redrawn each epoch), quantises
(calibrated on the test inputs, as ``snncompile verify`` does), runs bitsim on
``test.npz`` and writes ``qat<BITS>.nir`` plus ``accuracy["qat<BITS>_fixed"]`` and
``training["qat"]`` into ``card.json`` (other fields untouched).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import snncompile as sc
from snncompile import nn as snn

HERE = Path(__file__).resolve().parent
OUT = HERE  # where a run writes (--out); the stored model is always read from HERE
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
    ap = argparse.ArgumentParser(description="Train digits-seq (default) or fine-tune it with QAT (--qat BITS).")
    ap.add_argument("--qat", type=int, metavar="BITS", help="QAT fine-tune at QuantSpec(weight_bits=BITS)")
    ap.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS, metavar="N")
    ap.add_argument("--out", metavar="DIR", help="write the model, test split and card here (default: next to "
                    "this script)")
    args = ap.parse_args(argv)
    if args.out:
        global OUT
        OUT = Path(args.out)
        OUT.mkdir(parents=True, exist_ok=True)
    if args.qat is not None:
        qat_main(args.qat, args.qat_epochs)
    else:
        train_float()


def train_float() -> None:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        digits.images, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target
    )
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

    sc.save(graph, OUT / "model.nir")
    np.savez_compressed(OUT / "test.npz", inputs=s_te, labels=y_te.astype(np.int64))
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
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")


def qat_main(bits: int, epochs: int) -> None:
    """QAT fine-tune of the stored float model (see the module docstring)."""
    from snncompile.backends.bitsim import simulate as bitsim

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    digits = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        digits.images, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target
    )
    rng = np.random.default_rng(SEED)
    s_tr = torch.from_numpy(encode(x_tr, rng)).float()
    test = np.load(HERE / "test.npz")
    s_te, labels = encode(x_te, rng), test["labels"]
    assert np.array_equal(s_te, test["inputs"]) and np.array_equal(labels, y_te)
    y_tr_t = torch.from_numpy(y_tr).long()

    net = build()
    stored = sc.load(HERE / "model.nir")
    with torch.no_grad():
        for name, mod in net.named_modules():
            if isinstance(mod, torch.nn.Linear | torch.nn.Conv2d):
                node = stored.nodes[name.replace(".recurrent", ".w_rec")]
                mod.weight.copy_(torch.as_tensor(np.asarray(node.weight)))
                mod.bias.copy_(torch.as_tensor(np.asarray(node.bias)))
    sample = torch.zeros(SAMPLE)
    spec = sc.QuantSpec(weight_bits=bits)
    handle = snn.qat.qat(net, spec, sample)
    opt = torch.optim.Adam(net.parameters(), lr=QAT_LR)
    start = time.time()
    for epoch in range(epochs):
        net.train()
        if epoch:  # fresh Bernoulli draw of the training set each epoch, as in the float run
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
        print(f"qat epoch {epoch + 1}/{epochs}  loss {total / len(y_tr):.4f}  ({time.time() - start:.0f} s)",
              flush=True)
    seconds = time.time() - start
    handle.remove()
    net.eval()

    graph = sc.trace(net, sample)
    inputs = s_te.astype(np.float32)
    traces = bitsim(sc.quantize(graph, spec, inputs), inputs)
    acc = float((traces[graph.outputs[0]]["out"].sum(0).argmax(1) == labels).mean())
    print(f"{bits}-bit QAT test accuracy (bitsim, fixed point): {acc:.4f}  ({seconds:.1f} s)")

    sc.save(graph, OUT / f"qat{bits}.nir")
    card = json.loads((HERE / "card.json").read_text())
    card["accuracy"][f"qat{bits}_fixed"] = acc
    card["training"]["qat"] = {
        "command": f"python models/digits-seq/train.py --qat {bits}", "spec": spec.to_dict(), "epochs": epochs,
        "init": "model.nir float weights", "lr": QAT_LR, "optimizer": "Adam", "batch": BATCH,
        "augmentation": "training spikes redrawn each epoch",
        "threads": 1, "seconds": round(seconds, 1), "model": f"qat{bits}.nir",
        "accuracy": "bitsim on test.npz, quantised calibrated on test inputs",
    }
    (OUT / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
