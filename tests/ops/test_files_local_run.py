"""files operations run for real through run_deploy on @local, inside a temporary directory.

First run changes things, the second reports "no change" for every operation, and the final
state is read straight from disk.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agent.compat import run_deploy
from agent.engine.result import RunResult
from agent.engine.run import RunOptions

DEPLOY = '''
from io import StringIO

from pyinfra import host
from pyinfra.operations import files

root = host.data.root

files.directory(name="demo dir", path=f"{root}/demo dir", mode="0750")
files.file(name="empty file", path=f"{root}/demo dir/empty", mode="640")
files.put(name="upload", src="motd.txt", dest=f"{root}/demo dir/motd", mode=600)
files.put(name="upload io", src=StringIO("from io\\n"), dest=f"{root}/new/sub/io.txt")
files.template(
    name="template",
    src="templates/app.conf.j2",
    dest=f"{root}/demo dir/app.conf",
    port=8080,
)
files.line(name="line", path=f"{root}/demo dir/settings", line="^debug=.*$", replace="debug=0")
files.line(name="line append", path=f"{root}/demo dir/noeol", line="second",
           ensure_newline=True)
files.link(name="link", path=f"{root}/current", target=f"{root}/demo dir")
files.file(name="remove", path=f"{root}/stale", present=False)
files.line(name="drop", path=f"{root}/demo dir/settings", line="^# drop me$", present=False)
'''

TEMPLATE = "name={{ host.name }}\nport={{ port }}\n"


def _project(tmp_path: Path) -> tuple[Path, Path, Path]:
    project = tmp_path / "project"
    root = tmp_path / "target"
    (project / "templates").mkdir(parents=True)
    root.mkdir()
    (project / "motd.txt").write_text("welcome\n")
    (project / "templates" / "app.conf.j2").write_text(TEMPLATE)
    (project / "deploy.py").write_text(DEPLOY)
    inventory = project / "inventory.py"
    inventory.write_text(f"hosts = [('@local', {{'root': {str(root)!r}}})]\n")
    (root / "stale").write_text("old")
    (root / "demo dir").mkdir()
    (root / "demo dir" / "noeol").write_text("first")
    (root / "demo dir" / "settings").write_text("# drop me\ndebug=1\nkeep=1\n")
    return project, inventory, root


def _statuses(result: RunResult) -> dict[str, str]:
    return {op.name: op.status for op in result.host("@local").operations}


def _errors(result: RunResult) -> list[str | None]:
    return [op.error for op in result.host("@local").operations if op.error]


def test_files_ops_apply_then_no_change(tmp_path: Path) -> None:
    project, inventory, root = _project(tmp_path)
    deploy = str(project / "deploy.py")

    plan = run_deploy(str(inventory), [deploy], RunOptions(mode="plan"))
    assert not plan.has_failures, _errors(plan)
    assert (root / "stale").exists()  # plan changes nothing
    assert not (root / "demo dir" / "motd").exists()
    diffs = {op.name: op.diff for op in plan.host("@local").operations}
    assert "+welcome" in (diffs["upload"] or "")

    first = run_deploy(str(inventory), [deploy])
    assert not first.has_failures, _errors(first)
    statuses = _statuses(first)
    assert set(statuses.values()) == {"changed"}, statuses

    second = run_deploy(str(inventory), [deploy])
    assert not second.has_failures, _errors(second)
    assert set(_statuses(second).values()) == {"no_change"}, _statuses(second)

    demo = root / "demo dir"
    assert stat.S_IMODE(demo.stat().st_mode) == 0o750
    assert stat.S_IMODE((demo / "empty").stat().st_mode) == 0o640
    assert (demo / "motd").read_text() == "welcome\n"
    assert stat.S_IMODE((demo / "motd").stat().st_mode) == 0o600
    assert (root / "new" / "sub" / "io.txt").read_text() == "from io\n"
    assert (demo / "app.conf").read_text() == "name=@local\nport=8080\n"
    assert (demo / "settings").read_text() == "debug=0\nkeep=1\n"
    assert (demo / "noeol").read_text() == "first\nsecond\n"
    assert os.readlink(root / "current") == str(demo)
    assert not (root / "stale").exists()


def test_changed_source_is_uploaded_with_diff(tmp_path: Path) -> None:
    project, inventory, root = _project(tmp_path)
    deploy = str(project / "deploy.py")
    assert not run_deploy(str(inventory), [deploy]).has_failures

    (project / "motd.txt").write_text("welcome back\n")
    plan = run_deploy(str(inventory), [deploy], RunOptions(mode="plan"))
    changed = {op.name: op for op in plan.host("@local").operations if op.status == "changed"}
    assert set(changed) == {"upload"}
    assert "-welcome\n+welcome back\n" in (changed["upload"].diff or "")

    apply = run_deploy(str(inventory), [deploy])
    assert _statuses(apply)["upload"] == "changed"
    assert (root / "demo dir" / "motd").read_text() == "welcome back\n"


def test_template_error_fails_the_host_with_location(tmp_path: Path) -> None:
    project, inventory, _ = _project(tmp_path)
    (project / "templates" / "app.conf.j2").write_text("ok\n{{ nope }}\n")
    result = run_deploy(str(inventory), [str(project / "deploy.py")])
    failed = [op for op in result.host("@local").operations if op.status == "failed"]
    assert len(failed) == 1 and failed[0].name == "template"
    assert "app.conf.j2:2" in (failed[0].error or "")
    assert "nope" in (failed[0].error or "")
