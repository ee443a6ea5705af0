"""Soak: a real agent reconciling the same hosts hundreds of times must not grow.

Run from the checkout root as root: `.venv/bin/python -m bench.soak` (bench/README.md). Not in
CI: 500 cycles take 10-15 minutes.

A real `pullinfra agent --config FILE` (an export of --rev, as in bench/run.py) follows a bare
repository over file:// that holds the acceptance tests' small files deploy
(tests/acceptance_agent/fleet.py) for N plain bed hosts, reconciles every --interval seconds
with nothing to change, and posts its reports to a real receiver. After every --every
finished runs (counted from the agent's log) the agent's RSS, threads and open fds
(/proc/PID) and the size of its state dir and database are sampled, while no run is going.
The verdict compares the 10% of the cycles after a warm-up (the first 10%) with the last 10%:
a leak shows as growth between them, noise does not. In the warm-up the run history fills up
to its cap (--retention-runs) and SQLite's write-ahead log to its checkpoint size; with the
agent's default cap (1000 runs) the database would grow for all 500 cycles by design.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import tools
from bench.tools import ROOT, BenchError
from tests.acceptance_agent.fleet import tree
from tests.acceptance_agent.harness import Agent, agent_config
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import Receiver, free_port
from tests.load.observe import LogCounter, figures
from tests.testbed import Bed, BedError
from tests.testbed.aptrepo import ensure_repo

RESULTS = ROOT / "bench" / "results"
STALL = 300.0  # seconds without a finished run before the soak gives up
# Growth from the first to the last window that still counts as flat: RSS and the state dir
# may move by allocator and SQLite page noise; threads and fds must not grow at all.
TOLERANCE = {"rss_kib": (0.05, 4096), "state_dir_bytes": (0.05, 512 * 1024),
             "db_bytes": (0.05, 256 * 1024), "threads": (0.0, 0), "fds": (0.0, 0)}
# How a window is summed up: sizes by their median; threads and fds by their least value,
# because a connection still closing as a sample is taken shows in that one sample, while a
# leak raises the floor that every sample stands on.
SUMMARY = {"rss_kib": statistics.median, "state_dir_bytes": statistics.median,
           "db_bytes": statistics.median, "threads": min, "fds": min}
UNITS = {"rss_kib": ("MiB", 1024), "state_dir_bytes": ("KiB", 1024),
         "db_bytes": ("KiB", 1024), "threads": ("", 1), "fds": ("", 1)}


def soak(workdir: Path, bed: Bed, hosts: int, cycles: int, every: int, interval: float,
         retention_runs: int, launcher: Path) -> dict:
    """The samples of one soak, and the agent's history's statuses at its end."""
    remote = Remote(workdir / "git")
    base = remote.commit_and_push(tree(bed.hosts[:hosts]), "soak: the fleet")
    receiver = Receiver().start()
    state_dir = workdir / "agent" / "state"
    (workdir / "agent").mkdir()
    config = agent_config(url=remote.url, port=free_port(), state_dir=state_dir,
                          instance="soak", poll_interval="3600s",
                          reconcile_interval=f"{interval}s", notify_url=receiver.url)
    config["log"]["level"] = "info"  # debug lines would make the log the biggest thing here
    config["state"]["retention"] = {"runs": retention_runs}
    agent = Agent(workdir / "agent", config, name="agent", pullinfra=launcher).start()
    counter = LogCounter(agent.log_path)
    samples: list[dict] = []
    started = time.monotonic()
    try:
        agent.wait_ready(timeout=120)
        # run 1 applies the commit; the cycles are the reconcile runs after it
        target, progress_at, done, busy = 1, time.monotonic(), 0, 0
        while target <= cycles + 1:
            if not agent.running():
                raise BenchError(f"the agent exited\n{agent.log_tail()}")
            finished = counter.finished()
            if finished > done:
                done, progress_at = finished, time.monotonic()
            if done >= target and counter.idle():
                sample = {"cycle": done - 1, "t_s": round(time.monotonic() - started, 2),
                          **figures(agent.pid, state_dir).as_dict()}
                if not counter.idle() or counter.count != done:
                    busy += 1  # the next run began while /proc was read: at its next end
                    continue
                samples.append(sample)
                if len(samples) % 10 == 1:
                    print(f"  cycle {sample['cycle']:4d}  {sample['t_s']:7.1f}s  "
                          f"rss {sample['rss_kib'] / 1024:6.1f} MiB  threads "
                          f"{sample['threads']:3d}  fds {sample['fds']:3d}  state "
                          f"{sample['state_dir_bytes'] / 1024:8.0f} KiB", flush=True)
                target = (done - 1) // every * every + every + 1
                continue
            if time.monotonic() - progress_at > STALL:
                raise BenchError(f"no run finished for {STALL:.0f}s after {done}\n"
                                 f"{agent.describe()}")
            time.sleep(0.1)
        agent.terminate(timeout=120)
        history = agent.history()
    finally:
        agent.cleanup()
        receiver.stop()
    statuses: dict[str, int] = {}
    for run in history:
        statuses[f"{run['trigger']}/{run['status']}"] = statuses.get(
            f"{run['trigger']}/{run['status']}", 0) + 1
    first = history[0] if history else {}
    return {"base": base, "samples": samples, "elapsed_s": round(time.monotonic() - started, 1),
            "runs_finished": counter.finished(), "history_kept": len(history),
            "samples_dropped_busy": busy,
            "history_statuses": statuses, "first_kept_run": first.get("id"),
            "reports_received": len(receiver.received())}


def windows(samples: Sequence[dict], cycles: int, every: int
            ) -> tuple[list[dict], list[dict], list[dict]]:
    """The samples of the first 10% of cycles (the warm-up: the history fills up to its cap
    and SQLite's write-ahead log to its checkpoint size), of the next 10%, and of the last."""
    w = max(every, cycles // 10)
    return ([s for s in samples if 0 < s["cycle"] <= w],
            [s for s in samples if w < s["cycle"] <= 2 * w],
            [s for s in samples if s["cycle"] > cycles - w])


def verdict(samples: Sequence[dict], cycles: int, every: int) -> list[dict]:
    """Per figure: each window summed up by SUMMARY; flat when the growth from the window
    after the warm-up to the last stays within TOLERANCE (growth from the first window is
    shown too)."""
    first, steady, last = windows(samples, cycles, every)
    rows = []
    for key, (share, floor) in TOLERANCE.items():
        a, b, c = (SUMMARY[key]([s[key] for s in window]) for window in (first, steady, last))
        allowed = max(b * share, floor)
        rows.append({"figure": key, "first": a, "steady": b, "last": c,
                     "growth_from_first": c - a, "growth": c - b, "allowed": allowed,
                     "flat": c - b <= allowed})
    return rows


def _show(key: str, value: float) -> str:
    unit, scale = UNITS[key]
    return f"{value / scale:.1f} {unit}".strip() if scale > 1 else f"{value:g}"


def markdown(facts: dict, result: dict, rows: Sequence[dict], cycles: int, every: int) -> str:
    window = max(every, cycles // 10)
    lines = [f"## Soak {facts['date'][:10]}: pullinfra {facts['pullinfra_commit'][:12]}", "",
             f"{facts['hosts']} plain bed hosts, the files deploy of 4 operations, "
             f"reconcile every {facts['interval_s']} s with nothing to change, history capped "
             f"at {facts['retention_runs']} runs; {result['runs_finished'] - 1} reconcile "
             f"cycles in {result['elapsed_s'] / 60:.1f} minutes on {facts['nproc']} cores "
             f"(load average {facts['loadavg_start'][0]:.1f} at the start, "
             f"{facts['loadavg_end'][0]:.1f} at the end).", "",
             f"| figure | cycles 1-{window} (warm-up) | cycles {window + 1}-{2 * window} "
             f"| last {window} cycles | growth from warm-up | growth after warm-up | allowed "
             "| verdict |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        shown = [_show(r["figure"], r[k]) for k in ("first", "steady", "last",
                                                   "growth_from_first", "growth", "allowed")]
        lines.append(f"| {r['figure']} | " + " | ".join(shown)
                     + f" | {'flat' if r['flat'] else 'GROWS'} |")
    lines += ["", "| cycle | time (s) | RSS (MiB) | threads | fds | state dir (KiB) "
              "| state.db (KiB) |", "|---:|---:|---:|---:|---:|---:|---:|"]
    step = max(1, len(result["samples"]) // 20)
    shown = result["samples"][::step]
    for s in shown + [s for s in result["samples"][-1:] if s is not shown[-1]]:
        lines.append(f"| {s['cycle']} | {s['t_s']:.0f} | {s['rss_kib'] / 1024:.1f} | "
                     f"{s['threads']} | {s['fds']} | {s['state_dir_bytes'] / 1024:.0f} | "
                     f"{s['db_bytes'] / 1024:.0f} |")
    lines += ["", "Windows are summed up by their median (RSS, state dir, state.db) or their "
              "least value (threads, fds: a leak raises the floor; a connection still closing "
              "shows in one sample only). Samples are taken only while no "
              f"run is going ({result['samples_dropped_busy']} dropped because the next run "
              "began while /proc was read)."]
    lines += ["", f"History kept at the end: {result['history_kept']} runs "
              f"({result['history_statuses']}); reports received: "
              f"{result['reports_received']}.", ""]
    overall = "FLAT" if all(r["flat"] for r in rows) else "GROWTH FOUND"
    return "\n".join(lines) + f"\nVerdict: {overall}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=500, help="reconcile runs to watch")
    parser.add_argument("--every", type=int, default=10, help="sample after every N cycles")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="reconcile.interval in seconds")
    parser.add_argument("--retention-runs", type=int, default=20,
                        help="state.retention.runs (the history's cap)")
    parser.add_argument("--rev", default="HEAD", help="pullinfra commit, or worktree")
    parser.add_argument("--name", help="results file name (default: <date>-soak)")
    parser.add_argument("--out", default=str(RESULTS), help="results dir; - writes nothing")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("SOAK INVALID: the test bed needs root", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="pullinfra-soak-"))
    facts = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "nproc": os.cpu_count(), "hosts": args.hosts, "cycles": args.cycles,
             "every": args.every, "interval_s": args.interval,
             "retention_runs": args.retention_runs,
             "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        commit, pythonpath = tools.export_pullinfra(args.rev, work / "pullinfra-src")
        launcher = tools.pullinfra_launcher(pythonpath, work / "pullinfra")
        facts["pullinfra_commit"] = commit
        print(f"soak: pullinfra {commit[:12]}, {args.hosts} hosts, {args.cycles} cycles every "
              f"{args.interval}s, load {facts['loadavg_start'][0]:.2f}", flush=True)
        t0 = time.monotonic()
        with Bed.create(args.hosts, apt_repo=ensure_repo().path) as bed:
            facts["bed_boot_s"] = round(time.monotonic() - t0, 1)
            result = soak(work, bed, args.hosts, args.cycles, args.every, args.interval,
                          args.retention_runs, launcher)
    except (BenchError, BedError, AssertionError, OSError) as exc:
        print(f"SOAK INVALID: {type(exc).__name__}: {exc}\n(work dir kept: {work})",
              file=sys.stderr)
        return 1
    facts["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = verdict(result["samples"], args.cycles, args.every)
    text = markdown(facts, result, rows, args.cycles, args.every)
    print()
    print(text)
    if args.out != "-":
        name = args.name or f"{facts['date'][:10]}-soak"
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(
            {"machine": facts, "verdict": rows, **result}, indent=1) + "\n")
        (out / f"{name}.md").write_text(text)
        print(f"wrote {out / name}.json, .md")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["flat"] for r in rows) else 2


if __name__ == "__main__":
    sys.exit(main())
