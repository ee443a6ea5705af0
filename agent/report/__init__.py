"""Change reports: the ChangeReport model, who wants which report, the senders, the outbox.

Data flows source -> engine -> report: the daemon turns a finished run into a `ChangeReport`,
puts one outbox row per interested notifier (`filters.wants`), and the `Outbox` delivers each
notifier's rows in order with retries (`outbox.py`) through its sender (`senders.build_sender`).
"""

from agent.report.model import SCHEMA, ChangeReport

__all__ = ["SCHEMA", "ChangeReport"]
