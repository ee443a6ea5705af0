"""files.replace, files.block, put's atime/mtime, template's refusal of unknown `_xxx`
arguments and files.line's ensure_newline default: facts in, commands out; and the new
facts (Block, FindFiles/Links/Directories, Sha384File) against a real shell."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import pytest

from agent.catalogue.facts.files import (
    Block,
    Directory,
    File,
    FindDirectories,
    FindFiles,
    FindInFile,
    FindLinks,
    Sha256File,
    Sha384File,
    parse_size,
)
from agent.catalogue.facts.server import Date
from agent.catalogue.operations import files
from agent.catalogue.operations.util.files import block_edit
from agent.compat import run_deploy
from agent.engine.errors import DeployError
from agent.engine.operation_errors import OperationValueError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_fact, run_op

INFO = {"user": "root", "group": "root", "mode": 644, "size": 0}
BEGIN, END = "# BEGIN PYINFRA BLOCK", "# END PYINFRA BLOCK"


def _find(fake: FakeHost, path: str, pattern: str, value: list[str] | None) -> None:
    fake.fact(FindInFile, value, path=path, pattern=pattern,
              interpolate_variables=False, extended_regex=False)


def _block(fake: FakeHost, path: str, value: list[str] | None, **markers: str) -> None:
    fake.fact(Block, value, path=path, marker=markers.get("marker"),
              begin=markers.get("begin"), end=markers.get("end"))


def _sh(command: str) -> None:
    subprocess.run(["/bin/sh", "-c", command], check=True)


# --------------------------------------------------------------------------- files.line


def test_line_ensure_newline_defaults_to_false_as_in_pyinfra(fake: FakeHost) -> None:
    _find(fake, "/f", "^.*x=1.*$", [])
    assert run_op(fake, files.line, "/f", "x=1") == ["printf '%s\\n' x=1 >> /f"]


def test_line_ensure_newline_on_a_real_file(tmp_path: Path, fake: FakeHost) -> None:
    """True ends an unterminated last line first; False appends right after it (pyinfra's
    `echo >>`); neither adds a blank line to an empty or missing file."""
    for name, before, newline, after in [
        ("noeol", "a", True, "a\nb\n"),
        ("noeol-plain", "a", False, "ab\n"),
        ("eol", "a\n", True, "a\nb\n"),
        ("empty", "", True, "b\n"),
    ]:
        path = tmp_path / name
        path.write_text(before)
        _find(fake, str(path), "^.*b.*$", [])
        [command] = run_op(fake, files.line, str(path), "b", ensure_newline=newline)
        _sh(command)
        assert path.read_text() == after, name
    missing = tmp_path / "missing"
    _find(fake, str(missing), "^.*b.*$", None)
    _sh(run_op(fake, files.line, str(missing), "b", ensure_newline=True)[0])
    assert missing.read_text() == "b\n"


# --------------------------------------------------------------------------- files.put times


def _put_facts(fake: FakeHost, dest: str, info: dict | None, data: bytes) -> None:
    digest = __import__("hashlib").sha256(data).hexdigest()
    fake.fact(File, info, path=dest).fact(Sha256File, digest, path=dest)
    fake.fact(Directory, INFO, path=os.path.dirname(dest))


def test_put_sets_mtime_then_atime_after_an_upload(fake: FakeHost) -> None:
    _put_facts(fake, "/srv/f", None, b"x")
    commands = run_op(fake, files.put, StringIO("x"), "/srv/f", mode="600",
                      mtime=1700000000, atime="2024-01-02T03:04:05+00:00")
    assert commands[1:] == [
        "chmod 600 /srv/f",
        "touch -m -d 2023-11-14T22:13:20Z /srv/f",
        "touch -a -d 2024-01-02T03:04:05Z /srv/f",
    ]


def test_put_times_of_an_unchanged_file(fake: FakeHost) -> None:
    mtime = datetime(2023, 11, 14, 22, 13, 20)
    _put_facts(fake, "/srv/f", {**INFO, "mtime": mtime, "atime": mtime}, b"x")
    assert run_op(fake, files.put, StringIO("x"), "/srv/f", mtime="1700000000") == []
    assert fake.noops == ["file /srv/f is already uploaded"]
    assert run_op(fake, files.put, StringIO("x"), "/srv/f", atime=1700000000.5) == []
    # Less than a second apart but another seconds digit: different, as in pyinfra.
    assert run_op(fake, files.put, StringIO("x"), "/srv/f", atime=1699999999.6) == [
        "touch -a -d 2023-11-14T22:13:19.600000Z /srv/f"
    ]


def test_put_naive_times_are_in_the_hosts_timezone(fake: FakeHost) -> None:
    _put_facts(fake, "/srv/f", None, b"x")
    fake.fact(Date, datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    commands = run_op(fake, files.put, StringIO("x"), "/srv/f",
                      mtime=datetime(2024, 5, 1, 12, 0, 0))
    assert commands[-1] == "touch -m -d 2024-05-01T10:00:00Z /srv/f"
    commands = run_op(fake, files.put, StringIO("x"), "/srv/f", mtime="2024-05-01 12:00:00")
    assert commands[-1] == "touch -m -d 2024-05-01T10:00:00Z /srv/f"


def test_put_times_from_the_local_file_and_a_remote_reference(
    fake: FakeHost, tmp_path: Path
) -> None:
    local = tmp_path / "motd"
    local.write_bytes(b"x")
    os.utime(local, (1600000000, 1500000000))
    _put_facts(fake, "/srv/motd", None, b"x")
    fake.fact(File, {**INFO, "atime": datetime(2020, 1, 1), "mtime": datetime(2021, 1, 1)},
              path="/etc/hostname")
    commands = run_op(fake, files.put, "motd", "/srv/motd", mtime=True, atime="/etc/hostname")
    assert commands[-2:] == [
        "touch -m -d 2017-07-14T02:40:00Z /srv/motd",
        "touch -a -d 2020-01-01T00:00:00Z /srv/motd",
    ]


def test_put_bad_time_says_what_to_pass(fake: FakeHost) -> None:
    _put_facts(fake, "/srv/f", None, b"x")
    fake.fact(File, None, path="/no/such/ref")
    with pytest.raises(OperationValueError, match="path of an existing file"):
        run_op(fake, files.put, StringIO("x"), "/srv/f", mtime="/no/such/ref")
    with pytest.raises(OperationValueError, match="not a local file"):
        run_op(fake, files.put, StringIO("x"), "/srv/f", atime=True)


# --------------------------------------------------------------------------- files.template


def test_template_refuses_an_unknown_global_argument_at_its_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from io import StringIO\n"
        "from pyinfra.operations import files\n\n"
        "files.template(src=StringIO('x'), dest='/tmp/x', _sudo_usr='root')\n")
    with pytest.raises(DeployError) as caught:
        run_deploy(inventory, deploys)
    assert f"{deploys[0]}:4" in str(caught.value)
    assert "`_sudo_usr`" in str(caught.value)


def test_template_refuses_unknown_global_arguments_when_called_inside_another(
    fake: FakeHost,
) -> None:
    with pytest.raises(OperationValueError, match="`_bogus`"):
        run_op(fake, files.template, StringIO("x"), "/etc/x", _bogus=1)


def test_template_still_passes_global_arguments_through(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from io import StringIO\n"
        "from pyinfra.operations import files\n\n"
        f"files.template(src=StringIO('{{{{ v }}}}'), dest='{tmp_path}/out', v=3,"
        " _ignore_errors=True)\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.CHANGED
    assert (tmp_path / "out").read_text() == "3"


# --------------------------------------------------------------------------- files.replace


def test_replace_runs_sed_when_the_text_is_found(fake: FakeHost) -> None:
    _find(fake, "/etc/motd", "verboten", ["this is verboten"])
    [command] = run_op(fake, files.replace, "/etc/motd", "verboten", "forbidden",
                       flags=["g"])
    assert command.startswith("sed -i.")
    assert " s/verboten/forbidden/g /etc/motd && rm -f /etc/motd." in command


def test_replace_with_no_match_is_a_noop(fake: FakeHost) -> None:
    _find(fake, "/etc/motd", "verboten", [])
    assert run_op(fake, files.replace, "/etc/motd", text="verboten", replace="x") == []
    assert fake.noops == ['string "verboten" does not exist in /etc/motd']


def test_replace_missing_file_still_edits_and_match_is_the_old_name(fake: FakeHost) -> None:
    _find(fake, "/later", "a", None)
    [command] = run_op(fake, files.replace, "/later", match="a", replace="b", backup="bak")
    assert command == "sed -i.bak s/a/b/ /later"


def test_replace_needs_text_and_replace(fake: FakeHost) -> None:
    with pytest.raises(OperationValueError, match="`text`"):
        run_op(fake, files.replace, "/f", replace="x")
    with pytest.raises(OperationValueError, match="`replace`"):
        run_op(fake, files.replace, "/f", text="x")


def test_replace_argument_error_names_the_deploy_line(tmp_path: Path) -> None:
    target = tmp_path / "t"
    target.write_text("a\n")
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        f"files.replace(name='bad', path='{target}', text='a')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")


# --------------------------------------------------------------------------- files.block


def test_block_new_file_holds_the_marked_content(fake: FakeHost) -> None:
    _block(fake, "/etc/hosts.d", None)
    commands = run_op(fake, files.block, "/etc/hosts.d", "10.0.0.1 mars\n10.0.0.2 venus")
    assert commands == [
        "printf '%s\\n' '# BEGIN PYINFRA BLOCK' '10.0.0.1 mars' '10.0.0.2 venus' "
        "'# END PYINFRA BLOCK' > /etc/hosts.d"
    ]


def test_block_already_there_is_a_noop(fake: FakeHost) -> None:
    _block(fake, "/f", ["a", "b"])
    assert run_op(fake, files.block, "/f", ["a", "b"]) == []
    assert fake.noops == ["content already present"]


def test_block_removal_noops(fake: FakeHost) -> None:
    _block(fake, "/none", None)
    _block(fake, "/plain", [])
    assert run_op(fake, files.block, "/none", present=False) == []
    assert run_op(fake, files.block, "/plain", present=False) == []
    assert fake.noops == ["no remove required: file did not exist",
                          "no remove required: markers not found"]


def test_block_backup_only_of_an_existing_file(fake: FakeHost) -> None:
    _block(fake, "/f", ["old"])
    commands = run_op(fake, files.block, "/f", "new", backup=True)
    assert commands[0].startswith("cp /f /f.") and len(commands) == 2
    _block(fake, "/g", None)
    assert len(run_op(fake, files.block, "/g", "new", backup=True)) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "`content` is required"),
    ({"content": "x", "line": "a"}, "exactly one of"),
    ({"content": "x", "line": "a", "before": True, "after": True}, "exactly one of"),
    ({"content": "x", "before": True}, "pass `line`"),
    ({"content": "x", "marker": "# PYINFRA", "begin": "A"}, "markers must differ"),
])
def test_block_argument_errors(fake: FakeHost, kwargs: dict, message: str) -> None:
    _block(fake, "/f", [])
    with pytest.raises(OperationValueError, match=message):
        run_op(fake, files.block, "/f", **kwargs)


def test_block_argument_error_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        f"files.block(name='bad', path='{tmp_path}/f', content='x', before=True)\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "pass `line`" in (op.error or "")


START = "alpha\nlocalhost here\nomega\n"


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, f"{START}{BEGIN}\nX $(y) 'q'\n{END}\n"),
    ({"before": True, "after": True}, f"{BEGIN}\nX $(y) 'q'\n{END}\n{START}"),
    ({"line": "localhost", "before": True},
     f"alpha\n{BEGIN}\nX $(y) 'q'\n{END}\nlocalhost here\nomega\n"),
    ({"line": "^local", "after": True},
     f"alpha\nlocalhost here\n{BEGIN}\nX $(y) 'q'\n{END}\nomega\n"),
    ({"line": "nowhere", "after": True}, f"{START}{BEGIN}\nX $(y) 'q'\n{END}\n"),
    ({"line": "host h", "after": True, "escape_regex_characters": True},
     f"alpha\nlocalhost here\n{BEGIN}\nX $(y) 'q'\n{END}\nomega\n"),
])
def test_block_insertion_on_a_real_file(
    fake: FakeHost, tmp_path: Path, kwargs: dict, expected: str
) -> None:
    path = tmp_path / "hosts"
    path.write_text(START)
    path.chmod(0o640)
    _block(fake, str(path), [])
    [command] = run_op(fake, files.block, str(path), "X $(y) 'q'", **kwargs)
    _sh(command)
    assert path.read_text() == expected
    assert path.stat().st_mode & 0o777 == 0o640
    assert run_fact(Block, path=str(path)) == ["X $(y) 'q'"]


def test_block_replace_and_remove_on_a_real_file(fake: FakeHost, tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text("<body>\n<!-- BEGIN -->\nold\nolder\n<!-- END -->\n</body>\n")
    markers = {"marker": "<!-- {mark} -->"}
    _block(fake, str(path), ["old", "older"], **markers)
    [command] = run_op(fake, files.block, str(path), ["new \\n"], **markers)
    _sh(command)
    assert path.read_text() == "<body>\n<!-- BEGIN -->\nnew \\n\n<!-- END -->\n</body>\n"
    assert run_fact(Block, path=str(path), **markers) == ["new \\n"]
    _block(fake, str(path), ["new \\n"], **markers)
    [command] = run_op(fake, files.block, str(path), present=False, **markers)
    _sh(command)
    assert path.read_text() == "<body>\n</body>\n"
    assert run_fact(Block, path=str(path), **markers) == []


def test_block_edit_failure_leaves_the_file_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("keep\n")
    command = block_edit(str(path / "not-a-dir"), "append", (BEGIN, END), "x")
    proc = subprocess.run(["/bin/sh", "-c", command.get_raw_value()], check=False,
                          capture_output=True)
    assert proc.returncode != 0
    assert path.read_text() == "keep\n"


# --------------------------------------------------------------------------- facts


def test_block_fact_on_real_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text(f"a\n{BEGIN}\nx\n\n  y\n{END}\nb\n")
    assert run_fact(Block, path=str(path)) == ["x", "", "  y"]
    path.write_text(f"a\n{BEGIN}\n{END}\n")
    assert run_fact(Block, path=str(path)) == [""]
    path.write_text("a\n")
    assert run_fact(Block, path=str(path)) == []
    assert run_fact(Block, path=str(tmp_path / "missing")) is None
    path.write_text("[[ start ]]\nz\n[[ stop ]]\n")
    assert run_fact(Block, path=str(path), marker="[[ {mark} ]]", begin="start",
                    end="stop") == ["z"]


def test_find_facts_on_a_real_tree(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "big.log").write_bytes(b"x" * 2000)
    (tmp_path / "small.log").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "small.log")
    root = str(tmp_path)
    assert sorted(run_fact(FindFiles, path=root)) == [f"{root}/small.log",
                                                      f"{root}/sub/big.log"]
    assert run_fact(FindFiles, path=root, min_size="1KB") == [f"{root}/sub/big.log"]
    assert run_fact(FindFiles, path=root, maxdepth=1, fname="*.log") == [f"{root}/small.log"]
    assert run_fact(FindFiles, path=root, path_match="*/sub/*") == [f"{root}/sub/big.log"]
    assert run_fact(FindLinks, path=root) == [f"{root}/link"]
    assert sorted(run_fact(FindDirectories, path=root)) == [root, f"{root}/sub"]
    assert run_fact(FindFiles, path=f"{root}/missing") == []
    assert FindFiles().command(path="/x y", size=10) == "find '/x y' -type f -size 10c " \
        "2>/dev/null || true"


def test_parse_size_units() -> None:
    assert parse_size(5) == 5
    assert parse_size("10MB") == 10**7
    assert parse_size("1 GiB") == 2**30
    assert parse_size("1.5kib") == 1536


def test_sha384_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert run_fact(Sha384File, path=str(path)) == (
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
        "8086072ba1e7cc2358baeca134c825a7"
    )
    assert run_fact(Sha384File, path=str(tmp_path / "missing")) is None

