"""The load test drives a real agent with the acceptance tests' fixtures: a git remote, a
report receiver and agents stopped by pid at teardown."""

from tests.acceptance_agent.conftest import make_agent, receiver, remote

__all__ = ["make_agent", "receiver", "remote"]
