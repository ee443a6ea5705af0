"""Fault: the agent's wall clock steps forward two hours, then back three, while it runs
(an NTP step, a restored VM). Its timers, fetch backoff and report retries must keep their
length in real time: nothing stalls for the hours the clock moved, nothing fires all at once.

The agent runs with tests/faults/clockshift.c preloaded: its CLOCK_REALTIME (Python's
time.time and datetime.now) is off by the seconds the test writes to a file; its monotonic
clock is the machine's. The machine's own clock is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.acceptance_agent.fleet import app_state, expected_state, tree
from tests.acceptance_agent.harness import wait_for
from tests.faults.observe import accepted_reports, all_final, assert_each_report_once

SOURCE = Path(__file__).with_name("clockshift.c")
FORWARD = 2 * 3600
BACK = -3600  # from two hours ahead to one hour behind: a step of three hours back
IN_TIME = 30  # seconds: a few polls (1 s) and report retries (5 s, 10 s) on a loaded machine


@pytest.fixture
def clockshift(tmp_path: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler: scripts/bootstrap.sh installs gcc for the tests")
    library = tmp_path / "clockshift.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(SOURCE),
                    "-ldl"], check=True, capture_output=True)
    return library


@pytest.mark.xdist_group("faults-clock")
def test_wall_clock_stepping_forward_and_back_stalls_nothing(
        remote, receiver, bed_hosts, make_agent, clockshift, tmp_path):
    host, = bed_hosts(1)
    offset = tmp_path / "clock-offset"
    offset.write_text("0\n")
    agent = make_agent(url=remote.url, notify_url=f"{receiver.url}/reports")
    agent.env |= {"LD_PRELOAD": str(clockshift), "PULLINFRA_TEST_CLOCK_FILE": str(offset)}
    base = remote.commit_and_push(tree([host]), "base")
    agent.start()
    agent.wait_ready()
    assert agent.wait_finished(base)["status"] == "changed", agent.describe()

    def scrape_sum(name: str, **labels: str) -> float:
        return agent.scrape().sum(name, **labels)

    # Two hours ahead: polls go on at their pace; a report meets a receiver answering 500
    # and waits for its retry; the remote goes away and fetches back off.
    offset.write_text(f"{FORWARD}\n")
    receiver.status = 500
    ahead = remote.commit_and_push(tree([host], {"a": "2"}), "two hours ahead")
    run = agent.wait_finished(ahead, timeout=IN_TIME)
    assert run["status"] == "changed", agent.describe()
    assert run["started_at"] > time.time() + FORWARD - 60, run  # it saw the step
    wait_for(lambda: scrape_sum("pullinfra_notifications_total", result="retry") >= 1,
             IN_TIME, "a report waiting for its retry", describe=agent.describe)
    away = remote.bare.with_name("away.git")
    remote.bare.rename(away)
    wait_for(lambda: scrape_sum("pullinfra_source_fetch_total", result="failure") >= 2,
             IN_TIME, "fetches failing and backing off", describe=agent.describe)

    # Three hours back; the remote and the receiver return.
    offset.write_text(f"{BACK}\n")
    away.rename(remote.bare)
    receiver.status = 200
    behind = remote.commit_and_push(tree([host], {"a": "3"}), "one hour behind")
    run = agent.wait_finished(behind, timeout=IN_TIME)
    assert run["status"] == "changed", agent.describe()
    assert app_state(host) == expected_state({"a": "3"})
    wait_for(lambda: len(accepted_reports(receiver)) >= 3, IN_TIME,
             "the held report and the new one delivered", describe=agent.describe)
    # The scheduler's heartbeat (every 5 s) kept firing: /healthz stays 200 past 3 beats.
    after_one = remote.commit_and_push(tree([host], {"a": "4"}), "later")
    assert agent.wait_finished(after_one, timeout=IN_TIME)["status"] == "changed"
    wait_for(lambda: agent.healthz() == 200, 5, "/healthz 200", describe=agent.describe)

    runs = all_final(agent)
    assert assert_each_report_once(runs, receiver) == 4
    assert [r["source"]["revision"] for r in accepted_reports(receiver)] == [
        base, ahead, behind, after_one]
