"""`pullinfra install-systemd`: put the shipped units, a config and the command where the
units expect them, then enable the unit (docs/operator-guide.md).

Everything is checked before anything is written: a config that does not load, a unit that
could not run this pullinfra, or a foreign /usr/local/bin/pullinfra stop the install with
nothing changed. An existing config is never overwritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMAND = Path("/usr/local/bin/pullinfra")
"""Where every shipped unit's ExecStart looks for pullinfra."""
CONFIG = Path("/etc/pullinfra/config.toml")
UNIT_DIR = Path("/etc/systemd/system")
SYSUSERS = Path("/etc/sysusers.d/pullinfra.conf")
SERVICE_USER = "pullinfra"


@dataclass(frozen=True)
class Mode:
    """One way to run pullinfra under systemd: its unit files and the one to enable."""

    name: str
    units: tuple[str, ...]
    enable: str
    deployment: str
    hides_home: bool
    """The unit runs with ProtectHome=yes, so pullinfra must live outside /root and /home."""
    system_user: bool


MODES = {mode.name: mode for mode in (
    Mode("local", ("pullinfra-local.service",), "pullinfra-local.service", "local",
         hides_home=False, system_user=False),
    Mode("central", ("pullinfra.service",), "pullinfra.service", "fleet",
         hides_home=True, system_user=True),
    Mode("once", ("pullinfra-once.service", "pullinfra-once.timer"), "pullinfra-once.timer",
         "local", hides_home=False, system_user=False),
)}


class InstallError(Exception):
    """A reason to install nothing, worded as what to do about it."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "install-systemd", help="install and start a systemd unit for this pullinfra",
        description="Install a shipped systemd unit, /usr/local/bin/pullinfra and (unless one "
                    "exists) /etc/pullinfra/config.toml, then enable and start the unit.")
    parser.add_argument("--mode", choices=sorted(MODES), default="local",
                        help="local: a daemon applying the repository to this machine (as "
                             "root); central: a daemon reaching a fleet over SSH (as the "
                             "pullinfra user); once: a timer running one pass every 15 minutes "
                             "(default: local)")
    parser.add_argument("--repo", metavar="URL",
                        help="the git repository to follow; needed when no config exists yet")
    parser.add_argument("--ref", default="main", help="branch, tag or commit (default: main)")
    parser.add_argument("--inventory", default="inventory.py",
                        help="inventory file in the repository (default: inventory.py)")
    parser.add_argument("--deploy", action="append", metavar="FILE",
                        help="deploy file in the repository; repeat for more "
                             "(default: deploy.py)")
    parser.add_argument("--poll-interval", default="60s",
                        help="how often to fetch the repository (default: 60s)")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="install into this root file system (an image being built) "
                             "instead of /; implies --no-start")
    parser.add_argument("--no-start", action="store_true",
                        help="install only; do not run systemctl")
    parser.add_argument("--force", action="store_true",
                        help="replace a /usr/local/bin/pullinfra that is another program")
    parser.set_defaults(handler=cmd_install_systemd)


def cmd_install_systemd(args: argparse.Namespace) -> int:
    mode = MODES[args.mode]
    root = Path(args.root)
    start = not args.no_start and root == Path("/")
    try:
        command = _this_pullinfra(mode)
        config_text = _config_to_write(args, mode, root)
        _check_command_slot(root, command, args.force)
    except InstallError as exc:
        _say(f"error: {exc}")
        _say("nothing was installed")
        return EXIT_USAGE
    _install_files(root, mode, command, config_text)
    if not start:
        _say(f"installed; start it with: systemctl daemon-reload && "
             f"systemctl enable --now {mode.enable}")
        return EXIT_OK
    try:
        _enable(mode)
    except InstallError as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    _say(f"{mode.enable} is enabled and started; follow it with `systemctl status "
         f"{mode.enable}` and `journalctl -u {mode.units[0]} -f`")
    return EXIT_OK


def _this_pullinfra(mode: Mode) -> Path:
    """The pullinfra command of the interpreter running now, which the units will run."""
    command = Path(sys.executable).with_name("pullinfra")
    if not command.is_file():
        found = shutil.which("pullinfra")
        if found is None:
            raise InstallError("cannot find the pullinfra command of this installation")
        command = Path(found)
    command = command.absolute()
    if mode.hides_home:
        for needed in (command.resolve(), Path(sys.executable).resolve(), Path(sys.prefix)):
            if needed.is_relative_to("/root") or needed.is_relative_to("/home"):
                raise InstallError(
                    f"{mode.enable} runs with ProtectHome=yes, so it cannot run {needed}; "
                    "install pullinfra outside /root and /home, e.g. `python3 -m venv "
                    "/opt/pullinfra && /opt/pullinfra/bin/pip install ...`, and run that "
                    "one's `pullinfra install-systemd`")
    return command


def _config_to_write(args: argparse.Namespace, mode: Mode, root: Path) -> str | None:
    """The config to write, or None to keep the one there; either way it must load."""
    target = _under(root, CONFIG)
    if target.exists():
        if args.repo:
            _say(f"keeping the existing {CONFIG} (--repo is ignored; edit the file instead)")
        _validate(target)
        return None
    if not args.repo:
        raise InstallError(f"{CONFIG} does not exist; pass --repo URL to write one, or write "
                           "it yourself (config.example.toml documents every key)")
    text = _render_config(args, mode)
    with tempfile.TemporaryDirectory() as tmp:
        draft = Path(tmp) / "config.toml"
        draft.write_text(text)
        _validate(draft, shown=CONFIG)
    return text


def _validate(path: Path, shown: Path | None = None) -> None:
    # Imported here: agent/cli.py registers this command at every start, and the config
    # models (pydantic) would slow down `pullinfra apply` and `plan`, which never use them.
    from agent.config import ConfigError, load_config

    try:
        load_config(path, env=None)
    except ConfigError as exc:
        message = exc.message.replace(str(path), str(shown)) if shown else exc.message
        raise InstallError(message) from None


def _render_config(args: argparse.Namespace, mode: Mode) -> str:
    deploys = args.deploy or ["deploy.py"]
    return "\n".join([
        f"# Written by `pullinfra install-systemd --mode {mode.name}`. Every key, with its",
        "# default, is in config.example.toml and docs/config-reference.md.",
        "",
        "[source]",
        f"url = {_toml(args.repo)}",
        f"ref = {_toml(args.ref)}",
        f"poll_interval = {_toml(args.poll_interval)}",
        "",
        "[[deployment]]",
        f"name = {_toml(mode.deployment)}",
        f"inventory = {_toml(args.inventory)}",
        f"deploys = [{', '.join(_toml(d) for d in deploys)}]",
        "",
        "# Re-apply the applied commit every 15 minutes to correct drift.",
        "[reconcile]",
        'interval = "15m"',
        'mode = "apply"',
        "",
    ])


def _toml(value: str) -> str:
    """A TOML basic string: JSON's string escapes are valid TOML ones."""
    return json.dumps(value)


def _check_command_slot(root: Path, command: Path, force: bool) -> None:
    slot = _under(root, COMMAND)
    if not (slot.exists() or slot.is_symlink()) or force:
        return
    if slot.resolve() != command.resolve():
        raise InstallError(f"{COMMAND} is already another program ({slot.resolve()}); "
                           "remove it, or pass --force to replace it with a link to "
                           f"{command}")


def _install_files(root: Path, mode: Mode, command: Path, config_text: str | None) -> None:
    slot = _under(root, COMMAND)
    if not (slot.is_symlink() and slot.resolve() == command.resolve()):
        slot.parent.mkdir(parents=True, exist_ok=True)
        slot.unlink(missing_ok=True)
        slot.symlink_to(command)
        _say(f"linked {COMMAND} -> {command}")
    for unit in mode.units:
        target = _under(root, UNIT_DIR / unit)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_shipped(unit))
        target.chmod(0o644)
        _say(f"installed {UNIT_DIR / unit}")
    group = None
    if mode.system_user:
        sysusers = _under(root, SYSUSERS)
        sysusers.parent.mkdir(parents=True, exist_ok=True)
        sysusers.write_bytes(_shipped("pullinfra.sysusers"))
        _say(f"installed {SYSUSERS}")
        if root == Path("/"):
            _run(["systemd-sysusers", str(SYSUSERS)])
            group = SERVICE_USER
        else:
            _say(f"the {SERVICE_USER} user is made at that system's boot (systemd-sysusers); "
                 f"then run `chgrp -R {SERVICE_USER} /etc/pullinfra` there so that it can "
                 "read its config")
    config = _under(root, CONFIG)
    config.parent.mkdir(parents=True, exist_ok=True)
    # The config may hold tokens: root only, or root and the service's group.
    config.parent.chmod(0o750 if group else 0o700)
    if group:
        shutil.chown(config.parent, group=group)
    if config_text is not None:
        config.write_text(config_text)
        _say(f"wrote {CONFIG}")
    config.chmod(0o640 if group else 0o600)
    if group:
        shutil.chown(config, group=group)


def _enable(mode: Mode) -> None:
    _run(["systemctl", "daemon-reload"])
    _say(f"starting {mode.enable} (systemctl returns once the agent is ready)")
    _run(["systemctl", "enable", "--now", mode.enable])


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"`{' '.join(argv)}` could not run: {exc}") from None
    if done.returncode != 0:
        raise InstallError(f"`{' '.join(argv)}` failed: {done.stderr.strip() or done.stdout}")


def _shipped(name: str) -> bytes:
    return resources.files("agent.daemon").joinpath("units", name).read_bytes()


def _under(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def _say(message: str) -> None:
    sys.stderr.write(f"pullinfra install-systemd: {message}\n")
    sys.stderr.flush()


__all__ = ["MODES", "cmd_install_systemd", "register"]
