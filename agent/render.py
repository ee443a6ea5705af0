"""Console output for `pullinfra apply/plan`: engine events in, pyinfra-like lines out.

Everything goes to one text stream (stderr in the CLI) so stdout stays free for --json.
"""

from __future__ import annotations

from typing import TextIO

from agent.engine.errors import UserError
from agent.engine.events import (
    EngineWarning,
    Event,
    HostConnected,
    HostFailed,
    HostPrepared,
    HostUnreachable,
    OperationHostResult,
    OperationRetry,
    OperationStarted,
    OrderReady,
    RunAborted,
    StageFinished,
    StageStarted,
)
from agent.engine.result import OpHostResult, RunResult
from agent.vocab import Mode, OpStatus, Stage

STAGE_TITLES = {
    Stage.SETUP: "Setup: loading the inventory and deploy files",
    Stage.CONNECT: "Connect: reaching the hosts",
    Stage.PREPARE: "Prepare: running the deploy code per host and ordering operations",
    Stage.EXECUTE: "Execute: running operations, each on all its hosts",
    Stage.DISCONNECT: "Disconnect",
}
COLORS = {"green": "32", "yellow": "33", "red": "31", "blue": "34", "dim": "2", "bold": "1"}


class ConsoleRenderer:
    def __init__(self, stream: TextIO, mode: Mode = Mode.APPLY,
                 color: bool | None = None) -> None:
        self.stream = stream
        self.mode = mode
        self.color = stream.isatty() if color is None else color

    def _paint(self, text: str, color: str) -> str:
        return f"\033[{COLORS[color]}m{text}\033[0m" if self.color else text

    def _line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _on_StageStarted(self, event: StageStarted) -> None:
        self._line(self._paint(f"--> {STAGE_TITLES.get(event.stage, event.stage)}", "bold"))

    def _on_StageFinished(self, event: StageFinished) -> None:
        self._line(self._paint(f"    {event.stage} done in {event.duration_seconds:.2f}s", "dim"))

    def _on_HostConnected(self, event: HostConnected) -> None:
        self._line(f"    [{event.host}] {self._paint('Connected', 'green')}")

    def _on_HostUnreachable(self, event: HostUnreachable) -> None:
        self._line(f"    [{event.host}] {self._paint('Unreachable', 'red')}: {event.error}")

    def _on_HostPrepared(self, event: HostPrepared) -> None:
        self._line(f"    [{event.host}] Ready: {event.operations} operations")

    def _on_HostFailed(self, event: HostFailed) -> None:
        self._line(f"    [{event.host}] {self._paint('Error', 'red')}: {event.error}")

    def _on_OrderReady(self, event: OrderReady) -> None:
        self._line(f"    {len(event.operations)} operations in this order:")
        for number, (name, hosts) in enumerate(event.operations, 1):
            self._line(f"      {number}. {name} ({len(hosts)} hosts: {', '.join(hosts)})")

    def _on_OperationStarted(self, event: OperationStarted) -> None:
        progress = self._paint(f"[{event.index}/{event.total}]", "blue")
        self._line(f"--> {progress} {event.name} on {len(event.hosts)} hosts")

    def _on_OperationRetry(self, event: OperationRetry) -> None:
        self._line(
            f"    [{event.host}] {self._paint('Retry', 'yellow')}"
            f" {event.attempt}/{event.retries}: {event.error}"
        )

    def _on_OperationHostResult(self, event: OperationHostResult) -> None:
        self._line(f"    [{event.host}] {self._status_text(event.result)}")
        self._details(event.result)

    def _status_text(self, result: OpHostResult) -> str:
        if result.status == OpStatus.CHANGED:
            word = "Would change" if self.mode == Mode.PLAN else "Success"
            return self._paint(word, "green")
        if result.status == OpStatus.NO_CHANGE:
            reason = f" ({'; '.join(result.reasons)})" if result.reasons else ""
            return self._paint("No change", "dim") + reason
        if result.status == OpStatus.SKIPPED:
            reason = f" ({'; '.join(result.reasons)})" if result.reasons else ""
            return self._paint("Skipped", "dim") + reason
        word = "Error (ignored)" if result.ignored else "Error"
        return self._paint(word, "red") + f": {result.error}"

    def _details(self, result: OpHostResult) -> None:
        if self.mode == Mode.PLAN and result.status == OpStatus.CHANGED:
            for command in result.commands:
                self._line(f"        $ {command}")
            if result.diff:
                for line in result.diff.rstrip("\n").splitlines():
                    self._line("        " + self._diff_color(line))
        if result.status == OpStatus.FAILED:
            if result.exit_code is not None:
                self._line(f"        exit code: {result.exit_code}")
            for line in result.stderr_tail.splitlines():
                self._line(self._paint(f"        stderr: {line}", "red"))

    def _diff_color(self, line: str) -> str:
        if line.startswith("+") and not line.startswith("+++"):
            return self._paint(line, "green")
        if line.startswith("-") and not line.startswith("---"):
            return self._paint(line, "red")
        return line

    def _on_EngineWarning(self, event: EngineWarning) -> None:
        where = f"{event.location}: " if event.location else ""
        host = f"[{event.host}] " if event.host else ""
        self._line(self._paint(f"    {host}Warning: {where}{event.message}", "yellow"))

    def _on_RunAborted(self, event: RunAborted) -> None:
        self._line(self._paint(f"--> Run stopped: {event.reason}", "red"))

    def error(self, exc: UserError) -> None:
        self._line(self._paint(f"--> Error: {exc}", "red"))

    def results(self, result: RunResult) -> None:
        """The results table: per operation, then per host."""
        self._line(self._paint("--> Results", "bold"))
        changed_word = "Would change" if self.mode == Mode.PLAN else "Changed"
        header = ("Operation", "Hosts", changed_word, "No change", "Skipped", "Error")
        rows = []
        totals = [0, 0, 0, 0, 0]
        statuses = tuple(OpStatus)
        for number, op in enumerate(result.operations, 1):
            counts = [0, 0, 0, 0, 0]
            for host in result.hosts:
                for op_result in host.operations:
                    if op_result.index == number:
                        counts[0] += 1
                        counts[1 + statuses.index(op_result.status)] += 1
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
            rows.append((op.name, *map(str, counts)))
        rows.append(("Grand total", *map(str, totals)))
        self._table(header, rows)
        self._line()
        host_rows = [
            (h.name, h.status, h.error or "") for h in result.hosts
        ]
        self._table(("Host", "Status", "Error"), host_rows)
        summary = result.summary()["hosts"]
        self._line(
            f"    {summary['total']} hosts: {summary['changed']} changed,"
            f" {summary['unchanged']} unchanged, {summary['failed']} failed,"
            f" {summary['unreachable']} unreachable; {result.duration_seconds:.2f}s"
        )

    def _table(self, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        widths = [min(width, 60) for width in widths]

        def fmt(row: tuple[str, ...]) -> str:
            cells = (str(c)[:60].ljust(w) for c, w in zip(row, widths, strict=True))
            return "    " + " | ".join(cells)

        self._line(fmt(header))
        self._line("    " + "-+-".join("-" * w for w in widths))
        for row in rows:
            self._line(fmt(row))

