"""A test-only operation for the concurrency test: wait at a threading.Barrier (in-process).

Deploy files import it as a plain Python module; it is not part of pullinfra's catalogue.
"""

from __future__ import annotations

import threading

from agent.engine.command import FunctionCommand
from agent.engine.operation import operation


@operation()
def meet(barrier: threading.Barrier):
    """Both runs reach this operation before either goes on: their executes overlap."""
    yield FunctionCommand(barrier.wait, (60,), {})
