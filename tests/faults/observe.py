"""What every fault test checks once the fault is over: nothing left `running`, every
report at the receiver exactly once, and the helpers that read a run's hosts."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tests.acceptance_agent.harness import FINISHED, Agent
from tests.agent.receivers import Receiver

DELIVERY_HEADER = "x-pullinfra-delivery"


def host_entry(run: Mapping[str, Any], host: str) -> dict[str, Any]:
    """One host's entry in a run's report."""
    report = run.get("report") or {}
    for entry in report.get("hosts") or ():
        if entry["name"] == host:
            return dict(entry)
    raise AssertionError(f"host {host} not in run {run.get('id')}: {json.dumps(report)[:500]}")


def all_final(agent: Agent) -> list[dict[str, Any]]:
    """Every run in the history (the state CLI), asserting that none is left `running`."""
    history = agent.history()
    open_runs = [(r["id"], r["status"]) for r in history if r["status"] not in FINISHED]
    assert not open_runs, f"runs left unfinished: {open_runs}\n{agent.describe()}"
    return history


def accepted_reports(receiver: Receiver) -> list[dict[str, Any]]:
    """The reports the receiver answered 2xx, one per delivery id (a receiver drops the
    resends of one delivery by its X-Pullinfra-Delivery header, as report/webhook.py says)."""
    seen: set[str] = set()
    reports = []
    for request in receiver.received():
        if not 200 <= request.answered < 300:
            continue
        headers = {k.lower(): v for k, v in request.headers.items()}
        delivery = headers.get(DELIVERY_HEADER, "")
        assert delivery, f"a report without {DELIVERY_HEADER}: {request.headers}"
        if delivery not in seen:
            seen.add(delivery)
            reports.append(request.json())
    return reports


def resent(receiver: Receiver) -> int:
    """How many accepted requests repeated a delivery id already accepted."""
    ids = Counter({k.lower(): v for k, v in r.headers.items()}.get(DELIVERY_HEADER)
                  for r in receiver.received() if 200 <= r.answered < 300)
    return sum(n - 1 for n in ids.values())


def assert_each_report_once(runs: Iterable[Mapping[str, Any]], receiver: Receiver) -> int:
    """Every run whose stored report a notifier with `on = ["all"]` wants (all but
    `unchanged`, agent/report/filters.py) is at the receiver once, and nothing else is;
    returns how many reports that is."""
    expected = [int(r["id"]) for r in runs
                if r.get("report") is not None and r["report"]["status"] != "unchanged"]
    got = [int(report["run_id"]) for report in accepted_reports(receiver)]
    duplicated = sorted(run_id for run_id, n in Counter(got).items() if n > 1)
    assert not duplicated, f"runs reported twice under different deliveries: {duplicated}"
    assert sorted(got) == sorted(expected), (
        f"missing at the receiver: {sorted(set(expected) - set(got))}; "
        f"not expected: {sorted(set(got) - set(expected))}")
    assert got == sorted(got), f"reports out of run order: {got}"
    return len(got)
