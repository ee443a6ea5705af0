"""Fixtures for the fault suite: the agent acceptance tests' real agent, git remote and
report receiver (tests/acceptance_agent/conftest.py), reused as they are."""

from __future__ import annotations

from tests.acceptance_agent.conftest import make_agent, receiver, remote

__all__ = ["make_agent", "receiver", "remote"]
