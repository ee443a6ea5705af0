"""The GitOps daemon: timers, triggers, one run at a time per deployment, lifecycle.

`Agent` (agent.py) wires the source, engine, state, metrics, reports and HTTP together;
`runner.py` is one run; `deployments.py` the per-deployment lock and follow-up queue;
`scheduler.py` the poll and reconcile timers; `cli.py` registers the `pullinfra agent ...`
commands and `commands.py` runs them.

`Agent` is imported on first use, not here: agent/cli.py imports this package for every
command (`pullinfra apply`, `--version`), and agent.py pulls in git, pydantic, apscheduler and
prometheus_client, which only the daemon commands need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.daemon.agent import Agent, AgentError

__all__ = ["Agent", "AgentError"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("agent.daemon.agent"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
