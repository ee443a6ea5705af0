"""`pyinfra.operations.util` inside deploy code."""

from agent.engine.operation import all_changed, any_changed

__all__ = ["all_changed", "any_changed"]
