"""Traced framework models compile: the quantiser and bitsim take what snncompile.trace reads from Sinabs,
Norse and Rockpool (one network of each test suite per framework; the measured float<->fixed spike agreement
is printed, not bounded). Rockpool's distinct per-synapse tau_syn form is refused by the quantiser by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import snncompile as sc
from snncompile.errors import UnsupportedNodeError

pytest.importorskip("sinabs")
pytest.importorskip("norse")
pytest.importorskip("rockpool")

import test_trace_norse as tn  # noqa: E402
import test_trace_rockpool as tr  # noqa: E402
import test_trace_sinabs as ts  # noqa: E402


def _models() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    import norse.torch as norse
    from rockpool.nn.combinators import Sequential

    sinabs_mods, sinabs_shape, _ = ts.net_iaf_min_v_mem(torch.Generator().manual_seed(1))
    norse_mods, norse_shape = tn.net_lif_li(torch.Generator().manual_seed(1))
    return {"sinabs": (torch.nn.Sequential(*sinabs_mods), sinabs_shape),
            "norse": (norse.SequentialState(*norse_mods), norse_shape),
            "rockpool": (Sequential(*tr.net_bias_rec(torch.Generator().manual_seed(1))), (10,))}


@pytest.mark.parametrize("framework", ["sinabs", "norse", "rockpool"])
def test_traced_model_quantises_and_runs_in_bitsim(framework: str) -> None:
    model, shape = _models()[framework]
    graph = sc.trace(model, torch.zeros(1, *shape))
    x = (np.random.default_rng(0).random((20, 4, *shape)) < 0.4).astype(np.float64)
    report = sc.verify(graph, inputs=x)
    assert report.passed, report.format_table()
    print(framework, report.rung("float<->fixed").message)


def test_per_synapse_rockpool_form_is_refused_by_the_quantiser_by_name() -> None:
    from rockpool.nn.combinators import Sequential

    graph = sc.trace(Sequential(*tr.net_per_synapse_tau(torch.Generator().manual_seed(1))), torch.zeros(1, 10))
    with pytest.raises(UnsupportedNodeError, match="node '1_LIFTorch.syn0' \\(CubaLI\\) is a non-spiking readout"):
        sc.quantize(graph, sc.QuantSpec())
