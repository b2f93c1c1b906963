"""Trace a Rockpool 3.1 torch model (``Sequential`` of LinearTorch, LIFTorch, LIFNeuronTorch, ExpSynTorch).

Read from the module objects, so what Rockpool's ``to_nir`` drops (LIFTorch's bias and ``w_rec``, the
per-synapse ``tau_syn``) is kept. Rockpool 3.1.0 steps (nn/modules/torch/{lif_torch,lif_neuron_torch,
exp_syn_torch,linear_torch}.py), with ``alpha = exp(-dt/tau_mem)``, ``beta = exp(-dt/tau_syn)``:

    LinearTorch     y = x W + b                      -> Affine (weight W^T) / Linear
    LIFTorch        i[n,k] = beta[n,k] * (i[n,k] + x[n*S+k] + (s[t-1] w_rec)[n*S+k])     S synapses per neuron
                    v = alpha*v + sum_k i[n,k] + bias;  s = (v >= th)*floor(v/th) capped at max_spikes_per_dt;
                    v = v - s*th
    LIFNeuronTorch  v = alpha*v + x + bias; spikes and reset as LIFTorch
    ExpSynTorch     i = beta*(i + x); the output is i

Mapping: LIFTorch -> CubaLIF (synapse_order "add_then_decay", compare "ge", spikes "multi", reset "subtract")
when every synapse of a neuron has the same tau_syn (the S inputs of a neuron are summed by the weights in
front, folded into a preceding LinearTorch); with distinct per-synapse tau_syn, the input is summed in
``<name>.in`` and one CubaLI current node ``<name>.syn<k>`` (beta 0: its output is its current) per synapse
index k feeds ``<name>`` (an LIF) through an identity ``<name>.syn<k>.to_v`` (float-exact; the quantiser
refuses a readout that feeds weights, so this form does not compile to fixed point yet). ``w_rec`` becomes
Linear ``<name>.w_rec`` on a cycle into the current (Rockpool adds s[t-1] w_rec, zero at t=0).
LIFNeuronTorch -> LIF; ExpSynTorch -> CubaLI with beta 0.
Every module's dt must agree (the graph's dt). noise_std != 0 and other spike functions are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from rockpool.nn.combinators.sequential import TorchSequential  # optional dependency: imported on dispatch
from rockpool.nn.modules.torch.exp_syn_torch import ExpSynTorch
from rockpool.nn.modules.torch.lif_neuron_torch import LIFNeuronTorch
from rockpool.nn.modules.torch.lif_neuron_torch import StepPWL as NeuronStepPWL
from rockpool.nn.modules.torch.lif_torch import LIFBaseTorch, PeriodicExponential, StepPWL
from rockpool.nn.modules.torch.linear_torch import LinearTorch
from torch import nn

from .. import nodes as ir
from ..errors import UnsupportedNodeError
from ..graph import Graph
from ..semantics import Semantics
from .trace_chain import Chain, broadcast, leaves, np_array, trace_chain

_CONTAINERS = (TorchSequential, nn.Sequential)
_NEURONS = (LIFBaseTorch, LIFNeuronTorch, ExpSynTorch)
_SUPPORTED = "LinearTorch, LIFTorch, LIFNeuronTorch, ExpSynTorch (in a rockpool Sequential)"
_SPIKE_FNS = (StepPWL.apply, PeriodicExponential.apply, NeuronStepPWL.apply)  # forward: (v >= th)*floor(v/th), capped


def trace_rockpool(model: nn.Module, sample: torch.Tensor, *, name_prefix: str = "", **_: Any) -> Graph:
    """The IR graph of a Rockpool torch model (see the module docstring); ``sample``: one step ``[batch, N]``."""
    dts = {name: float(m.dt) for name, m in leaves(model, _CONTAINERS) if isinstance(m, _NEURONS)}
    if len(set(dts.values())) > 1:
        listed = ", ".join(f"{n}: {d:g}" for n, d in dts.items())
        raise UnsupportedNodeError(f"rockpool: the modules step with different dt ({listed}); the graph has one dt")
    dt = next(iter(dts.values()), 1e-3)
    return trace_chain(model, sample, framework="rockpool", containers=_CONTAINERS, describe=_describe, dt=dt,
                       name_prefix=name_prefix)


def _describe(chain: Chain, name: str, m: nn.Module) -> None:
    if isinstance(m, LinearTorch):
        w = np_array(m.weight).T
        bias = getattr(m, "bias", None)
        chain.then(name, ir.Linear(weight=w) if bias is None else ir.Affine(weight=w, bias=np_array(bias)))
    elif isinstance(m, _NEURONS):
        if float(getattr(m, "noise_std", 0.0)) != 0.0:
            raise UnsupportedNodeError(f"rockpool module '{name}' ({type(m).__name__}): noise_std="
                                       f"{float(m.noise_std):g} adds random noise; only noise_std=0 is deterministic")
        if tuple(chain.shape) != (int(m.size_in),):
            raise UnsupportedNodeError(f"rockpool module '{name}' ({type(m).__name__}): gets input {chain.shape}, "
                                       f"expects ({int(m.size_in)},)")
        if isinstance(m, ExpSynTorch):
            n = (int(m.size_out),)
            sem = Semantics(synapse_order="add_then_decay")
            beta = broadcast(name, "tau", torch.exp(-float(m.dt) / m.tau), n)
            chain.then(name, ir.CubaLI(shape=n, alpha=beta, beta=np.zeros(n), semantics=sem))
        elif isinstance(m, LIFNeuronTorch):
            n = (int(m.size_out),)
            alpha = broadcast(name, "tau_mem", torch.exp(-float(m.dt) / m.tau_mem), n)
            chain.then(name, ir.LIF(shape=n, beta=alpha, **_firing(name, m, n)))
        else:
            _lif(chain, name, m)
    else:
        raise UnsupportedNodeError(f"rockpool module '{name}' ({type(m).__name__}) is not supported by "
                                   f"snncompile.trace; supported: {_SUPPORTED}")


def _firing(name: str, m: Any, n: tuple[int, ...]) -> dict[str, Any]:
    if m.spike_generation_fn not in _SPIKE_FNS:
        raise UnsupportedNodeError(f"rockpool module '{name}': spike_generation_fn {m.spike_generation_fn!r} is "
                                   "not StepPWL or PeriodicExponential")
    cap = int(float(m.max_spikes_per_dt))
    sem = Semantics(compare="ge", reset="subtract", timing="immediate", spikes="multi", spike_cap=max(1, cap),
                    synapse_order="add_then_decay")
    return {"threshold": broadcast(name, "threshold", m.threshold, n), "bias": broadcast(name, "bias", m.bias, n),
            "v_reset": np.zeros(n), "semantics": sem}


def _selected(chain: Chain, name: str, select: np.ndarray) -> str:
    """A node whose output is ``select @`` (the chain's current output): a preceding Affine/Linear with no other
    consumer gets the selection folded into its weights (renamed ``name``), else a Linear ``name`` is added."""
    last = chain.nodes[chain.last]
    consumers = [b for a, b in chain.edges if a == chain.last]
    preds = [a for a, b in chain.edges if b == chain.last]
    if isinstance(last, (ir.Affine, ir.Linear)) and not consumers and len(preds) == 1:
        w = select @ np.asarray(last.weight, np.float64)
        node: ir.Node = (ir.Affine(weight=w, bias=select @ np.asarray(last.bias, np.float64))
                         if isinstance(last, ir.Affine) else ir.Linear(weight=w))
        chain.add(name, node)
        chain.edges.append((preds[0], name))
        return name
    chain.add(name, ir.Linear(weight=select))
    chain.edges.append((chain.last, name))
    return name


def _drop_unused(chain: Chain, node: str) -> None:
    """Remove ``node`` (a weight layer whose selections were folded elsewhere) when nothing consumes it."""
    if not any(a == node for a, _ in chain.edges):
        del chain.nodes[node]
        chain.edges = [e for e in chain.edges if e[1] != node]


def _lif(chain: Chain, name: str, m: Any) -> None:
    n_out, n_syn = int(m.size_out), int(m.n_synapses)
    n = (n_out,)
    alpha = broadcast(name, "alpha (exp(-dt/tau_mem))", m.alpha, n)
    beta = broadcast(name, "beta (exp(-dt/tau_syn))", m.beta, (n_out, n_syn))
    firing = _firing(name, m, n)
    w_rec = np_array(m.w_rec).astype(np.float64) if hasattr(m, "w_rec") else None  # (Nout, Nin)
    source = chain.last
    # input element j = n*S + k is synapse k of neuron n
    picks = [np.kron(np.eye(n_out), np.eye(n_syn)[k]) for k in range(n_syn)]  # (Nout, Nin) each
    if n_syn == 1 or np.all(beta == beta[:, :1]):
        total = np.sum(picks, axis=0)
        cuba = ir.CubaLIF(shape=n, alpha=beta[:, 0], beta=alpha, **firing)
        if n_syn == 1:
            chain.then(name, cuba)
        else:
            entry = _selected(chain, f"{name}.synapses", total)
            chain.add(name, cuba)
            chain.edges.append((entry, name))
            _drop_unused(chain, source)
            chain.last, chain.shape = name, n
        if w_rec is not None:
            chain.loop(name, f"{name}.w_rec", ir.Linear(weight=total @ w_rec.T), name)
        return
    # distinct per-synapse currents: the input (plus s[t-1] w_rec) is summed in one node "<name>.in", so the
    # cycle has a single recurrent edge, w_rec -> in; each synapse index k selects its elements from it
    sem = firing["semantics"]
    entry = chain.then(f"{name}.in", ir.Linear(weight=np.eye(n_out * n_syn)))
    for k in range(n_syn):
        chain.add(f"{name}.syn{k}.in", ir.Linear(weight=picks[k]))
        chain.add(f"{name}.syn{k}", ir.CubaLI(shape=n, alpha=beta[:, k], beta=np.zeros(n),
                                              semantics=sem.with_(spikes="binary", spike_cap=1)))
        chain.add(f"{name}.syn{k}.to_v", ir.Linear(weight=np.eye(n_out)))
        chain.edges += [(entry, f"{name}.syn{k}.in"), (f"{name}.syn{k}.in", f"{name}.syn{k}"),
                        (f"{name}.syn{k}", f"{name}.syn{k}.to_v")]
    chain.add(name, ir.LIF(shape=n, beta=alpha, **firing))
    chain.edges += [(f"{name}.syn{k}.to_v", name) for k in range(n_syn)]
    chain.last, chain.shape = name, n
    if w_rec is not None:
        chain.loop(name, f"{name}.w_rec", ir.Linear(weight=w_rec.T), entry)
