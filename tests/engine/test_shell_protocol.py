"""The long-lived shell's protocol (connectors/shell.py), spoken by a real local /bin/sh.

The script a batch writes is run by the same shell a host would run it with; only the SSH
transport is left out (tests/engine/test_round_trips.py covers it on bed hosts).
"""

from __future__ import annotations

import base64
import subprocess

import pytest

from agent.engine.command import StringCommand
from agent.engine.connectors.base import CommandArgs, ShellRequest
from agent.engine.connectors.shell import (
    SMALL_FILE_FOLLOWS,
    SMALL_FILE_MISSING,
    BatchScript,
    ShellProtocolError,
    fits_shell,
    new_token,
    read_small_file,
    shell_upload,
)

ARGS = CommandArgs()


def _run(requests: list[ShellRequest], stop_after_failure: bool = True, greet: bool = True):
    script = BatchScript(new_token(), 0, requests, stop_after_failure, greet)
    shell = subprocess.run(["/bin/sh"], input=script.text(), capture_output=True, check=False)
    assert script.complete(shell.stdout, shell.stderr)
    return script.split(shell.stdout, shell.stderr)


def _cmd(text: str, reads_only: bool = False, args: CommandArgs = ARGS) -> ShellRequest:
    return ShellRequest(StringCommand(text), args, reads_only)


def test_outputs_come_back_exactly_per_command():
    blank_lines = _cmd("printf 'a\\n\\nb\\n\\n'")
    out = _run([_cmd("printf abc"), _cmd("echo out; echo err >&2"), blank_lines])
    assert [(o.exit_code, o.stdout, o.stderr) for o in out] == [
        (0, ["abc"], []),
        (0, ["out"], ["err"]),
        (0, ["a", "", "b", ""], []),
    ]


def test_a_failure_skips_later_changes_but_not_reads():
    out = _run([_cmd("exit 3"), _cmd("echo change"), _cmd("echo read", reads_only=True)])
    assert out[0].exit_code == 3
    assert out[1] is None
    assert out[2].stdout == ["read"]


def test_without_stop_after_failure_every_command_runs():
    out = _run([_cmd("exit 3"), _cmd("echo change")], stop_after_failure=False)
    assert [o.exit_code for o in out] == [3, 0]
    assert out[1].stdout == ["change"]


def test_success_exit_codes_decide_what_counts_as_a_failure():
    lenient = CommandArgs(success_exit_codes=(0, 3))
    out = _run([_cmd("exit 3", args=lenient), _cmd("echo next")])
    assert out[1].stdout == ["next"]


def test_a_command_cannot_change_or_end_the_long_lived_shell():
    raw = CommandArgs(shell_executable=None)
    out = _run(
        [
            _cmd("cd /tmp; export LEAK=1; pwd"),
            _cmd("if then", args=raw),  # a syntax error ends only its subshell
            _cmd("exit 0", args=raw),
            _cmd("pwd; echo LEAK=$LEAK", args=raw),
        ],
        stop_after_failure=False,
    )
    assert out[0].stdout == ["/tmp"]
    assert out[1].exit_code == 2 and "then" in " ".join(out[1].stderr)
    assert out[3].stdout[1] == "LEAK="
    assert out[3].stdout[0] != "/tmp"


def test_commands_cannot_read_the_script_that_follows():
    out = _run([_cmd("cat"), _cmd("echo still here")])
    assert out[0].stdout == []
    assert out[1].stdout == ["still here"]


def test_output_that_looks_like_a_marker_is_not_taken_for_one():
    forged = _cmd("echo; echo pullinfra-0000:0:0; echo pullinfra-0000:0 >&2")
    out = _run([forged, _cmd("echo real")])
    assert out[0].stdout == ["", "pullinfra-0000:0:0"]
    assert out[1].stdout == ["real"]


def test_sudo_and_su_wrapping_is_kept_plain_sh_runs_in_the_subshell():
    script = BatchScript("t", 0, [_cmd("id"), _cmd("id", args=CommandArgs(sudo=True))], True)
    text = script.text().decode()
    assert "(eval id)" in text
    assert "sudo -H -n sh -c" in text


def test_a_partial_answer_is_not_complete():
    script = BatchScript("tok", 5, [_cmd("true")], True)
    assert not script.complete(b"\ntok:5:", b"\ntok:5\n")
    assert not script.complete(b"\ntok:5:0\n", b"")
    assert script.complete(b"x\ntok:5:0\n", b"\ntok:5\n")
    with pytest.raises(ShellProtocolError):
        script.split(b"garbage", b"")


def test_the_greeting_drops_what_the_login_prints_first():
    script = BatchScript("tok", 0, [_cmd("true")], True, greet=True)
    out = script.split(b"motd\n\ntok:ready\n\ntok:0:0\n", b"noise\n\ntok:ready\n\ntok:0\n")
    assert out[0].stdout == [] and out[0].stderr == []


@pytest.mark.parametrize(
    "args",
    [CommandArgs(get_pty=True), CommandArgs(timeout=5), CommandArgs(stdin="x"),
     CommandArgs(sudo=True, sudo_password="pw")],
)
def test_what_needs_a_channel_of_its_own(args):
    assert not fits_shell(args)


def test_a_shell_upload_writes_exact_bytes_in_place(tmp_path):
    dest = tmp_path / "f"
    dest.write_bytes(b"old content that is longer")
    dest.chmod(0o600)
    inode = dest.stat().st_ino
    data = bytes(range(256)) * 3 + b"no newline at the end"
    out = _run([ShellRequest(shell_upload(data, str(dest), "640"), ARGS)])
    assert out[0].exit_code == 0
    assert dest.read_bytes() == data
    assert dest.stat().st_ino == inode
    assert oct(dest.stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("kind", ["small", "large", "missing", "directory"])
def test_reading_a_small_file_answers_only_for_what_it_can_read(tmp_path, kind):
    path = tmp_path / "f"
    if kind == "small":
        path.write_bytes(b"\x00binary\nand text")
    elif kind == "large":
        path.write_bytes(b"x" * 101)
    elif kind == "directory":
        path.mkdir()
    (out,) = _run([ShellRequest(read_small_file(str(path), 100), ARGS, reads_only=True)])
    assert out.exit_code == 0
    if kind == "small":
        assert out.stdout[0] == SMALL_FILE_FOLLOWS
        assert base64.b64decode("".join(out.stdout[1:])) == b"\x00binary\nand text"
    elif kind == "missing":
        assert out.stdout == [SMALL_FILE_MISSING]
    else:
        assert out.stdout == []
