"""`pullinfra apply/plan`: exit codes, output, --json ChangeReport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main
from tests.oracle import STANDIN_MARK, standin_imports, write_standin_pyinfra

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(write, tmp_path):
    inventory = write("inv.py", f'local = [("@local", {{"log": "{tmp_path}/log"}})]\n')
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import touch
        touch(name="make it", path="{tmp_path}/made")
        """,
    )
    return inventory, deploy


def test_apply_then_plan_exit_codes_and_json(project, tmp_path, capsys):
    inventory, deploy = project
    assert main(["plan", str(inventory), str(deploy), "--detailed-exitcode"]) == 3
    assert not (tmp_path / "made").exists()
    capsys.readouterr()

    assert main(["apply", str(inventory), str(deploy), "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["schema"] == "pullinfra/change-report/v1"
    assert report["mode"] == "apply" and report["status"] == "changed"
    assert set(report["stages"]) == {"setup", "connect", "prepare", "execute", "disconnect"}
    assert report["summary"]["hosts"] == {
        "total": 1, "changed": 1, "unchanged": 0, "failed": 0, "unreachable": 0
    }
    op = report["hosts"][0]["operations"][0]
    assert set(op) == {"name", "status", "commands", "diff", "stderr_tail", "exit_code",
                       "duration_seconds"}
    assert op["name"] == "make it" and op["status"] == "changed"
    for stage in ("Setup", "Connect", "Prepare", "Execute", "Disconnect", "Results"):
        assert f"--> {stage}" in captured.err
    assert "[@local] Success" in captured.err

    assert main(["plan", str(inventory), str(deploy), "--detailed-exitcode"]) == 0
    assert "[@local] No change" in capsys.readouterr().err


def test_failed_host_exits_1(write, tmp_path):
    inventory = write("inv.py", 'local = ["@local"]\n')
    deploy = write("deploy.py", "from tests.engine.testops import shell\nshell('exit 4')\n")
    assert main(["apply", str(inventory), str(deploy)]) == 1


@pytest.mark.parametrize(
    ("inventory_text", "deploy_text", "extra", "expected"),
    [
        ("local = ['@local'\n", "x = 1\n", [], "inv.py:1"),
        ("local = ['@local']\n", "x = \n", [], "deploy.py:1"),
        ("local = ['@local']\n", "x = 1\nnot_defined\n", [], "deploy.py:2"),
        ("local = ['@local']\n", "x = 1\n", ["--data", "novalue"], "key=value"),
        ("local = ['@local']\n", "x = 1\n", ["--limit", "nobody"], "matches no host"),
    ],
)
def test_user_errors_exit_2_with_one_clear_message(
    write, capsys, inventory_text, deploy_text, extra, expected
):
    inventory = write("inv.py", inventory_text)
    deploy = write("deploy.py", deploy_text)
    assert main(["apply", str(inventory), str(deploy), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_bad_flags_exit_2(project):
    inventory, deploy = project
    for bad in (["--parallel", "0"], ["--fail-percent", "120"], ["--nope"]):
        with pytest.raises(SystemExit) as caught:
            main(["apply", str(inventory), str(deploy), *bad])
        assert caught.value.code == 2


def test_console_script_runs_the_engine_even_with_real_pyinfra_installed(project, tmp_path):
    """Users may have pyinfra installed beside pullinfra; the CLI must neither break on it
    nor import it. pullinfra's venv must not hold real pyinfra (tests/oracle.py says why),
    so a stand-in package named `pyinfra` on the path takes its place: it logs every import
    of it, which shows that nothing in the CLI or the engine picked it up."""
    inventory, deploy = project
    standin = write_standin_pyinfra(tmp_path / "standin")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(standin)])}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "apply", str(inventory), str(deploy), "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["hosts"][0]["status"] == "changed"
    assert (tmp_path / "made").exists()
    assert standin_imports(standin) == []
    found = subprocess.run([sys.executable, "-c", "import pyinfra; print(pyinfra.STANDIN)"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert found.stdout.strip() == STANDIN_MARK, found.stderr  # it was there to be found
