"""Setup stage: read a pyinfra-style inventory (.py) and its group data into hosts with data.

Data precedence, highest first: `--data` overrides, the host's own data, its groups (groups
later in the inventory win), then `all`. The inventory is pure data: loading it never
connects anywhere, so an error here stops the run before any host is touched.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from agent.engine.callsite import format_location, traceback_location
from agent.engine.command import MaskString
from agent.engine.connectors.ssh_config import (
    PARAMIKO_CONNECT_PARAMETERS,
    SSHConfigError,
    SSHConfigFile,
    read_config,
)
from agent.engine.errors import InventoryError
from agent.engine.imports import Importer, user_builtins
from agent.engine.local_paths import StrPath, confine_user_file
from agent.engine.user_text import read_user_text

STRICT_HOST_KEY_CHOICES = ("yes", "accept-new", "no")
SECRET_DATA_KEYS = frozenset({"ssh_password", "ssh_key_password"})
SECRET_KEY_SUFFIXES = ("_password", "_secret", "_token", "_key")
# Names the suffixes match whose values are not secret: `ssh_key` is the key file's path, and
# a masked path would make "cannot load ssh_key ***" errors useless.
NOT_SECRET_DATA_KEYS = frozenset({"ssh_key"})
SSH_INT_KEYS = ("ssh_port", "ssh_connect_timeout")
SSH_BOOL_KEYS = ("ssh_forward_agent", "ssh_allow_agent", "ssh_look_for_keys")
SSH_DELAY_KEYS = ("ssh_connect_retry_min_delay", "ssh_connect_retry_max_delay")
SSH_TEXT_KEYS = ("ssh_hostname", "ssh_user", "ssh_key", "ssh_known_hosts_file")
# Keys of ssh_paramiko_connect_kwargs whose values are secrets, as ssh_password is.
SECRET_PARAMIKO_KWARGS = frozenset({"password", "passphrase"})
SSH_PREFIX = "@ssh/"


@dataclass(frozen=True)
class InventoryHost:
    """One host as the inventory describes it: no connection, no run state."""

    name: str
    groups: tuple[str, ...]
    data: Mapping[str, Any]
    connector: str  # "local" | "ssh"
    location: str
    host_data: Mapping[str, Any] = field(default_factory=dict)  # its own entry only
    group_data: Mapping[str, Any] = field(default_factory=dict)  # its groups, merged

    @property
    def secrets(self) -> frozenset[str]:
        """Values that must never be shown: passwords, key passphrases, data marked secret."""
        return secret_values(self.data)


@dataclass(frozen=True)
class Inventory:
    path: str
    hosts: tuple[InventoryHost, ...]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, name: str) -> InventoryHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    def only(self, names: Iterable[str]) -> Inventory:
        """The same inventory with only the hosts named (a shard, a rollout wave), in order."""
        kept = set(names)
        return replace(self, hosts=tuple(h for h in self.hosts if h.name in kept))

    @property
    def secrets(self) -> frozenset[str]:
        """Every host's secrets: what runs on one host may show another's (a web server's
        config holding `inventory.get_host("db").data.db_password`)."""
        return frozenset().union(*(spec.secrets for spec in self.hosts))


def is_secret_key(key: str, data: Mapping[str, Any]) -> bool:
    marked = data.get("secret_keys") or ()
    if key in marked or key in SECRET_DATA_KEYS:
        return True
    return key.endswith(SECRET_KEY_SUFFIXES) and key not in NOT_SECRET_DATA_KEYS


def secret_values(data: Mapping[str, Any]) -> frozenset[str]:
    found: set[str] = set()
    marked = data.get("secret_keys") or ()
    for key, value in data.items():
        _collect_secrets(value, isinstance(key, str) and is_secret_key(key, data), marked, found)
    kwargs = data.get("ssh_paramiko_connect_kwargs")
    if isinstance(kwargs, Mapping):
        for key in SECRET_PARAMIKO_KWARGS:
            value = kwargs.get(key)
            if isinstance(value, str) and len(value) >= 3:
                found.add(value)
    return frozenset(found)


def _collect_secrets(value: Any, by_key: bool, marked: Any, found: set[str]) -> None:
    """Secrets anywhere in a data value: a `secret()` (MaskString) at any depth, and strings
    under a secret-looking key of a nested dict (`db = {"admin_password": ...}`)."""
    if isinstance(value, str):
        if (by_key or isinstance(value, MaskString)) and len(value) >= 3:
            found.add(str(value))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            secret_key = isinstance(key, str) and (
                key.endswith(SECRET_KEY_SUFFIXES) or key in marked
            )
            _collect_secrets(item, by_key or secret_key, marked, found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect_secrets(item, by_key, marked, found)


def parse_data_override(text: str) -> tuple[str, Any]:
    """`key=value` gives a string; `key:=JSON` gives a JSON value (number, bool, list...)."""
    equals = text.find("=")
    if equals <= 0 or not text[:equals].rstrip(":").strip():
        raise InventoryError(
            f"--data {text!r} is not key=value", fix="write --data key=value or key:=JSON"
        )
    if text[equals - 1] != ":":
        return text[:equals].strip(), text[equals + 1 :]
    key, raw = text[: equals - 1].strip(), text[equals + 1 :]
    try:
        return key, json.loads(raw)
    except ValueError as exc:
        raise InventoryError(
            f"--data {text!r}: the value after ':=' is not JSON ({exc})",
            fix="use key=value for a plain string",
        ) from None


def _exec_python_file(
    path: Path, importer: Importer | None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Run an inventory or group-data file; return its namespace and each name's line."""
    filename = str(path)
    source = read_user_text(path, InventoryError, "file")
    try:
        tree = ast.parse(source, filename=filename)
        code = compile(tree, filename, "exec")
    except SyntaxError as exc:
        raise InventoryError(
            f"syntax error: {exc.msg}",
            where=format_location(filename, exc.lineno or 1),
            fix="correct the Python syntax of the inventory",
        ) from None
    namespace: dict[str, Any] = {
        "__builtins__": user_builtins(importer),
        "__file__": filename,
        "__name__": "__pullinfra_inventory__",
    }
    try:
        exec(code, namespace)
    except Exception as exc:
        where = traceback_location(exc.__traceback__, {filename})
        raise InventoryError(
            f"{type(exc).__name__}: {exc}", where=where, fix="correct the inventory file"
        ) from None
    return namespace, _assignment_lines(tree)


def _assignment_lines(tree: ast.Module) -> dict[str, int]:
    lines: dict[str, int] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                lines[target.id] = node.lineno
    return lines


def _public_data(namespace: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("_") and not isinstance(value, ModuleType) and not callable(value)
    }


def _load_group_data(
    directory: Path, group: str, importer: Importer | None, root: StrPath | None = None
) -> dict[str, Any]:
    path = directory / "group_data" / f"{group}.py"
    if not path.is_file():
        return {}
    confine_user_file(path, root, "group data file", InventoryError)
    namespace, _ = _exec_python_file(path, importer)
    return _public_data(namespace)


def _parse_group(
    name: str, value: Any, where: str
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]] | None:
    """A group is a list of hosts, or a (list, data) tuple; anything else is not a group."""
    group_data: dict[str, Any] = {}
    if (
        isinstance(value, tuple)
        and len(value) == 2
        and isinstance(value[0], list)
        and isinstance(value[1], dict)
    ):
        value, group_data = value
    if not isinstance(value, list):
        return None
    hosts: list[tuple[str, dict[str, Any]]] = []
    for entry in value:
        if isinstance(entry, str):
            hosts.append((entry, {}))
        elif (
            isinstance(entry, tuple)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], dict)
        ):
            hosts.append((entry[0], dict(entry[1])))
        else:
            raise InventoryError(
                f"group {name!r} has an entry {entry!r} that is not a host",
                where=where,
                fix='write a host as "name" or ("name", {"key": "value"})',
            )
    return hosts, dict(group_data)


def _refuse_conflicting_data(host: str, seen: Mapping[str, Any], data: Mapping[str, Any],
                             first: str | None, where: str) -> None:
    """A host listed twice with different values for one key: which one is meant is a guess,
    so the run stops rather than connecting with whichever came last."""
    for key, value in data.items():
        if key in seen and seen[key] != value:
            secret = secret_values({key: seen[key]}) | secret_values({key: value})
            values = f"{seen[key]!r} at {first}, {value!r} here"
            if secret:  # the values would show a password in the error
                values = f"at {first} and here"
            raise InventoryError(
                f"host {host!r} is listed twice with different {key!r} ({values})",
                where=where,
                fix="give the host's data once, or move shared values to group data",
            )


def _not_groups(namespace: Mapping[str, Any]) -> str:
    """Public names that are neither groups nor obviously helpers: likely mistyped groups."""
    names = [f"{name} is a {type(value).__name__}" for name, value in namespace.items()
             if not name.startswith("_") and isinstance(value, str | dict | set | tuple)]
    return f" ({', '.join(names)}; a group is a list of hosts)" if names else ""


def _connector_for(name: str, where: str) -> str:
    """`@local`, `@ssh/<host>` (pyinfra's explicit form), or a plain name for SSH."""
    if name == "@local":
        return "local"
    if name.startswith(SSH_PREFIX) and name[len(SSH_PREFIX):].strip():
        return "ssh"
    if name == "@ssh" or name.startswith(SSH_PREFIX):
        raise InventoryError(
            f"host {name!r} names no host after @ssh/",
            where=where,
            fix="write @ssh/<hostname>, e.g. @ssh/web-01.example.net",
        )
    if name.startswith("@"):
        raise InventoryError(
            f"unknown connector in host {name!r}",
            where=where,
            fix="use @local, @ssh/<hostname>, or a plain host name for SSH",
        )
    return "ssh"


def _connector_data(name: str) -> dict[str, Any]:
    """What the name itself says: `@ssh/<host>` connects to <host>, as pyinfra's
    make_names_data does; the host's own data may still set ssh_hostname."""
    if name.startswith(SSH_PREFIX):
        return {"ssh_hostname": name[len(SSH_PREFIX):]}
    return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_ssh_data(
    host: str,
    data: Mapping[str, Any],
    where: str,
    configs: dict[str, SSHConfigFile] | None = None,
) -> None:
    """Refuse SSH data the connector could not use, naming the key and what to write."""

    def fail(message: str, fix: str | None = None, key: str | None = None) -> InventoryError:
        if fix is None and key is not None and isinstance(data.get(key), str):
            fix = f"give a number or bool, not a string (on the command line: --data {key}:=...)"
        return InventoryError(f"host {host!r}: {message}", where=where, fix=fix)

    for key in SSH_INT_KEYS:
        value = data.get(key)
        if value is not None and not (_is_number(value) and value > 0):
            raise fail(f"{key} must be a positive number, got {value!r}", key=key)
    for key in SSH_TEXT_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, str | os.PathLike):
            raise fail(f"{key} must be a string, got {type(value).__name__} {value!r}",
                       fix=f'quote it: "{key}": "..."')
    strict = data.get("ssh_strict_host_key_checking")
    if strict is not None and strict not in STRICT_HOST_KEY_CHOICES:
        raise fail(
            "ssh_strict_host_key_checking must be one of"
            f" {', '.join(STRICT_HOST_KEY_CHOICES)}, got {strict!r}"
        )
    for key in SSH_BOOL_KEYS:
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            raise fail(f"{key} must be True or False, got {value!r}", key=key)
    retries = data.get("ssh_connect_retries")
    if retries is not None and not (
        isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0
    ):
        raise fail(
            f"ssh_connect_retries must be a whole number of retries (0 or more), got {retries!r}",
            key="ssh_connect_retries",
        )
    for key in SSH_DELAY_KEYS:
        value = data.get(key)
        if value is not None and not (_is_number(value) and value >= 0):
            raise fail(f"{key} must be a number of seconds (0 or more), got {value!r}", key=key)
    low, high = (data.get(key) for key in SSH_DELAY_KEYS)
    if low is not None and high is not None and low > high:
        raise fail(
            f"ssh_connect_retry_min_delay ({low!r}) is above ssh_connect_retry_max_delay"
            f" ({high!r})",
            fix="make the minimum pause no longer than the maximum",
        )
    _check_paramiko_kwargs(data.get("ssh_paramiko_connect_kwargs"), fail)
    _check_ssh_config(host, data, fail, {} if configs is None else configs)


def _check_paramiko_kwargs(kwargs: Any, fail: Any) -> None:
    if kwargs is None:
        return
    if not isinstance(kwargs, Mapping):
        raise fail(
            f"ssh_paramiko_connect_kwargs must be a dict, got {type(kwargs).__name__}",
            fix='write e.g. {"banner_timeout": 30, "disabled_algorithms": {...}}',
        )
    for key in kwargs:
        if key == "hostname":
            raise fail(
                "ssh_paramiko_connect_kwargs cannot set hostname",
                fix="set ssh_hostname instead",
            )
        if not isinstance(key, str) or key not in PARAMIKO_CONNECT_PARAMETERS:
            raise fail(
                f"ssh_paramiko_connect_kwargs has {key!r}, which paramiko's"
                " SSHClient.connect does not take",
                fix=f"use some of: {', '.join(sorted(PARAMIKO_CONNECT_PARAMETERS))}",
            )


def _check_ssh_config(
    host: str, data: Mapping[str, Any], fail: Any, configs: dict[str, SSHConfigFile]
) -> None:
    """An ssh_config_file must exist and parse, and its entry for this host must make sense.

    Only a file the data names is read here; ~/.ssh/config, read when none is named, is the
    machine's and is checked when connecting.
    """
    path = data.get("ssh_config_file")
    if path is None:
        return
    if not isinstance(path, str | os.PathLike):
        raise fail(f"ssh_config_file must be a path, got {path!r}")
    key = os.fspath(path)
    try:
        config = configs.get(key)
        if config is None:
            config = read_config(key)
            assert config is not None  # a named file is read or refused
            configs[key] = config
        settings = config.settings(str(data.get("ssh_hostname") or host))
        for hop in settings.proxy_jump:
            config.settings(hop.host)
    except SSHConfigError as exc:
        raise fail(str(exc), fix="correct ssh_config_file or the file it names") from None


def load_inventory(
    path: str | os.PathLike[str],
    data_overrides: Mapping[str, Any] | None = None,
    limit: Iterable[str] | None = None,
    importer: Importer | None = None,
    root: StrPath | None = None,
) -> Inventory:
    """Read an inventory file and its group data; `limit` keeps only these hosts or groups.

    `importer` owns names the files may import besides real modules (the compat layer's
    maps `pyinfra...`, which inventories written for pyinfra import); the engine maps none.
    With `root`, an inventory or group-data file resolving outside it is refused.
    """
    inventory_path = Path(path).resolve()
    filename = str(inventory_path)
    if not inventory_path.is_file():
        raise InventoryError(
            f"inventory file {path} does not exist", fix="pass the path of a .py inventory"
        )
    confine_user_file(path, root, "inventory file", InventoryError)  # local_paths.py
    namespace, lines = _exec_python_file(inventory_path, importer)

    groups: dict[str, list[str]] = {}
    host_entries: dict[str, dict[str, Any]] = {}
    host_where: dict[str, str] = {}
    inline_group_data: dict[str, dict[str, Any]] = {}
    for name, value in namespace.items():
        if name.startswith("_"):
            continue
        where = format_location(filename, lines.get(name, 1))
        parsed = _parse_group(name, value, where)
        if parsed is None:
            continue
        hosts, group_data = parsed
        groups[name] = []
        inline_group_data[name] = group_data
        for host_name, data in hosts:
            groups[name].append(host_name)
            _refuse_conflicting_data(host_name, host_entries.get(host_name, {}), data,
                                     host_where.get(host_name), where)
            host_entries.setdefault(host_name, {}).update(data)
            host_where.setdefault(host_name, where)

    if not host_entries:
        raise InventoryError(
            "the inventory defines no hosts" + _not_groups(namespace),
            where=format_location(filename, 1),
            fix='define a group, e.g. web = ["web-01", ("web-02", {"ssh_port": 2222})]',
        )

    directory = inventory_path.parent
    all_data = _load_group_data(directory, "all", importer, root)
    file_group_data = {
        group: _load_group_data(directory, group, importer, root) for group in groups
    }
    overrides = dict(data_overrides or {})

    hosts: list[InventoryHost] = []
    configs: dict[str, SSHConfigFile] = {}  # each ssh_config_file read once per load
    for host_name, own_data in host_entries.items():
        where = host_where[host_name]
        member_of = tuple(g for g in groups if host_name in groups[g])
        groups_data: dict[str, Any] = {}
        for group in member_of:
            groups_data.update(file_group_data[group])
            groups_data.update(inline_group_data[group])
        connector = _connector_for(host_name, where)
        # As in pyinfra, what the name says sits at the host's own level: under its data,
        # above its groups'.
        own_data = {**_connector_data(host_name), **own_data}
        data: dict[str, Any] = {**all_data, **groups_data, **own_data}
        data.update(overrides)
        if connector == "ssh":
            _check_ssh_data(host_name, data, where, configs)
        hosts.append(
            InventoryHost(
                name=host_name,
                groups=(*member_of, "all"),
                data=data,
                connector=connector,
                location=where,
                host_data=dict(own_data),
                group_data=groups_data,
            )
        )

    all_groups = {g: tuple(members) for g, members in groups.items()}
    all_groups["all"] = tuple(h.name for h in hosts)
    if limit:
        hosts = _apply_limit(hosts, all_groups, list(limit))
    return Inventory(path=filename, hosts=tuple(hosts), groups=all_groups)


def _apply_limit(
    hosts: list[InventoryHost], groups: Mapping[str, tuple[str, ...]], limit: list[str]
) -> list[InventoryHost]:
    wanted: set[str] = set()
    names = {h.name for h in hosts}
    for item in (part.strip() for entry in limit for part in entry.split(",")):
        if not item:
            continue
        if item in groups:
            wanted.update(groups[item])
        elif item in names:
            wanted.add(item)
        else:
            raise InventoryError(
                f"--limit {item!r} matches no host or group in the inventory",
                fix=f"use one of: {', '.join(sorted(names | set(groups)))}",
            )
    return [h for h in hosts if h.name in wanted]
