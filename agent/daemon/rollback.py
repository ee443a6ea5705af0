"""Which commit `pullinfra rollback` (and POST /api/rollback) goes back to, or why it refuses.

A rollback is the one recorded exception to "never apply a commit older than the applied
one" (the force-push refusal, agent/source/errors.py), so the commit is held to what the
operator can vouch for: the last good commit from the deployment's own history, or a named
commit that is on the branch (an ancestor of the head) or that the deployment applied before.
Anything else, such as a commit that only some other branch holds, is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.refusals import RollbackRefused
from agent.source import GitSource
from agent.state import RunRow, StateDB
from agent.vocab import APPLIED_STATUSES, Mode, Trigger

HISTORY_LIMIT = 1000
"""How many of the deployment's newest runs are searched for commits it applied."""


def applied_history(runs: Iterable[RunRow]) -> list[str]:
    """The commits the deployment brought every host to, newest first, each once."""
    seen: dict[str, None] = {}
    for run in runs:
        if run.revision and run.mode == Mode.APPLY and run.status in APPLIED_STATUSES:
            seen.setdefault(run.revision, None)
    return list(seen)


def last_good(runs: Iterable[RunRow], applied: str | None) -> str | None:
    """The newest applied commit other than `applied` that no rollback moved away from since
    it was applied: a second `pullinfra rollback` goes one further back instead of returning
    to the commit the first one fled. `runs` are newest first."""
    left: set[str | None] = set()  # what the rollbacks newer than this run moved away from
    for run in runs:
        if not (run.revision and run.mode == Mode.APPLY and run.status in APPLIED_STATUSES):
            continue
        if run.revision != applied and run.revision not in left:
            return run.revision
        if run.trigger == Trigger.ROLLBACK:
            left.add(run.previous_revision)
    return None


def rollback_target(db: StateDB, source: GitSource, deployment: str, to: str | None,
                    head: str | None) -> str:
    """The full SHA to roll `deployment` back to; RollbackRefused says why there is none."""
    runs = db.list_runs(deployment, limit=HISTORY_LIMIT, reports=False)
    applied = db.last_applied(deployment)
    if to is None:
        found = last_good(runs, applied)
        if found is None:
            raise RollbackRefused(
                f"deployment {deployment!r} has no earlier good commit than "
                f"{(applied or 'none')[:12]} in its history; name one with --to REV")
        return found
    history = applied_history(runs)
    full = source.resolve_commit(to.strip())
    if full is None:
        raise RollbackRefused(
            f"{to!r} is not a commit the agent's clone of {source.display_url} has; give a "
            "commit SHA (short or full) from `pullinfra history` or the branch")
    if full in history or (head is not None and source.is_ancestor(full, head)):
        return full
    raise RollbackRefused(
        f"refusing to roll back to {full[:12]}: it is neither on {source.config.ref} (an "
        f"ancestor of its head {(head or 'unknown')[:12]}) nor a commit deployment "
        f"{deployment!r} applied before")
