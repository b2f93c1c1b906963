"""The error hierarchy.

Every error snncompile raises on bad input is a ``SnnCompileError``; the CLI maps
each class to an exit code (docs/cli.md) and prints the message as one line.
Messages say what was wrong, where (node, quantity) and what was expected.
"""

from __future__ import annotations


class SnnCompileError(Exception):
    """Base of every error snncompile raises deliberately."""

    exit_code: int = 2


class InputError(SnnCompileError):
    """A file or argument the user gave cannot be read as what it claims to be."""


class GraphError(SnnCompileError):
    """The graph is malformed: shapes, cycles, dangling edges, bad parameters."""


class ParameterError(GraphError):
    """A node parameter that cannot be used (not finite real numbers, not whole numbers, the wrong shape).

    Raised by node constructors, which do not know the node's name: ``str(err)`` is ``"<Type>: <detail>"``, and a
    reader that knows the name re-raises :meth:`named` (``"node '<name>' (<Type>): <detail>"``).
    """

    def __init__(self, node_type: str, detail: str) -> None:
        super().__init__(f"{node_type}: {detail}")
        self.node_type = node_type
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable (sweeps send errors between processes)
        return type(self), (self.node_type, self.detail)

    def named(self, name: str) -> GraphError:
        return GraphError(f"node '{name}' ({self.node_type}): {self.detail}")


class UnsupportedNodeError(SnnCompileError):
    """A node type (or option of it) that a front end or backend cannot handle."""


class QuantizationError(SnnCompileError):
    """A value does not fit the integer width it must be stored in."""


class ResourceError(SnnCompileError):
    """A hardware rule is violated (names core, resource, allocation, capacity)."""

    exit_code = 3


class OutputError(SnnCompileError):
    """A file or folder could not be written: disk full, read-only file system, no permission, size limit.

    The message names the path and the operating system's reason (``[ENOSPC]``); whatever was
    being built is removed, so nothing half-written is left behind.
    """

    exit_code = 1


class BackendError(SnnCompileError):
    """An external toolchain failed; the message holds the command and stderr tail."""

    exit_code = 1


class VerificationError(SnnCompileError):
    """A bit-exact rung found a mismatch (rung, layer, neuron, step, expected, got)."""

    exit_code = 1


class DependencyError(SnnCompileError):
    """An optional dependency a command needs is not installed; the message says how to install it."""


class SnnCompileWarning(UserWarning):
    """Base of every warning snncompile issues; the CLI prints each as one line, ``snncompile: warning: <message>``."""


class OverflowRiskWarning(SnnCompileWarning):
    """Calibration shows a state beyond its fixed register width; saturation will clip it."""


class SaturationWarning(SnnCompileWarning):
    """A register saturated or wrapped at run time on the data actually run (node, register, count, first step)."""
