"""Norse 1.1.0 -> to_nir -> ``--from norse`` -> float reference: spikes equal Norse's own, exactly.

Five seeded random networks cover every cell Norse's to_nir exports: LIFBoxCell (LIF), LIFCell (CubaLIF),
LIBoxCell (LI readout), IAFCell (IF), with Linear layers with and without bias and Conv2d. Neuron parameters are
per-neuron tensors (Norse's to_nir cannot write 0-d ones), some with v_leak != 0 so Norse's initial state v = v_leak
is exercised. Norse runs ``out, state = net(x[t], state)`` step by step; each cell's output is taken with a forward
hook.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from interop_helpers import compare_layers, fill_input_shapes, spikes, write_and_load

norse = pytest.importorskip("norse.torch", reason="Norse is in the 'interop' extra that CI installs")
export_nir = pytest.importorskip("norse.torch.utils.export_nir")

T, B = 40, 3


def _u(gen: torch.Generator, shape: tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=gen)


def _lifbox(gen: torch.Generator, shape: tuple[int, ...], v_leak: float = 0.0) -> torch.nn.Module:
    p = norse.LIFBoxParameters(tau_mem_inv=_u(gen, shape, 60, 200), v_th=_u(gen, shape, 0.8, 1.2),
                               v_leak=_u(gen, shape, -v_leak, v_leak))
    return norse.LIFBoxCell(p)


def _lif(gen: torch.Generator, shape: tuple[int, ...], v_leak: float = 0.0) -> torch.nn.Module:
    p = norse.LIFParameters(tau_syn_inv=_u(gen, shape, 100, 300), tau_mem_inv=_u(gen, shape, 60, 200),
                            v_th=_u(gen, shape, 0.8, 1.2), v_leak=_u(gen, shape, -v_leak, v_leak))
    return norse.LIFCell(p)


def _li(gen: torch.Generator, n: int) -> torch.nn.Module:
    return norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=_u(gen, (n,), 50, 150), v_leak=_u(gen, (n,), -.2, .2)))


def _iaf(gen: torch.Generator, n: int) -> torch.nn.Module:
    return norse.IAFCell(norse.IAFParameters(v_th=_u(gen, (n,), 1.5, 3.0)))


def _linear(gen: torch.Generator, n_in: int, n_out: int, mean: float, std: float, bias: bool = True) -> torch.nn.Linear:
    layer = torch.nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(mean + std * torch.randn((n_out, n_in), generator=gen))
        if bias:
            layer.bias.copy_(0.2 * torch.randn(n_out, generator=gen))
    return layer


def _conv(gen: torch.Generator, c_in: int, c_out: int, mean: float, std: float) -> torch.nn.Conv2d:
    layer = torch.nn.Conv2d(c_in, c_out, 3, padding=1)
    with torch.no_grad():
        layer.weight.copy_(mean + std * torch.randn(layer.weight.shape, generator=gen))
        layer.bias.copy_(0.1 * torch.randn(c_out, generator=gen))
    return layer


def net_lifbox_li(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...]]:
    return [_linear(gen, 12, 10, 1.0, 3.0), _lifbox(gen, (10,)), _linear(gen, 10, 4, 0.5, 3.0), _li(gen, 4)], (12,)


def net_lif_lif(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...]]:
    return [_linear(gen, 10, 8, 0.5, 1.5), _lif(gen, (8,), v_leak=0.3), _linear(gen, 8, 5, 0.5, 2.0),
            _lif(gen, (5,))], (10,)


def net_iaf_lifbox(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...]]:
    return [_linear(gen, 12, 9, 0.4, 1.0, bias=False), _iaf(gen, 9), _linear(gen, 9, 6, 1.0, 4.0),
            _lifbox(gen, (6,), v_leak=0.5)], (12,)


def net_conv(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...]]:
    # Norse's to_nir maps no Flatten, so the network ends in a 3-d layer; the batched sample it needs
    # writes Input [1, 1, 6, 6], which the reader takes as a batch dim.
    return [_conv(gen, 1, 3, 1.0, 3.0), _lifbox(gen, (3, 6, 6)), _conv(gen, 3, 2, 0.3, 1.5),
            _lif(gen, (2, 6, 6), v_leak=0.2)], (1, 6, 6)


def net_deep(gen: torch.Generator) -> tuple[list[torch.nn.Module], tuple[int, ...]]:
    return [_linear(gen, 14, 12, 0.8, 2.5), _lif(gen, (12,)), _linear(gen, 12, 10, 0.5, 3.0), _iaf(gen, 10),
            _linear(gen, 10, 7, 1.0, 4.0), _lifbox(gen, (7,)), _linear(gen, 7, 3, 0.0, 2.0), _li(gen, 3)], (14,)


NETS = {"lifbox_li": net_lifbox_li, "lif_lif": net_lif_lif, "iaf_lifbox": net_iaf_lifbox, "conv": net_conv,
        "deep": net_deep}


def run_norse(net: torch.nn.Module, x: torch.Tensor) -> dict[str, dict[str, np.ndarray]]:
    """Each cell's output ("out") and state ("v", and "i" for LIFCell) per step, by its index in the
    SequentialState (= its NIR node name)."""
    seen: dict[str, dict[str, list[torch.Tensor]]] = {}

    def hook(key: str):  # noqa: ANN202 - a forward hook
        def record(mod: torch.nn.Module, args: object, out: tuple) -> None:
            z, state = out
            seen[key]["out"].append(z.detach().clone())
            if hasattr(state, "v"):
                seen[key]["v"].append(state.v.detach().clone())
            if hasattr(state, "i"):
                seen[key].setdefault("i", []).append(state.i.detach().clone())
        return record

    hooks = []
    for i, module in enumerate(net):
        if isinstance(module, (norse.LIFBoxCell, norse.LIFCell, norse.LIBoxCell, norse.IAFCell)):
            seen[str(i)] = {"out": [], "v": []}
            hooks.append(module.register_forward_hook(hook(str(i))))
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = net(x[t], state)
    for h in hooks:
        h.remove()
    return {k: {f: torch.stack(v).numpy() for f, v in rec.items()} for k, rec in seen.items()}


@pytest.mark.parametrize("seed", range(len(NETS)))
def test_norse_network_spikes_equal(seed: int, tmp_path: Path) -> None:
    name = list(NETS)[seed]
    gen = torch.Generator().manual_seed(100 + seed)
    modules, in_shape = NETS[name](gen)
    net = norse.SequentialState(*modules)
    x = spikes(seed, (T, B, *in_shape))
    outputs = run_norse(net, torch.from_numpy(x))
    sample = torch.zeros((1, *in_shape)) if len(in_shape) > 1 else torch.zeros(in_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_nir.to_nir(net, sample, dt=1e-3)
    fill_input_shapes(graph, net, torch.zeros((1, *in_shape)))
    loaded = write_and_load(graph, tmp_path / "norse.nir", "norse")
    readouts = {k: v["out"] for k, v in outputs.items() if isinstance(net[int(k)], norse.LIBoxCell)}
    spiking = {k: v["out"] for k, v in outputs.items() if k not in readouts}
    traces = compare_layers(f"norse/{name}", loaded, x, spiking, readouts)
    for layer, rec in outputs.items():
        np.testing.assert_allclose(traces[layer]["v"], rec["v"], atol=1e-4, err_msg=f"norse/{name}/{layer} v")
        if "i" in rec:
            # Norse stores i after its decay; the reference's i is the current the membrane used (before it),
            # scaled by the input gain dt/tau_mem that the reader folded into the weights
            node = loaded.graph.nodes[layer]
            i_norse = node.alpha * traces[layer]["i"] / (1 - node.beta)  # type: ignore[attr-defined]
            np.testing.assert_allclose(i_norse, rec["i"], atol=1e-4, err_msg=f"norse/{name}/{layer} i")
