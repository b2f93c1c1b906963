"""source <-> float rung on the recorded snnTorch cases in tests/data/frameworks.

For every case produced by snnTorch, the float reference executor must
reproduce snnTorch's recorded spikes exactly (0 mismatches):
  * after import of the case's own NIR export under ``--from snntorch``;
  * after ``snncompile.trace`` of the snnTorch module rebuilt from params.json.
Membranes and currents agree to 1e-4 (float32 framework vs float64 executor).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SHARED, assert_spikes_equal

import snncompile as sc
from snncompile.frontend.nir_read import load

snntorch = pytest.importorskip("snntorch", reason="snnTorch is in the 'interop' extra that CI installs")

FRAMEWORKS = SHARED / "frameworks"
CASES = sorted(
    p.name for p in FRAMEWORKS.iterdir()
    if (p / "params.json").is_file() and json.loads((p / "params.json").read_text())["framework"] == "snntorch"
) if FRAMEWORKS.is_dir() else []


def _layers(data: np.lib.npyio.NpzFile) -> list[str]:
    return sorted(k[4:] for k in data.files if k.startswith("spk_"))


def _compare(case: str, graph: sc.Graph, data: np.lib.npyio.NpzFile) -> None:
    traces = sc.simulate(graph, data["input"])
    for layer in _layers(data):
        assert_spikes_equal(f"{case}/{layer}", data[f"spk_{layer}"], traces[layer]["out"])
        np.testing.assert_allclose(traces[layer]["v"], data[f"mem_{layer}"], atol=1e-4, err_msg=f"{case}/{layer} v")
        if f"syn_{layer}" in data.files:
            np.testing.assert_allclose(traces[layer]["i"], data[f"syn_{layer}"], atol=1e-4)


def test_cases_were_found() -> None:
    assert len(CASES) >= 3, f"expected the snnTorch cases under {FRAMEWORKS}, found {CASES}"


@pytest.mark.parametrize("case", CASES)
def test_nir_import_reproduces_snntorch_spikes(case: str) -> None:
    data = np.load(FRAMEWORKS / case / "data.npz")
    loaded = load(FRAMEWORKS / case / "model.nir", convention="snntorch")
    _compare(case, loaded.graph, data)


def rebuild(case_dir: Path) -> torch.nn.Sequential:
    """The case's snnTorch network, rebuilt from params.json and the stored parameters."""
    params = json.loads((case_dir / "params.json").read_text())
    stored = np.load(case_dir / "data.npz")
    layers: list[torch.nn.Module] = []
    for m in params["modules"]:
        cls = m["class"]
        if cls.endswith(".Linear"):
            layers.append(torch.nn.Linear(m["in_features"], m["out_features"], bias=m["bias"]))
        elif cls.endswith(".Conv2d"):
            layers.append(torch.nn.Conv2d(m["in_channels"], m["out_channels"], m["kernel_size"], m["stride"],
                                          m["padding"], m["dilation"], m["groups"], m["bias"]))
        elif cls.endswith(".AvgPool2d"):
            layers.append(torch.nn.AvgPool2d(m["kernel_size"], m["stride"], m["padding"]))
        elif cls.endswith(".Flatten"):
            layers.append(torch.nn.Flatten(m["start_dim"], m["end_dim"]))
        elif cls in ("snntorch.Leaky", "snntorch.Synaptic"):
            kwargs = dict(beta=torch.tensor(m["beta"]), threshold=torch.tensor(m["threshold"]),
                          reset_mechanism=m["reset_mechanism"], reset_delay=m["reset_delay"], init_hidden=True)
            if cls == "snntorch.Synaptic":
                layers.append(snntorch.Synaptic(alpha=torch.tensor(m["alpha"]), **kwargs))
            else:
                layers.append(snntorch.Leaky(**kwargs))
        else:
            raise AssertionError(f"test cannot rebuild module class {cls}")
    net = torch.nn.Sequential(*layers)
    state = {k[len("param__"):]: torch.from_numpy(np.array(stored[k])) for k in stored.files if k.startswith("param__")}
    net.load_state_dict(state, strict=False)
    return net


@pytest.mark.parametrize("case", CASES)
def test_trace_of_rebuilt_module_reproduces_snntorch_spikes(case: str) -> None:
    data = np.load(FRAMEWORKS / case / "data.npz")
    net = rebuild(FRAMEWORKS / case)
    x = torch.from_numpy(data["input"])
    # The rebuilt module itself must replay the recording (else the rebuild, not snncompile, is wrong).
    hooks, seen = [], {layer: [] for layer in _layers(data)}
    for layer in seen:
        hooks.append(net[int(layer)].register_forward_hook(lambda mod, i, o, k=layer: seen[k].append(o.detach())))
    with torch.no_grad():
        for t in range(x.shape[0]):
            net(x[t])
    for h in hooks:
        h.remove()
    for layer, outs in seen.items():
        assert_spikes_equal(f"{case}/{layer} (rebuilt snnTorch)", data[f"spk_{layer}"], torch.stack(outs).numpy())

    graph = sc.trace(net, x[0])
    _compare(case, graph, data)
