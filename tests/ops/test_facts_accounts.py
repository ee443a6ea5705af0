"""server.Users, User, Home and AuthorizedKeys: parsers on real-looking output, and the
commands run for real through /bin/sh on this machine."""

from __future__ import annotations

import getpass
import grp
import os
import pwd
from datetime import UTC, datetime

import pytest

from agent.catalogue.facts.server import AuthorizedKeys, Home, User, Users
from agent.engine.operation_errors import OperationValueError
from tests.ops.conftest import run_fact

PASSWD = [
    "root:x:0:0:root:/root:/bin/bash",
    "deploy:x:1000:1000:Deploy User,,,:/home/deploy:/bin/bash",
    "deployer:x:1001:100::/home/deployer:",
    "svc:x:998:4242:::/usr/sbin/nologin",
]
GROUP = [
    "root:x:0:",
    "adm:x:4:deploy,svc",
    "sudo:x:27:deploy",
    "users:x:100:deployer",
    "deploy:x:1000:",
    "ops:x:1500:deployer,deploy",
]
SHADOW = [
    "root:*:19700:0:99999:7:::",
    "deploy:$6$salt$hash:19700:0:99999:7:::",
    "deployer:!:19700:0:99999:7:::",
]
LASTLOG = [
    "Username Port From Latest",
    "root pts/0 198.18.0.254 Wed Dec 2 15:19:51 +0000 2026",
    "deploy **Never logged in**",
    "deployer pts/1 10.0.0.1 Tue Jan 6 09:05:00 +0100 2026",
]


def _output(shadow: list[str] = SHADOW) -> list[str]:
    return [*PASSWD, "::group::", *GROUP, "::shadow::", *shadow, "::lastlog::", *LASTLOG]


def test_users_parses_every_field_as_pyinfra_does() -> None:
    users = Users().process(_output())
    assert users["deploy"] == {
        "home": "/home/deploy",
        "comment": "Deploy User,,,",
        "shell": "/bin/bash",
        "group": "deploy",
        "groups": ["adm", "sudo", "ops"],
        "uid": 1000,
        "gid": 1000,
        "lastlog": None,
        "login_time": None,
        "password": "$6$salt$hash",
    }
    root = users["root"]
    assert root["lastlog"] == "Wed Dec 2 15:19:51 +0000 2026"
    assert root["login_time"] == datetime(2026, 12, 2, 15, 19, 51, tzinfo=UTC)
    assert (root["groups"], root["password"]) == ([], "*")


def test_users_empty_fields_are_none_and_groups_exclude_the_primary() -> None:
    users = Users().process(_output())
    deployer = users["deployer"]
    assert (deployer["comment"], deployer["shell"]) == (None, None)
    assert (deployer["group"], deployer["groups"]) == ("users", ["ops"])
    # "deploy" matches no lastlog line but its own (not deployer's).
    assert deployer["lastlog"] == "Tue Jan 6 09:05:00 +0100 2026"
    svc = users["svc"]
    assert (svc["home"], svc["comment"]) == (None, None)
    # A gid with no group name: `id -gn` prints the number.
    assert (svc["group"], svc["gid"], svc["groups"]) == ("4242", 4242, ["adm"])
    assert svc["password"] == ""


def test_users_without_a_readable_shadow_file_have_empty_passwords() -> None:
    users = Users().process(_output(shadow=[]))
    assert {user["password"] for user in users.values()} == {""}
    assert Users().default() == {}


def test_users_read_here_match_the_passwd_and_group_databases() -> None:
    users = run_fact(Users)
    for entry in pwd.getpwall():
        if entry.pw_name not in users:
            continue  # an account from another NSS source than /etc/passwd
        user = users[entry.pw_name]
        assert (user["uid"], user["gid"]) == (entry.pw_uid, entry.pw_gid)
        assert user["home"] == (entry.pw_dir or None)
        assert user["shell"] == (entry.pw_shell or None)
        primary = grp.getgrgid(entry.pw_gid).gr_name
        assert user["group"] == primary
        secondary = [g.gr_name for g in grp.getgrall()
                     if entry.pw_name in g.gr_mem and g.gr_name != primary]
        assert sorted(user["groups"]) == sorted(secondary)
    if os.geteuid() == 0:
        assert users["root"]["password"] == _shadow_field("root")


def _shadow_field(name: str) -> str:
    with open("/etc/shadow") as shadow:
        for line in shadow:
            if line.startswith(f"{name}:"):
                return line.split(":")[1]
    return ""


def test_user_is_the_current_user() -> None:
    assert run_fact(User) == getpass.getuser()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # no $USER set
    assert run_fact(User, env=env) == pwd.getpwuid(os.geteuid()).pw_name


def test_home_of_a_user_of_the_current_user_and_of_nobody() -> None:
    root = pwd.getpwuid(0)
    assert run_fact(Home, user=root.pw_name) == root.pw_dir
    assert run_fact(Home, env={"HOME": "/somewhere"}) == "/somewhere"
    assert run_fact(Home, user="no-such-user-here") is None
    assert Home().command(user="deploy") == "echo ~deploy"


@pytest.mark.parametrize("name", ["x; rm -rf /", "$(id)", "a b", "-rf"])
def test_names_that_would_need_quoting_after_a_tilde_are_refused(name: str) -> None:
    with pytest.raises(OperationValueError, match="plain name"):
        Home().command(user=name)
    with pytest.raises(OperationValueError, match="plain name"):
        AuthorizedKeys().command(user=name)


def test_authorized_keys_skips_blanks_and_comments_and_keeps_order() -> None:
    keys = AuthorizedKeys().process([
        "# managed",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+b/c alice@laptop  ",
        "",
        '  from="10.0.0.0/8" ssh-rsa AAAAB3NzaC1yc2E= bob@ci',
    ])
    assert keys == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+b/c alice@laptop",
        'from="10.0.0.0/8" ssh-rsa AAAAB3NzaC1yc2E= bob@ci',
    ]
    assert AuthorizedKeys().default() == []
    assert AuthorizedKeys().command(user="alice") == (
        "cat ~alice/.ssh/authorized_keys 2>/dev/null || true"
    )
    assert AuthorizedKeys().command(user="alice", path="/srv/my keys") == (
        "cat '/srv/my keys' 2>/dev/null || true"
    )


def test_authorized_keys_read_here(tmp_path) -> None:
    path = tmp_path / "authorized_keys"
    path.write_text("ssh-ed25519 AAAA one\n\n# c\nssh-ed25519 BBBB two\n")
    assert run_fact(AuthorizedKeys, user="x", path=str(path)) == [
        "ssh-ed25519 AAAA one", "ssh-ed25519 BBBB two"]
    assert run_fact(AuthorizedKeys, user="x", path=str(tmp_path / "missing")) == []
