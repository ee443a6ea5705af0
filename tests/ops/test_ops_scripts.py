"""server.script and server.script_template: facts in, commands out, and one run on this
machine through the engine."""

from __future__ import annotations

import hashlib
import re
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from agent.catalogue.facts.files import Directory, File
from agent.catalogue.facts.server import TmpDir
from agent.catalogue.operations import server
from agent.compat import run_deploy
from agent.engine.operation_errors import OperationError, OperationValueError
from agent.engine.run import RunOptions
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

TEMP_NAME = re.compile(r"^/tmp/pullinfra-[0-9a-f]{40}$")
SCRIPT = "#!/bin/sh\necho hello \"$@\"\n"


class ScriptHost(FakeHost):
    """A fake host whose temporary directory holds nothing yet, whatever the file's name
    (server.script's is fresh every time)."""

    def __init__(self, local_dir: Path, tmp: str = "", uploaded: dict[str, Any] | None = None):
        super().__init__(local_dir)
        self.fact(TmpDir, tmp)
        self.uploaded = uploaded or {}

    def _given(self, fact_cls: Any, kwargs: dict[str, Any]) -> Any:
        path = kwargs.get("path", "")
        if fact_cls is File and "/pullinfra-" in path:
            return self.uploaded.get(path)
        if fact_cls is Directory and path in ("/tmp", "/var/tmp/work"):
            return {"user": "root", "group": "root", "mode": 1777}
        return super()._given(fact_cls, kwargs)


@pytest.fixture
def script_host(tmp_path: Path) -> ScriptHost:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "hello.sh").write_text(SCRIPT)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.sh.j2").write_text(
        "#!/bin/sh\necho {{ greeting }} from {{ host.name }}\n")
    return ScriptHost(tmp_path)


# -- server.script ---------------------------------------------------------------------------


def test_script_uploads_to_a_fresh_temp_file_makes_it_executable_and_runs_it(
    script_host: ScriptHost,
) -> None:
    commands = run_op(script_host, server.script, src="files/hello.sh")
    upload, chmod, run = commands
    assert upload[0] == "upload" and upload[1] == SCRIPT.encode()
    temp = upload[2]
    assert TEMP_NAME.match(temp)
    assert chmod == f"chmod +x {temp}"
    assert run == temp
    # A fresh name each time: two runs never share (or reuse) an upload.
    again = run_op(script_host, server.script, src="files/hello.sh")
    assert again[0][2] != temp


def test_script_arguments_go_into_the_command_as_given(script_host: ScriptHost) -> None:
    *_, run = run_op(script_host, server.script, src="files/hello.sh",
                     args=("do-something", "with-this", 3))
    assert run.endswith(" do-something with-this 3")


def test_script_from_a_file_like_object_in_the_hosts_temp_dir(tmp_path: Path) -> None:
    fake = ScriptHost(tmp_path, tmp="/var/tmp/work/")
    upload, _, run = run_op(fake, server.script, src=StringIO("echo inline\n"))
    assert upload[1] == b"echo inline\n"
    assert re.match(r"^/var/tmp/work/pullinfra-[0-9a-f]{40}$", upload[2])
    assert run == upload[2]


@pytest.mark.parametrize("args", ["one-string", 5, None])
def test_script_args_must_be_a_sequence(script_host: ScriptHost, args: Any) -> None:
    with pytest.raises(OperationValueError, match="`args` must be a list or tuple"):
        run_op(script_host, server.script, src="files/hello.sh", args=args)


def test_missing_local_script_is_an_error(script_host: ScriptHost) -> None:
    with pytest.raises(OperationError, match="no such local file"):
        run_op(script_host, server.script, src="files/missing.sh")


# -- server.script_template ------------------------------------------------------------------


def _template_temp(src: str, data: dict[str, Any]) -> str:
    return f"/tmp/pullinfra-{hashlib.sha1(f'{src}{data}'.encode()).hexdigest()}"


def test_script_template_renders_uploads_and_runs(script_host: ScriptHost) -> None:
    temp = _template_temp("templates/hello.sh.j2", {"greeting": "hi"})
    commands = run_op(script_host, server.script_template, src="templates/hello.sh.j2",
                      args=["--loud"], greeting="hi")
    assert commands == [
        ("upload", b"#!/bin/sh\necho hi from fake-host\n", temp),
        f"chmod +x {temp}",
        f"{temp} --loud",
    ]


def test_script_template_already_uploaded_still_runs(script_host: ScriptHost) -> None:
    """The same source and data land on the same file, so a later run finds it uploaded;
    the script is still made executable and run (the operation always runs)."""
    from agent.catalogue.facts.files import Sha256File

    rendered = b"#!/bin/sh\necho hi from fake-host\n"
    temp = _template_temp("templates/hello.sh.j2", {"greeting": "hi"})
    script_host.uploaded[temp] = {"user": "root", "group": "root", "mode": 644, "size": 1}
    script_host.fact(Sha256File, hashlib.sha256(rendered).hexdigest(), path=temp)
    commands = run_op(script_host, server.script_template, src="templates/hello.sh.j2",
                      greeting="hi")
    assert commands == [f"chmod +x {temp}", temp]
    assert script_host.noops == [f"file {temp} is already uploaded"]


def test_script_template_undefined_name_names_the_template(script_host: ScriptHost) -> None:
    with pytest.raises(OperationError, match=r"hello\.sh\.j2.*greeting"):
        run_op(script_host, server.script_template, src="templates/hello.sh.j2")


# -- through the engine, on this machine -------------------------------------------------------


def test_script_and_template_run_here_relative_to_the_deploy(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "write.sh").write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> {out}\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "write.sh.j2").write_text(
        f"#!/bin/sh\necho '{{{{ word }}}}' \"$1\" >> {out}\n")
    inventory, deploys = local_deploy(tmp_path, (
        "from pyinfra.operations import server\n\n"
        "server.script(name='script', src='files/write.sh', args=('a', 'b c'))\n"
        "server.script_template(name='template', src='templates/write.sh.j2',"
        " args=['x'], word='rendered')\n"
        "server.script(name='bad args', src='files/write.sh', args='oops')\n"
    ))
    result = run_deploy(inventory, deploys, RunOptions(project_root=tmp_path))
    script, template, bad = result.host("@local").operations
    assert (script.status, template.status) == (OpStatus.CHANGED, OpStatus.CHANGED)
    # Arguments reach the shell as pyinfra writes them: unquoted, so "b c" is two words.
    assert out.read_text() == "a\nb\nc\nrendered x\n"
    assert bad.status == OpStatus.FAILED
    assert f"{deploys[0]}:5" in (bad.error or "")
    assert "`args` must be a list or tuple" in (bad.error or "")
    uploaded = script.commands[0].removeprefix("upload ")
    assert TEMP_NAME.match(uploaded)
    assert subprocess.run(["test", "-x", uploaded], check=False).returncode == 0
    Path(uploaded).unlink()
    Path(template.commands[-1].removesuffix(" x")).unlink()
