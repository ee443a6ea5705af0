"""Errors an operation raises when its arguments or the host's state make it impossible.

They carry a message meant for the person who wrote the deploy; the engine reports it against
the operation and host instead of a traceback.
"""

from __future__ import annotations


class OperationError(Exception):
    """The operation cannot do what was asked on this host."""


class OperationValueError(OperationError, ValueError):
    """An argument has the right type but a value the operation cannot use."""


class OperationTypeError(OperationError, TypeError):
    """An argument has a type the operation cannot use."""
