"""server operations on local accounts: groups, users and their SSH authorized keys.

A password given to server.user is the crypt hash useradd/usermod take, not the clear text.
It still opens the account to an offline guessing attack, so it enters commands as a
MaskString: the shell gets it, and every command the engine shows or stores has `***`.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

from agent.catalogue.facts.server import (
    AuthorizedKeys,
    Groups,
    Home,
    LinuxDistribution,
    Os,
    Users,
    Which,
)
from agent.catalogue.operations import files
from agent.engine.command import Commands, MaskString, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["group", "user", "user_authorized_keys"]


@operation()
def group(
    group: str, present: bool = True, system: bool = False, gid: int | str | None = None
) -> Commands:
    """Ensure a local group exists (or not); an existing group's gid is left as it is."""
    groups = host.get_fact(Groups) or []
    if not present:
        if group in groups:
            yield StringCommand("groupdel", QuoteString(group))
        else:
            host.noop(f"group {group} does not exist")
        return
    if group in groups:
        host.noop(f"group {group} exists")
        return
    bits: list[object] = ["groupadd"]
    if system:
        bits.append("-r")
    if gid is not None:
        bits += ["-g", QuoteString(str(gid))]
    yield StringCommand(*bits, QuoteString(group))


def _check_name(value: Any, argument: str) -> str:
    """An account or group name useradd can take: the passwd and group files are split on
    ':' and ',' and by line, so a name holding one of those (or blank) cannot be one."""
    usable = isinstance(value, str) and value and value == value.strip()
    if not usable or any(c in value for c in ":,\n"):
        raise OperationValueError(
            f"{argument} must be a user or group name such as 'deploy', got {value!r}"
        )
    return value


def _check_groups(groups: Any) -> list[str]:
    if groups is None:
        return []
    if isinstance(groups, str) or not isinstance(groups, list | tuple):
        raise OperationValueError(
            f"groups must be a list of group names, such as groups=['adm'], got {groups!r}"
        )
    return [_check_name(name, "each of groups") for name in groups]


def _is_primary(existing: dict[str, Any], group: str) -> bool:
    """Whether `group` (a name, or a gid as useradd -g also takes) is the account's primary
    group already."""
    if group.isdigit():
        return existing.get("gid") == int(group)
    return existing.get("group") == group


def _comma_list(names: list[str]) -> StringCommand:
    """`-G a,b`: each name quoted on its own, joined without spaces."""
    bits: list[object] = []
    for name in names:
        if bits:
            bits.append(",")
        bits.append(QuoteString(name))
    return StringCommand(*bits, separator="")


def _secret(password: str) -> QuoteString:
    return QuoteString(MaskString(password))


def _require_tool(os_type: str | None, tool: str) -> None:
    """useradd and friends come with the shadow tools, which minimal images (Alpine's
    busybox) leave out; say which package to install rather than fail with 'not found'."""
    if os_type != "Linux" or host.get_fact(Which, command=tool):
        return
    if (host.get_fact(LinuxDistribution) or {}).get("name") == "Alpine":
        raise OperationError(f"{tool} is not installed (install the shadow package)")
    raise OperationError(f"{tool} is not installed")


def _read_key_file(key: str) -> list[str] | None:
    """The lines of a local file named by `key` (from the project root, as files.put finds
    its sources), or None when no such file exists and `key` is the key itself."""
    try:
        path = host.local_path(key)
        if not path.is_file():
            return None
        text = path.read_text()
    except (OSError, ValueError):  # a key is no valid file name (too long, NUL)
        return None
    return [line.strip() for line in text.splitlines()]


def _wanted_keys(public_keys: Any) -> list[str]:
    """The keys, with key files read; blank lines and comments are dropped, since the
    AuthorizedKeys fact never reports them, so `delete_keys` would otherwise rewrite a file
    that already holds exactly these keys."""
    if isinstance(public_keys, str):
        public_keys = [public_keys]
    if not isinstance(public_keys, list | tuple) or not all(
        isinstance(key, str) for key in public_keys
    ):
        raise OperationValueError(
            "public_keys must be a key or a list of keys (or of local key file paths), got "
            f"{public_keys!r}"
        )
    keys: list[str] = []
    for entry in public_keys:
        lines = _read_key_file(entry)
        for key in lines if lines is not None else [entry.strip()]:
            if key and not key.startswith("#") and key not in keys:
                keys.append(key)
    return keys


@operation(local_paths=("public_keys",))
def user_authorized_keys(
    user: str,
    public_keys: str | list[str],
    group: str | None = None,
    delete_keys: bool = False,
    authorized_key_directory: str | None = None,
    authorized_key_filename: str | None = None,
) -> Commands:
    """Ensure `public_keys` can log in as `user`; with `delete_keys`, only they can.

    Keys already in the file are kept where they are and missing ones appended, so keys the
    user added by hand stay unless `delete_keys` asks for the file to hold exactly these.
    The directory is made 700 and the file 600, owned by the user, as sshd requires.
    """
    user = _check_name(user, "user")
    keys = _wanted_keys(public_keys)
    owner_group = group or user

    if not authorized_key_directory:
        home = host.get_fact(Home, user=user)
        if not home:
            raise OperationError(
                f"user {user} does not exist (no home directory to put .ssh in): create it"
                " first, e.g. with server.user"
            )
        authorized_key_directory = f"{home}/.ssh"
    filename = authorized_key_filename or "authorized_keys"
    keys_file = f"{authorized_key_directory.rstrip('/')}/{filename}"

    yield from files.directory._inner(
        path=authorized_key_directory, user=user, group=owner_group, mode=700
    )

    # Read once: one files.line per key would read the file once per key.
    current = host.get_fact(AuthorizedKeys, user=user, path=keys_file) or []

    if delete_keys and current != keys:
        content = StringIO("".join(f"{key}\n" for key in keys))
        yield from files.put._inner(
            src=content, dest=keys_file, user=user, group=owner_group, mode=600
        )
        return

    yield from files.file._inner(path=keys_file, user=user, group=owner_group, mode=600)
    if delete_keys:
        return
    present = set(current)
    for key in keys:
        if key not in present:
            yield from files.line._inner(path=keys_file, line=key, ensure_newline=True)


def _useradd_args(
    home: str | None,
    shell: str | None,
    group: str | None,
    groups: list[str],
    system: bool,
    uid: int | str | None,
    comment: str | None,
    unique: bool,
    create_home: bool,
    password: str | None,
    os_type: str | None,
) -> list[Any]:
    args: list[Any] = []
    if home:
        args += ["-d", QuoteString(home)]
    if shell:
        args += ["-s", QuoteString(shell)]
    if group:
        args += ["-g", QuoteString(group)]
    if groups:
        args += ["-G", _comma_list(groups)]
    if system and "BSD" not in (os_type or ""):
        args.append("-r")
    if uid is not None:
        args += ["-u" if os_type == "FreeBSD" else "--uid", QuoteString(str(uid))]
    if comment:
        args += ["-c", QuoteString(comment)]
    if not unique:
        args.append("-o")
    if create_home:
        args.append("-m")
    elif os_type not in ("FreeBSD", "OpenBSD"):
        args.append("-M")
    if password and os_type != "FreeBSD":
        args += ["-p", _secret(password)]
    return args


def _usermod_args(
    existing: dict[str, Any],
    home: str | None,
    shell: str | None,
    group: str | None,
    groups: list[str],
    append: bool,
    comment: str | None,
) -> list[Any]:
    """What differs from the account as it is (the password is compared by the caller)."""
    args: list[Any] = []
    if home and existing.get("home") != home:
        args += ["-d", QuoteString(home)]
    if shell and existing.get("shell") != shell:
        args += ["-s", QuoteString(shell)]
    if group and not _is_primary(existing, group):
        args += ["-g", QuoteString(group)]
    if groups:
        have = set(existing.get("groups") or [])
        if append and not set(groups) <= have:
            args += ["-a", "-G", _comma_list(groups)]
        elif not append and have != set(groups):
            args += ["-G", _comma_list(groups)]
    if comment and existing.get("comment") != comment:
        args += ["-c", QuoteString(comment)]
    return args


@operation(local_paths=("public_keys",))
def user(
    user: str,
    present: bool = True,
    home: str | None = None,
    shell: str | None = None,
    group: str | int | None = None,
    groups: list[str] | None = None,
    append: bool = False,
    public_keys: str | list[str] | None = None,
    delete_keys: bool = False,
    ensure_home: bool = True,
    create_home: bool = False,
    system: bool = False,
    uid: int | None = None,
    comment: str | None = None,
    unique: bool = True,
    password: str | None = None,
) -> Commands:
    """Ensure a local account exists with these settings (or, `present=False`, does not).

    Only what is asked for is compared: an existing account keeps its uid, and its
    secondary groups are replaced by `groups` unless `append`. `home` is /home/<user> for a
    new account and the account's own for an existing one; `ensure_home` makes it a
    directory owned by the user (a symlink there is left alone), whereas `create_home` has
    useradd fill a new one from the skeleton. `password` is a crypt hash.
    """
    user = _check_name(user, "user")
    wanted_groups = _check_groups(groups)
    if group is not None:
        # useradd and usermod take a gid as well as a name.
        group = str(group) if isinstance(group, int) and not isinstance(group, bool) else group
        group = _check_name(group, "group")

    existing = (host.get_fact(Users) or {}).get(user)
    os_type = host.get_fact(Os)

    if home is None:
        home = existing.get("home") if existing else f"/home/{user}"

    if not present:
        if not existing:
            host.noop(f"user {user} does not exist")
        elif os_type == "FreeBSD":
            yield StringCommand("pw", "userdel", "-n", QuoteString(user))
        else:
            _require_tool(os_type, "userdel")
            yield StringCommand("userdel", QuoteString(user))
        return

    if existing is None:
        # useradd would refuse to make the user's own group when one of that name exists.
        if not group and user in (host.get_fact(Groups) or []):
            group = user
        args = _useradd_args(home, shell, group, wanted_groups, system, uid, comment, unique,
                             create_home, password, os_type)
        if os_type == "FreeBSD":
            # pw reads the hash from fd 0 (-H 0) rather than from its command line.
            feed = ["echo", _secret(password), "|"] if password else []
            hash_from_stdin = ["-H", "0"] if password else []
            yield StringCommand(*feed, "pw", "useradd", "-n", QuoteString(user),
                                *hash_from_stdin, *args)
        else:
            _require_tool(os_type, "useradd")
            yield StringCommand("useradd", *args, QuoteString(user))
    else:
        mod_args = _usermod_args(existing, home, shell, group, wanted_groups, append, comment)
        new_password = bool(password) and existing.get("password") != password
        if new_password and os_type == "FreeBSD":
            yield StringCommand("echo", _secret(str(password)), "|", "pw", "usermod", "-n",
                                QuoteString(user), "-H", "0")
        elif new_password:
            mod_args += ["-p", _secret(str(password))]
        if mod_args:
            if os_type == "FreeBSD":
                yield StringCommand("pw", "usermod", "-n", QuoteString(user), *mod_args)
            else:
                _require_tool(os_type, "usermod")
                yield StringCommand("usermod", *mod_args, QuoteString(user))
        elif not new_password:
            host.noop(f"user {user} exists")

    if ensure_home and home:
        yield from files.directory._inner(
            path=home, user=user, group=group or user, _no_fail_on_link=True
        )

    if public_keys is not None:
        yield from user_authorized_keys._inner(
            user=user,
            public_keys=public_keys,
            group=group,
            delete_keys=delete_keys,
            # An account without a home field: the Home fact says where ~user is.
            authorized_key_directory=f"{home}/.ssh" if home else None,
        )
