"""docs/change-report.schema.json describes the ChangeReport receivers get. These check it
against reports produced by the real thing (`pullinfra apply/plan --json` on @local, and a
real `pullinfra agent --once` run read back with `pullinfra show --json`), and that it refuses
what a receiver must not accept, so the schema can neither drift nor be vacuous."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent import vocab
from tests.agent.gitfixtures import Remote

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "change-report.schema.json").read_text())
PULLINFRA = [sys.executable, "-m", "agent.cli"]
INVENTORY = 'hosts = ["@local"]\n'


def _validate(report: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(report)


def _run(*args: str, cwd: Path, expect: int) -> dict[str, Any]:
    done = subprocess.run([*PULLINFRA, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == expect, done.stderr
    return json.loads(done.stdout)


def _deploy(tmp_path: Path, body: str) -> Path:
    (tmp_path / "inventory.py").write_text(INVENTORY)
    path = tmp_path / "deploy.py"
    path.write_text("from pyinfra.operations import files, server\n" + body)
    return path


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_an_apply_that_changes_matches(tmp_path: Path) -> None:
    _deploy(tmp_path, f'files.file(name="Make a file", path="{tmp_path}/out.txt")\n')
    report = _run("apply", "inventory.py", "deploy.py", "--json", cwd=tmp_path, expect=0)
    assert report["status"] == vocab.RunStatus.CHANGED
    assert report["hosts"][0]["operations"][0]["status"] == vocab.OpStatus.CHANGED
    _validate(report)


def test_an_apply_that_fails_matches(tmp_path: Path) -> None:
    _deploy(tmp_path, 'server.shell(name="Fail", commands=["echo broken >&2; exit 3"])\n')
    report = _run("apply", "inventory.py", "deploy.py", "--json", cwd=tmp_path, expect=1)
    assert report["status"] == vocab.RunStatus.FAILED
    op = report["hosts"][0]["operations"][0]
    assert op["status"] == vocab.OpStatus.FAILED and op["exit_code"] == 3
    _validate(report)


def test_a_plan_with_a_diff_matches(tmp_path: Path) -> None:
    (tmp_path / "conf.txt").write_text("new\n")
    (tmp_path / "dest.txt").write_text("old\n")
    _deploy(tmp_path, f'files.put(name="Conf", src="conf.txt", dest="{tmp_path}/dest.txt")\n')
    report = _run("plan", "inventory.py", "deploy.py", "--json", cwd=tmp_path, expect=0)
    assert report["mode"] == vocab.Mode.PLAN
    assert (tmp_path / "dest.txt").read_text() == "old\n"
    _validate(report)


def test_an_agent_run_matches(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "repo")
    remote.commit_and_push({
        "inventory.py": INVENTORY,
        "deploy.py": "from pyinfra.operations import files\n"
                     f'files.file(name="Mark", path="{tmp_path}/mark")\n',
    }, "first")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[source]\nurl = "{remote.url}"\n\n[[deployment]]\nname = "web"\n'
        'inventory = "inventory.py"\ndeploys = ["deploy.py"]\n\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
    )
    done = subprocess.run([*PULLINFRA, "agent", "--config", str(config), "--once"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    runs = _run("history", "--json", "--config", str(config), cwd=tmp_path, expect=0)
    run_id = str(runs[0]["id"])
    report = _run("show", run_id, "--json", "--config", str(config), cwd=tmp_path, expect=0)
    assert report["deployment"] == "web" and report["source"]["revision"] == remote.head()
    _validate(report)


def test_the_enums_are_vocab_values() -> None:
    props, defs = SCHEMA["properties"], SCHEMA["$defs"]
    assert props["status"]["enum"] == list(vocab.REPORT_STATUSES)
    assert props["trigger"]["enum"] == list(vocab.Trigger)
    assert props["mode"]["enum"] == list(vocab.Mode)
    assert props["stages"]["propertyNames"]["enum"] == list(vocab.Stage)
    assert defs["host"]["properties"]["status"]["enum"] == list(vocab.HostStatus)
    assert defs["operation"]["properties"]["status"]["enum"] == list(vocab.OpStatus)


def _report() -> dict[str, Any]:
    from agent.report.model import ChangeReport

    return ChangeReport.from_dict({
        "run_id": 1, "agent": {"instance": "a", "version": "0"}, "deployment": "web",
        "trigger": "poll", "mode": "apply", "source": {}, "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:01Z", "duration_seconds": 1.0, "status": "changed",
        "hosts": [{"name": "h", "status": "changed",
                   "operations": [{"name": "op", "status": "changed"}]}],
    }).to_dict()


@pytest.mark.parametrize("breaks", [
    lambda r: r.update(status=vocab.RunStatus.RUNNING),
    lambda r: r.update(status="exploded"),
    lambda r: r.pop("summary"),
    lambda r: r["hosts"][0]["operations"][0].pop("commands"),
    lambda r: r["hosts"][0].update(status="fine"),
    lambda r: r["agent"].update(extra=1),
    lambda r: r["stages"].update(deploy=1.0),
    lambda r: r.update(schema="pullinfra/change-report/v2"),
])
def test_a_broken_report_is_refused(breaks: Any) -> None:
    report = _report()
    _validate(report)
    broken = copy.deepcopy(report)
    breaks(broken)
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken)


def test_every_model_field_is_required() -> None:
    """to_dict() always writes every field, so the schema requires every one; but the
    optional keys added to v1, which only reports they apply to carry."""
    from agent.report.model import ChangeReport

    optional = {"rollout"}
    assert set(SCHEMA["required"]) == set(_report()) == {
        f.alias or n for n, f in ChangeReport.model_fields.items()} - optional
    assert optional <= set(SCHEMA["properties"])
