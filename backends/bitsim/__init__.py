"""bitsim: the bit-exact integer simulator, the reference semantics of every QGraph.

``run_plain`` (:mod:`.plain`) is the definition: step by step, node by node,
int64. Fast paths must give identical integers.
"""

from __future__ import annotations

from .plain import check_inputs, run_plain

__all__ = ["check_inputs", "run_plain"]
