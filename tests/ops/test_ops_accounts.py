"""server.user and server.user_authorized_keys: facts in, commands out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.catalogue.facts.files import Directory, File, FindInFile, Link, Sha256File
from agent.catalogue.facts.server import (
    AuthorizedKeys,
    Groups,
    Home,
    LinuxDistribution,
    Os,
    Users,
    Which,
)
from agent.catalogue.operations import files, server
from agent.compat import run_deploy
from agent.engine.context import bound_host
from agent.engine.operation_errors import OperationError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA+a/1 alice@laptop"
KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB+b/2 alice@ci"
HASH = "$6$rounds=5000$salt$9vX2wz0abcdefghijklmnop"
DIR_OK = {"user": "alice", "group": "alice", "mode": 755}
SSH_OK = {"user": "alice", "group": "alice", "mode": 700}
KEYS_OK = {"user": "alice", "group": "alice", "mode": 600, "size": 10}


def _account(**changes: Any) -> dict[str, Any]:
    return {
        "home": "/home/alice", "comment": None, "shell": "/bin/sh", "group": "alice",
        "groups": ["adm"], "uid": 1001, "gid": 1001, "lastlog": None, "login_time": None,
        "password": "!", **changes,
    }


def _linux(fake: FakeHost, users: dict[str, Any] | None = None,
           groups: list[str] | None = None) -> FakeHost:
    fake.fact(Users, users or {}).fact(Os, "Linux").fact(Groups, groups or ["root", "adm"])
    for tool in ("useradd", "usermod", "userdel"):
        fake.fact(Which, f"/usr/sbin/{tool}", command=tool)
    return fake


def _line_facts(fake: FakeHost, path: str, *keys: str) -> None:
    for key in keys:
        fake.fact(FindInFile, [], path=path, pattern=f"^.*{key}.*$",
                  interpolate_variables=False, extended_regex=False)


def _appends(command: str, path: str, key: str) -> bool:
    return f"'{key}'" in command and command.endswith(f">> {path}")


def test_new_user_with_home_shell_groups_and_keys(fake: FakeHost) -> None:
    _linux(fake)
    fake.fact(Directory, None, path="/home/alice")
    fake.fact(Directory, None, path="/home/alice/.ssh")
    fake.fact(AuthorizedKeys, [], user="alice", path="/home/alice/.ssh/authorized_keys")
    fake.fact(File, None, path="/home/alice/.ssh/authorized_keys")
    _line_facts(fake, "/home/alice/.ssh/authorized_keys", KEY_A)
    commands = run_op(fake, server.user, user="alice", shell="/bin/bash", groups=["adm", "sudo"],
                      comment="Alice A", uid=1500, public_keys=KEY_A)
    keys = "/home/alice/.ssh/authorized_keys"
    assert commands[:6] == [
        "useradd -d /home/alice -s /bin/bash -G adm,sudo --uid 1500 -c 'Alice A' -M alice",
        "mkdir -p /home/alice",
        "chown alice:alice /home/alice",
        "mkdir -p /home/alice/.ssh",
        "chmod 700 /home/alice/.ssh",
        "chown alice:alice /home/alice/.ssh",
    ]
    # (The fake's .ssh fact stays "missing", so files.file ensures the parent once more.)
    assert commands[-4:-1] == [f"touch {keys}", f"chmod 600 {keys}", f"chown alice:alice {keys}"]
    assert KEY_A in commands[-1] and commands[-1].endswith(f">> {keys}")


def test_new_system_user_without_home_and_with_its_group_existing(fake: FakeHost) -> None:
    _linux(fake, groups=["root", "svc"])
    assert run_op(fake, server.user, user="svc", system=True, ensure_home=False,
                  home="/nonexistent", shell="/usr/sbin/nologin") == [
        "useradd -d /nonexistent -s /usr/sbin/nologin -g svc -r -M svc"]


def test_create_home_unique_and_primary_group(fake: FakeHost) -> None:
    _linux(fake)
    fake.fact(Directory, DIR_OK | {"group": "staff"}, path="/srv/alice")
    assert run_op(fake, server.user, user="alice", home="/srv/alice", group="staff",
                  create_home=True, unique=False, uid=0) == [
        "useradd -d /srv/alice -g staff --uid 0 -o -m alice"]
    assert fake.noops == ["directory /srv/alice already exists"]


def test_existing_user_as_wanted_is_no_change(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account()})
    fake.fact(Directory, DIR_OK, path="/home/alice")
    assert run_op(fake, server.user, user="alice", shell="/bin/sh", groups=["adm"]) == []
    assert fake.noops == ["user alice exists", "directory /home/alice already exists"]
    # Nothing asked for beyond the account itself: no usermod, and its uid stays.
    assert run_op(fake, server.user, user="alice", uid=1234, append=True,
                  groups=["adm"]) == []


def test_changed_shell_and_groups_replaced(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account(groups=["adm", "cdrom"])})
    fake.fact(Directory, DIR_OK, path="/home/alice")
    assert run_op(fake, server.user, user="alice", shell="/bin/bash", groups=["adm", "sudo"],
                  comment="Alice") == ["usermod -s /bin/bash -G adm,sudo -c Alice alice"]


def test_groups_appended_only_when_some_are_missing(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account(groups=["adm", "cdrom"])})
    fake.fact(Directory, DIR_OK, path="/home/alice")
    assert run_op(fake, server.user, user="alice", groups=["sudo"], append=True) == [
        "usermod -a -G sudo alice"]
    assert run_op(fake, server.user, user="alice", groups=["cdrom"], append=True) == []


def test_new_home_and_primary_group_of_an_existing_user(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account()})
    fake.fact(Directory, False, path="/srv/alice")
    fake.fact(Link, {"user": "root", "group": "root", "mode": 777, "link_target": "/data"},
              path="/srv/alice")
    assert run_op(fake, server.user, user="alice", home="/srv/alice", group="staff") == [
        "usermod -d /srv/alice -g staff alice"]
    # The home is a symlink: left alone, as pyinfra does.
    assert fake.noops == ["directory /srv/alice already exists (as a link)"]


def test_password_is_set_when_it_differs_and_never_shown(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account(password="!")})
    fake.fact(Directory, DIR_OK, path="/home/alice")
    with bound_host(fake):  # type: ignore[arg-type]
        [command] = list(server.user._inner(user="alice", password=HASH))
    assert command.get_raw_value() == f"usermod -p '{HASH}' alice"
    assert str(command) == command.get_masked_value() == "usermod -p '***' alice"

    _linux(fake, {"alice": _account(password=HASH)})
    assert run_op(fake, server.user, user="alice", password=HASH) == []


def test_new_user_password_is_masked(fake: FakeHost) -> None:
    _linux(fake)
    with bound_host(fake):  # type: ignore[arg-type]
        [command] = list(server.user._inner(user="alice", password=HASH, ensure_home=False))
    assert HASH not in str(command) and "-p '***'" in str(command)
    assert f"-p '{HASH}'" in command.get_raw_value()


def test_remove_a_user_or_find_it_gone(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account()})
    assert run_op(fake, server.user, user="alice", present=False) == ["userdel alice"]
    _linux(fake, {})
    assert run_op(fake, server.user, user="alice", present=False) == []
    assert fake.noops == ["user alice does not exist"]


def test_freebsd_uses_pw_and_feeds_the_hash_on_stdin(fake: FakeHost) -> None:
    fake.fact(Users, {}).fact(Os, "FreeBSD").fact(Groups, [])
    assert run_op(fake, server.user, user="bob", password=HASH, ensure_home=False, uid=7) == [
        f"echo '{HASH}' | pw useradd -n bob -H 0 -d /home/bob -u 7"]
    fake.fact(Users, {"bob": _account(home="/home/bob", password="*")})
    assert run_op(fake, server.user, user="bob", password=HASH, ensure_home=False) == [
        f"echo '{HASH}' | pw usermod -n bob -H 0"]
    assert run_op(fake, server.user, user="bob", present=False) == ["pw userdel -n bob"]


def test_missing_useradd_is_reported_with_what_to_install(fake: FakeHost) -> None:
    fake.fact(Users, {}).fact(Os, "Linux").fact(Groups, [])
    fake.fact(Which, None, command="useradd")
    fake.fact(LinuxDistribution, {"name": "Alpine"})
    with pytest.raises(OperationError, match="install the shadow package"):
        run_op(fake, server.user, user="alice")


def test_delete_keys_rewrites_a_file_that_differs(fake: FakeHost) -> None:
    keys = "/home/alice/.ssh/authorized_keys"
    fake.fact(Home, "/home/alice", user="alice")
    fake.fact(Directory, SSH_OK, path="/home/alice/.ssh")
    fake.fact(AuthorizedKeys, [KEY_B, "ssh-rsa AAAAB3 old@box"], user="alice", path=keys)
    fake.fact(File, KEYS_OK, path=keys)
    fake.fact(Sha256File, "0" * 64, path=keys)
    commands = run_op(fake, server.user_authorized_keys, user="alice",
                      public_keys=[KEY_A, KEY_B], delete_keys=True)
    assert commands == [("upload", f"{KEY_A}\n{KEY_B}\n".encode(), keys),
                        f"chown alice:alice {keys}", f"chmod 600 {keys}"]
    assert fake.noops == ["directory /home/alice/.ssh already exists"]


def test_delete_keys_with_the_same_keys_only_checks_owner_and_mode(fake: FakeHost) -> None:
    keys = "/home/alice/.ssh/authorized_keys"
    fake.fact(Directory, SSH_OK, path="/home/alice/.ssh")
    fake.fact(AuthorizedKeys, [KEY_A], user="alice", path=keys)
    fake.fact(File, KEYS_OK | {"mode": 644}, path=keys)
    assert run_op(fake, server.user_authorized_keys, user="alice", public_keys=KEY_A,
                  delete_keys=True, authorized_key_directory="/home/alice/.ssh") == [
        f"chmod 600 {keys}"]


def test_keys_already_there_are_not_added_again(fake: FakeHost) -> None:
    keys = "/home/alice/.ssh/authorized_keys"
    fake.fact(Home, "/home/alice", user="alice")
    fake.fact(Directory, SSH_OK, path="/home/alice/.ssh")
    fake.fact(AuthorizedKeys, [KEY_A], user="alice", path=keys)
    fake.fact(File, KEYS_OK, path=keys)
    _line_facts(fake, keys, KEY_B)
    [command] = run_op(fake, server.user_authorized_keys, user="alice",
                       public_keys=[KEY_A, KEY_B])
    assert _appends(command, keys, KEY_B)
    fake.fact(AuthorizedKeys, [KEY_B, KEY_A], user="alice", path=keys)
    assert run_op(fake, server.user_authorized_keys, user="alice",
                  public_keys=[KEY_A, KEY_B]) == []
    assert fake.noops[-2:] == ["directory /home/alice/.ssh already exists",
                               f"file {keys} already exists"]


def test_keys_from_a_local_file_and_a_named_key_file(fake: FakeHost) -> None:
    (fake.local_dir / "keys").mkdir()
    (fake.local_dir / "keys" / "alice.pub").write_text(f"{KEY_A}\n\n# ci key\n{KEY_B}\n")
    keys = "/data/alice-ssh/keys2"
    fake.fact(Directory, {"user": "alice", "group": "staff", "mode": 700},
              path="/data/alice-ssh")
    fake.fact(AuthorizedKeys, [KEY_A, KEY_B], user="alice", path=keys)
    fake.fact(File, KEYS_OK | {"group": "staff"}, path=keys)
    assert run_op(fake, server.user_authorized_keys, user="alice", group="staff",
                  public_keys=["keys/alice.pub"], delete_keys=True,
                  authorized_key_directory="/data/alice-ssh",
                  authorized_key_filename="keys2") == []


def test_keys_for_a_user_that_does_not_exist(fake: FakeHost) -> None:
    fake.fact(Home, None, user="nobody2")
    with pytest.raises(OperationError, match="user nobody2 does not exist"):
        run_op(fake, server.user_authorized_keys, user="nobody2", public_keys=KEY_A)


def test_directory_without_no_fail_on_link_still_refuses_a_link(fake: FakeHost) -> None:
    fake.fact(Directory, False, path="/srv/x")
    with pytest.raises(OperationError, match="is not a directory"):
        run_op(fake, files.directory, path="/srv/x")


@pytest.mark.parametrize(("call", "message"), [
    ("server.user(user='bad:name')", "user must be a user or group name"),
    ("server.user(user='alice', groups='adm')", "groups must be a list of group names"),
    ("server.user_authorized_keys(user='root', public_keys=42)",
     "public_keys must be a key or a list of keys"),
])
def test_bad_arguments_fail_at_the_deploy_line(tmp_path: Path, call: str, message: str) -> None:
    inventory, deploys = local_deploy(
        tmp_path, f"from pyinfra.operations import server\n\n{call}\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert message in (op.error or "")


def test_primary_group_given_as_a_gid(fake: FakeHost) -> None:
    _linux(fake, {"alice": _account(gid=1001)})
    assert run_op(fake, server.user, user="alice", group=1001, ensure_home=False) == []
    assert run_op(fake, server.user, user="alice", group="100", ensure_home=False) == [
        "usermod -g 100 alice"]
