"""The benchmark's workload: where it lives, what a host holds after it, and the checks.

The work itself is bench/site/: deploy.py (pyinfra and pullinfra run it unchanged) and
playbook.yml (the same tasks for Ansible), with their files/ and templates/. This module is
the third, independent description of it: what every host must hold after a run, read
straight from the hosts' filesystems (openat2 in the host's root, nsenter for systemctl),
never through SSH or any of the tools. A run that leaves one host wrong invalidates the
benchmark, so a tool can never be fast by doing less.

The workload needs real systemd (a unit started, enabled and reloaded), so the hosts are
the bed's systemd hosts (bench/README.md says why and what that costs).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.testbed import Host

SITE = Path(__file__).resolve().parent / "site"
BASE = "/srv/bench"
DIRS = (BASE, f"{BASE}/conf", f"{BASE}/data", f"{BASE}/logs")
PAYLOADS = tuple(f"payload{i}.txt" for i in range(4))
SETTINGS = ("workers=4", "log_level=info", "cache_mb=64", "listen=0.0.0.0")
APP_CONF = f"{BASE}/conf/app.conf"
ENV_FILE = "/etc/default/bench-app"
SETTINGS_FILE = f"{BASE}/conf/settings.ini"
UNIT = "bench-app.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
WEB_PAGE = f"{BASE}/data/index.html"
DB_DIR = f"{BASE}/db"
RELOADS_LOG = f"{BASE}/logs/reloads.log"
USER = "benchapp"
PACKAGE = ("pullinfra-dummy-extra", "1.0")
OPERATIONS = 21  # per host, as deploy.py and playbook.yml have them
DRIFT_FRACTION = 0.1
DRIFT_LINE = b"# edited by hand\n"

# The floor's one command per host: every piece of state the workload's operations read.
STATE_COMMAND = " ; ".join([
    "stat -c '%n %F %a %U %G %s' " + " ".join([*DIRS, DB_DIR]) + " 2>&1",
    "sha1sum " + " ".join([*(f"{BASE}/data/{p}" for p in PAYLOADS), APP_CONF, ENV_FILE,
                           SETTINGS_FILE, UNIT_FILE, WEB_PAGE]) + " 2>&1",
    "stat -c '%n %a %U %G' " + " ".join([*(f"{BASE}/data/{p}" for p in PAYLOADS), APP_CONF,
                                         ENV_FILE, UNIT_FILE, WEB_PAGE]) + " 2>&1",
    f"grep -c . {SETTINGS_FILE} 2>&1",
    f"getent passwd {USER}",
    f"dpkg-query -W -f='${{Status}} ${{Version}}\\n' {PACKAGE[0]} 2>&1",
    f"systemctl is-enabled {UNIT}",
    f"systemctl is-active {UNIT}",
    "true",
])


class StateError(RuntimeError):
    """A host does not hold what the workload describes; the message lists what differs."""


def role(host: Host) -> str:
    """web for odd-numbered hosts, db for even ones: the conditional op's groups."""
    return "web" if host.index % 2 else "db"


def groups(hosts: Sequence[Host]) -> dict[str, list[str]]:
    """The inventory groups (names are Host.name), the same for every tool."""
    return {g: [h.name for h in hosts if role(h) == g] for g in ("web", "db")}


def copy_site(dest: Path) -> Path:
    """A private copy of bench/site, so tools write nothing into the checkout."""
    shutil.copytree(SITE, dest)
    return dest


def site_files(site: Path) -> dict[str, str]:
    """Every file of a site directory by relative path (what the daemon's repository holds)."""
    return {str(p.relative_to(site)): p.read_text() for p in sorted(site.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def app_conf(node: str) -> bytes:
    """templates/app.conf.j2 rendered by hand, independently of every tool's Jinja2."""
    workers = "".join(f"worker {w} = {8080 + w}\n" for w in range(3))
    return f"# bench app on {node}, managed by the benchmark\nlisten = 8080\n{workers}".encode()


def env_file(host: Host) -> bytes:
    return f"NODE={host.name}\nROLE={role(host)}\n".encode()


@dataclass(frozen=True)
class Expected:
    """What a host holds after a run of the site in `site` (its files are read once)."""

    site: Path

    def puts(self, host: Host) -> dict[str, tuple[bytes, int]]:
        """Managed files: path -> (exact content, mode)."""
        files = {f"{BASE}/data/{p}": ((self.site / "files" / p).read_bytes(), 0o644)
                 for p in PAYLOADS}
        files[APP_CONF] = (app_conf(host.name), 0o640)
        files[ENV_FILE] = (env_file(host), 0o644)
        files[UNIT_FILE] = ((self.site / "files" / UNIT).read_bytes(), 0o644)
        if role(host) == "web":
            files[WEB_PAGE] = ((self.site / "files" / "index.html").read_bytes(), 0o644)
        return files


def _check_host(host: Host, want: Expected, reloads: int) -> list[str]:
    problems = []
    for path in DIRS:
        st = host.stat(path)
        if st is None or (st.st_mode & 0o777) != 0o755:
            problems.append(f"directory {path} missing or not 755")
    for path, (content, mode) in want.puts(host).items():
        st = host.stat(path)
        if st is None:
            problems.append(f"{path} missing")
        elif host.read_file(path) != content:
            problems.append(f"{path} content differs: {host.read_file(path)[:200]!r}")
        elif (st.st_mode & 0o777) != mode:
            problems.append(f"{path} mode {st.st_mode & 0o777:o}, want {mode:o}")
    db = host.stat(DB_DIR)
    if role(host) == "db" and (db is None or (db.st_mode & 0o777) != 0o700):
        problems.append(f"{DB_DIR} missing or not 700 on a db host")
    if role(host) == "web" and db is not None:
        problems.append(f"{DB_DIR} exists on a web host")
    if role(host) == "db" and host.exists(WEB_PAGE):
        problems.append(f"{WEB_PAGE} exists on a db host")
    settings = (host.read_text(SETTINGS_FILE) or "").splitlines()
    if settings != list(SETTINGS):
        problems.append(f"{SETTINGS_FILE} holds {settings!r}")
    passwd = [line.split(":") for line in (host.read_text("/etc/passwd") or "").splitlines()]
    account = next((f for f in passwd if f[0] == USER), None)
    if account is None or account[5:] != ["/var/lib/benchapp", "/usr/sbin/nologin"] \
            or int(account[2]) >= 1000:
        problems.append(f"account {USER}: {account!r}")
    if host.package_version(PACKAGE[0]) != PACKAGE[1]:
        problems.append(f"package {PACKAGE[0]} is {host.package_version(PACKAGE[0])!r}")
    unit = host.run(f"systemctl is-enabled {UNIT}; systemctl is-active {UNIT}", timeout=30)
    if unit.stdout.split() != ["enabled", "active"]:
        problems.append(f"{UNIT} is {unit.stdout.split()!r} ({unit.stderr.strip()[:200]})")
    lines = (host.read_text(RELOADS_LOG) or "").splitlines()
    if len(lines) != reloads:
        problems.append(f"{RELOADS_LOG} has {len(lines)} reloads, want {reloads}")
    return [f"{host.name}: {p}" for p in problems]


def check(hosts: Sequence[Host], want: Expected, reloads: Mapping[str, int] | int = 1) -> None:
    """Raise StateError unless every host holds the workload's state.

    reloads: how many times the _if-guarded reload ran on each host (by Host.name), or one
    number for all: 1 after the first apply, one more on each host whose app.conf was edited.
    """
    def want_reloads(h: Host) -> int:
        return reloads if isinstance(reloads, int) else reloads.get(h.name, 1)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda h: _check_host(h, want, want_reloads(h)), hosts)
        problems = [p for host_problems in found for p in host_problems]
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise StateError("host state is wrong:\n  " + "\n  ".join(problems[:20]) + more)


def snapshot(hosts: Sequence[Host], want: Expected) -> dict[str, dict[str, int]]:
    """mtime_ns of every managed file, to prove that a run rewrote only what it had to."""
    snap: dict[str, dict[str, int]] = {}
    for h in hosts:
        snap[h.name] = {}
        for path in [*want.puts(h), SETTINGS_FILE]:
            st = h.stat(path)
            snap[h.name][path] = st.st_mtime_ns if st else -1
    return snap


def rewritten(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]],
              allowed: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """'host: path' of every managed file whose mtime moved, except the allowed ones."""
    allowed = allowed or {}
    return [f"{host}: {path}" for host, files in after.items() for path, mtime in files.items()
            if mtime != before[host][path] and path not in allowed.get(host, ())]


def check_floor(outputs: Mapping[str, Mapping[str, object]], hosts: Sequence[Host],
                want: Expected) -> None:
    """Raise StateError unless the floor read the converged state on every host (each
    managed file's sha1, the unit enabled and active): proof that it read what it claims."""
    problems = []
    for h in hosts:
        text = str(outputs.get(h.name, {}).get("stdout", ""))
        lines = text.splitlines()
        missing = [path for path, (content, _) in want.puts(h).items()
                   if f"{hashlib.sha1(content).hexdigest()}  {path}" not in lines]
        if missing or "enabled" not in lines or "active" not in lines:
            problems.append(f"{h.name}: floor output lacks {missing or 'the unit state'}")
    if problems:
        raise StateError("the floor read something else:\n  " + "\n  ".join(problems[:20]))


def edit_by_hand(hosts: Sequence[Host], fraction: float = DRIFT_FRACTION) -> list[Host]:
    """Append a line to app.conf on `fraction` of the hosts (at least one): the drift that the
    third scenario corrects. Returns the hosts edited (every 10th host: h01, h11, ...)."""
    step = max(1, round(1 / fraction))
    edited = list(hosts[::step])
    for h in edited:
        h.write_file(APP_CONF, app_conf(h.name) + DRIFT_LINE, mode=0o640)
    return edited
