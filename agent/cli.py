"""`pullinfra` command line. apply/plan live here; other subcommands plug in by module.

A module listed in COMMAND_MODULES that exists must define `register(subparsers)`, adding
its subparsers with `set_defaults(handler=fn)` where `fn(args) -> int` is the exit code.
Registering must stay cheap (no heavy imports): it runs for every command, `--version` too.
The engine (paramiko, jinja2) is likewise imported only when apply/plan runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence

from agent import __version__
from agent.vocab import Mode

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES_PENDING = 0, 1, 2, 3
COMMAND_MODULES = ("agent.daemon.cli", "agent.preview.cli")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 0 and 100")
    return value


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inventory", metavar="INVENTORY", help="inventory .py file")
    parser.add_argument("deploy", metavar="DEPLOY", nargs="+", help="deploy .py files, in order")
    parser.add_argument(
        "--limit", action="append", metavar="HOST|GROUP",
        help="only these hosts or groups (repeat, or separate with commas)",
    )
    parser.add_argument(
        "--data", action="append", metavar="KEY=VALUE", default=[],
        help="override host data: key=value is a string, key:=JSON a JSON value (repeatable)",
    )
    parser.add_argument(
        "--parallel", type=_positive_int, metavar="N", help="hosts at once (default: all, max 50)"
    )
    parser.add_argument(
        "--fail-percent", type=_percent, metavar="P",
        help="stop the run when more than P%% of hosts have failed",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the ChangeReport as JSON on stdout"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pullinfra", description="GitOps pull agent for pyinfra-style deploys"
    )
    parser.add_argument("--version", action="version", version=f"pullinfra {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    apply = subparsers.add_parser("apply", help="run deploy files against an inventory")
    _add_run_arguments(apply)
    apply.set_defaults(handler=lambda args: run_command(args, Mode.APPLY))

    plan = subparsers.add_parser("plan", help="dry run: show what would change, with diffs")
    _add_run_arguments(plan)
    plan.add_argument(
        "--detailed-exitcode", action="store_true",
        help="exit 3 when changes are pending (0 none, 1 failure, 2 bad input)",
    )
    plan.set_defaults(handler=lambda args: run_command(args, Mode.PLAN))

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    return parser


def run_command(args: argparse.Namespace, mode: Mode) -> int:
    from agent.compat import run_deploy
    from agent.engine.errors import UserError
    from agent.engine.inventory import parse_data_override
    from agent.engine.run import RunOptions
    from agent.render import ConsoleRenderer

    renderer = ConsoleRenderer(sys.stderr, mode=mode)
    try:
        data = dict(parse_data_override(item) for item in args.data)
        options = RunOptions(
            mode=mode,
            parallel=args.parallel,
            fail_percent=args.fail_percent,
            data=data,
            limit=args.limit,
        )
        result = run_deploy(args.inventory, args.deploy, options, renderer)
    except UserError as exc:
        renderer.error(exc)
        return EXIT_USAGE
    renderer.results(result)
    if args.json:
        from agent.report.build import Provenance, from_result

        report = from_result(result, Provenance(run_id=result.run_id))
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    if result.has_failures:
        return EXIT_FAILED
    if mode == Mode.PLAN and getattr(args, "detailed_exitcode", False) and result.has_changes:
        return EXIT_CHANGES_PENDING
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    # paramiko logs transport errors from its own threads; the engine already reports them
    # as host results, so keep them off the console (Python's last-resort handler).
    logging.getLogger("paramiko").addHandler(logging.NullHandler())
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        sys.stderr.write("--> Interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
