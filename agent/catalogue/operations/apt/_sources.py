"""apt.repo, apt.sources_file and apt.ppa: which repositories apt reads.

Whether a repository is already there is decided on the parsed sources (facts/apt.py's
AptSources), not on file text, so a source configured as a one-line ``.list`` entry and as a
deb822 ``.sources`` stanza count as the same.
"""

from __future__ import annotations

import io
from typing import Any

from agent.catalogue.facts.apt import AptSources, AptSourcesFile, parse_apt_repo
from agent.catalogue.facts.files import File
from agent.catalogue.operations import files
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["ppa", "repo", "sources_file"]

SOURCES_LIST = "/etc/apt/sources.list"
SOURCES_DIR = "/etc/apt/sources.list.d"


@operation()
def repo(src: str, present: bool = True, filename: str | None = None) -> Commands:
    """Add or remove a one-line source (``deb URI suite components``), in
    ``sources.list.d/<filename>.list`` or, without ``filename``, in sources.list."""
    path = f"{SOURCES_DIR}/{filename}.list" if filename else SOURCES_LIST
    wanted = parse_apt_repo(src)
    exists = wanted is not None and wanted in (host.get_fact(AptSources) or [])
    if present and not exists:
        yield from files.line._inner(path=path, line=src, escape_regex_characters=True)
    elif exists and not present:
        yield from files.line._inner(
            path=path, line=src, present=False, escape_regex_characters=True
        )
    else:
        host.noop(f'apt repo "{src}" {"exists" if present else "does not exist"}')


def _words(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(item) for item in value]


@operation()
def sources_file(
    filename: str,
    types: list[str] | str = "deb",
    uris: list[str] | str | None = None,
    suites: list[str] | str | None = None,
    components: list[str] | str | None = None,
    architectures: list[str] | str | None = None,
    signed_by: str | None = None,
    present: bool = True,
) -> Commands:
    """Write (or remove) ``sources.list.d/<filename>.sources``, one deb822 stanza.

    List fields take a list or a space-separated string. The file is left alone when every
    type x URI x suite it would describe is configured already, wherever that is.
    """
    dest = f"{SOURCES_DIR}/{filename}.sources"
    if not present:
        if host.get_fact(File, path=dest):
            yield from files.file._inner(path=dest, present=False)
        else:
            host.noop(f'apt sources file "{dest}" does not exist')
        return

    kinds = _words(types) or ["deb"]
    uri_list, suite_list = _words(uris), _words(suites)
    component_list, arch_list = _words(components), _words(architectures)
    if not uri_list or not suite_list:
        raise OperationValueError(
            "apt.sources_file needs at least one URI and one suite: pass uris= and suites="
        )

    entry = AptSourcesFile(
        types=kinds,
        uris=uri_list,
        suites=suite_list,
        components=component_list,
        architectures=arch_list or None,
        signed_by=[signed_by] if signed_by else None,
    )
    existing = host.get_fact(AptSources) or []
    if all(wanted in existing for wanted in entry.expand_to_repos()):
        host.noop(f'apt sources file "{dest}" is already configured')
        return

    fields = [("Types", kinds), ("URIs", uri_list), ("Suites", suite_list),
              ("Components", component_list), ("Architectures", arch_list),
              ("Signed-By", [signed_by] if signed_by else [])]
    content = "".join(f"{name}: {' '.join(values)}\n" for name, values in fields if values)
    yield from files.put._inner(src=io.StringIO(content), dest=dest, mode="0644")


@operation(is_idempotent=False)
def ppa(src: str, present: bool = True) -> Commands:
    """Add or remove an Ubuntu PPA (``ppa:user/repo``) with apt-add-repository, which the
    host must have (Ubuntu's software-properties-common); there is no fact to check first."""
    if present:
        yield StringCommand("apt-add-repository -y", QuoteString(src))
    else:
        yield StringCommand("apt-add-repository -y --remove", QuoteString(src))
