"""Which tracer reads a model: Sinabs, Rockpool or Norse modules (anywhere in the model) go to their own
(:mod:`.trace_sinabs`, :mod:`.trace_rockpool`, :mod:`.trace_norse`); everything else to :mod:`.torch_trace`.
A model mixing two of those frameworks is refused by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedNodeError

FRAMEWORKS = ("sinabs", "rockpool", "norse")


def framework_of(module: Any) -> str | None:
    """The framework whose modules ``module`` contains (by the top-level package of each module's class)."""
    from torch import nn

    found = set()
    # nn.Module.modules, not the attribute: Rockpool's Module.modules() is a dict of its own
    modules = nn.Module.modules(module) if isinstance(module, nn.Module) else iter([module])
    for m in modules:
        root = type(m).__module__.split(".")[0]
        if root in FRAMEWORKS:
            found.add(root)
    if len(found) > 1:
        raise UnsupportedNodeError(f"trace: the model mixes modules of {' and '.join(sorted(found))}; one "
                                   "framework per model")
    return next(iter(found), None)


def framework_tracer(module: Any) -> Callable[..., Any] | None:
    """The trace function for ``module``'s framework, or None (snnTorch / plain torch)."""
    name = framework_of(module)
    if name == "sinabs":
        from .trace_sinabs import trace_sinabs

        return trace_sinabs
    if name == "rockpool":
        from .trace_rockpool import trace_rockpool

        return trace_rockpool
    if name == "norse":
        from .trace_norse import trace_norse

        return trace_norse
    return None
