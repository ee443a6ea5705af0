"""Beds of real SSH hosts: network namespaces, overlay roots, sshd. See the package docstring."""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

STATE_ROOT = Path(os.environ.get("PULLINFRA_BED_STATE_ROOT", "/run/pullinfra-testbed"))
PREFIX = "pib"  # every netns, veth and state dir of a bed starts with this
MAX_BEDS = 512  # 198.18.0.0/15 holds 512 /24 blocks, one per bed
MAX_HOSTS = 250  # .1 .. .250 in the bed's /24; .254 is the machine's end of every veth
GATEWAY_OCTET = 254
SSH_PORT = 22
BENCH_RANGE = "198.18.0.0/15"
HOSTINIT = Path(__file__).with_name("_hostinit.py")
SYSTEMDINIT = Path(__file__).with_name("_systemdinit.py")
CGROUP_GROUP = "pullinfra-testbed"  # systemd hosts' cgroups: <cgroup2>/<this>/<bed_id>/<host>
DEPLOY_USER = "deploy"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BedError(RuntimeError):
    """The bed could not be started or driven; the message says why."""


# --------------------------------------------------------------------------- small helpers

def _run(argv: Sequence[str], *, input: bytes | None = None, check: bool = True,
         timeout: float = 60) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), input=input, capture_output=True, timeout=timeout)
    if check and res.returncode != 0:
        raise BedError(f"{' '.join(argv)} failed ({res.returncode}): "
                       f"{res.stderr.decode(errors='replace').strip()}")
    return res


def _ip_batch(lines: Iterable[str], netns: str | None = None, force: bool = False) -> None:
    lines = list(lines)
    if not lines:
        return
    argv = ["ip"] + (["-n", netns] if netns else []) + (["-force"] if force else []) + ["-b", "-"]
    _run(argv, input="\n".join(lines).encode() + b"\n", check=not force)


def _proc_start(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks, state letter) of a live or zombie pid, else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[19]), fields[0]


def _alive(pid: int | None, start: int | None) -> bool:
    """True when pid still names the same process (same start time) and it is not a zombie."""
    if not pid:
        return False
    info = _proc_start(pid)
    return info is not None and info[0] == start and info[1] != "Z"


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def _write(path: Path, data: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_OPENAT2 = 437  # same number on every architecture
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def _open_in_root(root_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """openat2(root_fd, path, RESOLVE_IN_ROOT): symlinks resolve inside the host's root."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_IN_ROOT)
    fd = _libc.syscall(_SYS_OPENAT2, ctypes.c_int(root_fd), ctypes.c_char_p(path.encode()),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


# --------------------------------------------------------------------------- state + locking

@contextlib.contextmanager
def flock(directory: Path) -> Iterator[None]:
    """An exclusive lock on directory/.lock, held across processes for the with-block."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_state(bed_dir: Path) -> dict | None:
    try:
        return json.loads((bed_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_state(bed_dir: Path, state: dict) -> None:
    tmp = bed_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(bed_dir / "state.json")


def _is_stale(state: dict | None) -> bool:
    if state is None:
        return True
    if state.get("boot_id") != _boot_id():
        return True
    owner = state.get("owner", {})
    if owner.get("kind") == "cli":
        if _alive(owner.get("pid"), owner.get("start")):
            return False  # `up` is still starting it: its hosts are not all running yet
        hosts = state.get("hosts", [])
        return bool(hosts) and not any(_alive(h.get("init_pid"), h.get("init_start"))
                                       or _alive(h.get("parent_pid"), h.get("parent_start"))
                                       for h in hosts)
    return not _alive(owner.get("pid"), owner.get("start"))


def list_beds() -> list[dict]:
    """States of all beds on this machine (live or stale), each with a 'stale' flag."""
    out = []
    if not STATE_ROOT.is_dir():
        return out
    for d in sorted(STATE_ROOT.glob(f"{PREFIX}[0-9][0-9][0-9]")):
        state = _read_state(d) or {"bed_id": d.name, "dir": str(d), "hosts": []}
        state["stale"] = _is_stale(_read_state(d))
        out.append(state)
    return out


def clean_stale_beds() -> list[str]:
    """Tear down every bed whose owner is gone. Returns their ids. Live beds are left alone."""
    cleaned = []
    with flock(STATE_ROOT):
        for state in list_beds():
            if state["stale"]:
                teardown_state(state)
                cleaned.append(state["bed_id"])
    return cleaned


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path).rstrip("/") + "/"
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            target = line.split()[1].replace("\\040", " ")
            if target == str(path) or target.startswith(prefix):
                out.append(target)
    return sorted(out, key=len, reverse=True)


def teardown_state(state: dict) -> None:
    """Remove everything a bed state names: its processes (by pid), netns, veths, mounts, dir.

    Safe to call on a half-built or already half-removed bed.
    """
    hosts = state.get("hosts", [])
    # 1. processes: each host's init (its PID namespace dies with it), its waiting parent, and
    #    anything else that was started inside the host's network namespace.
    for h in hosts:
        for key in ("init", "parent"):
            if _alive(h.get(f"{key}_pid"), h.get(f"{key}_start")):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(h[f"{key}_pid"], signal.SIGKILL)
    for h in hosts:
        ns = h.get("netns")
        if ns and os.path.exists(f"/run/netns/{ns}"):
            res = _run(["ip", "netns", "pids", ns], check=False)
            for tok in res.stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(tok), signal.SIGKILL)
    for h in hosts:
        if h.get("cgroup"):
            _kill_cgroup(Path(h["cgroup"]))
    deadline = time.monotonic() + 10
    for h in hosts:
        while _alive(h.get("init_pid"), h.get("init_start")) and time.monotonic() < deadline:
            time.sleep(0.01)
        if h.get("cgroup"):
            _remove_cgroup(Path(h["cgroup"]), max(0.0, deadline - time.monotonic()))
    if state.get("cgroup"):
        _remove_cgroup(Path(state["cgroup"]), max(0.0, deadline - time.monotonic()))
    # 2. links, routes and namespaces.
    lines = []
    for h in hosts:
        if h.get("veth") and os.path.exists(f"/sys/class/net/{h['veth']}"):
            lines.append(f"link del {h['veth']}")
    if state.get("block"):
        res = _run(["ip", "route", "show", "type", "unreachable", state["block"]], check=False)
        if res.stdout.strip():
            lines.append(f"route del unreachable {state['block']}")
    for h in hosts:
        if h.get("netns") and os.path.exists(f"/run/netns/{h['netns']}"):
            lines.append(f"netns del {h['netns']}")
    _ip_batch(lines, force=True)
    # 3. mounts (the tmpfs holding upper dirs, a template overlay left by a crash) and files.
    bed_dir = Path(state.get("dir") or STATE_ROOT / state["bed_id"])
    for target in _mounts_under(bed_dir):
        _run(["umount", "-l", target], check=False)
    shutil.rmtree(bed_dir, ignore_errors=True)


# --------------------------------------------------------------------------- cgroups

def _cgroup2_root() -> Path:
    """Where this process's cgroup sits in the machine's cgroup2 hierarchy (the hybrid layout
    mounts it at /sys/fs/cgroup/unified, a unified one at /sys/fs/cgroup)."""
    mount = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                mount = left.split()[4]
                break
    if mount is None:
        raise BedError("systemd hosts need the machine's cgroup2 hierarchy, and none is mounted")
    own = "/"
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            own = line[3:]
    return Path(mount + own.rstrip("/"))


def _cgroup_populated(cg: Path) -> bool:
    try:
        return "populated 1" in (cg / "cgroup.events").read_text()
    except FileNotFoundError:
        return False


def _kill_cgroup(cg: Path) -> None:
    """SIGKILL every process in cg and below (cgroup.kill, else one by one)."""
    if not cg.is_dir():
        return
    try:
        (cg / "cgroup.kill").write_text("1")
        return
    except OSError:
        pass
    for procs in cg.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            for tok in procs.read_text().split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(tok), signal.SIGKILL)


def _remove_cgroup(cg: Path, timeout: float = 10, keep_top: bool = False) -> None:
    """rmdir cg's subtree, children first, once its processes are gone (keep_top: cg stays)."""
    if not cg.is_dir():
        return
    deadline = time.monotonic() + timeout
    while _cgroup_populated(cg) and time.monotonic() < deadline:
        time.sleep(0.005)
    dirs = sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                  reverse=True)
    for d in dirs + ([] if keep_top else [cg]):
        with contextlib.suppress(OSError):  # a live process left: the teardown test sees it
            d.rmdir()
    parent = cg.parent
    if not keep_top and parent.name == CGROUP_GROUP:
        with contextlib.suppress(OSError):
            parent.rmdir()  # the last bed's cgroup takes the common one with it


# --------------------------------------------------------------------------- the machine's image

# Bed hosts see the machine's / through their overlay root. These parts of it belong to the
# machine's image, not to a freshly installed Debian server, so the template hides them: what a
# package ships there (dpkg's file lists) stays, and so does what the bed writes itself.
# "dir/" empties dir down to what packages ship in it; any other entry is a glob, and each match
# that no package ships is hidden.
IMAGE_PATHS = (
    "usr/sbin/policy-rc.d",  # Docker's `exit 101`: no service would start on install
    "etc/apt/apt.conf.d/",  # docker-clean, -gzip-indexes, -no-languages, mirror settings
    "etc/apt/preferences.d/",  # pins for the image's third-party repositories
    "etc/apt/auth.conf.d/",  # logins for the image's repositories
    "etc/dpkg/dpkg.cfg.d/",  # docker-apt-speedup (force-unsafe-io), slim images' doc excludes
    "etc/profile.d/",  # login shells would set up the image's tools
    "etc/sudoers.d/",  # the image's sudo rules (the bed writes its own)
    "etc/pip.conf", "etc/xdg/pip",  # the image's pip certificate and version caps
    "etc/gitconfig", "etc/npmrc",  # the image's git and npm settings
    "etc/ssh/",  # the machine's own host keys: a host has only the bed's
    "usr/local/",  # the image's own tools would come first on PATH, and its extra CAs
    "opt/", "srv/", "mnt/", "media/",  # the image's add-ons and mount points
    "root/",  # the machine's root dotfiles and tool installs (pyenv, cargo, npm)
    "home/",  # the image's users' homes (_drop_image_users removes their accounts)
    "var/cache/apt/archives/",  # the machine's downloaded .debs
    "*",  # top-level extras such as container markers and checkouts (see DEBIAN_MADE)
)
# Services the image enables in /etc/rc?.d stay enabled: they belong to packages that dpkg on
# every host lists as installed, and nothing starts them (a host's init starts only sshd).

# Made by any Debian install (base-files' postinst, the installer, ca-certificates) though no
# dpkg file list names them: they count as shipped.
DEBIAN_MADE = frozenset({
    "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "lost+found",
    "media", "mnt", "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var",
    *(f"usr/local/{d}" for d in ("bin", "etc", "games", "include", "lib", "man", "sbin",
                                 "share", "share/man", "src", "share/ca-certificates")),
})
LOGIN_IDS = range(1000, 60001)  # Debian's UID_MIN..UID_MAX and GID_MIN..GID_MAX
_OPAQUE_XATTR = "trusted.overlay.opaque"


def _shipped_paths(keep: Iterable[str]) -> set[str]:
    """Paths (relative to /) that a package ships, a Debian install makes, or the bed keeps.

    dpkg lists /bin, /sbin and /lib* paths as packaged; with merged /usr they live under /usr.
    """
    shipped = set(DEBIAN_MADE)
    for lst in Path("/var/lib/dpkg/info").glob("*.list"):
        for line in lst.read_text(errors="surrogateescape").splitlines():
            shipped.add(line[1:])
            if line.startswith(("/bin/", "/sbin/", "/lib/", "/lib64/")):
                shipped.add("usr" + line)
    for path in keep:
        shipped.update(str(p) for p in Path(path).parents if str(p) != ".")
    return shipped


def _survey(rel: str, shipped: set[str], keep: set[str]) -> tuple[list[str], list[str], bool]:
    """Below rel on the machine: (what no package ships, shipped directories and symlinks,
    whether a package ships or the bed keeps any other file there)."""
    gone: list[str] = []
    kept: list[str] = []
    files = False
    with os.scandir("/" + rel) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        child = f"{rel}/{e.name}"
        if child in keep:
            files = True
        elif child not in shipped:
            gone.append(child)
        elif e.is_dir(follow_symlinks=False):
            kept.append(child)
            sub_gone, sub_kept, sub_files = _survey(child, shipped, keep)
            gone += sub_gone
            kept += sub_kept
            files = files or sub_files
        elif e.is_symlink():
            kept.append(child)
        else:
            files = True
    return gone, kept, files


def _mkdirs_like_machine(upper: Path, rel: str) -> None:
    """rel and its parents in the upper dir, with the owner and mode they have on the machine."""
    parts = Path(rel).parts
    for i in range(1, len(parts) + 1):
        sub = Path(*parts[:i])
        target = upper / sub
        if os.path.lexists(target):
            continue
        st = os.lstat(Path("/") / sub)
        target.mkdir()
        os.chown(target, st.st_uid, st.st_gid)
        os.chmod(target, stat.S_IMODE(st.st_mode))


def _whiteout(upper: Path, rel: str) -> None:
    """Hide the machine's rel on every host: an overlay whiteout (character device 0/0)."""
    target = upper / rel
    if os.path.lexists(target):
        return  # the bed wrote its own file there
    _mkdirs_like_machine(upper, str(Path(rel).parent))
    os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))


def _make_opaque(upper: Path, rel: str, kept: Sequence[str]) -> None:
    """Hide everything of the machine's rel at once, then bring back what packages ship there.

    One opaque directory instead of a whiteout per entry: every host reset copies the template,
    and a whiteout per cached .deb would make that slow.
    """
    _mkdirs_like_machine(upper, rel)
    os.setxattr(upper / rel, _OPAQUE_XATTR, b"y")
    for sub in kept:  # parents come before their children
        source = Path("/") / sub
        if source.is_symlink():
            if not os.path.lexists(upper / sub):
                os.symlink(os.readlink(source), upper / sub)
        else:
            _mkdirs_like_machine(upper, sub)


def _hide_image(upper: Path, keep: Iterable[str] = ()) -> None:
    """Hide IMAGE_PATHS in a template upper dir that is not mounted (overlayfs allows no
    changes to its layers while mounted). keep: paths (relative to /) hosts must still see."""
    keep = set(keep)
    shipped = _shipped_paths(keep)
    for entry in IMAGE_PATHS:
        if not entry.endswith("/"):
            for p in Path("/").glob(entry):
                rel = str(p.relative_to("/"))
                if rel not in shipped and rel not in keep:
                    _whiteout(upper, rel)
            continue
        rel = entry.rstrip("/")
        if not os.path.isdir("/" + rel) or os.path.islink("/" + rel):
            continue
        gone, kept, files = _survey(rel, shipped, keep)
        if files:
            for sub in gone:
                _whiteout(upper, sub)
        else:
            _make_opaque(upper, rel, kept)


# systemd hosts boot like a fresh server that runs sshd and systemd's own journald, dbus and
# logind. The image enables more (a PostgreSQL cluster, prometheus, cron, apt and other timers,
# getty, timesyncd...): every unit enabled in /etc/systemd/system is disabled in their template
# (its enablement symlinks hidden), but for these.
SYSTEMD_KEEP_ENABLED = frozenset({"ssh.service", "sshd.service", "remote-fs.target"})
# Units that would reach past the host into the machine (kernel modules, the clock, the
# kernel's pstore and tracing, the machine's filesystems) or set up interfaces the bed sets up
# from outside: masked on systemd hosts.
SYSTEMD_MASKED = (
    "systemd-modules-load.service", "modprobe@.service", "systemd-timesyncd.service",
    "systemd-pstore.service",
    "systemd-random-seed.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
    "proc-sys-fs-binfmt_misc.mount", "sys-kernel-debug.mount", "sys-kernel-tracing.mount",
    "sys-kernel-config.mount", "e2scrub_reap.service", "e2scrub_all.service", "fstrim.service",
    "systemd-networkd.service", "systemd-networkd.socket", "systemd-networkd-wait-online.service",
    "systemd-network-generator.service", "systemd-resolved.service", "networking.service",
    "ifupdown-pre.service", "NetworkManager.service", "systemd-udevd.service",
    "systemd-udev-trigger.service", "systemd-hwdb-update.service", "systemd-time-wait-sync.service",
)
SYSTEMD_UNIT_DIRS = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")


def _systemd_template(upper: Path) -> None:
    """Turn a copy of the plain hosts' template (not mounted) into the systemd hosts' one."""
    # the plain hosts' sysvinit `runlevel` goes: systemd's own answers
    with contextlib.suppress(FileNotFoundError):
        (upper / "usr/sbin/runlevel").unlink()
    # sshd through PAM, as Debian ships it: a login opens a logind session (XDG_RUNTIME_DIR,
    # the user's own systemd, `systemctl --user`), as on a real server
    config = upper / "etc/ssh/sshd_config"
    config.write_text(config.read_text().replace("UsePAM no\n", "UsePAM yes\n"))
    units = Path("/etc/systemd/system")
    if units.is_dir():
        for p in sorted(units.rglob("*")):
            if not p.is_symlink():
                continue
            rel = str(p.relative_to("/"))
            name = p.name
            target = os.path.basename(os.readlink(p))
            if name in SYSTEMD_KEEP_ENABLED or (p.parent == units
                                                and target in SYSTEMD_KEEP_ENABLED):
                continue
            if p.parent == units and os.readlink(p) == "/dev/null":
                continue  # masked by the image: it stays masked
            _whiteout(upper, rel)
    for name in SYSTEMD_MASKED:
        if not any(os.path.lexists(f"/{d}/{name}") for d in SYSTEMD_UNIT_DIRS):
            continue
        link = upper / "etc/systemd/system" / name
        _mkdirs_like_machine(upper, "etc/systemd/system")
        if os.path.lexists(link):
            link.unlink()
        link.symlink_to("/dev/null")


def _drop_image_users(m: Path) -> None:
    """Remove the image's login accounts and groups (ids in LOGIN_IDS): a fresh server has none
    of them, and their homes are hidden."""
    users = _ids_in(m / "etc/passwd")
    groups = _ids_in(m / "etc/group")
    for rel, gone in (("etc/passwd", users), ("etc/shadow", users), ("etc/subuid", users),
                      ("etc/subgid", users), ("etc/group", groups), ("etc/gshadow", groups)):
        _drop_entries(m / rel, gone, users if rel in ("etc/group", "etc/gshadow") else set())


def _ids_in(db: Path) -> set[str]:
    """Names in passwd or group whose id is a login id."""
    out = set()
    for line in db.read_text().splitlines():
        f = line.split(":")
        if len(f) > 2 and f[2].isdigit() and int(f[2]) in LOGIN_IDS:
            out.add(f[0])
    return out


def _drop_entries(db: Path, names: set[str], members: set[str]) -> None:
    """Drop the lines of `names` from db and the `members` from its member lists."""
    if not db.exists() or not (names or members):
        return
    lines = []
    for line in db.read_text().splitlines():
        f = line.split(":")
        if f[0] in names:
            continue
        if members:
            f[2:] = [",".join(n for n in x.split(",") if n not in members) for x in f[2:]]
        lines.append(":".join(f))
    db.write_text("".join(line + "\n" for line in lines))  # in place: owner and mode stay


# --------------------------------------------------------------------------- hosts

class Host:
    """One bed host. Direct access helpers work through the host's namespaces, never SSH.

    systemd: the host boots systemd as PID 1 (see the package docstring); its PID 1 changes
    when it reboots, and init_pid names the current one (the last, dead one while it reboots:
    `running` is False then).
    """

    def __init__(self, bed: Bed, index: int, systemd: bool = False):
        self.bed = bed
        self.index = index
        self.systemd = systemd
        self.name = f"h{index:02d}"
        self.netns = f"{bed.bed_id}-h{index:02d}"
        self.veth = f"{bed.bed_id}h{index:02d}"
        self.hostname = self.netns
        self.address = f"{bed.net_prefix}.{index}"
        self.port = SSH_PORT
        self.dir = bed.fs_dir / self.name
        self.status_file = self.dir / "init.json"  # a systemd host's current boot
        self.cgroup: Path | None = None  # a systemd host's cgroup on the machine
        self._init_pid: int | None = None
        self._init_start: int | None = None
        self._boot = 0
        self.parent_pid: int | None = None
        self.parent_start: int | None = None
        self._proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        kind = " systemd" if self.systemd else ""
        return f"<Host {self.name}{kind} {self.address} pid={self.init_pid}>"

    # --- the host's init (a systemd host's changes with every boot)
    def _refresh(self) -> None:
        if not self.systemd or self.parent_pid is None:
            return
        try:
            rec = json.loads(self.status_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return
        self._init_pid, self._init_start, self._boot = rec["pid"], rec["start"], rec["boot"]

    @property
    def init_pid(self) -> int | None:
        """PID (on the machine) of the host's init: None when stopped, a dead one's while a
        systemd host reboots."""
        self._refresh()
        return self._init_pid

    @init_pid.setter
    def init_pid(self, pid: int | None) -> None:
        self._init_pid = pid

    @property
    def init_start(self) -> int | None:
        self._refresh()
        return self._init_start

    @init_start.setter
    def init_start(self, start: int | None) -> None:
        self._init_start = start

    @property
    def boot(self) -> int:
        """How many times a systemd host has booted since it was last reset (1 after reset)."""
        self._refresh()
        return self._boot

    @property
    def running(self) -> bool:
        return _alive(self.init_pid, self.init_start)

    # --- state record
    def _record(self) -> dict:
        return {"index": self.index, "name": self.name, "netns": self.netns, "veth": self.veth,
                "address": self.address, "systemd": self.systemd,
                "cgroup": str(self.cgroup) if self.cgroup else None,
                "init_pid": self.init_pid, "init_start": self.init_start,
                "parent_pid": self.parent_pid, "parent_start": self.parent_start}

    def _load(self, rec: dict) -> None:
        for key in ("init_pid", "init_start", "parent_pid", "parent_start"):
            setattr(self, key, rec.get(key))
        self.cgroup = Path(rec["cgroup"]) if rec.get("cgroup") else None

    # --- SSH data
    @property
    def ssh_data(self) -> dict[str, Any]:
        """pyinfra host data that reaches this host as root with strict host key checking."""
        return {
            "ssh_hostname": self.address,
            "ssh_port": self.port,
            "ssh_user": "root",
            "ssh_key": str(self.bed.client_key),
            "ssh_known_hosts_file": str(self.bed.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "ssh_allow_agent": False,
            "ssh_look_for_keys": False,
        }

    def ssh_argv(self, *command: str, user: str = "root") -> list[str]:
        """argv for the OpenSSH client to run `command` on this host (strict host keys)."""
        return ["ssh", "-F", "none", "-i", str(self.bed.client_key),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.bed.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                "-p", str(self.port), f"{user}@{self.address}", *command]

    def paramiko_client(self, user: str = "root", timeout: float = 5, nodelay: bool = True):
        """A connected paramiko.SSHClient (RejectPolicy + the bed's known_hosts).

        nodelay sets TCP_NODELAY: without it Nagle + delayed ACKs add ~40 ms to every command
        on an open connection (paramiko does not set it itself).
        """
        import paramiko

        sock = socket.create_connection((self.address, self.port), timeout=timeout)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.bed.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self.address, port=self.port, username=user,
                           key_filename=str(self.bed.client_key), timeout=timeout,
                           banner_timeout=timeout, auth_timeout=timeout, sock=sock,
                           allow_agent=False, look_for_keys=False)
        except BaseException:
            sock.close()
            client.close()
            raise
        return client

    # --- direct access (nsenter / the host's root via /proc/PID/root)
    def _root_fd(self) -> int:
        if not _alive(self.init_pid, self.init_start):
            raise BedError(f"host {self.name} is not running")
        return os.open(f"/proc/{self.init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    @contextlib.contextmanager
    def _opened(self, path: str, flags: int, mode: int = 0) -> Iterator[int]:
        root = self._root_fd()
        try:
            fd = _open_in_root(root, path, flags, mode)
        finally:
            os.close(root)
        try:
            yield fd
        finally:
            os.close(fd)

    def read_file(self, path: str) -> bytes | None:
        """Content of `path` on the host, or None if it does not exist."""
        try:
            with self._opened(path, os.O_RDONLY) as fd, os.fdopen(os.dup(fd), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def read_text(self, path: str) -> str | None:
        data = self.read_file(path)
        return None if data is None else data.decode()

    def stat(self, path: str, follow_symlinks: bool = True) -> os.stat_result | None:
        flags = os.O_PATH | (0 if follow_symlinks else os.O_NOFOLLOW)
        try:
            with self._opened(path, flags) as fd:
                return os.fstat(fd)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write a file on the host directly (for setting up a test, not for checking)."""
        data = data.encode() if isinstance(data, str) else data
        with self._opened(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode) as fd:
            os.fchmod(fd, mode)
            os.write(fd, data)

    def nsenter_argv(self, *command: str) -> list[str]:
        # a systemd host also has its own cgroup namespace and clocks (uptime since its boot)
        pid = self.init_pid
        extra = []
        if self.systemd:
            extra = ["-C", "-T"] if os.path.exists(f"/proc/{pid}/ns/time") else ["-C"]
        return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", *extra,
                "-r", "-w", "--", "/usr/bin/env", "-i", f"PATH={BASE_PATH}", "HOME=/root",
                "USER=root", "LANG=C.UTF-8", *command]

    def run(self, cmd: str | Sequence[str], *, check: bool = False, input: str | None = None,
            timeout: float = 120, text: bool = True) -> subprocess.CompletedProcess:
        """Run a command inside the host as root (nsenter + chroot, not SSH).

        A string runs under /bin/sh -c; a list is exec'd as is.
        """
        if not _alive(self.init_pid, self.init_start):
            raise BedError(f"host {self.name} is not running")
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return subprocess.run(self.nsenter_argv(*argv), input=input, capture_output=True,
                              text=text, timeout=timeout, check=check)

    def package_version(self, name: str) -> str | None:
        """Version of `name` if dpkg records it as installed on the host (read directly)."""
        status = self.read_text("/var/lib/dpkg/status") or ""
        for para in status.split("\n\n"):
            fields = {}
            for line in para.splitlines():
                if line and not line[0].isspace() and ":" in line:
                    k, v = line.split(":", 1)
                    fields[k] = v.strip()
            if fields.get("Package") == name and fields.get("Status") == "install ok installed":
                return fields.get("Version")
        return None

    def use_apt_repo(self, repo: str | os.PathLike | None = None) -> None:
        """Point the host's apt at the local repository only (hosts start that way)."""
        repo = Path(repo) if repo else self.bed.apt_repo
        self.run(["sh", "-c", "rm -f /etc/apt/sources.list.d/*"], check=True)
        self.write_file("/etc/apt/sources.list", _sources_line(repo))
        self.run(["apt-get", "update", "-qq"], check=True)

    # --- faults
    def ssh_ready(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=timeout) as s:
                s.settimeout(timeout)
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    def wait_ssh(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.ssh_ready():
            if time.monotonic() > deadline:
                raise BedError(f"sshd on {self.name} ({self.address}) not ready in {timeout}s"
                               f"{self.bed._host_log(self)}")
            time.sleep(0.02)

    def stop_sshd(self) -> None:
        """Stop the host's sshd listener (like `service ssh stop`: open sessions stay)."""
        if self.systemd:  # ssh.service has KillMode=process: sessions stay
            self.run(["systemctl", "stop", "ssh.service"], check=True, timeout=30)
            return
        self.run(["sh", "-c", "kill $(cat /run/sshd.pid) && while [ -e /run/sshd.pid ]; "
                  "do sleep 0.01; done"], check=True, timeout=10)

    def start_sshd(self, wait: bool = True) -> None:
        if self.systemd:
            self.run(["systemctl", "start", "ssh.service"], check=True, timeout=30)
        else:
            self.run(["/usr/sbin/sshd", "-E", "/run/sshd.log"], check=True)
        if wait:
            self.wait_ssh()

    # --- a systemd host's boots
    def system_state(self) -> str | None:
        """`systemctl is-system-running` on a systemd host (None while it is down)."""
        try:
            return self.run(["systemctl", "is-system-running"], timeout=30).stdout.strip()
        except BedError:
            return None

    def wait_booted(self, after: int = 0, timeout: float = 60) -> None:
        """Wait until a systemd host runs a boot newer than `after` (Host.boot), its boot has
        finished (`is-system-running` says running or degraded) and sshd answers."""
        deadline = time.monotonic() + timeout
        while True:
            if self.boot > after and self.running:
                left = max(1.0, deadline - time.monotonic())
                with contextlib.suppress(BedError, subprocess.TimeoutExpired):
                    self.run(["systemctl", "is-system-running", "--wait"], timeout=left)
                if self.system_state() in ("running", "degraded") and self.ssh_ready():
                    return
            if self.parent_pid is not None and not _alive(self.parent_pid, self.parent_start):
                raise BedError(f"host {self.name} is down (its supervisor ended)"
                               f"{self.bed._host_log(self)}")
            if time.monotonic() > deadline:
                raise BedError(f"host {self.name} did not finish booting in {timeout}s "
                               f"(boot {self.boot}, state {self.system_state()})"
                               f"{self.bed._host_log(self)}")
            time.sleep(0.05)

    def reboot(self, wait: bool = True, timeout: float = 60) -> None:
        """`systemctl reboot` inside a systemd host (not over SSH), and wait for the new boot."""
        before = self.boot
        self.run(["systemctl", "reboot"], check=True, timeout=30)
        if wait:
            self.wait_booted(after=before, timeout=timeout)

    def poweroff(self, timeout: float = 60) -> bool:
        """Shut a systemd host down through its PID 1 (SIGRTMIN+4: systemd's poweroff), and
        SIGKILL PID 1 if it has not ended in `timeout`. True if it shut down by itself.

        The host stays down until Bed.reset (its upper dir is kept until then)."""
        if not self.systemd:
            raise BedError(f"host {self.name} has no systemd")
        pid, start = self.init_pid, self.init_start
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGRTMIN + 4)
        deadline = time.monotonic() + timeout
        while _alive(self.parent_pid, self.parent_start) and time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                break
            time.sleep(0.02)
        clean = not _alive(self.parent_pid, self.parent_start)
        self.bed._stop([self])  # SIGKILL for what is left; reaps the supervisor
        return clean

    def authorize_key(self, public_key: Path, user: str = "root") -> None:
        """Let `public_key` (an .pub file) log in as `user`, beside the bed's own key."""
        keys = f"{'/root' if user == 'root' else '/home/' + user}/.ssh/authorized_keys"
        self.write_file(keys, (self.read_text(keys) or "") + public_key.read_text(), 0o600)

    def allow_password_login(self, user: str, password: str) -> None:
        """Give `user` a password and let sshd take password logins (restarted for it)."""
        self.run(f"echo '{user}:{password}' | chpasswd", check=True)
        config = self.read_text("/etc/ssh/sshd_config") or ""
        self.write_file("/etc/ssh/sshd_config",
                        config.replace("PasswordAuthentication no", "PasswordAuthentication yes"))
        self.stop_sshd()
        self.start_sshd()

    def cut_link(self) -> None:
        """Take the host's end of its link down: packets to it are dropped (connects time out)."""
        _run(["ip", "-n", self.netns, "link", "set", "eth0", "down"])

    def restore_link(self) -> None:
        _ip_batch(_inside_net_lines(self), netns=self.netns)


def _inside_net_lines(host: Host) -> list[str]:
    gw = host.bed.gateway
    return [
        "link set lo up",
        f"addr replace {host.address}/32 dev eth0",
        "link set eth0 up",
        f"route replace {gw}/32 dev eth0 src {host.address}",
        f"route replace {host.bed.block} via {gw} dev eth0 src {host.address}",
    ]


def _sources_line(repo: Path | None) -> str:
    if repo is None:
        return "# pullinfra test bed: no apt repository configured\n"
    return f"deb [trusted=yes] file:{repo} ./\n"


# --------------------------------------------------------------------------- the bed

class Bed:
    """A set of hosts with one id, address block, host key and client key."""

    def __init__(self, bed_id: str, state: dict):
        self.bed_id = bed_id
        self.index = int(bed_id[len(PREFIX):])
        self.dir = STATE_ROOT / bed_id
        self.fs_dir = self.dir / "fs"
        self.template = self.fs_dir / "template"
        self.ssh_dir = self.dir / "ssh"
        self.client_key = self.ssh_dir / "id_ed25519"
        self.host_key = self.ssh_dir / "ssh_host_ed25519_key"
        self.known_hosts = self.ssh_dir / "known_hosts"
        self.net_prefix = f"198.{18 + self.index // 256}.{self.index % 256}"
        self.block = f"{self.net_prefix}.0/24"
        self.gateway = f"{self.net_prefix}.{GATEWAY_OCTET}"
        self.state = state
        self.apt_repo: Path | None = Path(state["apt_repo"]) if state.get("apt_repo") else None
        self.systemd_template = self.fs_dir / "template-systemd"
        self.hosts: list[Host] = []
        for rec in state.get("hosts", []):
            h = Host(self, rec["index"], systemd=rec.get("systemd", False))
            h._load(rec)
            self.hosts.append(h)
        self._closed = False
        self._used: set[int] = set()  # host indexes handed out since their last reset

    # ---- creation
    @classmethod
    def create(cls, n: int = 0, *, apt_repo: str | os.PathLike | None = None,
               owner: str = "process", checkout: str | None = None) -> Bed:
        """Start a new bed with `n` hosts.

        owner="process": the bed belongs to this process; it is torn down at exit, and by the
        next bed start if this process dies first. owner="cli": it lives until `down`.
        apt_repo: directory of a local apt repository (see aptrepo.ensure_repo) that hosts use
        as their only apt source, or None for no source at all.
        """
        if os.geteuid() != 0:
            raise BedError("the test bed needs root (network namespaces, overlay mounts)")
        for tool in ("ip", "nsenter", "ssh-keygen", "/usr/sbin/sshd"):
            if not shutil.which(tool):
                raise BedError(f"the test bed needs {tool} (run scripts/bootstrap.sh)")
        if "overlay" not in Path("/proc/filesystems").read_text():
            with contextlib.suppress(Exception):
                _run(["modprobe", "overlay"], check=False)
            if "overlay" not in Path("/proc/filesystems").read_text():
                raise BedError("the kernel has no overlayfs")
        me = os.getpid()
        owner_rec = {"kind": owner, "pid": me, "start": _proc_start(me)[0],
                     "checkout": checkout}
        with flock(STATE_ROOT):
            for state in list_beds():
                if state["stale"]:
                    teardown_state(state)
            index = cls._free_index()
            bed_id = f"{PREFIX}{index:03d}"
            bed_dir = STATE_ROOT / bed_id
            bed_dir.mkdir(parents=True)
            state = {"bed_id": bed_id, "dir": str(bed_dir), "boot_id": _boot_id(),
                     "owner": owner_rec, "created": time.time(),
                     "apt_repo": str(apt_repo) if apt_repo else None, "hosts": []}
            _write_state(bed_dir, state)
        bed = cls(bed_id, state)
        bed.state["block"] = bed.block
        bed._save()
        if owner == "process":
            atexit.register(bed.down)
        try:
            bed._prepare()
            if n:
                bed.add_hosts(n)
        except BaseException:
            bed.down()
            raise
        return bed

    @staticmethod
    def _free_index() -> int:
        used = {int(d.name[len(PREFIX):]) for d in STATE_ROOT.glob(f"{PREFIX}[0-9][0-9][0-9]")}
        for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
            if name.startswith(PREFIX) and name[len(PREFIX):len(PREFIX) + 3].isdigit():
                used.add(int(name[len(PREFIX):len(PREFIX) + 3]))
        for name in os.listdir("/sys/class/net"):
            if name.startswith(PREFIX) and name[len(PREFIX):len(PREFIX) + 3].isdigit():
                used.add(int(name[len(PREFIX):len(PREFIX) + 3]))
        # Spread beds: start from a pid-derived slot so two fresh beds rarely meet.
        start = os.getpid() % MAX_BEDS
        for k in range(MAX_BEDS):
            i = (start + k) % MAX_BEDS
            if i not in used:
                return i
        raise BedError("no free test bed slot (512 beds running?)")

    @classmethod
    def load(cls, bed_id: str) -> Bed:
        state = _read_state(STATE_ROOT / bed_id)
        if state is None:
            raise BedError(f"no bed {bed_id}")
        return cls(bed_id, state)

    def _save(self) -> None:
        self.state["hosts"] = [h._record() for h in self.hosts]
        _write_state(self.dir, self.state)

    def _prepare(self) -> None:
        self.ssh_dir.mkdir(mode=0o700)
        self.fs_dir.mkdir()
        _run(["mount", "-t", "tmpfs", "-o", "mode=755,size=8g", "pib-fs", str(self.fs_dir)])
        keygens = [
            subprocess.Popen(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                              "-f", str(path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
            for path, comment in ((self.host_key, f"{self.bed_id} host"),
                                  (self.client_key, f"{self.bed_id} client"))
        ]
        for p in keygens:
            _, err = p.communicate()
            if p.returncode:
                raise BedError(f"ssh-keygen failed: {err.decode()}")
        self.known_hosts.write_text("")
        self._build_template()
        # Nothing for 198.18.0.0/15 may leave by the default route (a host address after its
        # bed is gone, a typo): the whole range is unreachable from the machine, for good;
        # each bed's /24 is unreachable too, and the per-host /32 routes override both.
        if b"unreachable" not in _run(["ip", "route", "show", "exact", BENCH_RANGE]).stdout:
            _ip_batch([f"route replace unreachable {BENCH_RANGE}"])
        _ip_batch([f"route replace unreachable {self.block}"])

    def _build_template(self) -> None:
        """The upper dir every host starts from: keys, sshd config, users, plain root profile,
        apt pointed at the local repository only, and none of the machine's image."""
        t = self.fs_dir / "tmpl"
        upper, work, merged = self.template, t / "work", t / "merged"
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        _run(["mount", "-t", "overlay", "-o",
              f"lowerdir=/,upperdir={upper},workdir={work}", "pib-tmpl", str(merged)])
        try:
            self._fill_template(merged)
        finally:
            _run(["umount", str(merged)])
        shutil.rmtree(t)
        _hide_image(upper, keep=[str(self.apt_repo.relative_to("/"))] if self.apt_repo else [])

    def _fill_template(self, m: Path) -> None:
        client_pub = (self.client_key.with_suffix(".pub")).read_text()
        # sshd
        _write(m / "etc/ssh/sshd_config", SSHD_CONFIG)
        _write(m / "etc/ssh/ssh_host_ed25519_key", self.host_key.read_bytes(), 0o600)
        _write(m / "etc/ssh/ssh_host_ed25519_key.pub",
               self.host_key.with_suffix(".pub").read_bytes())
        # plain root profile and key
        skel = Path("/etc/skel")
        bashrc = PLAIN_BASHRC
        profile = (skel / ".profile").read_text() if (skel / ".profile").exists() else ""
        _write(m / "root/.bashrc", bashrc)
        _write(m / "root/.profile", profile)
        for extra in (".bash_profile", ".bash_login"):
            with contextlib.suppress(FileNotFoundError):
                (m / "root" / extra).unlink()
        _write(m / "root/.ssh/authorized_keys", client_pub, 0o600)
        os.chmod(m / "root/.ssh", 0o700)
        # none of the image's accounts, and the sudo user, written straight into
        # passwd/shadow/group (no useradd per host)
        _drop_image_users(m)
        uid, gid = _add_user(m, DEPLOY_USER)
        home = m / "home" / DEPLOY_USER
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home, uid, gid)
        os.chmod(home, 0o755)
        _write(home / ".bashrc", bashrc, uid=uid, gid=gid)
        _write(home / ".profile", profile, uid=uid, gid=gid)
        _write(home / ".ssh/authorized_keys", client_pub, 0o600, uid, gid)
        os.chown(home / ".ssh", uid, gid)
        os.chmod(home / ".ssh", 0o700)
        _write(m / "etc/sudoers.d/pullinfra-bed", f"{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n",
               0o440)
        # No systemd here: `runlevel` (a systemctl symlink) must answer like sysvinit so that
        # invoke-rc.d in maintainer scripts starts services through /etc/init.d.
        _write(m / "usr/sbin/runlevel", "#!/bin/sh\necho N 2\n", 0o755)
        # each host writes its own /etc/machine-id (_fresh_upper); dbus must read that one
        dbus_id = m / "var/lib/dbus/machine-id"
        if dbus_id.exists() or dbus_id.is_symlink():
            dbus_id.unlink()
            dbus_id.symlink_to("/etc/machine-id")
        # no DNS, and apt knows only the local repository
        _write(m / "etc/resolv.conf", "# pullinfra test bed: no DNS\n")
        self._fetch_apt_lists(m)

    def _fetch_apt_lists(self, m: Path) -> None:
        """Point apt at the local repository only and fetch its lists into the template."""
        for p in (m / "etc/apt/sources.list.d").glob("*"):
            p.unlink()
        _write(m / "etc/apt/sources.list", _sources_line(self.apt_repo))
        lists = m / "var/lib/apt/lists"
        for p in lists.glob("*"):
            if p.is_file() and p.name != "lock":
                p.unlink()
        for p in (m / "var/cache/apt").glob("*.bin"):
            p.unlink()
        if not self.apt_repo:
            return
        argv = ["apt-get", "-qq", "-o", f"Dir::Etc::SourceList={m}/etc/apt/sources.list",
                "-o", f"Dir::Etc::SourceParts={m}/etc/apt/sources.list.d",
                "-o", f"Dir::State::Lists={lists}", "-o", "Dir::Cache::pkgcache=",
                "-o", "Dir::Cache::srcpkgcache=", "-o", "APT::Sandbox::User=root",
                "-o", "Debug::NoLocking=1", "-o", "APT::Update::Post-Invoke::=",
                "-o", "APT::Update::Post-Invoke-Success::=", "update"]
        # Without the machine's apt.conf.d (read before any -o), whose image tweaks such as
        # Acquire::GzipIndexes would store the lists unlike apt on a fresh server does.
        with tempfile.TemporaryDirectory() as parts:
            conf = Path(parts) / "apt.conf"
            conf.write_text(f'Dir::Etc::Parts "{parts}/none";\n')
            (Path(parts) / "none").mkdir()
            res = subprocess.run(argv, capture_output=True, timeout=60,
                                 env=dict(os.environ, APT_CONFIG=str(conf)))
        if res.returncode:
            raise BedError(f"apt-get update for the template failed: "
                           f"{res.stderr.decode(errors='replace').strip()}")

    # ---- systemd hosts
    def _ensure_systemd(self) -> None:
        """The bed's cgroup and the systemd hosts' template, made with the first such host."""
        if not self.state.get("cgroup"):
            cg = _cgroup2_root() / CGROUP_GROUP / self.bed_id
            self.state["cgroup"] = str(cg)
            self._save()  # recorded first, so a crash below is still cleaned up
            for attempt in range(5):
                try:
                    cg.mkdir(parents=True, exist_ok=True)
                    break
                except FileNotFoundError:
                    # the last other bed's teardown took the common parent between our two
                    # mkdirs: make both again
                    if attempt == 4:
                        raise BedError(f"cannot make the bed's cgroup {cg}") from None
                except OSError as exc:
                    raise BedError(f"cannot make the bed's cgroup {cg}: {exc}") from exc
        if not self.systemd_template.exists():
            tmp = self.fs_dir / "template-systemd.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            _run(["cp", "-a", str(self.template), str(tmp)])
            _systemd_template(tmp)
            tmp.rename(self.systemd_template)

    # ---- hosts
    def add_hosts(self, n: int, systemd: bool = False) -> list[Host]:
        """Start `n` more hosts (in parallel) and wait until each accepts SSH.

        systemd: hosts that boot systemd (see the package docstring), ready once their boot
        has finished."""
        first = len(self.hosts) + 1
        if first + n - 1 > MAX_HOSTS:
            raise BedError(f"a bed holds at most {MAX_HOSTS} hosts")
        if systemd:
            self._ensure_systemd()
        new = [Host(self, i, systemd=systemd) for i in range(first, first + n)]
        for h in new:
            if systemd:
                h.cgroup = Path(self.state["cgroup"]) / h.name
        self.hosts.extend(new)
        self._save()  # record names first, so a crash below is still cleaned up
        for h in new:
            if h.cgroup is not None:
                h.cgroup.mkdir(exist_ok=True)
        _ip_batch([f"netns add {h.netns}" for h in new]
                  + [f"link add {h.veth} type veth peer name eth0 netns {h.netns}" for h in new])
        for h in new:
            Path(f"/proc/sys/net/ipv4/conf/{h.veth}/forwarding").write_text("1")
            with contextlib.suppress(OSError):
                Path(f"/proc/sys/net/ipv6/conf/{h.veth}/disable_ipv6").write_text("1")
        lines = []
        for h in new:
            lines += [f"addr add {self.gateway}/32 dev {h.veth}", f"link set {h.veth} up",
                      f"route replace {h.address}/32 dev {h.veth} src {self.gateway}"]
        _ip_batch(lines)
        procs = [subprocess.Popen(["ip", "-n", h.netns, "-b", "-"], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for h in new]
        for h, p in zip(new, procs, strict=True):
            _, err = p.communicate("\n".join(_inside_net_lines(h)).encode() + b"\n")
            if p.returncode:
                raise BedError(f"network set-up of {h.name} failed: {err.decode()}")
        self._write_known_hosts()
        self._boot(new)
        return new

    def _write_known_hosts(self) -> None:
        key = " ".join(self.host_key.with_suffix(".pub").read_text().split()[:2])
        self.known_hosts.write_text("".join(f"{h.address} {key}\n" for h in self.hosts))

    def _fresh_upper(self, hosts: Sequence[Host]) -> None:
        for h in hosts:
            if h.dir.exists():
                shutil.rmtree(h.dir)
            h.dir.mkdir()
            for d in ("work", "root"):
                (h.dir / d).mkdir()
        procs = [subprocess.Popen(["cp", "-a", str(self.systemd_template if h.systemd
                                                   else self.template), str(h.dir / "upper")],
                                  stderr=subprocess.PIPE) for h in hosts]
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                raise BedError(f"copying the template failed: {err.decode()}")
        for h in hosts:
            up = h.dir / "upper"
            _write(up / "etc/hostname", h.hostname + "\n")
            _write(up / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
            _write(up / "etc/hosts", f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
                   f"ip6-loopback\n{h.address}\t{h.hostname} {h.name}\n")

    def _boot(self, hosts: Sequence[Host]) -> None:
        self._fresh_upper(hosts)
        for h in hosts:
            cfg = {"netns": f"/run/netns/{h.netns}", "root": str(h.dir / "root"),
                   "upper": str(h.dir / "upper"), "work": str(h.dir / "work"),
                   "hostname": h.hostname, "sshd": True}
            script = HOSTINIT
            if h.systemd:
                script = SYSTEMDINIT
                cfg.update(cgroup=str(h.cgroup), status=str(h.status_file),
                           boot_id=str(h.dir / "boot_id"), container="pullinfra-testbed")
            log = open(h.dir / "init.log", "wb")  # noqa: SIM115 - handed to the child
            h._proc = subprocess.Popen([sys.executable, "-S", "-I", str(script),
                                        json.dumps(cfg)], stdout=subprocess.PIPE, stderr=log,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
        for h in hosts:
            assert h._proc is not None and h._proc.stdout is not None
            line = h._proc.stdout.readline()
            h._proc.stdout.close()
            if not line.strip().isdigit():
                h._proc.wait()
                raise BedError(f"host {h.name} failed to start{self._host_log(h)}")
            h.init_pid = int(line)
            h.init_start = _proc_start(h.init_pid)[0]
            h.parent_pid = h._proc.pid
            h.parent_start = _proc_start(h._proc.pid)[0]
        self._save()
        self._wait_ready(hosts)

    def _host_log(self, h: Host) -> str:
        parts = []
        for name in ("init.log",):
            with contextlib.suppress(OSError):
                text = (h.dir / name).read_text(errors="replace").strip()
                if text:
                    parts.append(f"{name}: {text[-2000:]}")
        with contextlib.suppress(Exception):
            text = (h.read_text("/run/sshd.log") or "").strip()
            if text:
                parts.append(f"sshd.log: {text[-2000:]}")
        if h.systemd:
            with contextlib.suppress(Exception):
                text = h.run(["journalctl", "-b", "-q", "--no-pager", "-n", "30"],
                             timeout=10).stdout.strip()
                if text:
                    parts.append(f"journal: {text[-3000:]}")
        return ("\n" + "\n".join(parts)) if parts else ""

    def _wait_ready(self, hosts: Sequence[Host], timeout: float = 30) -> None:
        booting = [h for h in hosts if h.systemd]
        if booting:
            with concurrent.futures.ThreadPoolExecutor(len(booting)) as pool:
                for future in [pool.submit(h.wait_booted, 0, 60) for h in booting]:
                    future.result()
        pending = [h for h in hosts if not h.systemd]
        deadline = time.monotonic() + timeout
        while pending:
            for h in list(pending):
                if h.ssh_ready(timeout=1):
                    pending.remove(h)
                elif h._proc is not None and h._proc.poll() is not None:
                    raise BedError(f"host {h.name} died while starting{self._host_log(h)}")
            if pending:
                if time.monotonic() > deadline:
                    names = ", ".join(h.name for h in pending)
                    raise BedError(f"hosts not accepting SSH after {timeout}s: {names}"
                                   f"{self._host_log(pending[0])}")
                time.sleep(0.01)

    def _stop(self, hosts: Sequence[Host]) -> None:
        for h in hosts:
            if h.systemd and _alive(h.parent_pid, h.parent_start):
                # the supervisor must not boot it again (it kills a PID 1 it is starting)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(h.parent_pid, signal.SIGTERM)
            if _alive(h.init_pid, h.init_start):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(h.init_pid, signal.SIGKILL)
        for h in hosts:
            if h._proc is not None:
                h._proc.wait(timeout=10)
                h._proc = None
            else:
                deadline = time.monotonic() + 10
                while (_alive(h.init_pid, h.init_start) or _alive(h.parent_pid, h.parent_start)) \
                        and time.monotonic() < deadline:
                    time.sleep(0.01)
            h.init_pid = h.init_start = h.parent_pid = h.parent_start = None
            h._boot = 0
            if h.cgroup is not None:
                _kill_cgroup(h.cgroup)
                _remove_cgroup(h.cgroup, keep_top=True)  # what systemd made in it

    def reset(self, hosts: Sequence[Host] | None = None) -> None:
        """Make hosts pristine: fresh upper dir from the template, fresh /run and /tmp, sshd
        running, link up. Takes ~0.1 s per host, done in parallel."""
        hosts = list(self.hosts if hosts is None else hosts)
        if not hosts:
            return
        self._stop(hosts)
        _ip_batch([f"link set {h.veth} up" for h in hosts]
                  + [f"route replace {h.address}/32 dev {h.veth} src {self.gateway}"
                     for h in hosts])
        for h in hosts:
            _ip_batch(_inside_net_lines(h), netns=h.netns)
        self._boot(hosts)

    def hosts_of(self, systemd: bool = False) -> list[Host]:
        """The plain hosts, or the systemd hosts, in order."""
        return [h for h in self.hosts if h.systemd == systemd]

    def ensure_hosts(self, n: int, systemd: bool = False) -> list[Host]:
        have = self.hosts_of(systemd)
        if len(have) < n:
            self.add_hosts(n - len(have), systemd=systemd)
        return self.hosts_of(systemd)[:n]

    def pristine_hosts(self, n: int, skip: int = 0, systemd: bool = False) -> list[Host]:
        """Hosts skip+1 .. skip+n of a kind, started if missing, reset if handed out before."""
        hosts = self.ensure_hosts(skip + n, systemd=systemd)[skip:]
        self.reset([h for h in hosts if h.index in self._used])
        self._used.update(h.index for h in hosts)
        return hosts

    # ---- inventories
    def inventory(self, hosts: Mapping[str, Host] | Sequence[Host] | None = None,
                  groups: Mapping[str, Sequence[str]] | None = None) -> str:
        """Source of a pyinfra inventory .py for these hosts.

        hosts: {inventory name: Host} or a list of hosts (named by Host.name); default all.
        groups: {group name: [inventory names]}; each becomes a module-level list.
        """
        if hosts is None:
            hosts = self.hosts
        named = dict(hosts) if isinstance(hosts, Mapping) else {h.name: h for h in hosts}
        lines = [f"# pyinfra inventory for test bed {self.bed_id}", ""]
        grouped = set()
        for group, names in (groups or {}).items():
            lines.append(f"{group} = [")
            for name in names:
                lines.append(f"    ({name!r}, {named[name].ssh_data!r}),")
                grouped.add(name)
            lines += ["]", ""]
        rest = [n for n in named if n not in grouped]
        if rest or not groups:
            lines.append("hosts = [")
            for name in rest:
                lines.append(f"    ({name!r}, {named[name].ssh_data!r}),")
            lines += ["]", ""]
        return "\n".join(lines)

    def write_inventory(self, path: str | os.PathLike, hosts=None, groups=None) -> Path:
        path = Path(path)
        path.write_text(self.inventory(hosts, groups))
        return path

    # ---- teardown
    def down(self) -> None:
        """Kill the bed's processes and remove its namespaces, links, mounts and state."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.down)
        state = dict(self.state)
        state["hosts"] = [h._record() for h in self.hosts]
        teardown_state(state)
        for h in self.hosts:
            if h._proc is not None:
                with contextlib.suppress(Exception):
                    h._proc.wait(timeout=10)

    def __enter__(self) -> Bed:
        return self

    def __exit__(self, *exc) -> None:
        self.down()


def _add_user(m: Path, name: str) -> tuple[int, int]:
    passwd = (m / "etc/passwd").read_text()
    for line in passwd.splitlines():
        f = line.split(":")
        if f[0] == name:
            return int(f[2]), int(f[3])
    group = (m / "etc/group").read_text()
    used_uids = {int(line.split(":")[2]) for line in passwd.splitlines() if line.count(":") >= 6}
    used_gids = {int(line.split(":")[2]) for line in group.splitlines() if line.count(":") >= 3}
    uid = next(i for i in range(1990, 60000) if i not in used_uids and i not in used_gids)
    gid = uid

    def append(rel: str, line: str, mode: int | None = None) -> None:
        p = m / rel
        text = p.read_text() if p.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        st = p.stat() if p.exists() else None
        p.write_text(text + line + "\n")
        if st is not None:
            os.chown(p, st.st_uid, st.st_gid)
            os.chmod(p, st.st_mode & 0o7777)
        elif mode is not None:
            os.chmod(p, mode)

    append("etc/passwd", f"{name}:x:{uid}:{gid}:pullinfra test bed:/home/{name}:/bin/bash")
    append("etc/shadow", f"{name}:*:19000:0:99999:7:::", 0o640)
    append("etc/group", f"{name}:x:{gid}:")
    append("etc/gshadow", f"{name}:!::", 0o640)
    return uid, gid


SSHD_CONFIG = """\
# pullinfra test bed sshd
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 200:30:400
MaxSessions 100
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
"""

PLAIN_BASHRC = """\
# ~/.bashrc of a pullinfra test bed host: plain on purpose (no pyenv, nothing slow).
case $- in
    *i*) ;;
      *) return;;
esac
PS1='\\u@\\h:\\w\\$ '
"""
