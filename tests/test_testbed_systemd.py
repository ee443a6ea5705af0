"""The test bed's systemd hosts: real systemd as PID 1, a fresh server's units, reboot."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.polling import wait_for
from tests.test_testbed import host_processes, ssh
from tests.testbed.bed import SYSTEMD_MASKED

pytestmark = pytest.mark.bed

# What a systemd bed host runs once booted, and nothing else.
BOOT_SERVICES = {"dbus.service", "ssh.service", "systemd-journald.service",
                 "systemd-logind.service"}


def running_services(host) -> set[str]:
    out = host.run(["systemctl", "list-units", "--type=service", "--state=running",
                    "--no-legend", "--plain", "--no-pager"], check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def unit_file_state(host, unit: str) -> str:
    return host.run(["systemctl", "is-enabled", unit]).stdout.strip()


def test_a_systemd_host_boots_like_a_fresh_server_that_runs_sshd(systemd_host, bed_known_hosts):
    h = systemd_host
    assert h.system_state() == "running"
    assert running_services(h) == BOOT_SERVICES
    code, out, _ = ssh(h, "hostname; ps -o comm= -p 1; systemd-detect-virt --container; "
                          "systemctl is-active ssh")
    assert code == 0
    assert out.split() == [h.hostname, "systemd", "container-other", "active"]
    assert bed_known_hosts.read_text().count(h.address + " ") == 1
    # the image's services are disabled, not gone: their packages are installed
    for unit in ("postgresql.service", "cron.service", "prometheus.service",
                 "apt-daily.timer", "getty@tty1.service"):
        if h.exists(f"/lib/systemd/system/{unit.replace('tty1', '')}"):
            assert unit_file_state(h, unit) == "disabled", unit
    assert unit_file_state(h, "ssh.service") == "enabled"
    for unit in ("systemd-modules-load.service", "systemd-timesyncd.service"):
        assert unit in SYSTEMD_MASKED
        assert unit_file_state(h, unit) == "masked"
    # runlevel is systemd's own again (the plain hosts have a sysvinit stand-in)
    assert h.run(["runlevel"]).stdout.split() == ["N", "5"]


def test_an_ssh_login_on_a_systemd_host_opens_a_session_with_a_user_manager(systemd_host):
    code, out, err = ssh(systemd_host, "echo $XDG_RUNTIME_DIR; systemctl --user "
                                       "is-system-running; loginctl show-user deploy "
                                       "-p State --value", user="deploy")
    assert code == 0, err
    runtime_dir, user_manager, state = out.split()
    assert runtime_dir.startswith("/run/user/") and runtime_dir != "/run/user/0"
    assert (user_manager, state) == ("running", "active")
    assert "user@0.service" not in running_services(systemd_host)  # root never logged in


def test_a_systemd_host_reaches_only_its_own_kernel_settings(systemd_host):
    h = systemd_host
    kernel = h.run("echo '|/bin/false' > /proc/sys/kernel/core_pattern")
    assert kernel.returncode != 0 and "Read-only" in kernel.stderr
    assert Path("/proc/sys/kernel/core_pattern").read_text() != "|/bin/false\n"
    assert h.run("sysctl -w net.ipv4.ip_forward=1 && cat /proc/sys/net/ipv4/ip_forward",
                 check=True).stdout.split()[-1] == "1"
    # its cgroup tree is its own (cgroup namespace): systemd's slices sit at its root
    own = h.run(["cat", "/proc/1/cgroup"], check=True).stdout.splitlines()
    assert "0::/init.scope" in own
    assert h.cgroup is not None and (h.cgroup / "init.scope").is_dir()
    # its clocks start at its boot
    assert float(h.run(["cat", "/proc/uptime"], check=True).stdout.split()[0]) < 600
    # no kernel modules and no clock setting from inside (nor any modprobe@ at boot)
    status = Path(f"/proc/{h.init_pid}/status").read_text()
    bounding = int(next(line.split()[1] for line in status.splitlines()
                        if line.startswith("CapBnd:")), 16)
    assert not bounding & (1 << 16) and not bounding & (1 << 25)
    assert ssh(h, "date -s @0")[0] != 0
    assert h.run(["systemctl", "is-active", "modprobe@loop.service"]).stdout.strip() \
        == "inactive"


def test_sshd_and_link_faults_work_on_a_systemd_host(systemd_host):
    h = systemd_host
    h.stop_sshd()
    assert not h.ssh_ready()
    assert h.run(["systemctl", "is-active", "ssh"]).stdout.strip() == "inactive"
    h.start_sshd()
    assert ssh(h, "true")[0] == 0
    h.cut_link()
    try:
        with pytest.raises(OSError):
            socket.create_connection((h.address, 22), timeout=0.5).close()
    finally:
        h.restore_link()
    h.wait_ssh(timeout=5)
    assert ssh(h, "systemctl is-system-running")[1].strip() == "running"


def test_systemd_and_plain_hosts_share_the_bed_and_stay_apart(systemd_host, bed_host):
    token = f"/etc/pullinfra-{os.getpid()}-{time.monotonic_ns()}"
    assert ssh(systemd_host, f"touch {token}")[0] == 0
    assert not bed_host.exists(token)
    assert bed_host.bed is systemd_host.bed
    assert not bed_host.systemd and systemd_host.systemd
    assert ssh(bed_host, f"ping -c1 -W2 {systemd_host.address} >/dev/null || "
                         f"timeout 2 bash -c 'echo > /dev/tcp/{systemd_host.address}/22'")[0] == 0


def test_systemctl_reboot_over_ssh_boots_the_same_disk_again(systemd_host):
    h = systemd_host
    h.run("echo kept > /etc/reboot-marker && echo gone > /run/reboot-marker && "
          "systemctl enable --now systemd-tmpfiles-clean.timer", check=True)
    first = h.boot
    first_pid = h.init_pid
    boot_id = h.read_text("/proc/sys/kernel/random/boot_id")
    t = time.monotonic()
    # the SSH session may end with the host's sshd before `systemctl` returns
    subprocess.run(h.ssh_argv("systemctl", "reboot"), capture_output=True, timeout=30)
    wait_for(lambda: not h.ssh_ready(timeout=0.2) or h.boot > first, 30,
             "the host to go away")
    h.wait_booted(after=first, timeout=60)
    took = time.monotonic() - t
    assert h.boot == first + 1
    assert h.init_pid != first_pid
    assert h.read_text("/etc/reboot-marker") == "kept\n"
    assert not h.exists("/run/reboot-marker")
    assert h.read_text("/proc/sys/kernel/random/boot_id") != boot_id
    assert h.system_state() in ("running", "degraded")
    assert running_services(h) == BOOT_SERVICES
    assert ssh(h, "cat /etc/reboot-marker")[1] == "kept\n"
    # `reboot` (systemd-sysv's) does the same
    subprocess.run(h.ssh_argv("reboot"), capture_output=True, timeout=30)
    h.wait_booted(after=first + 1, timeout=60)
    assert h.boot == first + 2
    # and so does the bed's own shortcut
    h.reboot()
    assert h.boot == first + 3 and h.system_state() == "running"
    print(f"\nsystemd host reboot over SSH until booted again: {took:.2f}s")


def test_poweroff_ends_the_host_through_its_pid_1_and_reset_brings_it_back(bed,
                                                                           systemd_hosts):
    h, other = systemd_hosts(2)
    h.run("touch /etc/poweroff-marker", check=True)
    assert h.poweroff(timeout=30) is True
    assert not h.running
    assert h.cgroup is not None and not (h.cgroup / "init.scope").exists()
    with pytest.raises(OSError):
        socket.create_connection((h.address, 22), timeout=0.5).close()
    assert other.system_state() == "running"
    bed.reset([h])
    assert h.system_state() == "running"
    assert not h.exists("/etc/poweroff-marker")
    # `systemctl poweroff` inside ends the host for good too: it is not booted again
    subprocess.run(other.ssh_argv("systemctl", "poweroff"), capture_output=True, timeout=30)
    wait_for(lambda: not other.running, 30, "the host to power off")
    wait_for(lambda: other._proc is None or other._proc.poll() is not None, 10,
             "its supervisor to end")
    assert other.boot == 1 and not other.ssh_ready()
    bed.reset([other])
    assert other.system_state() == "running"


def test_reset_makes_a_systemd_host_pristine(bed, systemd_host):
    h = systemd_host
    h.write_file("/etc/systemd/system/bed-sleep.service",
                 "[Service]\nExecStart=/bin/sleep infinity\n[Install]\n"
                 "WantedBy=multi-user.target\n")
    h.run("systemctl daemon-reload && systemctl enable --now bed-sleep", check=True)
    wait_for(lambda: "sleep" in host_processes(h).values(), 10, "the unit's sleep to run")
    t = time.monotonic()
    bed.reset([h])
    took = time.monotonic() - t
    assert not h.exists("/etc/systemd/system/bed-sleep.service")
    assert running_services(h) == BOOT_SERVICES
    print(f"\nsystemd host reset until booted again: {took:.2f}s")


def test_systemd_hosts_boot_and_reset_in_parallel_quickly(bed, systemd_hosts, capsys):
    t = time.monotonic()
    hosts = systemd_hosts(3)
    boot = time.monotonic() - t
    t = time.monotonic()
    bed.reset(hosts)
    reset = time.monotonic() - t
    with capsys.disabled():
        print(f"\n3 systemd hosts: ready {boot:.2f}s (incl. boot if new), reset {reset:.2f}s")
    assert all(h.system_state() == "running" for h in hosts)
    assert reset < 15
