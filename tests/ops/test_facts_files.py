"""files facts, run for real through /bin/sh against a temporary directory."""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path

from agent.catalogue.facts.files import (
    Directory,
    File,
    FileContents,
    FindInFile,
    Link,
    Md5File,
    PathState,
    Sha1File,
    Sha256File,
)
from tests.ops.conftest import run_fact


def _owner(path: Path) -> tuple[str, str]:
    info = path.lstat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


def test_file_fact_reports_owner_mode_size_and_times(tmp_path: Path) -> None:
    target = tmp_path / "a file with 'quotes'"
    target.write_text("hello\n")
    target.chmod(0o640)
    value = run_fact(File, path=str(target))
    user, group = _owner(target)
    assert value["user"] == user and value["group"] == group
    assert value["mode"] == 640
    assert value["size"] == 6
    expected = datetime.fromtimestamp(int(target.stat().st_mtime), UTC).replace(tzinfo=None)
    assert value["mtime"] == expected
    assert value["mtime"].tzinfo is None


def test_file_fact_special_modes(tmp_path: Path) -> None:
    target = tmp_path / "suid"
    target.write_text("")
    target.chmod(0o4755)
    assert run_fact(File, path=str(target))["mode"] == 4755


def test_file_fact_absent_and_wrong_type(tmp_path: Path) -> None:
    assert run_fact(File, path=str(tmp_path / "missing")) is None
    assert run_fact(File, path=str(tmp_path)) is False
    assert run_fact(Directory, path=str(tmp_path / "missing")) is None


def test_directory_fact(tmp_path: Path) -> None:
    sub = tmp_path / "sub dir"
    sub.mkdir()
    sub.chmod(0o750)
    value = run_fact(Directory, path=str(sub))
    assert value["mode"] == 750
    (tmp_path / "f").write_text("x")
    assert run_fact(Directory, path=str(tmp_path / "f")) is False


def test_link_fact_reports_target_without_following(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x")
    link = tmp_path / "the link"
    link.symlink_to("target")
    value = run_fact(Link, path=str(link))
    assert value["link_target"] == "target"
    assert run_fact(File, path=str(link)) is False  # a link is not a regular file
    dangling = tmp_path / "dangling"
    dangling.symlink_to("/nonexistent/elsewhere")
    assert run_fact(Link, path=str(dangling))["link_target"] == "/nonexistent/elsewhere"
    assert run_fact(Link, path=str(tmp_path / "target")) is False


def test_file_contents_is_exact(tmp_path: Path) -> None:
    cases = {
        "trailing": "one\ntwo\n",
        "no-trailing": "one\n\n\ntwo",
        "empty": "",
        "unicode": "caf\u00e9 \u2603\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert run_fact(FileContents, path=str(path)) == text, name
    assert run_fact(FileContents, path=str(tmp_path / "missing")) is None
    assert run_fact(FileContents, path=str(tmp_path)) is None


def test_checksums_match_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "data file"
    payload = os.urandom(4096)
    path.write_bytes(payload)
    assert run_fact(Sha256File, path=str(path)) == hashlib.sha256(payload).hexdigest()
    assert run_fact(Sha1File, path=str(path)) == hashlib.sha1(payload).hexdigest()
    assert run_fact(Md5File, path=str(path)) == hashlib.md5(payload).hexdigest()
    assert run_fact(Sha256File, path=str(tmp_path / "missing")) is None
    assert run_fact(Sha256File, path=str(tmp_path)) is None


def test_path_state_reads_what_an_upload_needs_in_one_command(tmp_path: Path) -> None:
    path = tmp_path / "data file"
    path.write_bytes(b"payload\n")
    (tmp_path / "link").symlink_to(path)
    digest = hashlib.sha256(b"payload\n").hexdigest()
    here = str(tmp_path)
    info = run_fact(File, path=str(path))
    assert run_fact(PathState, path=str(path), checksum=True, parent=here) == (info, digest, None)
    assert run_fact(PathState, path=str(path)) == (info, None, None)
    # Nothing there: the parent is read (when asked for), as Directory reads it.
    missing = str(tmp_path / "missing")
    parent = run_fact(Directory, path=here)
    assert run_fact(PathState, path=missing, checksum=True, parent=here) == (None, None, parent)
    assert run_fact(PathState, path=missing, parent=missing + "/x") == (None, None, None)
    assert run_fact(PathState, path=missing, checksum=True) == (None, None, None)
    # Something that is not a regular file: False, as File says, and no checksum.
    assert run_fact(PathState, path=here, checksum=True, parent="/") == (False, None, None)
    link = str(tmp_path / "link")
    assert run_fact(PathState, path=link, checksum=True, parent=here) == (False, None, None)


def test_checksum_of_name_needing_escapes(tmp_path: Path) -> None:
    path = tmp_path / "back\\slash"
    path.write_bytes(b"abc")
    assert run_fact(Sha256File, path=str(path)) == hashlib.sha256(b"abc").hexdigest()


def test_find_in_file(tmp_path: Path) -> None:
    path = tmp_path / "conf"
    path.write_text("a=1\n#b=2\nb=3\n")
    assert run_fact(FindInFile, path=str(path), pattern="^.*b=.*$") == ["#b=2", "b=3"]
    assert run_fact(FindInFile, path=str(path), pattern="^c=.*$") == []
    assert run_fact(FindInFile, path=str(tmp_path / "missing"), pattern="x") is None
    assert run_fact(FindInFile, path=str(path), pattern="^(a|b)=", extended_regex=True) == [
        "a=1",
        "b=3",
    ]


def test_tilde_paths_expand_on_the_host(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}
    (tmp_path / "in home").write_text("hi")
    assert run_fact(FileContents, env=env, path="~/in home") == "hi"
