"""server operations: the system's identity and settings (hostname, /etc/hosts entries,
timezone, locales, security limits)."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

from agent.catalogue.facts.files import FileContents, FindInFile
from agent.catalogue.facts.server._machine import Hostname, Os, Which
from agent.catalogue.facts.server._system import (
    EtcHosts,
    Locales,
    Timezone,
    ZoneFile,
)
from agent.catalogue.facts.systemd import SystemdRunning
from agent.catalogue.operations import files
from agent.catalogue.operations.util.files import SedEdit, escape_bre, sed_replace
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationError, OperationValueError

__all__ = ["etc_hosts", "hostname", "locale", "security_limit", "timezone"]

LOCALE_GEN = "/etc/locale.gen"
LIMITS_CONF = "/etc/security/limits.conf"
LIMIT_TYPES = ("soft", "hard", "-")
# Where each kernel keeps the hostname across reboots, when no hostnamectl manages it.
HOSTNAME_FILES = {"Linux": "/etc/hostname", "OpenBSD": "/etc/myname"}


def _word(op: str, argument: str, value: Any, example: str) -> str:
    """An argument that must be one shell word: files and commands put it on one line."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise OperationValueError(
            f"server.{op} needs {argument} as one word without spaces, such as {example}, "
            f"got {value!r}"
        )
    return value


def _systemd_tool(tool: str) -> bool:
    """Whether `tool` (hostnamectl, timedatectl) can work here: it is installed and systemd
    is PID 1. pyinfra asks only the first, so on a container that ships systemd's tools but
    does not boot systemd, its operations fail where the plain fallback would work."""
    return bool(host.get_fact(SystemdRunning) and host.get_fact(Which, command=tool))


@operation()
def hostname(hostname: str, hostname_file: str | bool | None = None) -> Commands:
    """Set the hostname now and for the next boot: through hostnamectl under systemd, else
    with ``hostname`` plus ``hostname_file`` (default /etc/hostname on Linux, /etc/myname on
    OpenBSD; False writes no file)."""
    hostname = _word("hostname", "hostname", hostname, "'web1.example.com'")
    current = host.get_fact(Hostname)

    if _systemd_tool("hostnamectl"):
        if current != hostname:
            yield StringCommand("hostnamectl", "set-hostname", QuoteString(hostname))
        else:
            host.noop("hostname is set")
        return

    if hostname_file is None or hostname_file is True:
        hostname_file = HOSTNAME_FILES.get(host.get_fact(Os))

    if current != hostname:
        yield StringCommand("hostname", QuoteString(hostname))
    else:
        host.noop("hostname is set")

    if hostname_file:
        yield from files.put._inner(src=StringIO(f"{hostname}\n"), dest=hostname_file)


def _hostnames(hostnames: str | list[str] | None) -> list[str]:
    if hostnames is None:
        return []
    names = hostnames.split() if isinstance(hostnames, str) else list(hostnames)
    for name in names:
        _word("etc_hosts", "each of hostnames", name, "'db.internal'")
        if "#" in name:
            raise OperationValueError(
                f"server.etc_hosts: hostname {name!r} contains '#', which starts a comment "
                "in a hosts file: pass plain host names"
            )
    return names


def _hosts_lines(lines: list[str], ip: str, names: list[str], present: bool) -> list[str]:
    """The hosts file with `ip`'s entry made right; other lines (comments too) are kept.

    present: the first line of `ip` becomes ``ip names...`` and later lines of it go, so the
    address keeps one entry (pyinfra rewrites each of them to the same line). Absent: the
    given names leave `ip`'s lines, and a line left without names goes; no names: every
    line of `ip` goes.
    """
    kept: list[str] = []
    written = False
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if not fields or fields[0] != ip:
            kept.append(line)
            continue
        if present:
            if not written:
                kept.append(" ".join([ip, *names]))
                written = True
            continue
        remaining = [name for name in fields[1:] if names and name not in names]
        if remaining:
            kept.append(" ".join([ip, *remaining]))
    if present and not written:
        kept.append(" ".join([ip, *names]))
    return kept


@operation()
def etc_hosts(
    ip: str,
    hostnames: str | list[str] | None = None,
    present: bool = True,
    path: str = "/etc/hosts",
) -> Commands:
    """Keep the hosts-file entry of one address: exactly ``ip hostnames...`` when present;
    when absent, without `hostnames` (or without any line at all if none are given).

    The file is rewritten whole only when the parsed entries differ, so comments and other
    entries stay; a comment on the edited line itself is not kept.
    """
    ip = _word("etc_hosts", "ip", ip, "'192.168.1.10'")
    names = _hostnames(hostnames)
    if present and not names:
        raise OperationValueError(
            "server.etc_hosts needs hostnames=... (a name or a list of names) when present=True"
        )

    current = host.get_fact(EtcHosts, path=path).get(ip)
    if present and current == names:
        host.noop(f"{ip} -> {' '.join(names)} already present in {path}")
        return
    if not present and current is None:
        host.noop(f"{ip} already absent from {path}")
        return
    if not present and names and not set(names) & set(current or []):
        host.noop(f"{ip} in {path} does not reference any of: {' '.join(names)}")
        return

    text = host.get_fact(FileContents, path=path)
    lines = _hosts_lines(text.splitlines() if text else [], ip, names, present)
    content = "".join(f"{line}\n" for line in lines)
    yield from files.put._inner(src=StringIO(content), dest=path)


def _zone_name(timezone: Any) -> str:
    zone = _word("timezone", "timezone", timezone, "'Europe/Amsterdam' or 'UTC'")
    if zone.startswith("/") or ".." in zone.split("/"):
        raise OperationValueError(
            f"server.timezone needs a zone name under /usr/share/zoneinfo, such as "
            f"'Europe/Amsterdam', got {timezone!r}"
        )
    return zone


@operation()
def timezone(timezone: str) -> Commands:
    """Set the system timezone: timedatectl under systemd, else /etc/localtime linked to the
    zone and /etc/timezone naming it.

    An alias (``UTC`` for ``Etc/UTC``) counts as set when /etc/localtime resolves to the
    same zone, so a second run changes nothing (pyinfra compares names only and sets an
    alias on every run). A zone /usr/share/zoneinfo does not have is an error here; pyinfra
    would link /etc/localtime to the missing file.
    """
    timezone = _zone_name(timezone)
    current = host.get_fact(Timezone)
    if current == timezone:
        host.noop("timezone is set")
        return

    zone = host.get_fact(ZoneFile, timezone=timezone)
    if zone is None:
        raise OperationError(f"timezone {timezone} is not in /usr/share/zoneinfo on this host")
    if zone == current:
        host.noop("timezone is set")
        return

    if _systemd_tool("timedatectl"):
        yield StringCommand("timedatectl set-timezone", QuoteString(timezone))
    else:
        yield StringCommand(
            "ln -sf", QuoteString(f"/usr/share/zoneinfo/{timezone}"), "/etc/localtime"
        )
        yield StringCommand("echo", QuoteString(timezone), "> /etc/timezone")


def _locale_key(name: str) -> str:
    """A locale name as glibc normalises its codeset (``en_US.ISO-8859-15`` and ``locale -a``'s
    ``en_US.iso885915`` are one locale): lower case, letters and digits only."""
    language, dot, rest = name.partition(".")
    if not dot:
        return name
    codeset, at, modifier = rest.partition("@")
    codeset = re.sub(r"[^0-9a-z]", "", codeset.lower())
    if codeset.isdigit():
        codeset = f"iso{codeset}"
    return f"{language}.{codeset}{at}{modifier}"


def _locale_line(locale: str) -> str:
    """The one line of /etc/locale.gen that defines `locale`, commented or not."""
    # The name must start the line (after an optional '#'), so C.UTF-8 does not also find
    # en_SC.UTF-8, as pyinfra's `^.*C.UTF-8` pattern does.
    pattern = rf"^#\?[[:space:]]*{escape_bre(locale)}[[:space:]]\+.*$"
    lines = host.get_fact(FindInFile, path=LOCALE_GEN, pattern=pattern)
    if not lines:
        raise OperationError(f"Locale {locale} not found in {LOCALE_GEN}")
    if len(lines) > 1:
        raise OperationError(f"Multiple locales matches for {locale} in {LOCALE_GEN}")
    return lines[0]


@operation()
def locale(locale: str, present: bool = True) -> Commands:
    """Enable or disable a locale by (un)commenting its line in /etc/locale.gen and running
    locale-gen, which rebuilds the locales from that file."""
    locale = _word("locale", "locale", locale, "'en_GB.UTF-8'")
    installed = {_locale_key(name) for name in host.get_fact(Locales)}
    line = _locale_line(locale)
    is_installed = _locale_key(locale) in installed
    commented = line.startswith("#")

    if not present and is_installed:
        if not commented:
            yield from files.line._inner(path=LOCALE_GEN, line=f"^{line}$", replace=f"# {line}")
        # Already commented out but still built: locale-gen alone drops it.
        yield "locale-gen"
    elif present and not is_installed:
        enabled = re.sub(r"^#\s*", "", line)
        yield sed_replace(LOCALE_GEN, f"^{line}$", enabled, SedEdit())
        yield "locale-gen"
    else:
        host.noop(f"locale {locale} is {'present' if present else 'absent'}")


@operation()
def security_limit(domain: str, limit_type: str, item: str, value: int | str) -> Commands:
    """Keep one pam_limits entry in /etc/security/limits.conf: the line of this domain, type
    and item is rewritten to the wanted value, or added.

    pyinfra's pattern for that line uses ``+`` in a basic regex, where it is a literal
    character, so it never finds an existing entry: a new value is appended beside the old
    one. Here the pattern matches the entry whatever whitespace separates its fields.
    """
    domain = _word("security_limit", "domain", domain, "'*', 'root' or '@admins'")
    item = _word("security_limit", "item", item, "'nofile'")
    value = _word("security_limit", "value", str(value), "1024 or 'unlimited'")
    if limit_type not in LIMIT_TYPES:
        raise OperationValueError(
            f"server.security_limit needs limit_type 'soft', 'hard' or '-' (both), "
            f"got {limit_type!r}"
        )
    space = "[[:space:]][[:space:]]*"
    fields = (escape_bre(domain), escape_bre(limit_type), escape_bre(item))
    yield from files.line._inner(
        path=LIMITS_CONF,
        line=f"^{space.join(fields)}[[:space:]]",
        replace=f"{domain}\t{limit_type}\t{item}\t{value}",
    )
