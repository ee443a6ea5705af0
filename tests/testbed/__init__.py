"""Test bed: real OpenSSH servers on this machine, each an isolated Debian host.

Each bed host has its own network namespace and /32 address in 198.18.0.0/15 (a veth pair
with explicit /32 routes; the machine's end is .254 of the bed's /24), its own copy-on-write
root (overlayfs lower=/ with a per-host upper dir, in its own mount namespace, chrooted),
its own PID namespace (everything started inside, e.g. nginx from an init.d script, dies with
the host), fresh /run, /tmp and /dev, and its own sshd (sftp via internal-sftp). Real dpkg,
apt-get, useradd, sudo and `service` / init.d scripts work inside; a plain host has no
systemd (a systemd host, below, boots it) and no host has internet (apt sees only the local
repository below). Root has a plain profile (no pyenv).
Needs root on the machine.

Hosts are fresh Debian servers, not copies of the machine's image: the template hides what the
image added to / (bed.IMAGE_PATHS: Docker's policy-rc.d and apt/dpkg tweaks, pip and profile
settings, /usr/local, /opt, root's and users' dotfiles and accounts, cached .debs, its host keys,
top-level extras), keeping what packages ship there. So services start on install, and each
host has its own /etc/machine-id. What stays is the machine's installed package set (dpkg's
database and the packages' files); services those packages enable are not running, since a
host's init starts only sshd.

systemd hosts (Bed.add_hosts(n, systemd=True), fixture systemd_hosts) boot real systemd
(Debian's /lib/systemd/system) as PID 1, so systemctl, unit files, daemon-reload and `reboot`
are the real thing. Same bed, network, host key, client key, users, apt source and port 22 as
the plain hosts; sshd runs as ssh.service, with UsePAM yes as Debian ships it (a login opens a
logind session: XDG_RUNTIME_DIR, the user's own systemd, `systemctl --user`). Each has, beside
the plain hosts' namespaces, its own cgroup namespace over a cgroup2 subtree of the machine's
(<cgroup2>/pullinfra-testbed/<bed_id>/<host>; nothing else of the machine's cgroups is touched),
its own clocks (a time namespace: uptime starts at its boot) and boot id, and
$container=pullinfra-testbed (systemd-detect-virt: container-other). /sys and /proc/sys are
read-only but for /proc/sys/net (its own netns): systemd's kernel.* and fs.* settings stay off
the machine. The root is pivoted into (the machine's mounts are unreachable). Its processes lack
CAP_SYS_MODULE and CAP_SYS_TIME (no kernel modules, no clock setting).
A host boots like a fresh server that runs only sshd, journald, dbus and logind: every unit the
machine's image enabled in /etc/systemd/system (PostgreSQL, prometheus, cron, getty, timesyncd,
pstore, the apt/man-db/dpkg/e2scrub/fstrim timers) is disabled (its enablement symlinks hidden;
`is-enabled` says disabled) except ssh.service and remote-fs.target, and bed.SYSTEMD_MASKED
units (kernel modules incl. modprobe@, clock, pstore, binfmt, debugfs/tracefs/configfs,
e2scrub/fstrim, networkd/resolved/ifupdown/udev, time-wait-sync) are masked: they would reach
into the machine or set up interfaces the bed sets up from outside (the veth and address come
from outside and survive reboots). Boot until `is-system-running` says running and sshd answers:
~0.4 s per host, in parallel; reset ~0.35-0.5 s (measured with 1 host; 3-4 at once take ~1 s on
2 cores).

Reboot of a systemd host: `reboot`, `systemctl reboot` (or anything else that makes systemd
call reboot(2)) ends its PID 1: in a PID namespace the kernel turns reboot(2) into the
namespace init's death by SIGHUP (poweroff/halt: SIGINT). The host's supervisor
(_systemdinit.py, the process the bed started) sees SIGHUP and boots systemd again in the same
netns, cgroup and upper dir: the disk persists, /run, /tmp and /dev are fresh, the PID 1 (as
seen from the machine), boot id and uptime are new, and sshd comes back on the same address
and host key (~0.7 s from `systemctl reboot` to booted). While it reboots, connects are
refused. Host.boot counts boots since the last reset (1 after reset), Host.init_pid always
names the current PID 1, Host.wait_booted(after=n) waits for a boot newer than n to finish.
Host.poweroff() shuts it down through PID 1 (SIGRTMIN+4, SIGKILL after a timeout); it stays
down until Bed.reset, as after `poweroff`/`halt` inside it (PID 1 dies of SIGINT: not booted
again). Reset and teardown SIGKILL PID 1 (the kernel ends the whole PID
namespace) and remove what systemd made in the cgroup.

Command line (from the checkout root, with .venv/bin/python)::

    python -m tests.testbed up 20        # prints hosts, key and known_hosts paths, start-up time
    python -m tests.testbed up 2 --systemd 2   # h01-h02 plain, h03-h04 boot systemd
    python -m tests.testbed inventory web-01=h01 db-01=h04   # pyinfra inventory .py on stdout
    python -m tests.testbed status       # every bed on the machine (live/stale)
    python -m tests.testbed down         # this checkout's bed, plus any stale bed

    The checkout's bed id is kept in .cache/testbed-bed (PULLINFRA_BED_CURRENT points
    elsewhere); `up` refuses while that bed is up unless --replace. --bed ID picks any bed.

pytest fixtures (tests/conftest.py; one bed per xdist worker, started on first use)::

    def test_x(bed_hosts, bed_inventory):
        web1, web2, db = bed_hosts(3)          # pristine hosts (reset to the template)
        inv = bed_inventory({"web-01": web1, "web-02": web2, "db-01": db},
                            groups={"web_servers": ["web-01", "web-02"],
                                    "db_server": ["db-01"]})   # -> Path of an inventory .py
        ...
        assert db.package_version("postgresql-server") == "1.0-pullinfra1"

    Fixtures: bed (session Bed), bed_hosts (function: n -> list[Host], fresh each call),
    bed_host (one pristine Host), systemd_hosts / systemd_host (the same for systemd hosts),
    bed_inventory (write an inventory file in tmp_path),
    bed_client_key / bed_known_hosts (Paths), apt_repo (session AptRepo). Tests using any of
    them get the `bed` marker. In CI (CI=true) a bed that cannot start fails those tests with
    the reason; elsewhere they are skipped with the reason (e.g. not root).

Library::

    from tests.testbed import Bed
    with Bed.create(3, apt_repo=ensure_repo().path) as bed:   # owner = this process
        h = bed.hosts[0]

Bed: bed_id ("pib123"), hosts, client_key, known_hosts, host_key, block, gateway;
    add_hosts(n, systemd=False), ensure_hosts(n, systemd=False), hosts_of(systemd),
    pristine_hosts(n, skip, systemd), reset(hosts) (pristine again, ~60 ms/host, parallel),
    inventory(hosts={name: Host} | [Host], groups={group: [names]}) -> str,
    write_inventory(path, ...), down(). Beds are torn down at exit of the owning process and,
    if it crashed, by the next bed start (state in /run/pullinfra-testbed/<bed_id>/).

Host: name ("h01"), hostname ("pib123-h01"), address, port, netns, veth, systemd, cgroup,
    boot, running, init_pid, system_state(), wait_booted(after), reboot(), poweroff(),
    ssh_data (pyinfra ssh_* data: root, client key, known_hosts, strict checking),
    ssh_argv(*cmd, user=...),
    paramiko_client(user="root", nodelay=True). Set TCP_NODELAY in SSH clients: without it,
    Nagle + delayed ACK cost ~40 ms per command on an open paramiko connection (2 ms with).
    Direct checks that bypass SSH (nsenter / openat2 in the host's root, symlinks resolved
    inside the host): read_file(path) -> bytes | None, read_text, exists, stat, write_file,
    package_version(name) -> str | None (from /var/lib/dpkg/status),
    run(cmd, check=False, input=None) -> CompletedProcess (root, via nsenter+chroot).
    Faults: stop_sshd() (listener only, like `service ssh stop`: connects are refused),
    start_sshd(), ssh_ready(), wait_ssh(), cut_link() (the host's eth0 goes down: packets are
    dropped, connects time out, open connections hang), restore_link().

Network: bed N (0..511) owns 198.18.0.0/15's N-th /24; host i is .i, the machine's end .254.
Hosts reach the machine (.254) and each other in their bed, nothing else (no default route,
no DNS). The machine routes 198.18.0.0/15 as unreachable, so a dead bed's address never
leaves by the default route.

Users on every host: root and `deploy` (passwordless sudo), both with the bed's client key.
apt: hosts' only source is `deb [trusted=yes] file:/var/cache/pullinfra-testbed/repo ./`
(lists already fetched): real htop, iftop, nginx (+deps) fetched once with apt-get download
and cached in /var/cache/pullinfra-testbed/debs, and tiny packages: postgresql-server,
pullinfra-dummy 1.0 and 2.0, pullinfra-dummy-extra, pullinfra-svc (sysv init.d service, not
started on install: it has no postinst). nginx's postinst starts nginx inside the host (port 80
of its netns), as on a real server.
`/usr/sbin/runlevel` on hosts answers "N 2" so invoke-rc.d works without systemd.
"""

from tests.testbed.bed import (
    Bed,
    BedError,
    Host,
    clean_stale_beds,
    list_beds,
    teardown_state,
)

__all__ = ["Bed", "BedError", "Host", "clean_stale_beds", "list_beds", "teardown_state"]
