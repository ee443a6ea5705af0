"""`pullinfra agent | trigger | rollback | suspend | resume | history | show` (registered by
agent/cli.py).

Only the argument parsers live here. What the commands do is in agent/daemon/commands.py,
imported when one of them runs: it pulls in the config models (pydantic), the daemon
(apscheduler, prometheus_client) and git, which `pullinfra apply`, `plan` and `--version`
never use, so they start faster and smaller without them.
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable
from typing import Any

from agent.daemon import install

DEFAULT_CONFIG = "/etc/pullinfra/config.toml"
COMMANDS_MODULE = "agent.daemon.commands"


def _handler(name: str) -> Callable[[argparse.Namespace], int]:
    """The command `name` of COMMANDS_MODULE, imported only when it is called."""

    def run(args: argparse.Namespace) -> int:
        command: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(COMMANDS_MODULE), name
        )
        return command(args)

    return run


def register(subparsers: Any) -> None:
    agent = subparsers.add_parser("agent", help="the GitOps daemon: poll git, apply, reconcile")
    _config_arg(agent)
    agent.add_argument("--once", action="store_true",
                       help="fetch, run what needs running, deliver reports, exit "
                            "(state dir defaults to ./.pullinfra)")
    agent.set_defaults(handler=_handler("cmd_agent"))

    trigger = subparsers.add_parser("trigger", help="ask the running agent to fetch and run now")
    trigger.add_argument("deployment", metavar="DEPLOYMENT", nargs="?",
                         help="only this deployment (default: all)")
    trigger.add_argument("--override-window", action="store_true",
                         help="run DEPLOYMENT now even outside its sync windows (needs --reason)")
    trigger.add_argument("--reason", default="",
                         help="why the sync windows are overridden (recorded on the run)")
    _config_arg(trigger)
    trigger.set_defaults(handler=_handler("cmd_trigger"))

    rollback = subparsers.add_parser(
        "rollback", help="ask the running agent to apply the last good commit (or --to REV)")
    rollback.add_argument("deployment", metavar="DEPLOYMENT", help="the deployment")
    rollback.add_argument("--to", metavar="REV",
                          help="this commit (SHA) instead: on the branch, or applied before")
    _config_arg(rollback)
    rollback.set_defaults(handler=_handler("cmd_rollback"))

    for name, helptext in (("suspend", "stop runs of a deployment (persists across restarts)"),
                           ("resume", "let a suspended deployment run again")):
        parser = subparsers.add_parser(name, help=helptext)
        parser.add_argument("name", metavar="NAME", help="deployment name")
        _config_arg(parser)
        if name == "suspend":
            parser.add_argument("--reason", default="", help="why (kept in the state DB)")
        parser.set_defaults(handler=_handler(f"cmd_{name}"))

    history = subparsers.add_parser("history", help="list recorded runs, newest first")
    history.add_argument("--deployment", metavar="D", help="only this deployment")
    history.add_argument("--limit", type=int, default=50, metavar="N", help="at most N runs")
    history.add_argument("--json", action="store_true", help="JSON on stdout")
    _config_arg(history)
    history.set_defaults(handler=_handler("cmd_history"))

    show = subparsers.add_parser("show", help="one run: hosts, operations, diffs, errors")
    show.add_argument("run_id", metavar="RUN_ID", help="a run id from `pullinfra history`")
    show.add_argument("--json", action="store_true", help="the run's ChangeReport as JSON")
    _config_arg(show)
    show.set_defaults(handler=_handler("cmd_show"))

    install.register(subparsers)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE",
        default=os.environ.get("PULLINFRA_CONFIG") or DEFAULT_CONFIG,
        help=f"agent config (default: $PULLINFRA_CONFIG or {DEFAULT_CONFIG})",
    )
