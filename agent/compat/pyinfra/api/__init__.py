"""`pyinfra.api` essentials inside deploy code, backed by this engine."""

from agent.engine.command import (
    FileUploadCommand,
    FunctionCommand,
    MaskString,
    QuoteString,
    StringCommand,
)
from agent.engine.errors import DeployError
from agent.engine.facts.base import FactBase, FactError
from agent.engine.operation import OperationMeta, operation


class OperationError(Exception):
    """Raised by an operation whose arguments cannot work; the host fails with it."""


class OperationValueError(OperationError, ValueError):
    pass


__all__ = [
    "DeployError",
    "FactBase",
    "FactError",
    "FileUploadCommand",
    "FunctionCommand",
    "MaskString",
    "OperationError",
    "OperationMeta",
    "OperationValueError",
    "QuoteString",
    "StringCommand",
    "operation",
]
