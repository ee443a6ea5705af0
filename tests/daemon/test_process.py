"""`pullinfra agent` as a real subprocess: signals, crash recovery, --once exit codes, and
the push -> run latency through the poll timer and through a signed webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import signal
import subprocess
import time

import pytest

from tests.agent.receivers import http
from tests.agent.test_metrics import CONTRACT
from tests.daemon.helpers import SLOW_DEPLOY, pullinfra, runs

SLOW_FILES = {"inventory.py": 'hosts = ["@local"]\n', "deploys/a.txt": "A\n"}


def _slow(fleet, sleep: float) -> None:
    fleet.push({**SLOW_FILES, "deploys/slow.py": SLOW_DEPLOY.format(sleep=sleep)}, "slow")


def test_once_exit_codes(fleet) -> None:
    fleet.push_site()
    config = fleet.config()
    done = pullinfra("agent", "--config", str(config), "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'msg="run finished"' in done.stdout and "status=changed" in done.stdout
    again = pullinfra("agent", "--config", str(config), "--once")
    assert again.returncode == 0 and 'msg="run started"' not in again.stdout

    fleet.push({"deploys/fail.py": 'from pyinfra.operations import server\n'
                                   'server.shell(name="Fail", commands=["exit 3"])\n'})
    failing = pullinfra("agent", "--config", str(fleet.config("f.toml", deploy="deploys/fail.py")),
                        "--once")
    assert failing.returncode == 1, failing.stdout

    bad = fleet.tmp / "bad.toml"
    bad.write_text('[source]\nurl = "file:///x"\npoll_interval = "-1s"\n')
    usage = pullinfra("agent", "--config", str(bad), "--once")
    assert usage.returncode == 2
    assert "bad.toml:3" in usage.stderr and "Traceback" not in usage.stderr


def test_sighup_with_an_invalid_config_keeps_the_old_one(fleet, start_process) -> None:
    fleet.push_site()
    config = fleet.config(poll="300ms")
    agent = start_process(config)
    agent.wait_for('msg="run finished"')
    good = config.read_text()
    config.write_text(good + "\nnot_a_key = true\n")
    agent.signal(signal.SIGHUP)
    agent.wait_for("reload refused")
    assert "not_a_key" in agent.log()
    second = fleet.push_site(a="A2\n")
    agent.wait_for('msg="run finished"', count=2)
    assert runs(fleet.state)[-1].revision == second
    assert http("GET", f"{fleet.url}/healthz")[0] == 200
    config.write_text(good)
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_mid_run_records_interrupted_and_exits_0(fleet, start_process, sig) -> None:
    _slow(fleet, 2)
    config = fleet.config(grace="20s", deploy="deploys/slow.py")
    agent = start_process(config)
    agent.wait_for("stage=execute")
    time.sleep(0.3)
    agent.signal(sig)
    assert agent.wait(30) == 0
    [run] = runs(fleet.state)
    assert run.status == "interrupted"
    assert run.report["status"] == "interrupted"
    assert not (fleet.target / "a.txt").exists()  # the op after the cut never ran
    assert 'msg="agent stopped" clean=true' in agent.log()


def test_sigkill_mid_run_is_rerun_at_the_next_start(fleet, start_process) -> None:
    _slow(fleet, 3)
    config = fleet.config(deploy="deploys/slow.py")
    agent = start_process(config)
    agent.wait_for("stage=execute")
    agent.signal(signal.SIGKILL)
    agent.wait(10)
    assert [r.status for r in runs(fleet.state)] == ["running"]

    again = start_process(config, "agent2.log")
    # The first "run finished" is the recovered run's (interrupted), the second the re-run's.
    again.wait_for('msg="run finished"', count=2, timeout=30)
    history = runs(fleet.state)
    assert [(r.status, r.trigger) for r in history] == [("interrupted", "poll"),
                                                       ("changed", "retry")]
    assert (fleet.target / "a.txt").read_text() == "A\n"
    again.signal(signal.SIGTERM)
    assert again.wait(30) == 0


def test_push_to_applied_by_poll_and_by_signed_webhook(fleet, start_process) -> None:
    fleet.push_site()
    config = fleet.config(poll="1s")
    agent = start_process(config)
    agent.wait_for('msg="run finished"')

    pushed = time.monotonic()
    fleet.push_site(a="A2\n")
    agent.wait_for('msg="run finished"', count=2, timeout=10)
    by_poll = time.monotonic() - pushed
    assert by_poll < 5

    # A long poll interval, so only the webhook can explain a quick run.
    config.write_text(config.read_text().replace('poll_interval = "1s"',
                                                 'poll_interval = "1h"'))
    agent.signal(signal.SIGHUP)
    agent.wait_for("config reloaded")
    time.sleep(0.5)
    sha = fleet.push_site(a="A3\n")
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    signature = "sha256=" + hmac.new(b"hooksecret", body, hashlib.sha256).hexdigest()
    bad = http("POST", f"{fleet.url}/hooks/github", body,
               {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00",
                "Content-Type": "application/json"})
    assert bad[0] == 401
    sent = time.monotonic()
    status, _, _ = http("POST", f"{fleet.url}/hooks/github", body,
                        {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature,
                         "Content-Type": "application/json"})
    assert status == 202
    agent.wait_for("trigger=webhook", timeout=5)
    by_webhook = time.monotonic() - sent
    assert by_webhook < 2
    agent.wait_for('msg="run finished"', count=3, timeout=10)
    assert runs(fleet.state)[-1].revision == sha
    metrics = http("GET", f"{fleet.url}/metrics")[2].decode()
    assert 'pullinfra_webhook_requests_total{provider="github",result="unauthorized"} 1.0' \
        in metrics
    promtool = shutil.which("promtool")
    if promtool:
        checked = subprocess.run([promtool, "check", "metrics"], input=metrics,
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    for name in CONTRACT:
        assert f"# TYPE {name} " in metrics, name
    print(f"push->run finished by 1s poll: {by_poll:.2f}s; webhook->run started: "
          f"{by_webhook:.2f}s")
    agent.signal(signal.SIGTERM)
    assert agent.wait(30) == 0


def test_json_log_format_gives_one_json_object_per_line(fleet) -> None:
    fleet.push_site()
    config = fleet.config(extra='[log]\nformat = "json"\n')
    done = pullinfra("agent", "--config", str(config), "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    finished = [entry for entry in lines if entry.get("msg") == "run finished"]
    assert len(finished) == 1
    assert finished[0]["deployment"] == "site" and finished[0]["status"] == "changed"
    assert {"ts", "level", "msg"} <= set(finished[0])
