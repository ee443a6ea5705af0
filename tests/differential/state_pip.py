"""State readers and set-up for the pip family's differential cases: virtualenvs and what
their pip has installed, read inside the bed host, never over SSH."""

from __future__ import annotations

from collections.abc import Iterable

from tests.ops.wheels import wheel_bytes, wheel_name
from tests.testbed import Host

WHEEL_DIR = "/srv/wheels"
WHEELS = [("pullinfra-demo", "1.0"), ("pullinfra-demo", "2.0"), ("pullinfra_other", "0.1")]
FIND_LINKS = f"--no-index --find-links {WHEEL_DIR}"


def write_wheels(host: Host) -> None:
    """The local wheel directory pip installs from (bed hosts have no index to reach)."""
    host.run(["mkdir", "-p", WHEEL_DIR], check=True)
    for name, version in WHEELS:
        host.write_file(f"{WHEEL_DIR}/{wheel_name(name, version)}", wheel_bytes(name, version))


def make_venv(host: Host, path: str, packages: Iterable[str] = ()) -> None:
    host.run(["python3", "-m", "venv", path], check=True)
    if packages:
        host.run([f"{path}/bin/pip", "install", "-q", *FIND_LINKS.split(), *packages],
                 check=True)


def venvs(host: Host, paths: Iterable[str]) -> dict[str, dict | None]:
    """Per path: None when there is no virtualenv (no bin/activate), else its pyvenv.cfg as a
    dict and its `pip freeze --all` lines."""
    found: dict[str, dict | None] = {}
    for path in paths:
        if not host.exists(f"{path}/bin/activate"):
            found[path] = None
            continue
        cfg = {}
        for line in (host.read_text(f"{path}/pyvenv.cfg") or "").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                cfg[key.strip()] = value.strip()
        freeze = host.run([f"{path}/bin/pip", "freeze", "--all"], check=True).stdout
        found[path] = {"pyvenv.cfg": cfg, "freeze": sorted(freeze.split())}
    return found
