"""files operations: facts in, commands out, against the fake host."""

from __future__ import annotations

import hashlib
import os
from io import StringIO
from pathlib import Path

import pytest

from agent.catalogue.facts.files import Directory, File, FindInFile, Link, Sha256File
from agent.catalogue.operations import files
from agent.engine.operation_errors import OperationError, OperationTypeError
from tests.ops.conftest import FakeHost, run_op

INFO = {"user": "root", "group": "root", "mode": 644, "size": 0}


def test_file_created_with_parent_dir_mode_and_owner(fake: FakeHost) -> None:
    fake.fact(File, None, path="/srv/app/x.conf").fact(Directory, None, path="/srv/app")
    commands = run_op(fake, files.file, "/srv/app/x.conf", user="www", group="web", mode="0640")
    assert commands == [
        "mkdir -p /srv/app",
        "chown www:web /srv/app",
        "touch /srv/app/x.conf",
        "chmod 640 /srv/app/x.conf",
        "chown www:web /srv/app/x.conf",
    ]


def test_file_existing_and_matching_is_a_noop(fake: FakeHost) -> None:
    fake.fact(File, {**INFO, "mode": 640, "user": "www"}, path="/srv/x")
    assert run_op(fake, files.file, "/srv/x", user="www", mode="0640") == []
    assert run_op(fake, files.file, path="/srv/x", mode=640) == []
    assert fake.noops == ["file /srv/x already exists"] * 2


def test_file_fixes_only_what_differs(fake: FakeHost) -> None:
    fake.fact(File, INFO, path="/srv/x")
    assert run_op(fake, files.file, "/srv/x", mode="600") == ["chmod 600 /srv/x"]
    assert run_op(fake, files.file, "/srv/x", group="adm") == ["chgrp adm /srv/x"]
    assert run_op(fake, files.file, "/srv/x", touch=True) == ["touch /srv/x"]


def test_file_absent(fake: FakeHost) -> None:
    fake.fact(File, INFO, path="/etc/nginx/sites-enabled/default")
    commands = run_op(fake, files.file, "/etc/nginx/sites-enabled/default", present=False)
    assert commands == ["rm -f /etc/nginx/sites-enabled/default"]
    fake.fact(File, None, path="/gone")
    assert run_op(fake, files.file, "/gone", present=False) == []
    assert fake.noops == ["file /gone does not exist"]


def test_file_absent_removes_a_symlink_in_its_place(fake: FakeHost) -> None:
    path = "/etc/nginx/sites-enabled/default"
    fake.fact(File, False, path=path).fact(Link, {**INFO, "link_target": "../x"}, path=path)
    assert run_op(fake, files.file, path, present=False) == [f"rm -f {path}"]
    fake.fact(File, False, path="/srv/dir").fact(Link, False, path="/srv/dir")
    with pytest.raises(OperationError, match="not a file"):
        run_op(fake, files.file, "/srv/dir", present=False)


def test_ops_never_add_sudo_themselves(fake: FakeHost) -> None:
    fake.fact(File, None, path="/etc/x").fact(Directory, INFO, path="/etc")
    commands = run_op(fake, files.file, "/etc/x", user="root", mode="600")
    assert commands and not any("sudo" in c for c in commands)


def test_file_quotes_paths(fake: FakeHost) -> None:
    path = "/srv/it's here; rm -rf x"
    fake.fact(File, None, path=path).fact(Directory, INFO, path="/srv")
    assert run_op(fake, files.file, path) == ["touch '/srv/it'\"'\"'s here; rm -rf x'"]


def test_file_in_the_way_needs_force(fake: FakeHost) -> None:
    fake.fact(File, False, path="/srv/x")
    with pytest.raises(OperationError, match="not a file"):
        run_op(fake, files.file, "/srv/x")
    fake.fact(Directory, INFO, path="/srv")
    commands = run_op(fake, files.file, "/srv/x", force=True, force_backup=False)
    assert commands == ["rm -rf /srv/x", "touch /srv/x"]
    commands = run_op(fake, files.file, "/srv/x", force=True)
    assert commands[0].startswith("mv /srv/x /srv/x.") and commands[1] == "touch /srv/x"


def test_bad_mode_is_rejected(fake: FakeHost) -> None:
    with pytest.raises(OperationError, match="invalid file mode"):
        run_op(fake, files.file, "/srv/x", mode="0998")


def test_symbolic_mode_always_applies(fake: FakeHost) -> None:
    fake.fact(File, INFO, path="/srv/x")
    assert run_op(fake, files.file, "/srv/x", mode="u+x") == ["chmod u+x /srv/x"]


def test_directory_create_update_remove(fake: FakeHost) -> None:
    fake.fact(Directory, None, path="/srv/a b")
    assert run_op(fake, files.directory, "/srv/a b", mode=755, user="app", recursive=True) == [
        "mkdir -p '/srv/a b'",
        "chmod -R 755 '/srv/a b'",
        "chown -R app '/srv/a b'",
    ]
    fake.fact(Directory, {**INFO, "mode": 755, "user": "app"}, path="/srv/d")
    assert run_op(fake, files.directory, "/srv/d", mode="0755", user="app") == []
    assert fake.noops == ["directory /srv/d already exists"]
    assert run_op(fake, files.directory, "/srv/d", mode="0700") == ["chmod 700 /srv/d"]
    assert run_op(fake, files.directory, "/srv/d", present=False) == ["rm -rf /srv/d"]


def test_directory_over_a_file(fake: FakeHost) -> None:
    fake.fact(Directory, False, path="/srv/d")
    with pytest.raises(OperationError, match="not a directory"):
        run_op(fake, files.directory, "/srv/d")


def test_link_create_fix_remove(fake: FakeHost) -> None:
    fake.fact(Link, None, path="/etc/nginx/sites-enabled/app")
    fake.fact(Directory, INFO, path="/etc/nginx/sites-enabled")
    assert run_op(
        fake, files.link, "/etc/nginx/sites-enabled/app", "/etc/nginx/sites-available/app"
    ) == ["ln -s /etc/nginx/sites-available/app /etc/nginx/sites-enabled/app"]

    fake.fact(Link, {**INFO, "link_target": "/old"}, path="/l")
    assert run_op(fake, files.link, "/l", target="/new", user="app") == [
        "rm -f /l",
        "ln -s /new /l",
        "chown -h app /l",
    ]
    fake.fact(Link, {**INFO, "link_target": "/new"}, path="/l2")
    assert run_op(fake, files.link, "/l2", target="/new") == []
    assert fake.noops == ["link /l2 already exists"]
    assert run_op(fake, files.link, "/l2", present=False) == ["rm -f /l2"]


def test_link_needs_target_and_hard_links(fake: FakeHost) -> None:
    with pytest.raises(OperationError, match="target"):
        run_op(fake, files.link, "/l")
    fake.fact(Link, None, path="/h").fact(Directory, INFO, path="/")
    assert run_op(fake, files.link, "/h", target="/t", symbolic=False, create_remote_dir=False) == [
        "ln /t /h"
    ]


def test_put_uploads_new_file_and_records_diff(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("hello\n")
    # Nothing at dest (None): no Directory fact of dest is read, only of its parent.
    fake.fact(File, None, path="/etc/motd").fact(Directory, INFO, path="/etc")
    commands = run_op(fake, files.put, "motd", "/etc/motd", mode="644", user="root")
    assert commands == [
        ("upload", b"hello\n", "/etc/motd"),
        "chown root /etc/motd",
        "chmod 644 /etc/motd",
    ]
    assert fake.diffs == [("/etc/motd", None, "hello\n")]


def test_put_same_checksum_is_a_noop(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("hello\n")
    fake.fact(File, INFO, path="/etc/motd")
    fake.fact(Sha256File, hashlib.sha256(b"hello\n").hexdigest(), path="/etc/motd")
    assert run_op(fake, files.put, "motd", "/etc/motd", mode="0644") == []
    assert fake.noops == ["file /etc/motd is already uploaded"]
    assert run_op(fake, files.put, "motd", "/etc/motd", mode="0600") == ["chmod 600 /etc/motd"]
    assert run_op(fake, files.put, "motd", "/etc/motd", force=True)[0][0] == "upload"


def test_put_reads_dest_checksum_and_parent_at_once(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "motd").write_text("hello\n")
    fake.fact(File, INFO, path="/etc/motd").fact(Sha256File, "0" * 64, path="/etc/motd")
    fake.files["/etc/motd"] = b"old\n"
    assert run_op(fake, files.put, "motd", "/etc/motd") == [("upload", b"hello\n", "/etc/motd")]
    # One fact command: dest and its checksum (its parent only when nothing is at dest).
    assert fake.fact_reads == [
        ("files.PathState", {"path": "/etc/motd", "checksum": True, "parent": "/etc"})
    ]


def test_put_changed_file_diffs_against_remote(fake: FakeHost) -> None:
    fake.fact(File, INFO, path="/etc/app.conf").fact(Sha256File, "0" * 64, path="/etc/app.conf")
    fake.files["/etc/app.conf"] = b"port=1\n"
    commands = run_op(fake, files.put, StringIO("port=2\n"), "/etc/app.conf")
    assert commands == [("upload", b"port=2\n", "/etc/app.conf")]
    assert fake.diffs == [("/etc/app.conf", "port=1\n", "port=2\n")]


def test_put_into_existing_directory(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "app.tgz").write_bytes(b"\x00\xff")
    fake.fact(File, False, path="/opt").fact(Directory, INFO, path="/opt")
    fake.fact(File, None, path="/opt/app.tgz")
    assert run_op(fake, files.put, "app.tgz", "/opt", create_remote_dir=False) == [
        ("upload", b"\x00\xff", "/opt/app.tgz")
    ]
    assert fake.diffs == []  # binary: no text diff
    with pytest.raises(OperationTypeError):
        run_op(fake, files.put, StringIO("x"), "/opt")


def test_put_missing_local_file(fake: FakeHost) -> None:
    with pytest.raises(OperationError, match="no such local file"):
        run_op(fake, files.put, "nope", "/etc/nope")


def test_template_renders_with_host_and_data(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.j2").write_text(
        "server {{ host.name }}:{{ port }}\n{% include 'inc.j2' %}"
    )
    (tmp_path / "templates" / "inc.j2").write_text("included\n")
    fake.fact(File, None, path="/etc/site").fact(Directory, INFO, path="/etc")
    commands = run_op(fake, files.template, "templates/site.j2", "/etc/site", port=8080)
    assert commands == [("upload", b"server fake-host:8080\nincluded\n", "/etc/site")]


def test_template_unchanged_is_a_noop(fake: FakeHost) -> None:
    rendered = b"x=1\n"
    fake.fact(File, INFO, path="/etc/t")
    fake.fact(Sha256File, hashlib.sha256(rendered).hexdigest(), path="/etc/t")
    assert run_op(fake, files.template, StringIO("x={{ x }}\n"), "/etc/t", x=1) == []


def test_template_compiled_once_per_run_and_again_when_the_file_changes(
    fake: FakeHost, tmp_path: Path
) -> None:
    template = tmp_path / "t.j2"
    template.write_text("v={{ v }}\n")
    fake.fact(File, None, path="/etc/t").fact(Directory, INFO, path="/etc")
    assert run_op(fake, files.template, "t.j2", "/etc/t", v=1) == [("upload", b"v=1\n", "/etc/t")]
    assert run_op(fake, files.template, "t.j2", "/etc/t", v=2) == [("upload", b"v=2\n", "/etc/t")]
    assert len(fake.memos) == 1  # one shared environment
    template.write_text("w={{ v }}\n")
    os.utime(template, (1, 1))  # a different mtime, however coarse the clock
    assert run_op(fake, files.template, "t.j2", "/etc/t", v=3) == [("upload", b"w=3\n", "/etc/t")]


def test_template_errors_name_file_and_line(fake: FakeHost, tmp_path: Path) -> None:
    (tmp_path / "bad.j2").write_text("line one\nvalue {{ missing_var }}\n")
    with pytest.raises(OperationError, match=r"bad\.j2:2: .*missing_var"):
        run_op(fake, files.template, "bad.j2", "/etc/x")
    (tmp_path / "syntax.j2").write_text("a\nb\n{% if %}\n")
    with pytest.raises(OperationError, match=r"syntax\.j2:3"):
        run_op(fake, files.template, "syntax.j2", "/etc/x")
    with pytest.raises(OperationError, match="does not exist"):
        run_op(fake, files.template, "absent.j2", "/etc/x")


def _find(fake: FakeHost, path: str, pattern: str, value: list[str] | None) -> None:
    fake.fact(
        FindInFile, value, path=path, pattern=pattern,
        interpolate_variables=False, extended_regex=False,
    )


def test_line_appends_when_missing(fake: FakeHost) -> None:
    _find(fake, "/etc/motd", "^.*SYSTEM DOWN.*$", [])
    # ensure_newline defaults to False, as in pyinfra 3.10.
    assert run_op(fake, files.line, "/etc/motd", "SYSTEM DOWN", ensure_newline=True) == [
        "{ test ! -s /etc/motd || test -z \"$(tail -c1 /etc/motd )\" || echo; "
        "printf '%s\\n' 'SYSTEM DOWN' ; } >> /etc/motd"
    ]
    assert run_op(fake, files.line, "/etc/motd", "SYSTEM DOWN") == [
        "printf '%s\\n' 'SYSTEM DOWN' >> /etc/motd"
    ]


def test_line_anchors_are_not_written(fake: FakeHost) -> None:
    _find(fake, "/f", "^foo$", [])
    commands = run_op(fake, files.line, "/f", "^foo$", ensure_newline=False)
    assert commands == ["printf '%s\\n' foo >> /f"]


def test_line_present_is_a_noop(fake: FakeHost) -> None:
    _find(fake, "/f", "^.*foo.*$", ["foo"])
    assert run_op(fake, files.line, "/f", "foo") == []
    assert fake.noops == ['line "foo" exists in /f']


def test_line_replace(fake: FakeHost) -> None:
    _find(fake, "/etc/ssh/sshd_config", "^PermitRootLogin.*.*$", ["PermitRootLogin yes"])
    commands = run_op(
        fake, files.line, "/etc/ssh/sshd_config", "^PermitRootLogin.*",
        replace="PermitRootLogin no",
    )
    assert len(commands) == 1
    assert commands[0].startswith("sed -i.")
    assert "'s/^PermitRootLogin.*.*$/PermitRootLogin no/' /etc/ssh/sshd_config && rm -f" in (
        commands[0]
    )

    _find(fake, "/c", "^PermitRootLogin.*.*$", ["PermitRootLogin no"])
    assert run_op(fake, files.line, "/c", "^PermitRootLogin.*", replace="PermitRootLogin no") == []


def test_line_replace_appends_when_neither_exists(fake: FakeHost) -> None:
    _find(fake, "/c", "^.*a/b=.*$", [])
    _find(fake, "/c", "^a\\/b=1$", [])
    commands = run_op(fake, files.line, "/c", "a/b=", replace="a/b=1", ensure_newline=False)
    assert commands == ["printf '%s\\n' a/b=1 >> /c"]
    _find(fake, "/d", "^.*a/b=.*$", [])
    _find(fake, "/d", "^a\\/b=1$", ["a/b=1"])
    assert run_op(fake, files.line, "/d", "a/b=", replace="a/b=1") == []


def test_line_remove(fake: FakeHost) -> None:
    _find(fake, "/f", "^.*secret.*$", ["secret=1"])
    commands = run_op(fake, files.line, "/f", "secret", present=False, backup=True)
    assert commands[0].startswith("sed -i.") and "'/^.*secret.*$/d' /f" in commands[0]
    assert "rm -f" not in commands[0]  # backup kept
    _find(fake, "/g", "^.*secret.*$", [])
    assert run_op(fake, files.line, "/g", "secret", present=False) == []
    _find(fake, "/h", "^.*secret.*$", None)
    assert run_op(fake, files.line, "/h", "secret", present=False) == []
