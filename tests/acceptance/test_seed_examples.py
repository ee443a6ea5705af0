"""The execution model's worked examples (docs/architecture.md) run verbatim on bed hosts.

The deploy code below is pyinfra's own illustration of its execution model, copied unchanged,
including its typo `operation.server.service` in the "bad" example. Its inventory
(web-01..03, db-01) is mapped to bed hosts whose apt sees only the local repository.
"""

from __future__ import annotations

import threading

import pytest

from agent.engine.events import EngineWarning, OperationHostResult, OperationStarted
from tests.acceptance.conftest import all_op_statuses, pullinfra, statuses

pytestmark = pytest.mark.bed

SEED_EXAMPLE_1 = '''\
from pyinfra import host, operations

operations.apt.packages(
    name="Install base debugging packages",
    packages=["htop", "iftop"],
    update=True,
    cache_time=3600,
)

if "db_server" in host.groups:
    operations.apt.packages(
        name="Install postgres server",
        packages=["postgresql-server"],
    )

if "web_servers" in host.groups:
    operations.apt.packages(
        name="Install nginx",
        packages=["nginx"],
    )
'''

SEED_FACTS_BAD = '''\
from pyinfra import facts, host, operations

operations.apt.packages(
    name="Install nginx",
    packages=["nginx"],
)

if host.get_fact(facts.files.File, path="/etc/nginx/sites-enabled/default"):
    operations.files.file(
        name="Remove nginx default site",
        path="/etc/nginx/sites-enabled/default",
        present=False,
    )
'''

SEED_CHANGED_BAD = '''\
from pyinfra import facts, host, operations

operations.apt.packages(
    name="Install nginx",
    packages=["nginx"],
)

remove_default_site = operations.files.file(
    name="Remove nginx default site",
    path="/etc/nginx/sites-enabled/default",
    present=False,
)

if remove_default_site.changed:
    operation.server.service(
        name="Reload nginx",
        service="nginx",
        reloaded=True,
    )
'''

SEED_IF_GOOD = '''\
from pyinfra import facts, host, operations

operations.apt.packages(
    name="Install nginx",
    packages=["nginx"],
)

remove_default_site = operations.files.file(
    name="Remove nginx default site",
    path="/etc/nginx/sites-enabled/default",
    present=False,
)

operations.server.service(
    name="Reload nginx",
    service="nginx",
    reloaded=True,
    _if=remove_default_site.did_change,
)
'''

WEB = ["web-01", "web-02", "web-03"]
DEFAULT_SITE = "/etc/nginx/sites-enabled/default"


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


@pytest.fixture
def seed_hosts(bed_hosts, bed_inventory):
    """The example's inventory on four pristine bed hosts: ({name: bed Host}, inventory path)."""
    hosts = dict(zip([*WEB, "db-01"], bed_hosts(4), strict=True))
    inventory = bed_inventory(hosts, groups={"web_servers": WEB, "db_server": ["db-01"]})
    return hosts, inventory


def test_example_1_runs_in_the_seed_order_on_the_right_hosts(seed_hosts, write, apply):
    hosts, inventory = seed_hosts
    deploy = write("deploy.py", SEED_EXAMPLE_1)
    events = []
    result = apply(inventory, deploy, events=events)

    assert result.failed_hosts == [], [h.error for h in result.hosts]
    expected = [
        ("Install base debugging packages", {*WEB, "db-01"}),
        ("Install postgres server", {"db-01"}),
        ("Install nginx", set(WEB)),
    ]
    assert [(op.name, set(op.hosts)) for op in result.operations] == expected
    started = [(e.name, set(e.hosts)) for e in events if isinstance(e, OperationStarted)]
    assert started == expected
    # Barrier: every result of operation N arrives before any result of operation N+1.
    indexes = [e.index for e in events if isinstance(e, OperationHostResult)]
    assert indexes == sorted(indexes) and len(indexes) == 4 + 1 + 3
    assert all(op.status == "changed" for h in result.hosts for op in h.operations)

    for name, host in hosts.items():
        assert host.package_version("htop") is not None, name
        assert host.package_version("iftop") is not None, name
        assert (host.package_version("postgresql-server") is not None) == (name == "db-01")
        assert (host.package_version("nginx") is not None) == (name in WEB)
    assert hosts["db-01"].package_version("postgresql-server") == "1.0-pullinfra1"

    first_stages = dict(result.stages)
    again = apply(inventory, deploy)
    assert again.failed_hosts == []
    assert set(all_op_statuses(again).values()) == {"no_change"}, all_op_statuses(again)
    assert len(all_op_statuses(again)) == 8
    print(f"\nseed example 1 on 4 hosts: first run {first_stages}, second run {again.stages}")


def test_bad_changed_example_fails_at_prepare_via_cli_and_touches_no_host(seed_hosts, write):
    hosts, inventory = seed_hosts
    deploy = write("bad.py", SEED_CHANGED_BAD)
    proc = pullinfra("apply", inventory, deploy)

    assert proc.returncode == 2, proc.stderr
    line = line_of(SEED_CHANGED_BAD, "if remove_default_site.changed:")
    assert f"{deploy}:{line}" in proc.stderr
    assert "_if=" in proc.stderr and "did_change" in proc.stderr
    assert ".changed" in proc.stderr
    assert "NameError" not in proc.stderr  # the example's typo on the next line is never reached
    assert "Traceback" not in proc.stderr
    for name, host in hosts.items():
        assert host.package_version("nginx") is None, name
        assert not host.exists("/etc/nginx"), name


def _install_nginx_directly(host) -> None:
    proc = host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx")
    assert proc.returncode == 0, proc.stderr


def test_if_did_change_reloads_nginx_only_where_the_site_was_removed(seed_hosts, write, apply):
    hosts, inventory = seed_hosts
    # Before the run: web-01 has nginx with the default site, web-02 has nginx without it,
    # web-03 and db-01 have no nginx (the run installs it, with the default site).
    setup = [threading.Thread(target=_install_nginx_directly, args=(hosts[n],))
             for n in ("web-01", "web-02")]
    for thread in setup:
        thread.start()
    for thread in setup:
        thread.join()
    assert hosts["web-01"].exists(DEFAULT_SITE)
    hosts["web-02"].run(f"rm {DEFAULT_SITE}", check=True)
    assert not hosts["web-02"].exists(DEFAULT_SITE)
    assert hosts["web-03"].package_version("nginx") is None

    deploy = write("deploy.py", SEED_IF_GOOD)
    result = apply(inventory, deploy)

    assert result.failed_hosts == [], [h.error for h in result.hosts]
    assert [op.name for op in result.operations] == [
        "Install nginx", "Remove nginx default site", "Reload nginx"]
    assert statuses(result, "Install nginx") == {
        "web-01": "no_change", "web-02": "no_change", "web-03": "changed", "db-01": "changed"}
    assert statuses(result, "Remove nginx default site") == {
        "web-01": "changed", "web-02": "no_change", "web-03": "changed", "db-01": "changed"}
    assert statuses(result, "Reload nginx") == {
        "web-01": "changed", "web-02": "skipped", "web-03": "changed", "db-01": "changed"}
    reload_web01 = next(op for op in result.host("web-01").operations
                        if op.name == "Reload nginx")
    assert any("reload" in command for command in reload_web01.commands)
    for name, host in hosts.items():
        assert host.package_version("nginx") is not None, name
        assert not host.exists(DEFAULT_SITE), name
        assert host.run("kill -0 $(cat /run/nginx.pid)").returncode == 0, name  # still serving

    again = apply(inventory, deploy)
    assert statuses(again, "Install nginx") == dict.fromkeys(hosts, "no_change")
    assert statuses(again, "Remove nginx default site") == dict.fromkeys(hosts, "no_change")
    assert statuses(again, "Reload nginx") == dict.fromkeys(hosts, "skipped")  # _if is false


def test_facts_example_warns_naming_the_line(bed_hosts, bed_inventory, write, apply):
    (web,) = bed_hosts(1)
    inventory = bed_inventory({"web-01": web}, groups={"web_servers": ["web-01"]})
    deploy = write("facts_bad.py", SEED_FACTS_BAD)
    events = []
    result = apply(inventory, deploy, events=events)

    assert result.failed_hosts == []
    warnings = [e for e in events if isinstance(e, EngineWarning)]
    line = line_of(SEED_FACTS_BAD, "if host.get_fact(facts.files.File")
    assert [(w.location, w.host) for w in warnings] == [(f"{deploy}:{line}", "web-01")]
    assert "files.File" in warnings[0].message
    # The example's point: the fact was read before nginx was installed, so the removal was
    # never queued and the default site is still there.
    assert [op.name for op in result.operations] == ["Install nginx"]
    assert web.exists(DEFAULT_SITE)
