"""One revision's plan: export it, load its inventory, run its deploys in plan mode.

The inventory and deploy code come from the revision itself, as an agent's run of that
commit would take them, so a pull request that adds a host or changes a deploy shows what it
would do. Everything a commit can get wrong ends as an error in the result, never as an
exception: a preview must outlive any proposed commit, as a run does (agent/daemon/runner.py).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.compat import load_inventory, run_deploy
from agent.engine.connectors.host_keys import HostKeyPolicy
from agent.engine.errors import UserError
from agent.engine.events import EventCallback
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result
from agent.report.model import ChangeReport
from agent.source import SourceError
from agent.vocab import Mode


@dataclass(frozen=True)
class Target:
    """What to plan in an export: a deployment's files and options, or the CLI's."""

    inventory: str
    deploys: tuple[str, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    limit: Sequence[str] | None = None
    parallel: int | None = None
    fail_percent: float | None = None
    name: str | None = None

    def with_overrides(self, data: Mapping[str, Any], limit: Sequence[str] | None) -> Target:
        """The CLI's --data and --limit over a deployment's own."""
        return dataclasses.replace(self, data={**self.data, **data},
                                   limit=limit if limit is not None else self.limit)


@dataclass(frozen=True)
class RevisionPlan:
    """A revision's plan: its report (masked by the engine), or why there is none."""

    revision: str
    report: ChangeReport | None
    error: str | None = None


HostKeys = Callable[[Path], HostKeyPolicy]
"""The host key policy for an export (the agent's is strict; the CLI keeps the engine's)."""


def plan_revision(checkout: Path, revision: str, target: Target, *,
                  host_keys: HostKeys | None = None, on_event: EventCallback | None = None,
                  cancel: threading.Event | None = None) -> RevisionPlan:
    """Plan `target` in the export of `revision` at `checkout`."""
    try:
        inventory = load_inventory(checkout / target.inventory, target.data, target.limit,
                                   root=checkout)
        options = RunOptions(mode=Mode.PLAN, parallel=target.parallel,
                             fail_percent=target.fail_percent, run_id=f"preview-{revision[:12]}",
                             cancel=cancel, project_root=checkout, local_root=checkout)
        if host_keys is not None:
            options = dataclasses.replace(options, host_keys=host_keys(checkout))
        result = run_deploy(inventory, [checkout / d for d in target.deploys], options,
                            on_event)
    except (UserError, SourceError, OSError) as exc:
        return RevisionPlan(revision, None, _relative(str(exc), checkout))
    for host in result.hosts:
        if host.error:
            host.error = _relative(host.error, checkout)
    report = from_result(result, Provenance(
        run_id=result.run_id, deployment=target.name,
        source={"revision": revision}))
    return RevisionPlan(revision, report)


def _relative(text: str, checkout: Path) -> str:
    """Errors name files in the export; show them as repository paths."""
    root = str(checkout)
    return text.replace(f"{root}{os.sep}", "").replace(root, ".")
