"""Supervisor of one systemd bed host (stdlib only; run as a script, not imported).

Usage: python -S -I _systemdinit.py JSON

JSON keys: netns (path of /run/netns/NAME), root (empty mount point), upper, work, hostname,
cgroup (the host's own directory in the machine's cgroup2 hierarchy), status (file this
supervisor keeps the current boot in), boot_id (file for each boot's id, bound over the
kernel's), container (value of $container for systemd).

The supervisor joins the host's network namespace and boots the host: it forks a booter that
moves into the host's cgroup, makes new mount, PID, UTS, IPC and cgroup namespaces and forks
the host's PID 1. PID 1 mounts the overlay root (lower=/) with fresh /proc (/proc/sys read-only
but for /proc/sys/net, which is the host's own), read-only /sys, cgroup2 (the host's subtree,
seen as the root through the cgroup namespace), /dev, /run and /tmp, pivots into it (nothing
of the machine's mount table stays reachable), drops DROPPED_CAPS from its bounding set and
execs systemd.

The first boot's PID 1 (as seen from the machine) is printed on stdout; every boot writes
{"pid", "start", "boot"} to the status file. When PID 1 dies of SIGHUP, the kernel's way of
saying that a PID namespace's init called reboot(2) (`reboot`, `systemctl reboot`), the
supervisor boots the host again on the same upper dir (its disk) with fresh /run and /tmp.
Any other end (poweroff: SIGINT; a kill; an exit) ends the supervisor with it. SIGTERM to the
supervisor kills PID 1 (and so every process of the host) and ends it once all are gone.
"""

import contextlib
import ctypes
import ctypes.util
import json
import os
import platform
import signal
import socket
import sys
import time
import uuid

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
# Capabilities the host's systemd and everything it starts never get: loading kernel modules
# and setting the clock would change the machine, not the host.
DROPPED_CAPS = {"CAP_SYS_MODULE": 16, "CAP_SYS_TIME": 25}

SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203,
                  "s390x": 217}.get(platform.machine(), 155)

# How a booter's exit code tells the supervisor why the host's PID 1 ended.
BOOT_REBOOT = 100  # killed by SIGHUP: reboot(2) with RESTART inside the PID namespace
BOOT_POWEROFF = 101  # killed by SIGINT: reboot(2) with POWER_OFF or HALT
BOOT_OTHER = 102  # killed otherwise, or exited

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.syscall.restype = ctypes.c_long


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str, target: str, fstype: str | None, flags: int = 0, data: str | None = None):
    _check(
        libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None),
        f"mount {fstype or 'bind'} {target}",
    )


def die_with_parent(parent: int) -> None:
    """SIGKILL when our parent dies (and right now if it already has). PID 1 of a namespace
    sees its parent as 0 and passes that."""
    _check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
    if os.getppid() != parent:
        os._exit(BOOT_OTHER)


def setup_dev(root: str) -> None:
    dev = root + "/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=4m")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        path = f"{dev}/{name}"
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(f"{dev}/{name}", 0o755)
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    # journald reads the kernel log from here; the machine's is not the host's
    os.symlink("null", f"{dev}/kmsg")


def setup_proc(root: str, cfg: dict) -> None:
    """/proc with /proc/sys read-only: kernel.* and fs.* are the machine's (systemd would set
    core_pattern and file-max there); /proc/sys/net stays writable, it is the host's netns."""
    proc = root + "/proc"
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # each boot has its own boot id (the kernel's is the machine's, the same for every boot)
    boot_id = proc + "/sys/kernel/random/boot_id"
    mount(cfg["boot_id"], boot_id, None, MS_BIND)
    mount("none", boot_id, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount(proc + "/sys/net", proc + "/sys/net", None, MS_BIND)
    mount(proc + "/sys", proc + "/sys", None, MS_BIND | MS_REC)
    mount("none", proc + "/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
          | MS_NOEXEC)
    for entry in ("sysrq-trigger",):
        path = f"{proc}/{entry}"
        if os.path.exists(path):
            mount(path, path, None, MS_BIND)
            mount("none", path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def pid1_main(cfg: dict) -> None:
    root = cfg["root"]
    mount("overlay", root, "overlay", 0,
          f"lowerdir=/,upperdir={cfg['upper']},workdir={cfg['work']}")
    setup_proc(root, cfg)
    mount("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("cgroup2", root + "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    setup_dev(root)
    mount("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.chdir(root)
    _check(libc.syscall(ctypes.c_long(SYS_PIVOT_ROOT), b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    socket.sethostname(cfg["hostname"])
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    for cap in DROPPED_CAPS.values():
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop capability")
    env = {"container": cfg.get("container", "pullinfra-testbed"), "LANG": "C.UTF-8",
           "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    os.execve("/lib/systemd/systemd", ["/lib/systemd/systemd"], env)


def booter_main(cfg: dict, parent: int, report_fd: int) -> None:
    die_with_parent(parent)
    with open(os.path.join(cfg["cgroup"], "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC
                        | CLONE_NEWCGROUP), "unshare")
    # The host's clocks start near zero at its boot, so uptime and systemd's monotonic times
    # are those of this boot (the machine's boot time otherwise). Kernels before 5.6 have no
    # time namespaces: the host then counts from the machine's boot.
    if libc.unshare(CLONE_NEWTIME) == 0:
        with open("/proc/self/timens_offsets", "w") as f:
            for name, clock in (("monotonic", time.CLOCK_MONOTONIC),
                                ("boottime", time.CLOCK_BOOTTIME)):
                f.write(f"{name} {1 - int(time.clock_gettime(clock))} 0\n")
    with open(cfg["boot_id"], "w") as f:
        f.write(str(uuid.uuid4()) + "\n")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_fd)
            die_with_parent(0)
            devnull = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1):  # stderr stays the host's init.log: systemd's own last words
                os.dup2(devnull, fd)
            pid1_main(cfg)
        except BaseException as exc:
            os.write(2, f"systemdinit: {exc!r}\n".encode())
        os._exit(1)
    os.write(report_fd, f"{pid}\n".encode())
    os.close(report_fd)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP:
        os._exit(BOOT_REBOOT)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
        os._exit(BOOT_POWEROFF)
    os._exit(BOOT_OTHER)


def proc_start(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode(errors="replace")
    return int(data[data.rindex(")") + 2:].split()[19])


def write_status(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    fd = os.open(cfg["netns"], os.O_RDONLY)
    _check(libc.setns(fd, CLONE_NEWNET), "setns net")
    os.close(fd)
    current = {"pid": 0}

    def stop(*_):
        if current["pid"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(current["pid"], signal.SIGKILL)
        current["stopping"] = True

    signal.signal(signal.SIGTERM, stop)
    me = os.getpid()
    boot = 0
    while not current.get("stopping"):
        boot += 1
        r, w = os.pipe()
        booter = os.fork()
        if booter == 0:
            try:
                os.close(r)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                booter_main(cfg, me, w)
            except BaseException as exc:
                os.write(2, f"systemdinit: {exc!r}\n".encode())
            os._exit(BOOT_OTHER)
        os.close(w)
        started = time.monotonic()
        with os.fdopen(r) as f:
            line = f.readline().strip()
        if line.isdigit():
            pid = int(line)
            current["pid"] = pid
            try:
                start = proc_start(pid)
            except (FileNotFoundError, ProcessLookupError):
                start = 0  # it died at once: the bed sees a host that is not running
            write_status(cfg["status"], {"pid": pid, "start": start, "boot": boot})
            if boot == 1:
                print(pid, flush=True)
                os.close(1)
                os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
            if current.get("stopping"):
                stop()
        while True:
            try:
                _, status = os.waitpid(booter, 0)
                break
            except InterruptedError:
                continue
        current["pid"] = 0
        code = os.waitstatus_to_exitcode(status)
        reason = {BOOT_REBOOT: "reboot", BOOT_POWEROFF: "poweroff"}.get(code, f"end ({code})")
        print(f"systemdinit: boot {boot} (pid {line or '-'}) ended by {reason} after "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        if not line.isdigit():
            sys.exit(1)
        if code != BOOT_REBOOT:
            sys.exit(0 if code == BOOT_POWEROFF else 1)


if __name__ == "__main__":
    main()
