"""Init process of one bed host (stdlib only; run as a script, not imported).

Usage: python -S -I _hostinit.py JSON

JSON keys: netns (path of /run/netns/NAME), root (empty mount point), upper, work, hostname,
sshd (bool: start sshd once the host is up).

It joins the host's network namespace, makes new mount, PID, UTS and IPC namespaces, and forks.
The parent prints the child's PID (as seen from the machine) and waits for it. The child is
PID 1 of the host: it mounts the overlay root (lower=/), fresh /proc, /sys, /dev, /run and
/tmp, chroots into it, starts sshd and then reaps orphans until it is killed. Killing it kills
every process of the host, and the kernel drops its mounts with the mount namespace.
"""

import ctypes
import ctypes.util
import json
import os
import signal
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_char_p]


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


def setup_dev(root: str) -> None:
    dev = root + "/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=64k")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        path = f"{dev}/{name}"
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name in ("pts", "shm"):
        os.mkdir(f"{dev}/{name}", 0o755)
    mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", f"{dev}/ptmx")
    mount("tmpfs", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")


def spawn(argv: list[str]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.setsid()
            os.execve(argv[0], argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        finally:
            os._exit(127)
    return pid


def host_main(cfg: dict) -> None:
    root = cfg["root"]
    mount("overlay", root, "overlay", 0,
          f"lowerdir=/,upperdir={cfg['upper']},workdir={cfg['work']}")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("sysfs", root + "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    setup_dev(root)
    mount("tmpfs", root + "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for d, mode in (("/run/sshd", 0o755), ("/run/lock", 0o1777), ("/run/user", 0o755)):
        os.mkdir(root + d, mode)
        os.chmod(root + d, mode)
    # utmp lets `runlevel` (and so invoke-rc.d) see a normal multi-user runlevel.
    open(root + "/run/utmp", "wb").close()
    os.chroot(root)
    os.chdir("/")
    socket.sethostname(cfg["hostname"])
    if cfg.get("sshd", True):
        spawn(["/usr/sbin/sshd", "-E", "/run/sshd.log"])
    # Reap everything that ends up with us, until killed.
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD, signal.SIGTERM, signal.SIGINT])
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        sig = signal.sigwait([signal.SIGCHLD, signal.SIGTERM, signal.SIGINT])
        if sig != signal.SIGCHLD:
            os._exit(0)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    fd = os.open(cfg["netns"], os.O_RDONLY)
    _check(libc.setns(fd, CLONE_NEWNET), "setns net")
    os.close(fd)
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open("/dev/null", os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            host_main(cfg)
        except BaseException as exc:
            print(f"hostinit: {exc!r}", file=sys.stderr, flush=True)
            os._exit(1)
        os._exit(0)
    print(pid, flush=True)
    os.close(1)
    os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            sys.exit(0)
        sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main()
