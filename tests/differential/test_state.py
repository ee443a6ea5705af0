"""The state readers on a real bed host, against what the bed is known to hold."""

from __future__ import annotations

from tests.differential import state


def test_users_reads_account_groups_and_keys(bed_host):
    found = state.users(bed_host, ["deploy", "nobody-here"])
    deploy = found["deploy"]
    assert found["nobody-here"] is None
    assert deploy["home"] == "/home/deploy" and deploy["home_exists"]
    assert deploy["primary_group"] == "deploy" and "deploy" in deploy["groups"]
    assert deploy["authorized_keys"].startswith("ssh-")


def test_files_reads_type_mode_owner_hash_and_link(bed_host):
    bed_host.write_file("/srv/f", "x", mode=0o640)
    bed_host.run(["ln", "-s", "/srv/f", "/srv/l"], check=True)
    found = state.files(bed_host, ["/srv/f", "/srv/l", "/srv", "/srv/none"])
    assert found["/srv/f"] == {
        "exists": True, "type": "file", "mode": "0o640", "owner": "root", "group": "root",
        "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
        "link_target": None}
    assert found["/srv/l"]["type"] == "link" and found["/srv/l"]["link_target"] == "/srv/f"
    assert found["/srv"]["type"] == "directory"
    assert found["/srv/none"] == {"exists": False}


def test_sysctl_crontab_and_services(bed_host):
    bed_host.run("echo 1 > /proc/sys/net/ipv4/ip_forward", check=True)
    assert state.sysctl(bed_host, ["net.ipv4.ip_forward", "no.such.key"]) == {
        "net.ipv4.ip_forward": "1", "no.such.key": None}
    assert state.crontab(bed_host, "root") is None
    bed_host.run("echo '5 * * * * true' | crontab -u root -", check=True)
    assert state.crontab(bed_host, "root") == "5 * * * * true\n"
    assert state.services(bed_host, ["ssh"]) == {"ssh": {"running": True, "enabled": True}}
    assert state.services(bed_host, ["no-such-service"]) == {
        "no-such-service": {"running": False, "enabled": False}}
