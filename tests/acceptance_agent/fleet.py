"""The git repository contents the acceptance tests push: an inventory, a deploy, files.

The deploy manages /srv/app on every host with small files operations, so a run is quick and
its effect is checked by reading the hosts' files directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tests.testbed import Host

APP = "/srv/app"
CONF_NAMES = ("a", "b", "c")


def inventory(hosts: Sequence[Host]) -> str:
    """An inventory of bed hosts, each named by its Host.name (h01, h02, ...)."""
    return hosts[0].bed.inventory(list(hosts))


def files_deploy(extra: str = "") -> str:
    """One directory and three file uploads, one op per line (names are what reports show)."""
    ops = ['from pyinfra.operations import files, server', '',
           f'files.directory(name="app dir", path="{APP}")']
    ops += [f'files.put(name="put {n}.conf", src="files/{n}.conf", dest="{APP}/{n}.conf")'
            for n in CONF_NAMES]
    return "\n".join(ops) + "\n" + extra


def conf(name: str, version: str) -> str:
    return f"# {name}.conf\nversion = {version}\n"


def tree(hosts: Sequence[Host], versions: Mapping[str, str] | None = None,
         deploy: str | None = None) -> dict[str, str]:
    """Every file of a commit: inventory.py, deploy.py and files/<n>.conf."""
    versions = {n: "1" for n in CONF_NAMES} | dict(versions or {})
    files = {"inventory.py": inventory(hosts), "deploy.py": deploy or files_deploy()}
    files |= {f"files/{n}.conf": conf(n, versions[n]) for n in CONF_NAMES}
    return files


def app_state(host: Host) -> dict[str, str | None]:
    """The managed files' contents on a host, read directly (never through the agent)."""
    return {n: host.read_text(f"{APP}/{n}.conf") for n in CONF_NAMES}


def expected_state(versions: Mapping[str, str] | None = None) -> dict[str, str]:
    versions = {n: "1" for n in CONF_NAMES} | dict(versions or {})
    return {n: conf(n, versions[n]) for n in CONF_NAMES}
