"""Why the agent refuses a request, in its own words: the daemon raises these, and each door
(HTTP, the CLI) turns them into its own answer (a status code, an exit code).

They live below every package that raises or maps them, so neither side imports the other.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request the agent will not carry out; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ShuttingDown(Refusal):
    """The agent is stopping and starts nothing new."""


class UnknownDeployment(Refusal):
    """The request names a deployment the config does not have."""


class DeploymentSuspended(Refusal):
    """The deployment is suspended; `pullinfra resume` lifts it."""


class WindowClosed(Refusal):
    """The deployment's sync windows are closed; a manual run needs an override with a reason."""


class RollbackRefused(Refusal):
    """The rollback names no commit the agent may go back to (or none is left)."""
