"""server operations: crontab, pyinfra's alias of `crontab.crontab` (the same operation, so
it keeps that name in results, as pyinfra's alias does)."""

from __future__ import annotations

from agent.catalogue.operations.crontab import crontab

__all__ = ["crontab"]
