"""files.copy, files.move, files.flags and files.unarchive: facts in, commands out."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.facts.files import Directory, File, Flags, Link, SameTree, Sha1File
from agent.catalogue.facts.server import TmpDir
from agent.catalogue.operations import files
from agent.compat import run_deploy
from agent.engine.operation_errors import OperationError, OperationValueError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

INFO = {"user": "root", "group": "root", "mode": 644}


def at(fake: FakeHost, path: str, kind: str | None) -> FakeHost:
    """What the File, Directory and Link facts say when `kind` (or nothing) is at `path`."""
    fake.fact(File, INFO if kind == "file" else (None if kind is None else False), path=path)
    fake.fact(Directory, INFO if kind == "directory" else (None if kind is None else False),
              path=path)
    link = {**INFO, "link_target": "/t"} if kind == "link" else None
    fake.fact(Link, link if kind == "link" else (None if kind is None else False), path=path)
    return fake


# ---------------------------------------------------------------------------- facts


def test_flags_fact_parses_stat_output() -> None:
    assert Flags().process(["hidden,uchg"]) == ["hidden", "uchg"]
    assert Flags().process(["-"]) == []
    assert Flags().process([]) == []
    assert Flags().default() == []
    assert Flags().full_command(path="/x").startswith("! command -v chflags >/dev/null ||")


def test_same_tree_fact() -> None:
    assert SameTree().process(["__pullinfra_same__"]) is True
    assert SameTree().process([]) is False
    assert "diff -rq /a '/b c'" in SameTree().command(path="/a", other="/b c")


# ---------------------------------------------------------------------------- files.copy


def test_copy_file_into_directory(fake: FakeHost) -> None:
    at(at(at(fake, "/src/a.conf", "file"), "/dest", "directory"), "/dest/a.conf", None)
    assert run_op(fake, files.copy, "/src/a.conf", "/dest") == ["cp -r /src/a.conf /dest"]


def test_copy_same_file_is_no_change(fake: FakeHost) -> None:
    at(at(at(fake, "/src/a.conf", "file"), "/dest", "directory"), "/dest/a.conf", "file")
    fake.fact(Sha1File, "ab" * 20, path="/src/a.conf").fact(Sha1File, "ab" * 20,
                                                            path="/dest/a.conf")
    assert run_op(fake, files.copy, "/src/a.conf", "/dest") == []
    assert fake.noops == ["/dest/a.conf already exists"]


def test_copy_different_file_needs_overwrite(fake: FakeHost) -> None:
    at(at(at(fake, "/src/a.conf", "file"), "/dest", "directory"), "/dest/a.conf", "file")
    fake.fact(Sha1File, "ab" * 20, path="/src/a.conf").fact(Sha1File, "cd" * 20,
                                                            path="/dest/a.conf")
    with pytest.raises(OperationError, match="different than src"):
        run_op(fake, files.copy, "/src/a.conf", "/dest")
    assert run_op(fake, files.copy, "/src/a.conf", "/dest", overwrite=True) == [
        "cp -r -f /src/a.conf /dest"]


def test_copy_directory_again_only_when_it_differs(fake: FakeHost) -> None:
    at(at(at(fake, "/src/app", "directory"), "/dest", "directory"), "/dest/app", "directory")
    fake.fact(SameTree, True, path="/src/app", other="/dest/app")
    assert run_op(fake, files.copy, "/src/app", "/dest") == []
    assert fake.noops == ["/dest/app already exists"]
    fake.fact(SameTree, False, path="/src/app", other="/dest/app")
    assert run_op(fake, files.copy, "/src/app", "/dest") == ["cp -r /src/app /dest"]


def test_copy_refuses_missing_src_and_non_directory_dest(fake: FakeHost) -> None:
    at(at(fake, "/nope", None), "/etc/passwd", "file")
    with pytest.raises(OperationError, match="src /nope does not exist"):
        run_op(fake, files.copy, "/nope", "/dest")
    at(fake, "/src/a", "file")
    with pytest.raises(OperationError, match="not an existing directory"):
        run_op(fake, files.copy, "/src/a", "/etc/passwd")


# ---------------------------------------------------------------------------- files.move


def test_move_and_overwrite(fake: FakeHost) -> None:
    at(at(at(fake, "/src/a", "file"), "/dest", "directory"), "/dest/a", None)
    assert run_op(fake, files.move, "/src/a", "/dest") == ["mv /src/a /dest"]
    at(fake, "/dest/a", "file")
    with pytest.raises(OperationError, match="`overwrite` is unset"):
        run_op(fake, files.move, "/src/a", "/dest")
    assert run_op(fake, files.move, "/src/a", "/dest", overwrite=True) == [
        "rm -rf /dest/a", "mv /src/a /dest"]


def test_move_done_already_is_no_change(fake: FakeHost) -> None:
    at(at(at(fake, "/src/a", None), "/dest", "directory"), "/dest/a", "file")
    assert run_op(fake, files.move, "/src/a", "/dest") == []
    assert fake.noops == ["/src/a already moved to /dest/a"]
    at(fake, "/dest/a", None)
    with pytest.raises(OperationError, match="src /src/a does not exist"):
        run_op(fake, files.move, "/src/a", "/dest")


# ---------------------------------------------------------------------------- files.flags


def test_flags_set_and_clear(fake: FakeHost) -> None:
    fake.fact(Flags, ["hidden"], path="/lib")
    assert run_op(fake, files.flags, "/lib", ["uchg", "schg", "hidden"]) == [
        "chflags schg,uchg /lib"]
    assert run_op(fake, files.flags, "/lib", "hidden", present=False) == [
        "chflags nohidden /lib"]


def test_flags_no_change(fake: FakeHost) -> None:
    fake.fact(Flags, ["hidden"], path="/lib")
    assert run_op(fake, files.flags, "/lib", "hidden") == []
    assert run_op(fake, files.flags, "/lib", ["uchg"], present=False) == []
    assert run_op(fake, files.flags, "/lib") == []
    assert fake.noops == ["'/lib' already has 'hidden' set", "'/lib' already has 'uchg' clear",
                          "no changes requested to flags for '/lib'"]


def test_flags_bad_value(fake: FakeHost) -> None:
    with pytest.raises(OperationValueError, match="flag name"):
        run_op(fake, files.flags, "/lib", ["a,b"])


# ---------------------------------------------------------------------------- files.unarchive


def test_unarchive_local_tarball(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "app.tar.gz").write_bytes(b"tarball")
    fake.fact(Directory, INFO, path="/opt/app").fact(TmpDir, "/tmp")
    commands = run_op(fake, files.unarchive, "app.tar.gz", "/opt/app", user="app", group="app")
    upload, extract, remove, owner = commands
    assert upload[0] == "upload" and upload[1] == b"tarball"
    temp = upload[2]
    assert temp.startswith("/tmp/pullinfra-")
    assert extract == f"tar -xz -f {temp} -C /opt/app"
    assert remove == f"rm -f {temp}"
    assert owner == "chown -R app:app /opt/app"


def test_unarchive_remote_zip_with_extra_opts(fake: FakeHost) -> None:
    fake.fact(Directory, INFO, path="/opt").fact(File, INFO, path="/srv/a.ZIP")
    assert run_op(fake, files.unarchive, "/srv/a.ZIP", "/opt", remote_src=True,
                  extra_opts=["-q"]) == ["unzip -o -q /srv/a.ZIP -d /opt"]
    fake.fact(File, INFO, path="/srv/b.tar.zst")
    assert run_op(fake, files.unarchive, "/srv/b.tar.zst", "/opt", remote_src=True) == [
        "tar -x --zstd -f /srv/b.tar.zst -C /opt"]


def test_unarchive_creates_is_no_change(fake: FakeHost) -> None:
    fake.fact(File, INFO, path="/opt/app/bin")
    assert run_op(fake, files.unarchive, "/srv/a.tgz", "/opt/app", creates="/opt/app/bin") == []
    assert fake.noops == ["archive already extracted (/opt/app/bin exists)"]


def test_unarchive_errors(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/opt").fact(File, None, path="/srv/a.tar")
    with pytest.raises(OperationError, match="Destination /opt is not an existing directory"):
        run_op(fake, files.unarchive, "/srv/a.tar", "/opt", remote_src=True)
    fake.fact(Directory, INFO, path="/opt")
    with pytest.raises(OperationError, match=r"Remote archive /srv/a\.tar does not exist"):
        run_op(fake, files.unarchive, "/srv/a.tar", "/opt", remote_src=True)
    with pytest.raises(OperationError, match="no such local archive"):
        run_op(fake, files.unarchive, "missing.tar", "/opt")


def test_unarchive_bad_format_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        "files.unarchive(name='bad', src='/srv/app.rar', dest='/opt', remote_src=True)\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "unsupported archive format" in (op.error or "")


def test_flags_bad_value_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        "files.flags(name='bad', path='/x', flags=[3])\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "flag name" in (op.error or "")


def test_copy_link_as_a_link(fake: FakeHost) -> None:
    at(at(at(fake, "/src/l", "link"), "/dest", "directory"), "/dest/l", None)
    assert run_op(fake, files.copy, "/src/l", "/dest") == ["cp -r /src/l /dest"]
    at(fake, "/dest/l", "link")
    assert run_op(fake, files.copy, "/src/l", "/dest") == []
    assert fake.noops == ["/dest/l already exists"]
    at(fake, "/dest/l", "file")
    with pytest.raises(OperationError, match="already exists and is not a link"):
        run_op(fake, files.copy, "/src/l", "/dest")
