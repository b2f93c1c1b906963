"""Run netx networks in Lava and save every layer's u, v and spikes (executed by the Lava side venv's python).

    <lava python> lava_netx_run.py JOBS.json

JOBS.json: [{"net": "network.net", "spikes": "in.npy" (int [T, n_in], flat C order), "out": "out.npz"}, ...].
Each job builds ``lava.lib.dl.netx.hdf5.Network(net_config=net)`` fed by a RingBuffer of the spikes (reshaped to
netx's input layout), probes the u, v and s_out of every layer's LIF with Monitors and runs T steps under
``Loihi2SimCfg(select_tag="fixed_pt")`` (Lava's bit-accurate PyLifModelBitAcc / PyDenseModelBitAcc, and
PyConvModelFixed). out.npz: layer{k}_u, layer{k}_v, layer{k}_s (int64 [T, *Lava's shape]: (n,) or (x, y, c)), and
``models`` (the ProcessModel class of every synapse and LIF, as Lava chose them). This file imports Lava only: it is
not collected by pytest (no test_ prefix) and runs outside snncompile's venv.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def run(net_path: str, spikes: np.ndarray) -> dict[str, np.ndarray]:
    import h5py
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    steps = spikes.shape[0]
    with h5py.File(net_path, "r") as f:  # (n,) or (C, H, W); netx's Input port is (n,) or (x, y, c) = (W, H, C)
        in_shape = tuple(int(d) for d in f["layer/0/shape"][()])
    x = spikes.reshape(steps, *in_shape)
    net = hdf5.Network(net_config=net_path)
    source = RingBuffer(data=x.transpose(*range(x.ndim - 1, 0, -1), 0).astype(float))
    source.s_out.connect(net.inp)
    probes = []
    for k, layer in enumerate(net.layers, start=1):
        for key, var in (("u", layer.neuron.u), ("v", layer.neuron.v), ("s", layer.neuron.s_out)):
            mon = Monitor()
            mon.probe(var, steps)
            probes.append((f"layer{k}_{key}", mon, var))
    net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        out: dict[str, np.ndarray] = {}
        for key, mon, var in probes:
            data = mon.get_data()[var.process.name][var.name]
            out[key] = np.rint(np.asarray(data, np.float64)).astype(np.int64).reshape(steps, *var.shape)
        models = []
        for layer in net.layers:
            for proc in (layer.synapse, layer.neuron):
                models.append(f"{proc.name}:{type(proc).__name__}:{proc.model_class.__name__}")
        out["models"] = np.array(models)
    finally:
        net.stop()
    return out


def main() -> None:
    jobs = json.loads(open(sys.argv[1]).read())
    for job in jobs:
        spikes = np.load(job["spikes"])
        np.savez(job["out"], **run(job["net"], spikes))


if __name__ == "__main__":
    main()
