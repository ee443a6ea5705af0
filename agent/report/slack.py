"""Slack incoming webhook: one summary line, then the failed hosts with their errors.

The webhook URL itself is the credential (Slack puts the secret in its path), so it is never
logged: errors name only https://hooks.slack.com.
"""

from __future__ import annotations

import json

from agent.report import transport
from agent.report.delivery import Delivery
from agent.report.model import ChangeReport, HostResult
from agent.vocab import OpStatus, RunStatus

MAX_FAILED_HOSTS = 20
MAX_ERROR_CHARS = 300

_ICONS = {
    RunStatus.CHANGED: ":white_check_mark:",
    RunStatus.UNCHANGED: ":white_check_mark:",
    RunStatus.DRIFT_CORRECTED: ":wrench:",
    RunStatus.DRIFT_DETECTED: ":warning:",
    RunStatus.FAILED: ":x:",
    RunStatus.PARTIAL: ":warning:",
    RunStatus.INTERRUPTED: ":double_vertical_bar:",
}


def _escape(text: str) -> str:
    """Slack mrkdwn treats & < > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary_line(report: ChangeReport) -> str:
    h, o = report.summary.hosts, report.summary.operations
    name = _escape(report.deployment or "(no deployment)")
    return (
        f"{_ICONS.get(report.status, '')} *{name}* {report.status} "
        f"at `{report.short_revision}` ({report.trigger}, {report.mode}): "
        f"hosts {h.total} total, {h.changed} changed, {h.unchanged} unchanged, "
        f"{h.failed} failed, {h.unreachable} unreachable; "
        f"operations {o.changed} changed, {o.unchanged} unchanged, "
        f"{o.skipped} skipped, {o.failed} failed"
    ).strip()


def message(report: ChangeReport) -> dict:
    """The incoming-webhook payload: `text` (summary + failed hosts), readable without blocks."""
    lines = [summary_line(report)]
    failed = report.failed_hosts
    for host in failed[:MAX_FAILED_HOSTS]:
        error = (host.error or _first_failed_op(host) or "no error message").strip()
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        lines.append(f"• `{_escape(host.name)}` {host.status}: {_escape(error)}")
    if len(failed) > MAX_FAILED_HOSTS:
        lines.append(f"… and {len(failed) - MAX_FAILED_HOSTS} more failed hosts")
    return {"text": "\n".join(lines)}


def _first_failed_op(host: HostResult) -> str | None:
    for op in host.operations:
        if op.status == OpStatus.FAILED:
            tail = f": {op.stderr_tail.strip()}" if op.stderr_tail else ""
            return f"operation {op.name!r} failed{tail}"
    return None


class SlackSender:
    def __init__(self, url: str, timeout: float = 10.0):
        self._url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SlackSender({transport.where(self._url)!r})"

    def send(self, delivery: Delivery) -> None:
        body = json.dumps(message(delivery.report)).encode()
        transport.post(self._url, body, {}, self.timeout)
