"""The error hierarchy.

Every error snncompile raises on bad input is a ``SnnCompileError``; the CLI maps
each class to an exit code (ARCHITECTURE §6) and prints the message as one line.
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


class UnsupportedNodeError(SnnCompileError):
    """A node type (or option of it) that a front end or backend cannot handle."""


class QuantizationError(SnnCompileError):
    """A value does not fit the integer width it must be stored in."""


class ResourceError(SnnCompileError):
    """A hardware rule is violated (names core, resource, allocation, capacity)."""

    exit_code = 3


class BackendError(SnnCompileError):
    """An external toolchain failed; the message holds the command and stderr tail."""

    exit_code = 1


class VerificationError(SnnCompileError):
    """A bit-exact rung found a mismatch (rung, layer, neuron, step, expected, got)."""

    exit_code = 1


class SnnCompileWarning(UserWarning):
    """Base of every warning snncompile issues; the CLI prints each as one line, ``snncompile: warning: <message>``."""


class OverflowRiskWarning(SnnCompileWarning):
    """Calibration shows a state beyond its fixed register width; saturation will clip it."""


class SaturationWarning(SnnCompileWarning):
    """A register saturated or wrapped at run time on the data actually run (node, register, count, first step)."""
