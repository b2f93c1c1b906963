"""Fake quantisation for quantisation-aware training, with the compiler's rules (:mod:`snncompile.quant`).

For a weight layer feeding a neuron layer (one scale group per output channel, ``granularity="channel"``,
or one for the layer, ``"tensor"``), with ``q = 2^(weight_bits-1) - 1`` and ``m = max |w|`` over the group:

    scale      s = q / m  ("maxabs");  2^floor(log2(q/m))  ("pow2");  1 where the group's weights are all 0
    weight     w' = clamp(round(w*s), -q, q) / s
    bias       b' = round(b*s) / s
    threshold  theta' = round(theta*s) / s   (v_reset and neuron bias likewise)
    decay      d' = round(d * 2^D) / 2^D     (D = spec.frac_bits; alpha and beta)

``round`` is half away from zero (:func:`snncompile.quant.scales.round_half_away`). The forward pass sees the
quantised values, the backward pass is the identity (straight-through). The model-level :func:`qat` also uses the
compiler's merged scale groups and gives every neuron layer a :class:`NeuronQAT`, with which the layer runs
bitsim's integer step (fixed-point decay rounding, v/i registers clamped to ``spec.state_bits``). Per-layer
precision (``spec.layers``) is resolved as the quantiser does (:func:`snncompile.quant.layers.layer_specs`): each
group's ``q``, each neuron's D and register width are its layer's. Not modelled:
``scale_rule="percentile"``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import torch

from ..errors import QuantizationError
from ..quant.spec import QuantSpec


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, halves away from zero, with a straight-through gradient."""
    r = torch.sign(x) * torch.floor(x.abs() + 0.5)
    return x + (r - x).detach()


def layer_scale(weight: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    """The scale of every output channel [C_out] (the same value everywhere for ``granularity="tensor"``)."""
    if spec.scale_rule == "percentile":
        raise QuantizationError("qat: scale_rule='percentile' is not modelled; use 'maxabs' or 'pow2'")
    q = (1 << (spec.weight_bits - 1)) - 1
    w = weight.detach().abs().reshape(weight.shape[0], -1)
    m = w.max(dim=1).values if spec.granularity == "channel" else w.max().expand(weight.shape[0])
    scale = torch.where(m > 0, q / m.clamp(min=1e-300), torch.ones_like(m))
    if spec.scale_rule == "pow2":
        scale = torch.pow(2.0, torch.floor(torch.log2(scale)))
    return scale


def fake_quant_weight(weight: torch.Tensor, scale: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    q = (1 << (spec.weight_bits - 1)) - 1
    s = scale.reshape(-1, *([1] * (weight.ndim - 1))).to(weight.dtype)
    return torch.clamp(round_half_away(weight * s), -q, q) / s


def fake_quant_value(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """A bias, threshold, v_reset or neuron bias on the scale of its channel: round(x*s)/s."""
    s = scale.to(value.dtype)
    return round_half_away(value * s) / s


def fake_quant_decay(decay: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    one = float(1 << spec.frac_bits)
    return round_half_away(decay.clamp(0, 1) * one) / one


# -- applying it to a model -------------------------------------------------------------------------------------------

_TINY = 1e-300
_NEURON_VALUES = ("threshold", "v_reset", "bias")  # on the neuron's scale (v_init too when semantics uses it)


def _round64(x: torch.Tensor) -> torch.Tensor:
    """Half away from zero in float64, no gradient (the compiler's :func:`~snncompile.quant.scales.round_half_away`)."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


class _FakeQuant(torch.nn.Module):
    """The parametrization put on one tensor: forward value from the handle, identity gradient."""

    def __init__(self, handle: QATHandle, key: tuple[str, str]) -> None:
        super().__init__()
        self._handle = [handle]  # a list, so the handle is not registered as a submodule
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        handle = self._handle[0]
        if not handle.enabled:
            return x
        fq = handle._values()[self.key].to(x.dtype)
        return fq + (x - x.detach())  # value exactly fq; d/dx = 1 (straight-through)


class NeuronQAT:
    """What a neuron layer under QAT needs for the compiler's integer step (set as ``layer._qat`` by
    :class:`QATHandle`, removed by ``remove()``): the node's current ``scale`` (float64, the neuron's shape),
    ``frac_bits`` D, the decay ``rounding``, the register ``overflow`` policy and ``bits`` (``spec.state_bits``;
    None: the compiler sizes the registers from calibration, so no clamping is modelled)."""

    def __init__(self, handle: QATHandle, name: str) -> None:
        self._handle, self.name = handle, name
        spec = handle.specs[name]  # the layer's effective spec (per-layer precision)
        self.frac_bits, self.rounding, self.overflow, self.bits = (
            spec.frac_bits, spec.rounding, spec.overflow, spec.state_bits)

    @property
    def enabled(self) -> bool:
        return self._handle.enabled

    @property
    def scale(self) -> torch.Tensor:
        self._handle._compute()
        return self._handle._scales[self.name]


class QATHandle:
    """Fake quantisation attached to a model by :func:`qat`; see there. ``enabled`` may be toggled freely."""

    def __init__(self, model: torch.nn.Module, spec: QuantSpec, sample: torch.Tensor, enabled: bool = True) -> None:
        from torch.nn.utils import parametrize

        from .. import trace
        from ..errors import UnsupportedNodeError
        from ..nodes import Affine, Linear, NeuronNode
        from ..quant.fold import plan_folding
        from ..quant.layers import group_weight_bits, layer_specs
        from .neurons import _Neuron

        if spec.scale_rule == "percentile":
            raise QuantizationError("qat: scale_rule='percentile' is not modelled; use 'maxabs' or 'pow2'")
        for m in model.modules():
            if parametrize.is_parametrized(m) and any(
                isinstance(p, _FakeQuant) for plist in m.parametrizations.values()  # type: ignore[operator]
                for p in plist
            ):
                raise QuantizationError("qat: the model already has fake quantisation; remove() it first")
        self.model, self.spec, self.enabled = model, spec, enabled
        graph = trace(model, sample)
        plan = plan_folding(graph, spec.granularity)
        self.n_groups = plan.n_groups
        #: the effective spec of every IR weight layer and neuron node (``spec.layers`` resolved, as quantize does)
        self.specs = layer_specs(graph, plan, spec)
        self._group_q = torch.as_tensor(((1 << group_weight_bits(plan, self.specs)) - 1) >> 1, dtype=torch.float64)
        mods = dict(model.named_modules())
        self._layers: dict[str, dict] = {}
        self._neurons: dict[str, dict] = {}
        for name, fold in plan.layers.items():
            module = mods.get(name[:-len(".w_rec")] + ".recurrent" if name.endswith(".w_rec") else name)
            if not isinstance(module, torch.nn.Linear | torch.nn.Conv1d | torch.nn.Conv2d) or "@" in name:
                raise UnsupportedNodeError(f"qat: weight layer '{name}' does not map to one nn.Linear/nn.Conv module")
            node = graph.nodes[name]
            w_shape = tuple(module.weight.shape)
            tail = (1,) * (len(w_shape) - 1)
            if isinstance(node, Affine | Linear):
                in_gain = torch.as_tensor(fold.in_gain, dtype=torch.float64).reshape(1, -1)
            else:
                c_out, c_in_g = w_shape[0], w_shape[1]
                group_of_out = np.arange(c_out) // (c_out // node.groups)  # type: ignore[attr-defined]
                cols = group_of_out[:, None] * c_in_g + np.arange(c_in_g)[None, :]
                in_gain = torch.as_tensor(fold.in_gain[cols], dtype=torch.float64).reshape(c_out, c_in_g, *tail[1:])
            self._layers[name] = {
                "module": module, "groups": torch.as_tensor(fold.groups, dtype=torch.int64),
                "out_gain": torch.as_tensor(fold.out_gain, dtype=torch.float64), "in_gain": in_gain,
                "tail": tail, "has_bias": module.bias is not None and not isinstance(node, Linear),
            }
        for name, groups in plan.neurons.items():
            node = graph.nodes[name]
            assert isinstance(node, NeuronNode)
            module = mods.get(name[:-len(".lif")] if name.endswith(".lif") else name)
            if not isinstance(module, _Neuron):
                raise UnsupportedNodeError(f"qat: neuron node '{name}' is not an snncompile.nn layer")
            values = [q for q in _NEURON_VALUES if getattr(module, q) is not None and hasattr(node, q)]
            decays = [d for d in ("alpha", "beta") if getattr(module, d) is not None and hasattr(node, d)]
            if module.semantics.initial_v == "v_init":
                values.append("v_init")
            self._neurons[name] = {
                "module": module, "groups": torch.as_tensor(groups, dtype=torch.int64), "shape": tuple(node.shape),
                "values": values, "own": [q for q in _NEURON_VALUES if hasattr(node, q)], "decays": decays,
            }
        self._cache_key: tuple | None = None
        self._cache: dict[tuple[str, str], torch.Tensor] = {}
        self._scales: dict[str, torch.Tensor] = {}
        self._registered: list[tuple[torch.nn.Module, str]] = []
        for name, info in self._layers.items():
            for attr in ("weight", "bias") if info["has_bias"] else ("weight",):
                self._register(info["module"], attr, (name, attr))
        for name, info in self._neurons.items():
            for attr in (*info["values"], *info["decays"]):
                self._register(info["module"], attr, (name, attr))
        self._attached: list[Any] = []  # the _Neuron layers given a NeuronQAT
        for name, info in self._neurons.items():
            info["module"]._qat = NeuronQAT(self, name)
            self._attached.append(info["module"])
        if spec.rounding == "shift_subtract":
            self._check_shift_leak()

    def _check_shift_leak(self) -> None:
        """rounding="shift_subtract" (v - (v >> k)) admits only decays 1 - 2^-k and 1: refuse a decay the
        compiler would refuse, and a learnable one (training would move it off that set)."""
        from ..quant.qnodes import check_shift_form

        one = 1 << self.spec.frac_bits
        for name, info in self._neurons.items():
            for a in info["decays"]:
                raw = self._raw(info["module"], a)
                if raw.requires_grad:
                    raise QuantizationError(
                        f"qat: node '{name}': {a} is learnable, but rounding='shift_subtract' admits only decays "
                        f"1 - 2^-k (k in 0..{self.spec.frac_bits}) and 1; fix it to one of those (learn_{a}=False)")
                d = torch.broadcast_to(raw.detach().clamp(0, 1).double(), info["shape"]).numpy()
                check_shift_form(name, a, np.sign(d) * np.floor(np.abs(d) * one + 0.5), self.spec.frac_bits, d)

    def _register(self, module: torch.nn.Module, attr: str, key: tuple[str, str]) -> None:
        from torch.nn.utils import parametrize

        parametrize.register_parametrization(module, attr, _FakeQuant(self, key), unsafe=True)
        self._registered.append((module, attr))

    # -- the compiler's numbers ----------------------------------------------------------------------------------------
    def _raw(self, module: torch.nn.Module, attr: str) -> torch.Tensor:
        from torch.nn.utils import parametrize

        if parametrize.is_parametrized(module, attr):
            return module.parametrizations[attr].original  # type: ignore[index,union-attr,no-any-return]
        return getattr(module, attr)  # type: ignore[no-any-return]

    def _compute(self) -> None:
        tensors = [self._raw(i["module"], a) for i in self._layers.values() for a in ("weight", "bias")
                   if a == "weight" or i["has_bias"]]
        tensors += [self._raw(i["module"], a) for i in self._neurons.values()
                    for a in (*i["values"], *i["decays"], *i["own"])]
        key = tuple((id(t), t._version, t.dtype) for t in tensors)
        if key == self._cache_key:
            return
        spec = self.spec
        n = self.n_groups
        m_w = torch.zeros(n, dtype=torch.float64)
        m_b = torch.zeros(n, dtype=torch.float64)
        m_n = torch.zeros(n, dtype=torch.float64)
        eff: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        with torch.no_grad():
            for name, info in self._layers.items():
                mod = info["module"]
                w = self._raw(mod, "weight").detach().double() * info["out_gain"].reshape(-1, *info["tail"])
                w = w * info["in_gain"]
                b = (self._raw(mod, "bias").detach().double() * info["out_gain"] if info["has_bias"]
                     else torch.zeros(w.shape[0], dtype=torch.float64))
                eff[name] = (w, b)
                m_w.scatter_reduce_(0, info["groups"], w.abs().reshape(w.shape[0], -1).amax(1), "amax")
                m_b.scatter_reduce_(0, info["groups"], b.abs(), "amax")
            for info in self._neurons.values():
                mod, shape = info["module"], info["shape"]
                mags = [torch.broadcast_to(self._raw(mod, a).detach().double().abs(), shape) for a in info["own"]]
                if mags:
                    own = torch.stack(mags).amax(0)
                    m_n.scatter_reduce_(0, info["groups"].reshape(-1), own.reshape(-1), "amax")
            m = torch.where(m_w > 0, m_w, torch.where(m_b > 0, m_b, torch.where(m_n > 0, m_n, torch.ones_like(m_w))))
            scale = self._group_q / m.clamp(min=_TINY)
            if spec.scale_rule == "pow2":
                _, e = torch.frexp(scale)
                scale = torch.ldexp(torch.ones_like(scale), e - 1)
            out: dict[tuple[str, str], torch.Tensor] = {}
            scales: dict[str, torch.Tensor] = {}
            for name, info in self._layers.items():
                s = scale[info["groups"]]
                scales[name] = s
                w, b = eff[name]
                sw = s.reshape(-1, *info["tail"])
                og = info["out_gain"].reshape(-1, *info["tail"])
                q = float((1 << (self.specs[name].weight_bits - 1)) - 1)
                out[(name, "weight")] = torch.clamp(_round64(w * sw), -q, q) / sw / og / info["in_gain"]
                if info["has_bias"]:
                    out[(name, "bias")] = _round64(b * s) / s / info["out_gain"]
            for name, info in self._neurons.items():
                one = float(1 << self.specs[name].frac_bits)
                mod, shape = info["module"], info["shape"]
                s = scale[info["groups"]]
                scales[name] = s
                for a in info["values"]:
                    x = torch.broadcast_to(self._raw(mod, a).detach().double(), shape)
                    out[(name, a)] = _round64(x * s) / s
                for a in info["decays"]:
                    d = self._raw(mod, a).detach().clamp(0, 1).double()
                    out[(name, a)] = _round64(d * one) / one
        self._cache, self._scales, self._cache_key = out, scales, key

    def _values(self) -> dict[tuple[str, str], torch.Tensor]:
        self._compute()
        return self._cache

    def scales(self) -> dict[str, torch.Tensor]:
        """The compiler's scale (float64) of every weight layer per output channel [C_out] and of every neuron node
        (its shape), keyed by IR node name, for the current float parameters."""
        self._compute()
        return dict(self._scales)

    def integers(self) -> dict[str, dict[str, torch.Tensor]]:
        """The integers the compiler will produce from the current float parameters (int64), per IR node name:
        weight layers ``{"weight", "bias"}``, neurons ``{"threshold", "v_reset", "bias", "v_init", "alpha",
        "beta"}`` (those present; decays as round(d * 2^frac_bits))."""
        self._compute()
        res: dict[str, dict[str, torch.Tensor]] = {}
        for (name, attr), fq in self._cache.items():
            if name in self._layers:
                info = self._layers[name]
                tail = info["tail"]
                g = info["out_gain"] if attr == "bias" else info["out_gain"].reshape(-1, *tail) * info["in_gain"]
                s = self._scales[name] if attr == "bias" else self._scales[name].reshape(-1, *info["tail"])
                ints = _round64(fq * g * s)
            elif attr in ("alpha", "beta"):
                ints = _round64(fq * float(1 << self.specs[name].frac_bits))
            else:
                ints = _round64(fq * self._scales[name])
            res.setdefault(name, {})[attr] = ints.to(torch.int64)
        return res

    # -- switching -----------------------------------------------------------------------------------------------------
    def remove(self) -> None:
        """Take the fake quantisation off: the model is the plain float model again (parameters are the same
        objects, so an optimizer built before or during QAT still holds them)."""
        from torch.nn.utils import parametrize

        for module, attr in reversed(self._registered):
            if parametrize.is_parametrized(module, attr):
                parametrize.remove_parametrizations(module, attr, leave_parametrized=False)
        self._registered.clear()
        for module in self._attached:
            module._qat = None
        self._attached.clear()
        self.enabled = False

    def disabled(self) -> _Disabled:
        """``with handle.disabled(): ...`` runs the float model, then restores the previous state."""
        return _Disabled(self)

    def __enter__(self) -> QATHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class _Disabled:
    def __init__(self, handle: QATHandle) -> None:
        self.handle = handle

    def __enter__(self) -> QATHandle:
        self.before, self.handle.enabled = self.handle.enabled, False
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.enabled = self.before


def qat(model: torch.nn.Module, spec: QuantSpec, sample: torch.Tensor, *, enabled: bool = True) -> QATHandle:
    """Make ``model``'s forward pass see the values the compiler will produce under ``spec``.

    ``sample`` is one time step of input with a batch dim (as for :func:`snncompile.trace`); the model is traced
    once to get the compiler's scale groups (:func:`snncompile.quant.fold.plan_folding`: per output channel, or
    merged across layers by recurrence / fan-in, one per non-spiking readout, gains of AvgPool2d folded in).
    Every forward then recomputes the scales from the current float weights (cached until a parameter changes)
    with :func:`snncompile.quant.scales.group_scales`' rule and replaces, via ``torch.nn.utils.parametrize``:
    weights and biases of nn.Linear / nn.Conv (recurrent ones too), threshold / v_reset / bias (/ v_init) and
    alpha / beta of every snncompile.nn neuron, by their fake-quantised values (float64 arithmetic, cast to the
    parameter dtype), with identity gradients. Returns a :class:`QATHandle`: ``enabled`` toggles it,
    ``disabled()`` is a context manager, ``remove()`` (or leaving ``with qat(...)``) restores the plain model.
    While active, ``state_dict`` keys read ``<module>.parametrizations.<name>.original``; remove before saving,
    tracing or exporting. Each snncompile.nn neuron layer gets a :class:`NeuronQAT` (``layer._qat``) and then
    runs bitsim's integer step: decays rounded as ``round(v_int*beta_int / 2^D)`` in ``spec.rounding``, v and i
    on their integer grid and, with ``spec.state_bits``, saturated or wrapped (``spec.overflow``) to the register
    where bitsim clamps them; exact forward values, identity gradients. So the fake-quantised model's spikes equal
    bitsim's on the compiled graph. Not modelled: ``scale_rule="percentile"`` (refused) and registers sized from
    calibration (``state_bits=None``) that the QAT model overflows although the float model did not.
    """
    return QATHandle(model, spec, sample, enabled)


class _CallableModule(types.ModuleType):
    """Lets ``snncompile.nn.qat(model, spec, sample)`` call :func:`qat` while ``snncompile.nn.qat.layer_scale``
    etc. stay module attributes."""

    def __call__(self, model: torch.nn.Module, spec: QuantSpec, sample: torch.Tensor, *,
                 enabled: bool = True) -> QATHandle:
        return qat(model, spec, sample, enabled=enabled)


sys.modules[__name__].__class__ = _CallableModule
