"""The GitOps daemon: timers, triggers, one run at a time per deployment, lifecycle.

`Agent` (agent.py) wires the source, engine, state, metrics, reports and HTTP together;
`runner.py` is one run; `deployments.py` the per-deployment lock and follow-up queue;
`scheduler.py` the poll and reconcile timers; `cli.py` the `pullinfra agent ...` commands.
"""

from agent.daemon.agent import Agent, AgentError

__all__ = ["Agent", "AgentError"]
