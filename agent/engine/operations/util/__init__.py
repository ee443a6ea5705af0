"""Helpers shared by operations; also where pyinfra deploy code finds ``any_changed``."""

from __future__ import annotations

from agent.engine.operation import all_changed, any_changed

__all__ = ["all_changed", "any_changed"]
