"""Execute: failures stop one host, retries, ignore/continue, run-once, timeouts, secrets."""

from __future__ import annotations

import threading

import pytest

from agent.compat import run_deploy
from agent.engine.command import MaskString
from agent.engine.connectors.base import CommandArgs, make_unix_command
from agent.engine.events import OperationStarted, Progress, StageFinished
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result


@pytest.fixture
def three_hosts(write, tmp_path):
    lines = [f'("{h}", {{"log": "{tmp_path}/{h}.log"}})' for h in ("h1", "h2", "h3")]
    return write("inv.py", f"hosts = [{', '.join(lines)}]\nbad = ['h2']\n")


def test_failing_host_stops_alone_and_carries_details(write, run_local, three_hosts, tmp_path):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from tests.engine.testops import mark, shell
        mark(name="one", label="one")
        if "bad" in host.groups:
            shell("echo to-stderr >&2; exit 3", name="breaks")
        mark(name="two", label="two")
        """,
    )
    result = run_local(three_hosts, deploy)
    assert result.host("h2").status == "failed"
    assert result.host("h1").status == result.host("h3").status == "changed"
    failed = result.host("h2").operations[-1]
    assert (failed.name, failed.status, failed.exit_code) == ("breaks", "failed", 3)
    assert failed.stderr_tail == "to-stderr"
    assert failed.commands == ["echo to-stderr >&2; exit 3"]
    assert "exit code 3" in result.host("h2").error
    assert [op.name for op in result.host("h2").operations] == ["one", "breaks"]
    assert (tmp_path / "h2.log").read_text().split() == ["one"]
    assert (tmp_path / "h3.log").read_text().split() == ["one", "two"]
    assert result.has_failures and result.status() == "partial"


def test_ignore_errors_and_continue_on_error(write, run_local, three_hosts, tmp_path):
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import shell, mark
        shell("false", "touch {tmp_path}/after-ignored", name="ignored", _ignore_errors=True)
        shell("false", "touch {tmp_path}/continued", name="continued", _continue_on_error=True)
        mark(name="never", label="never")
        """,
    )
    result = run_local(three_hosts, deploy, limit=["h1"])
    ops = {op.name: op for op in result.host("h1").operations}
    assert ops["ignored"].status == "failed" and ops["ignored"].ignored
    assert not (tmp_path / "after-ignored").exists()  # the op stopped at its failed command
    assert ops["continued"].status == "failed"
    assert (tmp_path / "continued").exists()  # ...but this one went on to the next command
    assert "never" not in ops
    assert result.host("h1").status == "failed"


def test_retries_rerun_the_whole_operation(write, run_local, three_hosts, tmp_path):
    counter = tmp_path / "count"
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import shell
        shell("echo x >> {counter}; test $(wc -l < {counter}) -ge 3",
              name="flaky", _retries=3, _retry_delay=0)
        """,
    )
    result = run_local(three_hosts, deploy, limit=["h1"])
    assert result.host("h1").operations[0].status == "changed"
    assert counter.read_text().count("x") == 3


def test_timeout_fails_the_command(write, run_local, three_hosts):
    deploy = write(
        "deploy.py",
        'from tests.engine.testops import shell\nshell("sleep 30", name="slow", _timeout=0.3)\n',
    )
    result = run_local(three_hosts, deploy, limit=["h1"])
    op = result.host("h1").operations[0]
    assert op.status == "failed" and "timed out" in op.error


def test_fail_percent_aborts_the_run(write, run_local, three_hosts, tmp_path):
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from tests.engine.testops import mark, shell
        if "bad" in host.groups:
            shell("exit 1", name="breaks")
        mark(name="after", label="after")
        """,
    )
    result = run_local(three_hosts, deploy, fail_percent=10)
    assert result.aborted and "fail-percent" in result.aborted
    assert not (tmp_path / "h1.log").exists()
    assert result.status() == "failed"
    tolerant = run_local(three_hosts, deploy, fail_percent=50)
    assert tolerant.aborted is None and (tmp_path / "h1.log").exists()


def test_run_once_serial_and_parallel(write, run_local, three_hosts, tmp_path):
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import mark
        mark(name="once", path="{tmp_path}/once", label="x", _run_once=True)
        mark(name="serial", label="s", _serial=True)
        mark(name="pairs", label="p", _parallel=2)
        """,
    )
    result = run_local(three_hosts, deploy)
    assert (tmp_path / "once").read_text().split() == ["x"]
    assert [h.operations[0].status for h in result.hosts] == ["changed", "skipped", "skipped"]
    assert all(h.status == "changed" for h in result.hosts)
    assert (tmp_path / "h3.log").read_text().split() == ["s", "p"]


def test_plan_collects_commands_and_changes_nothing(write, run_local, three_hosts, tmp_path):
    deploy = write(
        "deploy.py",
        f'from tests.engine.testops import touch\ntouch(name="t", path="{tmp_path}/planned")\n',
    )
    result = run_local(three_hosts, deploy, mode="plan", limit=["h1"])
    op = result.host("h1").operations[0]
    assert op.status == "changed" and op.commands == [f"touch {tmp_path}/planned"]
    assert not (tmp_path / "planned").exists()
    assert result.status() == "drift_detected"


def test_secrets_never_appear_in_results(write, run_local, tmp_path):
    inventory = write(
        "inv.py",
        'h = [("h1", {"db_password": "hunter2-secret", "api": "tok-123",'
        ' "secret_keys": ["api"]})]\n',
    )
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from pyinfra.api import MaskString, StringCommand
        from tests.engine.testops import shell
        shell(f"echo {host.data.db_password} {host.data.api} >&2; exit 1", name="leaky")
        shell(StringCommand("echo", MaskString("masked-bit")), name="masked")
        """,
    )
    result = run_local(inventory, deploy)
    text = from_result(result, Provenance(run_id=result.run_id)).to_json()
    assert "hunter2-secret" not in text and "tok-123" not in text
    assert "***" in result.host("h1").operations[0].stderr_tail
    masked = run_local(inventory, write("d2.py", deploy.read_text().replace('shell(f"', '#')))
    assert masked.host("h1").operations[0].commands == ["echo ***"]
    assert MaskString("x") == "x"


def test_stage_events_and_progress(write, run_local, three_hosts):
    deploy = write("deploy.py", "from tests.engine.testops import mark\nmark(label='a')\n")
    events = []
    run_local(three_hosts, deploy, events=events)
    stages = [e.stage for e in events if isinstance(e, StageFinished)]
    assert stages == ["setup", "connect", "prepare", "execute", "disconnect"]
    assert [e.hosts for e in events if isinstance(e, OperationStarted)] == [("h1", "h2", "h3")]
    assert [e.hosts_done for e in events if isinstance(e, Progress)] == [1, 2, 3]


def test_unreachable_host_is_reported_and_the_others_go_on(write, tmp_path):
    inventory = write(
        "inv.py",
        f'here = [("@local", {{"log": "{tmp_path}/local.log"}})]\n'
        'gone = [("198.18.255.254", {"ssh_connect_timeout": 1, "ssh_port": 9})]\n',
    )
    deploy = write("deploy.py", "from tests.engine.testops import mark\nmark(label='a')\n")
    result = run_deploy(inventory, [deploy], RunOptions())
    assert result.host("198.18.255.254").status == "unreachable"
    assert result.host("198.18.255.254").error
    assert result.host("@local").status == "changed"


def test_two_runs_in_two_threads_do_not_mix(write, tmp_path):
    barrier = threading.Barrier(2)
    runs = {}
    for tag in ("left", "right"):
        directory = tmp_path / tag
        directory.mkdir()
        entries = [f'("{tag}-{i}", {{"log": "{directory}/{tag}-{i}.log"}})' for i in range(3)]
        hosts = ", ".join(entries)
        (directory / "inv.py").write_text(f"g = [{hosts}]\n")
        (directory / "deploy.py").write_text(
            "from pyinfra import host\n"
            "from tests.engine.testops import mark, wait_at\n"
            f"mark(name='{tag}-first', label=host.name)\n"
            "if host.name.endswith('-0'):\n"
            "    wait_at(host.data.barrier, name='meet')\n"
            f"mark(name='{tag}-second', label=host.name)\n"
        )
        runs[tag] = directory

    from agent.engine.connectors.local import LocalConnector

    results = {}

    def go(tag):
        directory = runs[tag]
        results[tag] = run_deploy(
            directory / "inv.py",
            [directory / "deploy.py"],
            RunOptions(data={"barrier": barrier}, connector_factory=lambda s: LocalConnector()),
        )

    threads = [threading.Thread(target=go, args=(tag,)) for tag in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert barrier.broken is False
    for tag in runs:
        result = results[tag]
        assert {h.name for h in result.hosts} == {f"{tag}-{i}" for i in range(3)}
        assert [op.name for op in result.operations] == [f"{tag}-first", "meet", f"{tag}-second"]
        for i in range(3):
            name = f"{tag}-{i}"
            assert (runs[tag] / f"{name}.log").read_text().split() == [name, name]
            assert result.host(name).status == "changed"


def test_command_wrapping_matches_pyinfra():
    args = CommandArgs(sudo=True, sudo_user="app", env={"A": "1 2"}, chdir="/srv")
    assert make_unix_command("ls", args).get_raw_value() == (
        "sudo -H -n -u app sh -c 'cd /srv && export '\"'\"'A=1 2'\"'\"' && ls'"
    )
    su = CommandArgs(su_user="app", shell_executable="bash")
    assert make_unix_command("id", su).get_raw_value() == "su app -c 'bash -c id'"
