"""`pyinfra.api` essentials inside deploy code, backed by this engine."""

from agent.engine.command import (
    FileUploadCommand,
    FunctionCommand,
    MaskString,
    QuoteString,
    StringCommand,
)
from agent.engine.errors import DeployError
from agent.engine.fact import FactBase, FactError
from agent.engine.operation import OperationMeta, deploy, operation
from agent.engine.operation_errors import (
    OperationError,
    OperationTypeError,
    OperationValueError,
)

__all__ = [
    "DeployError",
    "FactBase",
    "FactError",
    "FileUploadCommand",
    "FunctionCommand",
    "MaskString",
    "OperationError",
    "OperationMeta",
    "OperationTypeError",
    "OperationValueError",
    "QuoteString",
    "StringCommand",
    "deploy",
    "operation",
]
