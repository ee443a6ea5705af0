"""Helpers shared by the operations; ``any_changed`` is here too, where pyinfra keeps it."""

from __future__ import annotations

from agent.engine.operation import all_changed, any_changed

__all__ = ["all_changed", "any_changed"]
