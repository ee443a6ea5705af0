"""server facts: scripts (filled in by the catalogue work of the next commits)."""

from __future__ import annotations

__all__: list[str] = []
