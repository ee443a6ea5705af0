"""The head's plan against the base's: per host, what would change, and which operations'
plans the head changes. Pure: two plans in, one `Preview` out.

Operations are matched by name within a host (the n-th operation of a name with the n-th),
since a pull request may add, remove or move operations, and names are what reports show.
Two plans of an operation differ when their status or their diff differs: a head that
changes a template's text shows, on the hosts where that template is planned, a new diff.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.preview.plan import RevisionPlan
from agent.report.model import HostResult, OperationResult
from agent.vocab import HostStatus, OpStatus

_TROUBLE = frozenset({HostStatus.FAILED, HostStatus.UNREACHABLE})


@dataclass(frozen=True)
class OpPlan:
    """One operation's plan on one host (name, status, diff; all masked by the engine)."""

    name: str
    status: str
    diff: str | None = None


@dataclass(frozen=True)
class HostPlan:
    """What the head would do on one host."""

    name: str
    status: str
    error: str | None
    changes: tuple[OpPlan, ...]
    failures: tuple[OpPlan, ...]


@dataclass(frozen=True)
class OpDelta:
    """An operation whose plan differs between base and head; None: not planned there."""

    name: str
    base: OpPlan | None
    head: OpPlan | None


@dataclass(frozen=True)
class Preview:
    """A preview's whole result, as the CLI prints it and the agent posts it."""

    deployment: str | None
    base: str
    head: str
    files_changed: str
    """`git diff --stat` of base..head."""
    hosts: tuple[HostPlan, ...]
    compared: dict[str, tuple[OpDelta, ...]] = field(default_factory=dict)
    """Per host, the operations whose plan the head changes (only hosts with some)."""
    head_error: str | None = None
    base_error: str | None = None

    @property
    def changing(self) -> list[str]:
        return [h.name for h in self.hosts if h.status == HostStatus.CHANGED]

    @property
    def failing(self) -> list[str]:
        return [h.name for h in self.hosts if h.status in _TROUBLE]

    @property
    def has_failures(self) -> bool:
        return self.head_error is not None or bool(self.failing)

    @property
    def has_changes(self) -> bool:
        return bool(self.changing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment, "base": self.base, "head": self.head,
            "files_changed": self.files_changed, "head_error": self.head_error,
            "base_error": self.base_error,
            "summary": {"hosts": len(self.hosts), "would_change": len(self.changing),
                        "failed": len(self.failing)},
            "hosts": [asdict(h) for h in self.hosts],
            "compared_with_base": [{"host": host, "operations": [asdict(d) for d in deltas]}
                                   for host, deltas in self.compared.items()],
        }


def preview(deployment: str | None, base: RevisionPlan, head: RevisionPlan,
            files_changed: str) -> Preview:
    """The head's plan, and what differs from the base's plan host by host."""
    head_hosts = head.report.hosts if head.report else []
    base_hosts = {h.name: h for h in base.report.hosts} if base.report else {}
    compared: dict[str, tuple[OpDelta, ...]] = {}
    if base.report is not None and head.report is not None:
        names = [h.name for h in head_hosts] + [n for n in base_hosts
                                                 if n not in {h.name for h in head_hosts}]
        heads = {h.name: h for h in head_hosts}
        for name in names:
            deltas = tuple(_deltas(heads.get(name), base_hosts.get(name)))
            if deltas:
                compared[name] = deltas
    return Preview(deployment, base.revision, head.revision, files_changed,
                   tuple(_host_plan(h) for h in head_hosts), compared,
                   head_error=head.error, base_error=base.error)


def _host_plan(host: HostResult) -> HostPlan:
    return HostPlan(
        host.name, host.status, host.error,
        tuple(_op(o) for o in host.operations if o.status == OpStatus.CHANGED),
        tuple(_op(o) for o in host.operations if o.status == OpStatus.FAILED))


def _op(op: OperationResult) -> OpPlan:
    return OpPlan(op.name, op.status, op.diff)


def _keyed(host: HostResult | None) -> dict[tuple[str, int], OpPlan]:
    seen: Counter[str] = Counter()
    keyed = {}
    for op in host.operations if host else []:
        seen[op.name] += 1
        keyed[(op.name, seen[op.name])] = _op(op)
    return keyed


def _deltas(head: HostResult | None, base: HostResult | None) -> Iterable[OpDelta]:
    new, old = _keyed(head), _keyed(base)
    for key in [*new, *(k for k in old if k not in new)]:
        after, before = new.get(key), old.get(key)
        if after is None or before is None or (after.status, after.diff) != (
                before.status, before.diff):
            yield OpDelta(key[0], before, after)
