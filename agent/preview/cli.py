"""`pullinfra preview --base REV --head REV`: plan a proposed commit against the live hosts
and say what it changes compared with the base (registered by agent/cli.py).

The repository is the one at --repo (default: the current directory; a work tree or a bare
clone). What to plan is either an agent config's deployment (--config, --deployment: its
inventory, deploys, data and limit) or INVENTORY DEPLOY... as for `plan`; the files are read
from each revision's own tree, never from the work tree. Plan mode only: nothing is changed.
Exit codes as `plan`'s: 0, 1 a host failed (or the head does not load), 2 bad input, and 3
with --detailed-exitcode when hosts would change.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES_PENDING = 0, 1, 2, 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "preview", help="plan a commit against live hosts and compare it with a base commit")
    parser.add_argument("--base", required=True, metavar="REV", help="the commit to compare with")
    parser.add_argument("--head", required=True, metavar="REV", help="the commit to preview")
    parser.add_argument("--repo", default=".", metavar="PATH",
                        help="the git repository holding both (default: the current directory)")
    parser.add_argument("--config", metavar="FILE",
                        help="plan this agent config's deployment instead of INVENTORY DEPLOY...")
    parser.add_argument("--deployment", metavar="NAME",
                        help="with --config: which deployment (default: [preview] deployment, "
                             "else the first)")
    parser.add_argument("files", nargs="*", metavar="INVENTORY DEPLOY",
                        help="inventory .py then deploy .py files, paths inside the repository")
    parser.add_argument("--limit", action="append", metavar="HOST|GROUP",
                        help="only these hosts or groups (repeat, or separate with commas)")
    parser.add_argument("--data", action="append", metavar="KEY=VALUE", default=[],
                        help="override host data, as for `plan`")
    parser.add_argument("--json", action="store_true", help="the preview as JSON on stdout")
    parser.add_argument("--detailed-exitcode", action="store_true",
                        help="exit 3 when hosts would change (0 none, 1 failure, 2 bad input)")
    parser.set_defaults(handler=cmd_preview)


def cmd_preview(args: argparse.Namespace) -> int:
    from agent.engine.errors import UserError
    from agent.preview import render
    from agent.source import SourceError

    try:
        target = _target(args)
        result = _run(args, target)
    except (UserError, SourceError, _Usage) as exc:
        sys.stderr.write(f"pullinfra preview: {exc}\n")
        return EXIT_USAGE
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render.console(result))
    if result.has_failures:
        return EXIT_FAILED
    if args.detailed_exitcode and result.has_changes:
        return EXIT_CHANGES_PENDING
    return EXIT_OK


class _Usage(Exception):
    pass


def _target(args: argparse.Namespace) -> Any:
    from agent.engine.inventory import parse_data_override
    from agent.preview.plan import Target

    data = dict(parse_data_override(item) for item in args.data)
    if args.config is None:
        if len(args.files) < 2:
            raise _Usage("give --config FILE, or INVENTORY and at least one DEPLOY")
        return Target(args.files[0], tuple(args.files[1:]), data, _limit(args.limit))
    if args.files:
        raise _Usage("give --config FILE or INVENTORY DEPLOY..., not both")
    from agent.config import ConfigError, load_config
    from agent.preview.service import target_of

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise _Usage(str(exc)) from None
    if args.deployment:
        if config.deployment_named(args.deployment) is None:
            raise _Usage(f"{args.config} has no deployment {args.deployment!r}")
        config = config.model_copy(update={"preview": config.preview.model_copy(
            update={"deployment": args.deployment})})
    target = target_of(config)
    if target is None:
        raise _Usage(f"{args.config} has no [[deployment]]")
    return target.with_overrides(data, _limit(args.limit))


def _limit(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _run(args: argparse.Namespace, target: Any) -> Any:
    from agent.preview.compare import preview
    from agent.preview.plan import plan_revision
    from agent.preview.repository import Repository
    from agent.render import ConsoleRenderer
    from agent.source.checkout import remove_tree
    from agent.vocab import Mode

    exports = Path(tempfile.mkdtemp(prefix="pullinfra-preview-"))
    try:
        repo = Repository.at(Path(args.repo), exports)
        head, base = repo.resolve(args.head), repo.resolve(args.base)
        files = repo.diff_stat(base, head)
        plans = []
        for revision in (head, base):
            sys.stderr.write(f"--> Planning {revision[:12]}\n")
            renderer = ConsoleRenderer(sys.stderr, mode=Mode.PLAN)
            plans.append(plan_revision(repo.checkout(revision), revision, target,
                                       on_event=renderer))
        return preview(target.name, plans[1], plans[0], files)
    finally:
        remove_tree(exports)
