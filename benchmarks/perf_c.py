"""The C contenders of benchmarks/perf.py: the hls backend's emitted C and the hand-written exact C.

Both are compiled here with gcc into shared libraries (cached under a temporary folder per process) and
called through ctypes on the benchmark's uint8 spikes; both return the output spikes, which perf.py checks
against bitsim's, every integer.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from snncompile.backends.hls import BACKEND

from snncompile.quant.qnodes import QDense, QGraph, QNeuron

HERE = Path(__file__).resolve().parent / "handc"
O2 = ("-O2",)
O3_NATIVE = ("-O3", "-march=native")
_TMP = Path(tempfile.mkdtemp(prefix="snncompile-perf-"))


def _gcc(sources: list[Path], flags: tuple[str, ...], out: Path, include: Path | None = None) -> Path:
    cmd = ["gcc", *flags, "-std=c99", "-fPIC", "-shared", "-o", str(out), *map(str, sources)]
    if include is not None:
        cmd[1:1] = ["-I", str(include)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


class HandC:
    """hand_snn.c loaded for one network (its int8 W^T per layer prepared once; 8-bit weights only)."""

    def __init__(self, qgraph: QGraph, flags: tuple[str, ...] = O2) -> None:
        self.lib = ctypes.CDLL(str(_gcc([HERE / "hand_snn.c"], flags, _TMP / f"hand{len(flags)}.so")))
        dense = [n for n in qgraph.order if isinstance(qgraph.nodes[n], QDense)]
        neurons = [n for n in qgraph.order if isinstance(qgraph.nodes[n], QNeuron)]
        self.wt = [np.ascontiguousarray(qgraph.nodes[d].weight.T, np.int8) for d in dense]  # type: ignore[attr-defined]
        first: QNeuron = qgraph.nodes[neurons[0]]  # type: ignore[assignment]
        self.sizes = np.array([self.wt[0].shape[0], *(w.shape[1] for w in self.wt)], np.int64)
        self.theta = np.array([int(np.max(qgraph.nodes[n].threshold)) for n in neurons], np.int64)  # type: ignore[attr-defined]
        self.beta, self.frac, self.v_bits = int(np.max(first.beta)), first.frac_bits, first.v_bits
        self.ptrs = (ctypes.c_void_p * len(self.wt))(*(w.ctypes.data for w in self.wt))

    def run(self, spikes_btk: np.ndarray) -> np.ndarray:
        """uint8 [B, T, k0] -> output spikes uint8 [T, B, n_out]."""
        B, T, _ = spikes_btk.shape
        out = np.empty((B, T, int(self.sizes[-1])), np.uint8)
        rc = self.lib.hand_run(len(self.wt), ctypes.c_void_p(self.sizes.ctypes.data), self.ptrs,
                               ctypes.c_void_p(self.theta.ctypes.data), ctypes.c_int64(self.beta), self.frac,
                               self.v_bits, ctypes.c_int64(T), ctypes.c_int64(B),
                               ctypes.c_void_p(spikes_btk.ctypes.data), ctypes.c_void_p(out.ctypes.data))
        if rc != 0:
            raise MemoryError("hand_snn.c: no memory")
        return out.transpose(1, 0, 2)


class GeneratedC:
    """The hls backend's emitted snn.c (export as for Vitis, dense or sparse loops) with gen_driver.c."""

    def __init__(self, qgraph: QGraph, spikes: np.ndarray, flags: tuple[str, ...] = O2, sparse: bool = True) -> None:
        folder = _TMP / f"hls-{id(qgraph)}-{int(sparse)}"
        if not (folder / "snn.c").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            BACKEND.emit(qgraph, folder, spikes[:2, :1], sparse=sparse)  # small stimuli: the goldens are not used
        steps = int(spikes.shape[0])  # snn_run takes up to SNN_T_MAX steps (emit sized it from the 2-step stimuli)
        tag = "-".join(f.strip("-") for f in flags) + f"-t{steps}"
        self.lib = ctypes.CDLL(str(_gcc([folder / "snn.c", HERE / "gen_driver.c"], (*flags, f"-DSNN_T_MAX={steps}"),
                                        folder / f"gen-{tag}.so", include=folder)))
        self.n_out = int(qgraph.shapes[qgraph.outputs[0]][0])

    def run(self, spikes_btk: np.ndarray) -> np.ndarray:
        B, T, _ = spikes_btk.shape
        out = np.empty((B, T, self.n_out), np.int64)
        self.lib.gen_run(ctypes.c_int64(B), ctypes.c_int64(T), ctypes.c_int64(self.n_out),
                         ctypes.c_void_p(spikes_btk.ctypes.data), ctypes.c_void_p(out.ctypes.data))
        return out.transpose(1, 0, 2)
