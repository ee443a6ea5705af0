"""End-to-end tests of the test bed itself (real sshd in namespaces; needs root)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paramiko
import pytest

from tests.polling import wait_for
from tests.testbed import Bed, clean_stale_beds
from tests.testbed.bed import CGROUP_GROUP, STATE_ROOT, _cgroup2_root

pytestmark = pytest.mark.bed

ROOT = Path(__file__).resolve().parents[1]


def ssh(host, command: str, user: str = "root") -> tuple[int, str, str]:
    client = host.paramiko_client(user=user)
    try:
        _, out, err = client.exec_command(command, timeout=60)
        code = out.channel.recv_exit_status()
        return code, out.read().decode(), err.read().decode()
    finally:
        client.close()


def test_three_hosts_answer_over_paramiko_with_strict_host_keys(bed_hosts, bed_known_hosts):
    hosts = bed_hosts(3)
    assert len({h.address for h in hosts}) == 3
    for h in hosts:
        code, out, _ = ssh(h, "hostname; echo $PATH; id -u")
        assert code == 0
        hostname, path, uid = out.split()
        assert hostname == h.hostname
        assert uid == "0"
        assert "/usr/sbin" in path.split(":") and "pyenv" not in path
    # sftp works, and the sudo user can become root without a password
    client = hosts[0].paramiko_client()
    try:
        with client.open_sftp() as sftp:
            assert "etc" in sftp.listdir("/")
    finally:
        client.close()
    assert ssh(hosts[1], "sudo -n id -u", user="deploy")[1].strip() == "0"
    # a host key that is not the bed's is rejected (strict checking really is on)
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException):
        client.connect(hosts[0].address, username="root", key_filename=str(hosts[0].bed.client_key),
                       allow_agent=False, look_for_keys=False, timeout=5)
    client.close()
    assert bed_known_hosts.read_text().count(hosts[0].address + " ") == 1


def test_a_file_written_on_one_host_is_seen_nowhere_else(bed_hosts):
    a, b, c = bed_hosts(3)
    token = uuid.uuid4().hex
    path = f"/etc/pullinfra-bed-{token}"
    code, _, err = ssh(a, f"echo {token} > {path} && touch /tmp/{token}")
    assert code == 0, err
    assert a.read_text(path) == token + "\n"
    assert a.exists(f"/tmp/{token}")
    for other in (b, c):
        assert other.read_file(path) is None
        assert not other.exists(f"/tmp/{token}")
        assert ssh(other, f"test -e {path}")[0] == 1
    assert not os.path.exists(path)
    assert not os.path.exists(f"/tmp/{token}")


def test_stopping_sshd_makes_only_that_host_unreachable(bed_hosts):
    a, b, c = bed_hosts(3)
    b.stop_sshd()
    with pytest.raises((paramiko.ssh_exception.NoValidConnectionsError, OSError)):
        b.paramiko_client(timeout=2)
    assert not b.ssh_ready()
    for h in (a, c):
        assert ssh(h, "true")[0] == 0
    b.start_sshd()
    assert ssh(b, "true")[0] == 0


def test_cutting_a_link_makes_only_that_host_unreachable(bed_hosts):
    a, b = bed_hosts(2)
    a.cut_link()
    try:
        with pytest.raises(OSError):
            socket.create_connection((a.address, 22), timeout=0.5).close()
        assert ssh(b, "true")[0] == 0
    finally:
        a.restore_link()
    a.wait_ssh(timeout=5)
    assert ssh(a, "true")[0] == 0


def test_apt_install_from_the_local_repository_changes_only_that_host(bed_hosts, apt_repo):
    a, b, c = bed_hosts(3)
    assert "htop" in apt_repo.packages and "postgresql-server" in apt_repo.packages
    machine_had = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "htop"],
                                 capture_output=True, text=True).stdout
    a.use_apt_repo()
    assert a.read_text("/etc/apt/sources.list").strip() == apt_repo.sources_line
    code, out, err = ssh(a, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                            "htop postgresql-server pullinfra-dummy")
    assert code == 0, out + err
    assert a.package_version("htop") == apt_repo.packages["htop"][0]
    assert a.package_version("postgresql-server") == "1.0-pullinfra1"
    assert a.package_version("pullinfra-dummy") == "2.0"  # the newest of the two versions
    assert a.exists("/usr/bin/htop")
    for other in (b, c):
        assert other.package_version("htop") is None
        assert other.package_version("pullinfra-dummy") is None
        assert not other.exists("/etc/postgresql-server/pg_hba.conf")
    after = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "htop"],
                           capture_output=True, text=True).stdout
    assert after == machine_had


def test_inventory_maps_names_and_groups_to_bed_hosts(bed_hosts, bed_inventory):
    w1, w2, db = bed_hosts(3)
    path = bed_inventory({"web-01": w1, "web-02": w2, "db-01": db},
                         groups={"web_servers": ["web-01", "web-02"], "db_server": ["db-01"]})
    ns: dict = {}
    exec(path.read_text(), ns)
    assert [n for n, _ in ns["web_servers"]] == ["web-01", "web-02"]
    (name, data), = ns["db_server"]
    assert name == "db-01" and data["ssh_hostname"] == db.address
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert Path(data["ssh_known_hosts_file"]).read_text().count(db.address + " ") == 1
    assert "hosts" not in ns


def test_nginx_installs_offline_and_its_init_script_starts_it(bed_hosts):
    (h,) = bed_hosts(1)
    code, out, err = ssh(h, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx "
                            "pullinfra-svc && service pullinfra-svc start")
    assert code == 0, out + err
    assert h.package_version("nginx") is not None
    with socket.create_connection((h.address, 80), timeout=5) as s:
        s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 200")
    assert h.run("service pullinfra-svc status").returncode == 0
    assert h.run("service pullinfra-svc stop && service pullinfra-svc status").returncode == 3


# --- bed hosts are fresh Debian servers, not copies of the machine's image

# Where images keep what a fresh server lacks; on a host, every file there must come from a
# package (dpkg's file lists) or from the bed.
IMAGE_DIRS = ("/etc/apt/apt.conf.d", "/etc/apt/preferences.d", "/etc/apt/auth.conf.d",
              "/etc/apt/sources.list.d", "/etc/dpkg/dpkg.cfg.d", "/etc/profile.d",
              "/etc/sudoers.d", "/etc/ssh", "/usr/local", "/opt", "/srv", "/mnt", "/media",
              "/root", "/home", "/var/cache/apt/archives")
BED_FILES = {"/etc/sudoers.d/pullinfra-bed", "/etc/ssh/sshd_config",
             "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
             "/root/.bashrc", "/root/.profile", "/root/.ssh/authorized_keys",
             "/home/deploy/.bashrc", "/home/deploy/.profile", "/home/deploy/.ssh/authorized_keys",
             "/usr/local/man"}  # the last one: base-files' postinst makes it, no package ships it
DEBIAN_TOP = {"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32",
              "lost+found", "media", "mnt", "opt", "proc", "root", "run", "sbin", "srv", "sys",
              "tmp", "usr", "var"}
# Docker images' apt settings (and proxies) that change what apt does on a host.
APT_TWEAKS = ('Acquire::GzipIndexes "true";', 'Acquire::Languages "none";',
              'Dir::Cache::pkgcache "";', 'Dir::Cache::srcpkgcache "";',
              'APT::AutoRemove::SuggestsImportant "false";',
              'Acquire::Check-Valid-Until "false";', '::Proxy ')


def host_processes(host) -> dict[int, str]:
    """pid -> comm of everything running on the host, read from its own /proc (no process is
    started inside for it)."""
    proc = f"/proc/{host.init_pid}/root/proc"
    out = {}
    for pid in filter(str.isdigit, os.listdir(proc)):
        with contextlib.suppress(OSError):
            out[int(pid)] = Path(f"{proc}/{pid}/comm").read_text().strip()
    return out


def test_a_service_a_package_enables_starts_on_install_as_on_a_real_server(bed_host):
    # What a debhelper postinst does; the machine's policy-rc.d (exit 101) would veto the start.
    assert not bed_host.exists("/usr/sbin/policy-rc.d")
    code, out, err = ssh(bed_host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                                   "pullinfra-svc && update-rc.d pullinfra-svc defaults && "
                                   "invoke-rc.d pullinfra-svc start")
    assert code == 0, out + err
    assert "policy-rc.d" not in out + err
    assert bed_host.run("service pullinfra-svc status").returncode == 0


def test_a_plain_bed_host_runs_nothing_but_its_init_and_sshd(bed_host):
    sshd = int(bed_host.read_text("/run/sshd.pid"))
    wait_for(lambda: sorted(host_processes(bed_host)) == [1, sshd], 5,
             "only the host's init and sshd to run",
             describe=lambda: f"running: {host_processes(bed_host)}")
    assert b"_hostinit.py" in Path(f"/proc/{bed_host.init_pid}/cmdline").read_bytes()
    assert not bed_host.exists("/run/netns")  # the machine's /run is not the host's


def test_apt_on_a_bed_host_knows_only_the_local_repository(bed_host, apt_repo):
    assert bed_host.read_text("/etc/apt/sources.list").strip() == apt_repo.sources_line
    assert bed_host.run(["ls", "-A", "/etc/apt/sources.list.d"], check=True).stdout == ""
    policy = bed_host.run(["apt-cache", "policy"], check=True).stdout
    sources = re.findall(r"^ *-?\d+ (\S+)", policy, re.M)
    assert sources == ["/var/lib/dpkg/status", f"file:{apt_repo.path}"], policy
    lists = bed_host.run(["find", "/var/lib/apt/lists", "-maxdepth", "1", "-type", "f"],
                         check=True).stdout.split()
    repo_lists = "_".join(str(apt_repo.path).strip("/").split("/"))
    lists = [f for f in lists if not f.endswith("/lock")]
    assert all(f.startswith(f"/var/lib/apt/lists/_{repo_lists}_") for f in lists), lists
    # stored as apt on a fresh server stores them (an image's GzipIndexes keeps them packed)
    assert not [f for f in lists if f.endswith((".lz4", ".gz", ".xz", ".zst"))], lists


def test_apt_and_dpkg_on_a_bed_host_run_without_the_images_tweaks(bed_host):
    dump = bed_host.run(["apt-config", "dump"], check=True).stdout.lower()
    assert [t for t in APT_TWEAKS if t.lower() in dump] == []
    dpkg_cfg = bed_host.run("cat /etc/dpkg/dpkg.cfg /etc/dpkg/dpkg.cfg.d/* 2>/dev/null").stdout
    assert "force-unsafe-io" not in dpkg_cfg and "path-exclude" not in dpkg_cfg


def test_bed_hosts_carry_no_files_of_the_machines_image(bed_host):
    shipped = set(bed_host.run("cat /var/lib/dpkg/info/*.list", check=True).stdout.split("\n"))
    found = bed_host.run(["find", *IMAGE_DIRS, "-mindepth", "1", "!", "-type", "d"]).stdout
    assert sorted(set(found.split("\n")) - shipped - BED_FILES - {""}) == []
    top = set(bed_host.run(["ls", "-A", "/"], check=True).stdout.split())
    assert sorted(top - DEBIAN_TOP) == []
    for path in ("/usr/sbin/policy-rc.d", "/etc/pip.conf", "/etc/xdg/pip", "/etc/gitconfig",
                 "/etc/npmrc"):
        assert not bed_host.exists(path), path


def test_bed_hosts_have_their_own_identity_and_no_account_of_the_image(bed, bed_hosts):
    a, b = bed_hosts(2)
    logins = [f[0] for f in (line.split(":") for line in a.read_text("/etc/passwd").splitlines())
              if 1000 <= int(f[2]) <= 60000]
    groups = [f[0] for f in (line.split(":") for line in a.read_text("/etc/group").splitlines())
              if 1000 <= int(f[2]) <= 60000]
    assert (logins, groups) == (["deploy"], ["deploy"])
    ids = {a.read_text("/etc/machine-id"), b.read_text("/etc/machine-id"),
           Path("/etc/machine-id").read_text()}
    assert len(ids) == 3
    if a.exists("/var/lib/dbus"):
        assert a.read_text("/var/lib/dbus/machine-id") == a.read_text("/etc/machine-id")
    keys = [n for n in a.run(["ls", "/etc/ssh"], check=True).stdout.split()
            if n.startswith("ssh_host_")]
    assert keys == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    assert a.read_file("/etc/ssh/ssh_host_ed25519_key") == bed.host_key.read_bytes()


def test_reset_gives_back_a_pristine_host(bed, bed_hosts):
    (h,) = bed_hosts(1)
    assert ssh(h, "useradd -m alice && touch /root/dirty && (sleep 300 >/dev/null 2>&1 &)")[0] == 0
    assert h.run("id alice").returncode == 0
    bed.reset([h])
    assert not h.exists("/root/dirty")
    assert h.run("id alice").returncode != 0
    assert "sleep" not in h.run("ps -eo comm").stdout
    assert ssh(h, "true")[0] == 0
    # the next test (and the factory) gets it back clean as well
    assert bed.pristine_hosts(1)[0].exists("/root/.ssh/authorized_keys")


def test_ssh_round_trip_time(bed_hosts, capsys):
    (h,) = bed_hosts(1)

    def median_true(nodelay: bool) -> float:
        client = h.paramiko_client(nodelay=nodelay)
        try:
            times = []
            for _ in range(10):
                t = time.perf_counter()
                _, out, _ = client.exec_command("true")
                assert out.channel.recv_exit_status() == 0
                times.append(time.perf_counter() - t)
            return statistics.median(times)
        finally:
            client.close()

    fast, plain = median_true(True), median_true(False)
    fresh = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(h.ssh_argv("true"), check=True, capture_output=True)
        fresh.append(time.perf_counter() - t)
    with capsys.disabled():
        print(f"\nbed ssh `true` on an open paramiko connection: {fast * 1000:.1f} ms with "
              f"TCP_NODELAY, {plain * 1000:.1f} ms without; fresh ssh process: "
              f"{statistics.median(fresh) * 1000:.0f} ms")
    # The machine's /root/.bashrc runs `pyenv init` (~130 ms a command); bed hosts must not.
    client = h.paramiko_client()
    try:
        _, out, _ = client.exec_command("echo ${PYENV_SHELL:-no-pyenv}; command -v pyenv || true")
        assert out.read().decode().split() == ["no-pyenv"]
    finally:
        client.close()


def test_stale_bed_of_a_crashed_process_is_cleaned(bed):
    # two plain hosts, two systemd hosts (one of them rebooted: its PID 1 is not the one the
    # bed's state first recorded)
    code = (f"import os, subprocess, sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from tests.testbed import Bed\n"
            "b = Bed.create(2)\n"
            "s = b.add_hosts(2, systemd=True)\n"
            "b._save()\n"
            "subprocess.run(s[0].ssh_argv('systemctl', 'reboot'), capture_output=True)\n"
            "s[0].wait_booted(after=1)\n"
            "print(b.bed_id, flush=True)\n"
            "os._exit(0)  # crash: no teardown\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    bed_id = res.stdout.split()[-1]
    assert (STATE_ROOT / bed_id).is_dir()
    assert bed_cgroup(bed_id).is_dir()
    assert bed_id in clean_stale_beds()
    assert_bed_gone(bed_id)


def test_a_bed_with_systemd_hosts_goes_down_leaving_nothing(bed):
    mine = bed.pristine_hosts(1, systemd=True)[0]
    other = Bed.create(1)
    try:
        hosts = other.add_hosts(2, systemd=True)
        assert all(h.system_state() == "running" for h in hosts)
        assert hosts[0].poweroff(timeout=30)
        other.reset(hosts[:1])
        assert bed_cgroup(other.bed_id).is_dir()
    finally:
        other.down()
    assert_bed_gone(other.bed_id)
    assert mine.ssh_ready()  # the session's bed is untouched


def bed_cgroup(bed_id: str) -> Path:
    return _cgroup2_root() / CGROUP_GROUP / bed_id


def leftovers(bed_id: str) -> list[str]:
    bed_dir = f"{STATE_ROOT}/{bed_id}"
    cgroup = bed_cgroup(bed_id)
    found = []
    if cgroup.exists():
        found.append(f"cgroup {cgroup}")
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {n}" for n in re.findall(rf"^({bed_id}-\S+)", netns, re.M)]
    found += [f"link {n}" for n in os.listdir("/sys/class/net") if n.startswith(bed_id)]
    with open("/proc/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if bed_dir in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            root = os.readlink(f"/proc/{pid}/root")
            # a systemd host's processes: in the bed's cgroup (their root is pivoted into)
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except (OSError, ValueError):
            continue
        in_cgroup = f"/{CGROUP_GROUP}/{bed_id}/" in cgroups or cgroups.rstrip().endswith(
            f"/{CGROUP_GROUP}/{bed_id}")
        if bed_dir in cmd or root.startswith(bed_dir) or in_cgroup:
            found.append(f"process {pid} {cmd[:80]}")
    if os.path.exists(bed_dir):
        found.append(f"dir {bed_dir}")
    return found


def assert_bed_gone(bed_id: str) -> None:
    wait_for(lambda: not leftovers(bed_id), 5, f"bed {bed_id} to be gone", interval=0.1,
             describe=lambda: f"left: {leftovers(bed_id)}")


def test_up_20_and_down_through_the_command_leave_nothing_behind(bed, tmp_path, capsys):
    env = dict(os.environ, PULLINFRA_BED_CURRENT=str(tmp_path / "current"))
    cmd = [sys.executable, "-m", "tests.testbed"]
    t = time.monotonic()
    up = subprocess.run([*cmd, "up", "20"], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=120)
    elapsed = time.monotonic() - t
    assert up.returncode == 0, up.stderr
    m = re.search(r"^bed (pib\d+): 20 hosts .* accepting SSH ([\d.]+)s after start", up.stdout,
                  re.M)
    assert m, up.stdout
    bed_id = m.group(1)
    try:
        with capsys.disabled():
            print(f"\n`testbed up 20`: {elapsed:.2f}s for the command, hosts accepting SSH "
                  f"{m.group(2)}s after bed start")
        assert elapsed < 10
        cli_bed = Bed.load(bed_id)
        assert len(cli_bed.hosts) == 20
        assert all(h.ssh_ready() for h in cli_bed.hosts)
        inv = subprocess.run([*cmd, "inventory", "web-01=h01", "db-01=h20"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        ns: dict = {}
        exec(inv, ns)
        assert [n for n, _ in ns["hosts"]] == ["web-01", "db-01"]
        assert ns["hosts"][1][1]["ssh_hostname"] == cli_bed.hosts[19].address
        assert ssh(cli_bed.hosts[19], "true")[0] == 0
        # the session bed of this worker is a different bed and is untouched
        assert bed.bed_id != bed_id
    finally:
        down = subprocess.run([*cmd, "down"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert_bed_gone(bed_id)
    for h in bed.hosts[:1]:
        assert h.ssh_ready()
