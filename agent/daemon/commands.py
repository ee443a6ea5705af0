"""What `pullinfra agent | trigger | rollback | suspend | resume | history | show` do
(agent/daemon/cli.py registers them and imports this module only when one of them runs).

Exit codes (docs/architecture.md): 0 ok, 1 something failed (a host, a fetch, the agent not
answering), 2 bad usage or input (config errors, unknown deployment or run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.config import AgentConfig, ConfigError, load_config
from agent.config.models import DEFAULT_STATE_DIR, ONCE_STATE_DIR
from agent.daemon.agent import Agent, AgentError
from agent.daemon.logging import setup_logging
from agent.daemon.sdnotify import SystemdNotifier
from agent.state import DB_FILENAME, RunRow, StateDB, StateError
from agent.state.rows import run_id_from
from agent.vocab import OpStatus

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    sys.stderr.write(f"pullinfra: {message}\n")
    sys.stderr.flush()


def _load(path: str) -> AgentConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        _err(exc.message)
        return None


# ---- agent ----

def cmd_agent(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    setup_logging(sys.stdout, config.log.format, config.log.level)
    try:
        agent = Agent(config, once=args.once)
    except (AgentError, StateError) as exc:
        _err(str(exc))
        return EXIT_USAGE
    if args.once:
        return agent.run_once()
    return _serve(agent, args.config)


def _serve(agent: Agent, config_path: str) -> int:
    stop = threading.Event()
    reload = threading.Event()
    wake = threading.Event()
    systemd = SystemdNotifier.from_environ(os.environ)

    def on_stop(signum: int, _frame: Any) -> None:
        stop.set()
        wake.set()

    def on_hup(_signum: int, _frame: Any) -> None:
        reload.set()
        wake.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    try:
        agent.start()
    except AgentError as exc:
        _err(str(exc))
        agent.stop(grace=0)
        return EXIT_USAGE
    _main_loop(agent, config_path, systemd, stop, reload, wake)
    systemd.stopping("stopping: finishing the operation in flight and delivering reports")
    clean = agent.stop()
    sys.stdout.flush()
    if not clean:
        # Engine threads still hold a host past the grace period; do not wait for them.
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def _main_loop(agent: Agent, config_path: str, systemd: SystemdNotifier,
               stop: threading.Event, reload: threading.Event, wake: threading.Event) -> None:
    """Wait for signals; tell systemd the agent is ready, what it applied, and (only while
    every part of the agent works) that it is alive, so a hung agent gets restarted."""
    tick = min(1.0, systemd.watchdog_seconds / 4) if systemd.watchdog_seconds else 1.0
    status = agent.status_line()
    systemd.ready(status)
    while not stop.is_set():
        problems = agent.problems()
        if not problems:
            systemd.watchdog()
        now = agent.status_line() if not problems else f"unhealthy: {'; '.join(problems)}"
        if now != status:
            status = now
            systemd.status(status)
        wake.wait(tick)
        wake.clear()
        if reload.is_set() and not stop.is_set():
            reload.clear()
            _reload(agent, config_path)


def _reload(agent: Agent, config_path: str) -> None:
    import logging

    log = logging.getLogger("agent.daemon.agent")
    try:
        config = load_config(config_path)
        agent.reload(config)
    except (ConfigError, AgentError) as exc:
        log.error("reload refused: the new config is invalid; still running the old one",
                  extra={"config": config_path,
                         "error": exc.message if isinstance(exc, ConfigError) else str(exc)})
        return
    setup_logging(sys.stdout, config.log.format, config.log.level)


# ---- trigger / rollback: requests to the running agent's API ----

def cmd_trigger(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"deployment": args.deployment} if args.deployment else {}
    if args.override_window:
        if not args.deployment or not args.reason.strip():
            _err("--override-window needs a DEPLOYMENT and a --reason (it is recorded)")
            return EXIT_USAGE
        body.update(override_window=True, reason=args.reason.strip())
    answer = _ask_agent(args, args.deployment, "trigger", body)
    if isinstance(answer, int):
        return answer
    names = answer.get("deployments") or [args.deployment or "all"]
    print(f"triggered: {', '.join(names)} (the agent fetches now; see `pullinfra history`)")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    body = {"deployment": args.deployment, **({"to": args.to} if args.to else {})}
    answer = _ask_agent(args, args.deployment, "rollback", body)
    if isinstance(answer, int):
        return answer
    print(f"rolling back {args.deployment} to {answer.get('revision') or '?'} (trigger "
          "rollback; it stays there until a new commit; see `pullinfra history`)")
    return EXIT_OK


def _ask_agent(args: argparse.Namespace, deployment: str | None, action: str,
               body: dict[str, Any]) -> dict[str, Any] | int:
    """POST /api/ACTION to the agent this config describes: its answer, or the exit code
    (the reason already printed)."""
    config = _load_for(args, deployment)
    if config is None:
        return EXIT_USAGE
    if config.http.token is None:
        _err(f"{args.config}: [http] token is not set, so the agent's API is off; set it "
             "(or PULLINFRA_HTTP__TOKEN) and restart the agent")
        return EXIT_USAGE
    host = config.http.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    url = f"http://{'[' + host + ']' if ':' in host else host}:{config.http.port}/api/{action}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={
        "Authorization": f"Bearer {config.http.token.get_secret_value()}",
        "Content-Type": "application/json"})
    try:  # a rollback checks its commit in the clone, which waits for a fetch in flight
        with urllib.request.urlopen(request, timeout=10 if action == "trigger" else 60
                                    ) as response:
            return dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        _err(f"the agent at {url} refused the {action} ({exc.code}): {detail}")
        return EXIT_USAGE if exc.code in (400, 404) else EXIT_FAILED
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _err(f"no agent answered at {url} ({reason}); is `pullinfra agent --config "
             f"{args.config}` running?")
        return EXIT_FAILED


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error") or exc.reason)
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


# ---- suspend / resume ----

def _state_dir(config: AgentConfig) -> Path:
    """Where the agent keeps state: the configured dir, else the one that has a DB."""
    if config.state.dir is not None:
        return config.state.dir
    for candidate in (DEFAULT_STATE_DIR, ONCE_STATE_DIR):
        if (candidate / DB_FILENAME).is_file():
            return candidate
    return DEFAULT_STATE_DIR


def _open_db(config: AgentConfig, create: bool) -> StateDB | None:
    directory = _state_dir(config)
    if not create and not (directory / DB_FILENAME).is_file():
        _err(f"no state DB at {directory / DB_FILENAME}: the agent has not run with this "
             "config yet (or [state] dir points elsewhere)")
        return None
    try:
        return StateDB.in_state_dir(directory)
    except (StateError, OSError) as exc:
        _err(f"cannot open the state DB in {directory}: {exc}")
        return None


def _load_for(args: argparse.Namespace, deployment: str | None) -> AgentConfig | None:
    """The config, when it loads and names `deployment` (if one is asked for); else None,
    with the message already printed."""
    config = _load(args.config)
    if config is None or (deployment and not _known_deployment(config, deployment,
                                                                args.config)):
        return None
    return config


def _known_deployment(config: AgentConfig, name: str, path: str) -> bool:
    if config.deployment_named(name) is None:
        _err(f"no deployment {name!r} in {path}; configured: "
             f"{', '.join(d.name for d in config.deployment) or 'none'}")
        return False
    return True


def _deployment_db(args: argparse.Namespace) -> StateDB | None:
    """The state DB that suspend/resume write, once `args.name` is a configured deployment."""
    config = _load_for(args, args.name)
    if config is None:
        return None
    return _open_db(config, create=True)


def cmd_suspend(args: argparse.Namespace) -> int:
    db = _deployment_db(args)
    if db is None:
        return EXIT_USAGE
    with db:
        db.suspend(args.name, args.reason)
    print(f"suspended {args.name}: the agent skips it from its next run on; "
          f"`pullinfra resume {args.name}` undoes it")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    db = _deployment_db(args)
    if db is None:
        return EXIT_USAGE
    with db:
        was = db.resume(args.name)
    print(f"resumed {args.name}" if was else f"{args.name} was not suspended")
    return EXIT_OK


# ---- history / show ----

def _run_dict(run: RunRow) -> dict[str, Any]:
    data = dataclasses.asdict(run)
    data["duration_seconds"] = run.duration_seconds
    data["rollout"] = _rollout(run)
    return data


def _rollout(run: RunRow) -> dict[str, Any] | None:
    """The report's waves, gates and halt (docs/rollout.md); None for a run without waves."""
    return (run.report or {}).get("rollout")


def _status_text(run: RunRow) -> str:
    rollout = _rollout(run)
    if rollout and rollout.get("halted"):
        return f"{run.status} (halted at {rollout.get('halted_at')})"
    return run.status


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def cmd_history(args: argparse.Namespace) -> int:
    config = _load_for(args, args.deployment)
    if config is None:
        return EXIT_USAGE
    db = _open_db(config, create=False)
    if db is None:
        return EXIT_USAGE
    with db:
        runs = db.list_runs(args.deployment, limit=max(1, args.limit))
    if args.json:
        json.dump([_run_dict(r) for r in runs], sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return EXIT_OK
    if not runs:
        print("no runs recorded yet")
        return EXIT_OK
    rows = [("ID", "DEPLOYMENT", "TRIGGER", "MODE", "STATUS", "REVISION", "STARTED",
             "SECONDS", "COMMIT")]
    for r in runs:
        duration = f"{r.duration_seconds:.1f}" if r.duration_seconds is not None else "-"
        subject = (r.message or "").splitlines()[0][:50] if r.message else ""
        rows.append((str(r.id), r.deployment, r.trigger, r.mode, _status_text(r),
                     (r.revision or "-")[:12], _when(r.started_at), duration, subject))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    run_id = run_id_from(args.run_id)
    if run_id is None:
        _err(f"{args.run_id!r} is not a run id; see `pullinfra history` for ids")
        return EXIT_USAGE
    db = _open_db(config, create=False)
    if db is None:
        return EXIT_USAGE
    with db:
        run = db.get_run(run_id)
    if run is None:
        _err(f"no run {args.run_id} in the history; see `pullinfra history`")
        return EXIT_USAGE
    if args.json:
        json.dump(run.report if run.report is not None else _run_dict(run), sys.stdout,
                  indent=2, default=str)
        sys.stdout.write("\n")
        return EXIT_OK
    _print_run(run)
    return EXIT_OK


def _print_run(run: RunRow) -> None:
    print(f"run {run.id}  {run.deployment}  {run.status}")
    print(f"  trigger   {run.trigger}  (mode {run.mode})")
    print(f"  revision  {run.revision or '-'}  (previous {run.previous_revision or '-'})")
    if run.author or run.message:
        print(f"  commit    {run.author or '-'}: {(run.message or '').splitlines()[0]}")
    duration = f"{run.duration_seconds:.2f}s" if run.duration_seconds is not None else "-"
    print(f"  started   {_when(run.started_at)}  duration {duration}")
    if run.stages:
        print("  stages    " + "  ".join(f"{k} {v:.2f}s" for k, v in run.stages.items()))
    if run.window_override:
        print(f"  override  ran outside the sync windows: {run.window_override}")
    if run.superseded_by:
        print(f"  superseded by {run.superseded_by}")
    if run.error:
        print(f"  error     {run.error}")
    if (rollout := _rollout(run)) is not None:
        _print_rollout(rollout)
    for host in (run.report or {}).get("hosts") or []:
        print(f"  host {host['name']}: {host['status']}"
              + (f"  ({host['error']})" if host.get("error") else ""))
        for op in host.get("operations") or []:
            print(f"    {op['status']:<9} {op['name']}")
            for line in (op.get("diff") or "").splitlines():
                print(f"              {line}")
            if op["status"] == OpStatus.FAILED and op.get("stderr_tail"):
                for line in op["stderr_tail"].splitlines():
                    print(f"              ! {line}")


def _print_rollout(rollout: dict[str, Any]) -> None:
    if rollout.get("halted"):
        print(f"  rollout   halted at {rollout.get('halted_at')}: {rollout.get('reason')}")
    else:
        print("  rollout   every wave passed")
    for wave in rollout.get("waves") or []:
        hosts = ", ".join(wave.get("hosts") or []) or "no hosts"
        print(f"  wave {wave['name']}: {wave['status']}  ({hosts})")
        for gate in wave.get("gates") or []:
            detail = f"  ({gate['detail']})" if gate.get("detail") else ""
            print(f"    gate {gate['status']}  {gate['gate']}{detail}")
    rolled = rollout.get("rolled_back")
    if rolled:
        hosts = ", ".join(rolled.get("hosts") or [])
        if rolled.get("revision"):
            print(f"  rolled back {hosts} to {rolled['revision'][:12]}: "
                  f"{rolled.get('status') or 'did not run'}")
        if rolled.get("error"):
            print(f"  rollback  {rolled['error']}")
