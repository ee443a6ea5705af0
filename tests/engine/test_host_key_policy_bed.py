"""RunOptions.host_keys on a real sshd: the rules for hosts whose data says nothing."""

from __future__ import annotations

import pytest

from agent.compat import run_deploy
from agent.engine.connectors.host_keys import ACCEPT_NEW, REFUSE_UNKNOWN, HostKeyPolicy
from agent.engine.run import RunOptions

pytestmark = pytest.mark.bed


def _inventory(write, host, **data):
    plain = {k: v for k, v in host.ssh_data.items()
             if k not in ("ssh_known_hosts_file", "ssh_strict_host_key_checking")}
    return write("inventory.py", f"hosts = [('h', {plain | data!r})]\n")


def _deploy(write):
    return write("deploy.py", "from tests.engine.testops import shell\nshell('true')\n")


def test_strict_policy_reads_trusted_files_and_writes_none(bed_hosts, bed_known_hosts, write,
                                                           tmp_path):
    (host,) = bed_hosts(1)
    own = tmp_path / "own_known_hosts"
    trusted_before = bed_known_hosts.read_text()
    refuse = HostKeyPolicy(strict=REFUSE_UNKNOWN, known_hosts_file=own, advice="ask ops")
    inventory, deploy = _inventory(write, host), _deploy(write)

    refused = run_deploy(inventory, [deploy], RunOptions(host_keys=refuse)).host("h")
    assert refused.status == "unreachable"
    assert refused.error == (f"host key of {host.address} not known; it is not in {own};"
                             " ask ops")

    trusting = HostKeyPolicy(strict=REFUSE_UNKNOWN, known_hosts_file=own,
                             trusted_files=(bed_known_hosts,))
    applied = run_deploy(inventory, [deploy], RunOptions(host_keys=trusting)).host("h")
    assert applied.status == "changed", applied.error
    assert not own.exists() and bed_known_hosts.read_text() == trusted_before


def test_accept_new_policy_records_in_its_own_file_and_host_data_still_wins(
        bed_hosts, write, tmp_path):
    (host,) = bed_hosts(1)
    own = tmp_path / "own_known_hosts"
    accept = HostKeyPolicy(strict=ACCEPT_NEW, known_hosts_file=own)
    result = run_deploy(_inventory(write, host), [_deploy(write)], RunOptions(host_keys=accept))
    assert result.host("h").status == "changed", result.host("h").error
    assert own.read_text().split()[0] == host.address

    # The host's own ssh_strict_host_key_checking = "yes" wins over an accepting policy.
    other = tmp_path / "other_known_hosts"
    strict = _inventory(write, host, ssh_strict_host_key_checking="yes",
                        ssh_known_hosts_file=str(other))
    refused = run_deploy(strict, [_deploy(write)], RunOptions(host_keys=accept)).host("h")
    assert refused.status == "unreachable"
    assert "ssh_strict_host_key_checking is yes" in refused.error, refused.error
    assert not other.exists()
