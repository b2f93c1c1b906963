"""Trace the snnTorch tutorial style: neurons built with ``init_hidden=False`` and a ``forward(x)`` that loops
over time, passing each neuron its membrane explicitly::

    def forward(self, x):                      # x: [T, B, ...] (x[step]) or [B, ...] (the same input each step)
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk_rec, mem_rec = [], []
        for step in range(num_steps):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2); mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)

torch.fx cannot follow that loop, so :func:`trace_loop` runs ``forward`` once on the sample with forward hooks
on the leaf modules and reads the dataflow of the first time step off the tensors: which module's output
feeds which module. What it checks (and refuses by name otherwise): every leaf input is a module output of the
same step or a view of ``x``; each neuron gets its own previous membrane (zeros at the first step); the second
step calls the same modules in the same order; every value ``forward`` returns is the series (stacked over time,
or the last step) of some neuron's spikes or membrane. A returned membrane is an LI readout, exact when that
neuron has ``reset_mechanism="none"`` (as for ``output=True`` with :func:`.torch_trace.trace`). Operations
between modules other than viewing ``x`` (``a + b``, ``torch.cat``, ``x * 2``) are not seen by hooks: such a
model is refused with the rewrite (``init_hidden=True`` and an ``nn.Sequential`` or a one-step forward).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn

from .. import nodes as ir
from ..errors import SnnCompileWarning, UnsupportedNodeError

REWRITE = ("rewrite the model with init_hidden=True neurons and a forward for one time step (e.g. an "
           "nn.Sequential), then trace it with snncompile.trace(net, one_step_sample); see docs/nn.md")


def explicit_state_neurons(module: nn.Module, neuron_base: tuple[type[Any], ...]) -> list[str]:
    """Names of the snnTorch neurons of ``module`` built with ``init_hidden=False``."""
    return [name for name, m in module.named_modules() if isinstance(m, neuron_base) and not m.init_hidden]


class _Call:
    def __init__(self, name: str, module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        self.name, self.module, self.args, self.out = name, module, args, out


def _record(module: nn.Module, sample: torch.Tensor, leaves: dict[str, nn.Module]) -> tuple[list[_Call], Any]:
    calls: list[_Call] = []
    handles = []
    for name, leaf in leaves.items():
        def hook(m: nn.Module, args: tuple[Any, ...], out: Any, name: str = name) -> None:
            calls.append(_Call(name, m, args, out))
        handles.append(leaf.register_forward_hook(hook))
    saved = {name: {k: getattr(m, k) for k in ("mem", "syn", "spk", "reset") if hasattr(m, k)}
             for name, m in leaves.items()}
    try:
        with torch.no_grad():
            result = module(sample)
    finally:
        for h in handles:
            h.remove()
        for name, attrs in saved.items():  # snnTorch stores the last state on the module: put it back
            for k, v in attrs.items():
                setattr(leaves[name], k, v)
    return calls, result


def trace_loop(module: nn.Module, sample: torch.Tensor, builder: Any, *, leaf_types: tuple[type[Any], ...],
               neuron_base: tuple[type[Any], ...], check: Any, layer: Any, neuron_tuple: Any) -> tuple[Any, ...]:
    """Fill ``builder`` (a :class:`.torch_trace._Builder`) from one run of ``module(sample)``; returns the
    sources of each Output. The callables come from :mod:`.torch_trace` (one mapping of modules to IR)."""
    if not isinstance(sample, torch.Tensor):
        raise UnsupportedNodeError("trace of an init_hidden=False model: the sample must be one tensor (the x of "
                                   "forward(x)); " + REWRITE)
    leaves = {name: m for name, m in module.named_modules() if name and isinstance(m, leaf_types)}
    for name, m in leaves.items():
        if isinstance(m, neuron_base):
            if type(m).__name__ not in ("Leaky", "Synaptic"):
                raise UnsupportedNodeError(f"neuron module '{name}' ({type(m).__name__}) with init_hidden=False: "
                                           "only Leaky and Synaptic are traced in the explicit-state style; "
                                           + REWRITE)
            check(name, m, explicit_state=True)
        else:
            check(name, m)
    calls, result = _record(module, sample, leaves)
    if not calls:
        raise UnsupportedNodeError(f"{type(module).__name__}.forward called no supported module; " + REWRITE)
    first, second = _steps(calls)
    produced: dict[int, tuple[str, Any]] = {}  # id(tensor) -> (kind, value)
    keep: list[Any] = []  # the recorded tensors stay alive, so their ids stay unique
    input_shape: tuple[int, ...] | None = None
    series: dict[tuple[str, int], list[torch.Tensor]] = {}
    for call in first:
        x = call.args[0]
        src = produced.get(id(x))
        if src is None:
            if not _views(x, sample):
                raise UnsupportedNodeError(
                    f"module '{call.name}' gets a value no traced module produced and that is not a view of the "
                    f"input (an operation between modules, e.g. a + b or torch.cat, which hooks cannot see); "
                    + REWRITE)
            shape = tuple(int(s) for s in x.shape[1:])
            if input_shape is not None and shape != input_shape:
                raise UnsupportedNodeError(f"module '{call.name}' reads the input as {shape}, another module as "
                                           f"{input_shape}; " + REWRITE)
            if input_shape is None:
                builder.add("input", ir.Input(shape=shape), ())
                input_shape = shape
            sources: tuple[str, ...] = ("input",)
        else:
            kind, value = src
            if kind == "mem":
                raise UnsupportedNodeError(f"module '{call.name}' reads the membrane of '{value.name}'; only spikes "
                                           "flow between layers")
            sources = value
        name = builder.prefix + call.name
        in_shape = tuple(int(s) for s in x.shape[1:])
        m = call.module
        if isinstance(m, neuron_base):
            _check_state(call, first, second)
            spk_node = builder.neuron(name, m, in_shape, sources)
            tup = neuron_tuple(call.name, m, (spk_node,))
            spk, *_, mem = call.out
            produced[id(spk)] = ("spk", (spk_node,))
            produced[id(mem)] = ("mem", tup)
            keep += [spk, mem]
        elif isinstance(m, nn.MaxPool2d):
            out = call.out
            produced[id(out)] = ("spk", (builder.max_pool(name, m, sources, tuple(int(s) for s in out.shape[1:])),))
            keep.append(out)
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            produced[id(call.out)] = ("spk", sources)
            keep.append(call.out)
        else:
            builder.add(name, layer(call.name, m, in_shape), sources)
            produced[id(call.out)] = ("spk", (name,))
            keep.append(call.out)
    for call in calls:  # the per-step series of every neuron's spikes and membrane
        if isinstance(call.module, neuron_base):
            spk, *_, mem = call.out
            series.setdefault((call.name, 0), []).append(spk)
            series.setdefault((call.name, 1), []).append(mem)
    return _outputs(result, series, first, produced, builder)


def _steps(calls: list[_Call]) -> tuple[list[_Call], list[_Call]]:
    """The calls of the first step (until a module is called again) and of the second."""
    seen: set[str] = set()
    cut = len(calls)
    for i, c in enumerate(calls):
        if c.name in seen:
            cut = i
            break
        seen.add(c.name)
    first, rest = calls[:cut], calls[cut:]
    second = rest[:cut]
    if second and [c.name for c in second] != [c.name for c in first][:len(second)]:
        raise UnsupportedNodeError(
            "the modules are called in a different order in the second time step ("
            f"{', '.join(c.name for c in first)} then {', '.join(c.name for c in second)}); " + REWRITE)
    return first, second


def _check_state(call: _Call, first: list[_Call], second: list[_Call]) -> None:
    """The membrane (and synaptic current) passed in: zeros at t=0, the neuron's own output at t=1."""
    states = call.args[1:]
    n_states = 2 if type(call.module).__name__ == "Synaptic" else 1
    if len(states) != n_states:
        raise UnsupportedNodeError(
            f"neuron module '{call.name}' ({type(call.module).__name__}) has init_hidden=False but is called with "
            f"{len(call.args)} argument(s), not the input and its {n_states} state(s) (spk, mem = lif(x, mem) in a "
            "loop over time); or " + REWRITE)
    for s in states:
        if torch.as_tensor(s).abs().sum() != 0:
            raise UnsupportedNodeError(f"neuron module '{call.name}': the state passed at the first step is not "
                                       "zero (init_leaky()/init_synaptic() give zeros); a non-zero initial state is "
                                       "not traced")
    later = next((c for c in second if c.name == call.name), None)
    if later is not None:
        # Leaky returns (spk, mem), Synaptic (spk, syn, mem); the call takes (x, mem) or (x, syn, mem)
        want = call.out[1:]
        if any(a is not b for a, b in zip(later.args[1:], want, strict=True)):
            raise UnsupportedNodeError(f"neuron module '{call.name}' is not given its own previous state at the "
                                       "second step (pass the returned mem back in: spk, mem = lif(x, mem)); "
                                       + REWRITE)


def _views(x: Any, sample: torch.Tensor) -> bool:
    """``x`` is the sample or a view of it (``x[step]``, ``x.flatten(1)``): the same storage."""
    return isinstance(x, torch.Tensor) and x.untyped_storage().data_ptr() == sample.untyped_storage().data_ptr()


def _outputs(result: Any, series: dict[tuple[str, int], list[torch.Tensor]], first: list[_Call],
             produced: dict[int, tuple[str, Any]], builder: Any) -> tuple[Any, ...]:
    """Which neuron's spikes or membrane each returned tensor is (its whole series, or its last step)."""
    returned: Sequence[Any] = result if isinstance(result, (tuple, list)) else (result,)
    order = [c.name for c in first]
    picked: list[Any] = []
    dropped: list[str] = []
    for k, value in enumerate(returned):
        if not isinstance(value, torch.Tensor):
            raise UnsupportedNodeError(f"forward returns a {type(value).__name__} (value {k}); expected tensors "
                                       "of recorded spikes or membranes")
        matches = [key for key, steps in series.items()
                   if (value.shape == (len(steps), *steps[0].shape) and torch.equal(value, torch.stack(steps)))
                   or (value.shape == steps[-1].shape and torch.equal(value, steps[-1]))]
        if not matches:
            raise UnsupportedNodeError(
                f"forward's return value {k} (shape {tuple(value.shape)}) is not the recorded series of any "
                "neuron's spikes or membrane (torch.stack of spk or mem over the steps); " + REWRITE)
        neuron, field = max(matches, key=lambda key: (order.index(key[0]), key[1]))  # the latest layer
        call = next(c for c in first if c.name == neuron)
        spk, *_, mem = call.out
        kind, src = produced[id(spk if field == 0 else mem)]
        if kind == "spk":
            picked.append(src)
        elif int(cast(Any, call.module).reset_mechanism_val) != 2 and len(returned) > 1:
            dropped.append(f"value {k} (the membrane of '{neuron}', reset by its spikes)")
        else:
            picked.append((builder.membrane_readout(src),))
    if dropped and not picked:
        raise UnsupportedNodeError("forward returns only membranes that are reset by their spikes; " + REWRITE)
    if dropped:  # the tutorial's `return spk_rec, mem_rec`: mem is for the loss; deploy the spikes
        warnings.warn(f"trace: forward's {', '.join(dropped)} has no exact readout node and is left out; the "
                      "graph's outputs are the others (use reset_mechanism=\"none\" for a membrane readout)",
                      SnnCompileWarning, stacklevel=4)
    return tuple(picked)
