"""files operations: archives (filled in by the commits that follow)."""

from __future__ import annotations

__all__: list[str] = []
