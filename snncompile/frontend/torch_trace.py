"""Trace a torch model built from snnTorch layers into a snncompile Graph.

:func:`trace` runs ``torch.fx`` with snnTorch neurons and the supported torch
layers as leaves, learns every shape with ``ShapeProp`` on one timestep of
input, and maps each module call to IR node(s) named after the module (the fx
target: ``"0"``, ``"fc1"``, ``"net.2"``), as snnTorch's own NIR export names
Sequential models. ``a + b`` of traced values becomes fan-in (edges into one
node are summed).

snnTorch 1.0.0 semantics, per neuron and step (R = mem[t-1] > theta on the
stored membrane, beta and alpha clamped to [0, 1], spikes strict ``>``):

    Leaky      mem = beta*mem + x - R*theta          subtract
               mem = beta*(1-R)*mem + x              zero  -> delayed_zero="state"
    Synaptic   syn = alpha*syn + x;  mem = beta*mem + syn - R*theta
               mem = (1-R)*(beta*mem + syn)          zero  -> delayed_zero="total"
    RLeaky     as Leaky with x + rec(spk[t-1]) and the zero form (1-R)*(...)  ("total")
    RSynaptic  as Synaptic with syn = alpha*syn + x + rec(spk[t-1])           ("total")

``reset_delay=True`` maps to timing "delayed"; ``reset_delay=False`` to
"snntorch_immediate" (see :mod:`snncompile.semantics`). ``rec`` is
``module.recurrent``: nn.Linear -> Affine, nn.Conv2d -> Conv2d, one-to-one V ->
Scale, emitted as node ``"<name>.w_rec"`` in a cycle with ``"<name>.lif"``; the
edge ``w_rec -> lif`` closes the cycle and is the graph's recurrent (t-1) edge.
snnTorch applies ``rec`` at t=0 too, to spk = 0, so a recurrent bias b enters from t=0.

Any other module with a ``snncompile_ir(name, shape) -> (nodes, edges, entry, out)`` method (the
:mod:`snncompile.nn` layers) is a leaf that describes its own IR: its nodes are added, the traced
input is wired into ``entry``, the internal ``edges`` are added, and ``out`` is its output.
"""

from __future__ import annotations

import contextlib
import io
import operator
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from .. import nodes as ir
from ..errors import GraphError, ParameterError, UnsupportedNodeError
from ..graph import Graph
from ..semantics import Semantics
from . import torch_idioms
from .torch_layers import _layer, _param, _recurrent
from .torch_loop import explicit_state_neurons, trace_loop

try:  # snnTorch is an optional dependency (extra "interop")
    import snntorch as _snn

    _NEURON_BASE: tuple[type[Any], ...] = (_snn.SpikingNeuron,)
    _SUPPORTED_NEURONS: tuple[type[Any], ...] = (_snn.Leaky, _snn.Synaptic, _snn.RLeaky, _snn.RSynaptic)
except ImportError:  # pragma: no cover - exercised only without snntorch
    _NEURON_BASE, _SUPPORTED_NEURONS = (), ()

_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)  # identity at inference
_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d, nn.Flatten)
_SUPPORTED = (
    "nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d (on binary spikes), nn.Flatten, nn.Identity, "
    "nn.Dropout, "
    "snntorch.Leaky, snntorch.Synaptic, snntorch.RLeaky, snntorch.RSynaptic"
)
_ADD = (operator.add, operator.iadd, torch.add)
_RESETS = {0: "subtract", 1: "zero", 2: "none"}
_STATE_FUNCTIONS = {"_base_sub": 0, "_base_zero": 1, "_base_int": 2}

Sources = tuple[str, ...]  # IR nodes whose outputs are summed to give one traced value


class _Tracer(torch.fx.Tracer):
    """Stops at snnTorch neurons and the supported torch layers; traces through the rest."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, (*_NEURON_BASE, *_LAYERS, *_PASS_THROUGH)) or _self_describing(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)


class _NeuronTuple:
    """The (spk, [syn,] mem) tuple of a neuron built with ``output=True``; only index 0 may be used."""

    def __init__(self, name: str, module: nn.Module, sources: Sources) -> None:
        self.name, self.module, self.sources = name, module, sources

    def refuse(self, what: str) -> UnsupportedNodeError:
        return UnsupportedNodeError(
            f"{what} of neuron module '{self.name}' ({type(self.module).__name__}, output=True) is used; "
            "snncompile.trace only supports its spikes (index 0)"
        )


class _ShapeProp(ShapeProp):
    """ShapeProp that never runs a neuron: it returns zeros of the neuron's output shape instead.

    The model's hidden states (mem, syn, spk) are therefore left untouched by tracing.
    """

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        module: Any = self.fetch_attr(target)
        if _self_describing(module):  # a stateful layer keeps the shape; do not touch its state
            return torch.zeros_like(args[0])
        if isinstance(module, _NEURON_BASE):
            spk = torch.zeros_like(args[0])
            if not module.output:
                return spk
            n_states = 2 if isinstance(module, (_snn.Synaptic, _snn.RSynaptic)) else 1
            return (spk, *(torch.zeros_like(spk) for _ in range(n_states)))
        return super().call_module(target, args, kwargs)


def trace(
    module: nn.Module,
    sample: torch.Tensor | Sequence[torch.Tensor],
    *,
    dt: float = 1e-4,
    name_prefix: str = "",
) -> Graph:
    """The IR graph of ``module``, with the exact semantics of each snnTorch layer's arguments.

    ``sample`` is one timestep of input with a batch dim, e.g. ``torch.zeros(1, 12)`` (a
    sequence of tensors for a forward with several inputs); Input shapes exclude the batch.
    Neurons must be built with ``init_hidden=True``. ``dt`` is only stored on the graph (it
    matters for NIR export; snnTorch's own export uses 1e-4). ``name_prefix`` is prepended to
    every node made from a module. Dropout is taken as the identity (inference). The sample is
    run once through the stateless layers (their forward hooks fire); neurons are not run, so
    the model's hidden states are left untouched. Raises UnsupportedNodeError for any module,
    argument or operation without an exact IR equivalent, GraphError if the sample does not fit.
    Sinabs, Rockpool and Norse models go to their own tracers (:mod:`.trace_frameworks`).
    """
    from .trace_frameworks import framework_tracer

    other = framework_tracer(module)
    if other is not None:
        return other(module, sample, name_prefix=name_prefix)  # dt: the framework module's own
    explicit = explicit_state_neurons(module, _NEURON_BASE) if _NEURON_BASE else []
    if explicit:
        return _trace_explicit_state(module, sample, explicit, dt=dt, name_prefix=name_prefix)
    try:
        fx_graph = _Tracer().trace(module)
    except Exception as exc:  # fx raises many types for untraceable Python
        raise UnsupportedNodeError(f"torch.fx could not trace {type(module).__name__}: {exc}") from exc
    gm = torch.fx.GraphModule(module, fx_graph)
    live = [n for n in fx_graph.nodes if n.users or n.op == "output"]
    for n in live:  # refuse unsupported modules before running anything
        if n.op == "call_module":
            _check_module(n.target, gm.get_submodule(n.target))
    samples = (sample,) if isinstance(sample, torch.Tensor) else tuple(sample)
    try:  # ShapeProp prints a traceback before re-raising; the GraphError below says it in one line
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            _ShapeProp(gm).propagate(*samples)
    except Exception as exc:
        cause = exc.__cause__ or exc
        raise GraphError(f"trace: running {type(module).__name__} on the sample failed: {cause}") from exc

    b = _Builder(name_prefix)
    placeholders = [n for n in fx_graph.nodes if n.op == "placeholder"]
    for n in fx_graph.nodes:
        if n.op == "placeholder":
            name = "input" if len(placeholders) == 1 else n.name
            b.add(name, ir.Input(shape=_shape(n)), ())
            b.values[n] = (name,)
        elif n not in live:
            continue
        elif n.op == "call_module":
            m = gm.get_submodule(n.target)
            try:
                b.module_call(n, m)
            except ParameterError as err:  # NaN/Inf weights, thresholds, ...: name the module, not the IR node
                raise GraphError(f"torch module '{n.target}' ({type(m).__name__}): {err.detail}") from None
        elif n.op in ("call_function", "call_method"):
            b.function_call(n)
        elif n.op == "output":
            outs = n.args[0]
            named = [(f"output_{k}", o) for k, o in enumerate(outs)] if isinstance(outs, (tuple, list)) else []
            for name, o in named or [("output", outs)]:
                src = b.sources(o)  # refuses a neuron's state tuple before its shape is read
                b.add(name, ir.Output(shape=_shape(o)), src)
        else:
            raise UnsupportedNodeError(f"torch operation '{n.format_node()}' is not supported by snncompile.trace")
    return _graph(b, dt)


def _graph(b: _Builder, dt: float) -> Graph:
    keep = _feeding_outputs(b.nodes, b.edges)  # e.g. the spiking node of a readout whose spikes go unused
    nodes = {k: v for k, v in b.nodes.items() if k in keep}
    edges = tuple(e for e in b.edges if e[0] in keep and e[1] in keep)
    return Graph(nodes, edges, dt=dt, metadata={"snncompile.source": "torch.trace"})


def _trace_explicit_state(module: nn.Module, sample: Any, explicit: list[str], *, dt: float,
                          name_prefix: str) -> Graph:
    """The snnTorch tutorial style (init_hidden=False neurons, a time loop in forward): :mod:`.torch_loop`."""
    hidden = [n for n, m in module.named_modules() if isinstance(m, _NEURON_BASE) and m.init_hidden]
    if hidden:
        raise UnsupportedNodeError(
            f"neuron modules {', '.join(repr(n) for n in explicit)} have init_hidden=False but "
            f"{', '.join(repr(n) for n in hidden)} init_hidden=True; use one style for the whole model")
    b = _Builder(name_prefix)
    outs = trace_loop(module, sample, b, leaf_types=(*_NEURON_BASE, *_LAYERS, *_PASS_THROUGH),
                      neuron_base=_NEURON_BASE, check=_check_module, layer=_layer, neuron_tuple=_NeuronTuple)
    for k, src in enumerate(outs):
        name = "output" if len(outs) == 1 else f"output_{k}"
        b.add(name, ir.Output(shape=tuple(b.nodes[src[0]].shape)), src)  # type: ignore[attr-defined]
    return _graph(b, dt)


def _feeding_outputs(nodes: dict[str, ir.Node], edges: list[tuple[str, str]]) -> set[str]:
    """The nodes with a path to an Output node (Input nodes always stay: they are the graph's signature)."""
    into: dict[str, list[str]] = {}
    for a, c in edges:
        into.setdefault(c, []).append(a)
    keep = {n for n, node in nodes.items() if isinstance(node, (ir.Output, ir.Input))}
    todo = list(keep)
    while todo:
        for a in into.get(todo.pop(), []):
            if a not in keep:
                keep.add(a)
                todo.append(a)
    return keep


class _Builder:
    """Accumulates IR nodes and edges while walking the fx graph."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: dict[str, ir.Node] = {}
        self.edges: list[tuple[str, str]] = []
        self.values: dict[torch.fx.Node, Sources | _NeuronTuple] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, node: ir.Node, sources: Sources) -> None:
        if name in self.nodes:
            raise GraphError(f"trace: two nodes would be named '{name}'")
        self.nodes[name] = node
        self.edges.extend((s, name) for s in sources)

    def sources(self, arg: Any) -> Sources:
        """The summed IR sources of a traced value (refusing a neuron's state tuple)."""
        value = self.values.get(arg) if isinstance(arg, torch.fx.Node) else None
        if value is None:
            raise UnsupportedNodeError(f"trace: value {arg!r} is not a traced tensor (constants are not supported)")
        if isinstance(value, _NeuronTuple):
            raise value.refuse("the (spk, mem) tuple")
        return value

    def module_call(self, n: torch.fx.Node, m: nn.Module) -> None:
        target = str(n.target)
        if len(n.args) != 1 or n.kwargs:
            raise UnsupportedNodeError(f"torch module '{target}' is called with {len(n.args)} arguments; expected 1")
        src = self.sources(n.args[0])
        if isinstance(m, _PASS_THROUGH):
            self.values[n] = src
            return
        if isinstance(m, nn.MaxPool2d):
            self.values[n] = (self.max_pool(self.prefix + target, m, src, _shape(n)),)
            return
        count = self.calls[target] = self.calls.get(target, 0) + 1
        if count > 1 and (isinstance(m, _NEURON_BASE) or _self_describing(m)):
            raise UnsupportedNodeError(f"neuron module '{target}' is called twice per step (shared state)")
        name = self.prefix + target + (f"@{count - 1}" if count > 1 else "")
        in_shape = _shape(n.args[0])
        if _self_describing(m):
            nodes, edges, entry, out = cast(Any, m).snncompile_ir(name, in_shape)
            for node_name, node in nodes.items():
                self.add(node_name, node, src if node_name == entry else ())
            self.edges.extend(edges)
            self.values[n] = (out,)
        elif isinstance(m, _NEURON_BASE):
            out = self.neuron(name, m, in_shape, src)
            self.values[n] = _NeuronTuple(target, m, (out,)) if m.output else (out,)
        else:
            self.add(name, _layer(target, m, in_shape), src)
            self.values[n] = (name,)

    def function_call(self, n: torch.fx.Node) -> None:
        if n.target in _ADD or (n.op == "call_method" and n.target == "add"):
            if len(n.args) != 2 or any(k != "alpha" or v != 1 for k, v in n.kwargs.items()):
                raise UnsupportedNodeError(f"torch operation '{n.format_node()}': only a + b of two traced values")
            a, c = self.sources(n.args[0]), self.sources(n.args[1])
            if set(a) & set(c):
                raise UnsupportedNodeError(f"torch operation '{n.format_node()}' adds a value to itself")
            self.values[n] = a + c
            return
        tup = self.values.get(n.args[0]) if n.args and isinstance(n.args[0], torch.fx.Node) else None
        if n.target is operator.getitem and isinstance(tup, _NeuronTuple):
            states = ("spk", "syn", "mem") if len(_shape_meta(n.args[0])) == 3 else ("spk", "mem")
            index = n.args[1] if isinstance(n.args[1], int) else None
            if index is not None and -len(states) <= index < 0:
                index += len(states)
            if index == len(states) - 1:  # the membrane: a readout
                self.values[n] = (self.membrane_readout(tup),)
                return
            if index != 0:
                what = states[index] if index is not None and 0 <= index < len(states) else "a state"
                raise tup.refuse(f"'{what}' (index {n.args[1]})")
            self.values[n] = tup.sources
            return
        raise UnsupportedNodeError(
            f"torch operation '{n.format_node()}' is not supported by snncompile.trace; supported: module calls, "
            "a + b of traced values, and [0] of a neuron's output=True tuple"
        )

    def max_pool(self, name: str, m: Any, src: Sources, out_shape: tuple[int, ...]) -> str:
        return torch_idioms.max_pool(self, name, m, src, out_shape)

    def membrane_readout(self, tup: _NeuronTuple) -> str:
        return torch_idioms.membrane_readout(self, tup, _RESETS)

    def neuron(self, name: str, m: Any, shape: tuple[int, ...], src: Sources) -> str:
        """Add the IR node(s) of a neuron module; returns the node whose output is the spikes."""
        kind = type(m).__name__
        sem = Semantics(
            compare="gt",
            reset=_RESETS[int(m.reset_mechanism_val)],
            timing="delayed" if m.reset_delay else "snntorch_immediate",
            delayed_zero="state" if kind == "Leaky" else "total",
            synapse_delay=0,
        )
        params: dict[str, Any] = {
            "shape": shape,
            "semantics": sem,
            "beta": _param(name, "beta", m.beta.clamp(0, 1), shape),
            "threshold": _param(name, "threshold", m.threshold, shape),
        }
        if kind in ("Synaptic", "RSynaptic"):
            params["alpha"] = _param(name, "alpha", m.alpha.clamp(0, 1), shape)
        dtype = params["beta"].dtype
        params["v_reset"] = np.zeros(shape, dtype)
        params["bias"] = np.zeros(shape, dtype)
        node = ir.CubaLIF(**params) if "alpha" in params else ir.LIF(**params)
        if kind in ("Leaky", "Synaptic"):
            self.add(name, node, src)
            return name
        lif, w_rec = f"{name}.lif", f"{name}.w_rec"
        self.add(lif, node, src)
        self.add(w_rec, _recurrent(name, m, shape), (lif,))
        self.edges.append((w_rec, lif))  # closes the cycle: the recurrent (t-1) edge
        return lif


def _self_describing(m: Any) -> bool:
    """A module that gives its own IR (``snncompile_ir``), e.g. the :mod:`snncompile.nn` layers."""
    return callable(getattr(m, "snncompile_ir", None))


def _shape_meta(n: Any) -> Any:
    meta = n.meta.get("tensor_meta") if isinstance(n, torch.fx.Node) else None
    if meta is None:
        raise UnsupportedNodeError(f"trace: value {n!r} is not a tensor")
    return meta


def _shape(n: Any) -> tuple[int, ...]:
    """The per-sample shape (batch dim dropped) ShapeProp recorded for fx node ``n``."""
    meta = _shape_meta(n)
    if not hasattr(meta, "shape"):
        raise UnsupportedNodeError(f"trace: value '{n}' is a tuple, not a tensor")
    return tuple(int(s) for s in meta.shape[1:])


def _check_module(name: str, m: Any, *, explicit_state: bool = False) -> None:
    """Refuse modules and arguments without an exact IR equivalent (before any shape work). ``explicit_state``:
    the model is traced by :mod:`.torch_loop`, so init_hidden=False is expected."""
    cls = type(m).__name__
    if isinstance(m, _LAYERS + _PASS_THROUGH) or _self_describing(m):
        return
    if not isinstance(m, _SUPPORTED_NEURONS):
        raise UnsupportedNodeError(
            f"torch module '{name}' ({cls}) is not supported by snncompile.trace; supported: {_SUPPORTED}"
        )
    if not m.init_hidden and not explicit_state:
        raise UnsupportedNodeError(
            f"neuron module '{name}' ({cls}) has init_hidden=False, so its forward takes and returns explicit "
            f"states that cannot be traced over time; construct the layer with init_hidden=True"
        )
    bad = {
        "graded_spikes_factor": bool(torch.any(torch.as_tensor(m.graded_spikes_factor) != 1)),
        "inhibition": bool(m.inhibition),
        "state_quant": bool(m.state_quant),
    }
    for arg, is_set in bad.items():
        if is_set:
            raise UnsupportedNodeError(
                f"neuron module '{name}' ({cls}): argument {arg}={getattr(m, arg)!r} is not supported"
            )
    if _STATE_FUNCTIONS.get(getattr(m.state_function, "__name__", "")) != int(m.reset_mechanism_val):
        raise UnsupportedNodeError(
            f"neuron module '{name}' ({cls}): reset_mechanism was changed after construction; snnTorch then "
            "mixes the old and new reset rules"
        )
    if cls == "RSynaptic" and not m.reset_delay:
        raise UnsupportedNodeError(
            f"neuron module '{name}' (RSynaptic): reset_delay=False cannot run in snnTorch 1.0.0 with "
            "init_hidden=True (its forward divides the spk argument, None, by graded_spikes_factor)"
        )
    probe = torch.tensor([-1.0, -1e-30, 0.0, 1e-30, 1.0])
    try:
        with torch.no_grad():
            heaviside = torch.equal(m.spike_grad(probe).float(), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))
    except Exception:
        heaviside = False
    if not heaviside:
        raise UnsupportedNodeError(
            f"neuron module '{name}' ({cls}): spike_grad's forward is not the Heaviside step (x > 0)"
        )
