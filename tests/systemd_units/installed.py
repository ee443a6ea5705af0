"""pullinfra installed on a systemd bed host the way an operator installs it: a venv of
Debian's python3 at /opt/pullinfra holding the runtime lock and the wheel, then
`pullinfra install-systemd`. Bed hosts cannot use this machine's venvs (their interpreter
lives under /root, which bed hosts do not see)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.installed.venvs import RUNTIME_LOCK, build_wheel
from tests.polling import wait_for

VENV = "/opt/pullinfra"
WHEELS = "/var/tmp/pullinfra-wheels"


def wheelhouse(dest: Path) -> Path:
    """The runtime lock's wheels (hashes checked) and pullinfra's own, in one folder."""
    dest.mkdir(parents=True, exist_ok=True)
    build_wheel(dest / "build")
    for wheel in (dest / "build").glob("pullinfra-*.whl"):
        wheel.rename(dest / wheel.name)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--require-hashes", "-r", str(RUNTIME_LOCK),
                    "-d", str(dest)], check=True, capture_output=True, timeout=600)
    return dest


def install_pullinfra(host, wheels: Path) -> str:
    """A venv at /opt/pullinfra on the host, from `wheels`; the path of its pullinfra."""
    host.run(["mkdir", "-p", WHEELS], check=True)
    for wheel in wheels.glob("*.whl"):
        host.write_file(f"{WHEELS}/{wheel.name}", wheel.read_bytes())
    host.run(["/usr/bin/python3", "-m", "venv", VENV], check=True)
    done = host.run(f"{VENV}/bin/pip install -q --no-index --no-deps {WHEELS}/*.whl",
                    timeout=300)
    assert done.returncode == 0, done.stderr
    return f"{VENV}/bin/pullinfra"


def install_systemd(host, *args: str) -> subprocess.CompletedProcess:
    return host.run([f"{VENV}/bin/pullinfra", "install-systemd", *args], timeout=180)


def unit_property(host, unit: str, name: str) -> str:
    return host.run(["systemctl", "show", "-p", name, "--value", unit],
                    check=True).stdout.strip()


def main_pid(host, unit: str) -> int:
    return int(unit_property(host, unit, "MainPID"))


def wait_status(host, unit: str, text: str, timeout: float = 60) -> str:
    return wait_for(lambda: text in (s := unit_property(host, unit, "StatusText")) and s,
                    timeout, f"{unit}'s status to show {text!r}",
                    describe=lambda: journal(host, unit))


def journal(host, unit: str) -> str:
    return host.run(["journalctl", "-u", unit, "--no-pager", "-n", "60", "-o", "cat"]).stdout


def http_get(host, port: int, path: str) -> tuple[int, str]:
    """GET on the host's loopback from inside the host (the agent listens there)."""
    done = host.run(["/usr/bin/python3", "-c",
                     "import sys, urllib.request, urllib.error\n"
                     f"try: r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', "
                     "timeout=5); print(r.status); print(r.read().decode())\n"
                     "except urllib.error.HTTPError as e: print(e.code); print(e.read().decode())"])
    code, _, body = done.stdout.partition("\n")
    return int(code or 0), body


