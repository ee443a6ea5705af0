"""Acceptance 8: three agents, shards 0, 1 and 2 of 3, on 9 hosts: each host is applied
exactly once per commit."""

from __future__ import annotations

from tests.acceptance_agent.fleet import inventory
from tests.acceptance_agent.harness import report_of

MARKS = "/srv/pullinfra-marks"
SHARDS = 3


def _deploy(tag: str) -> str:
    """Appends one line per application: a host applied twice would show two lines."""
    return ("from pyinfra import host\nfrom pyinfra.operations import server\n\n"
            f'server.shell(name="mark", commands=[f"echo {tag} {{host.data.agent}} '
            f'>> {MARKS}"])\n')


def test_three_shards_apply_each_of_nine_hosts_exactly_once_per_commit(
        remote, bed_hosts, make_agent):
    hosts = bed_hosts(9)
    names = {h.name for h in hosts}
    agents = [make_agent(url=remote.url, name=f"shard-{i}", shard=(i, SHARDS),
                         data={"agent": f"shard-{i}"}) for i in range(SHARDS)]

    expected_lines: dict[str, list[str]] = {name: [] for name in names}
    owner: dict[str, str] = {}
    for number, tag in enumerate(["c1", "c2"]):
        commit = remote.commit_and_push({"inventory.py": inventory(hosts),
                                         "deploy.py": _deploy(tag)}, f"commit {tag}")
        if number == 0:
            for agent in agents:
                agent.start()
        applied_by: dict[str, set[str]] = {}
        for agent in agents:
            run = agent.wait_finished(commit, timeout=90)
            assert run["status"] in ("changed", "unchanged"), agent.describe()
            applied_by[agent.name] = {h["name"] for h in report_of(run)["hosts"]}

        # The shards split the hosts: disjoint, and together all nine.
        all_applied = [n for shard in applied_by.values() for n in shard]
        assert sorted(all_applied) == sorted(names), applied_by
        for agent_name, shard_hosts in applied_by.items():
            for name in shard_hosts:
                assert owner.setdefault(name, agent_name) == agent_name, "shard moved"

        # Each host's marker file shows exactly one application per commit, by its shard.
        for host in hosts:
            expected_lines[host.name].append(f"{tag} {owner[host.name]}")
            assert (host.read_text(MARKS) or "").splitlines() == expected_lines[host.name], (
                host.name, applied_by)
    print("hosts per shard:", {a: sorted(n for n, o in owner.items() if o == a)
                               for a in sorted(set(owner.values()))})
