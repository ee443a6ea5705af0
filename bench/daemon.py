"""The daemon's own cost: push-to-converged overhead, and an idle reconcile cycle's CPU/RSS.

A real `pullinfra agent --config FILE` (the exported --rev, through the acceptance tests'
Agent harness) follows a bare repository over file:// holding the workload (bench/site plus
an inventory of the bed hosts) and posts its ChangeReports to a real HTTP receiver on
loopback.

(a) Push to converged: a commit that changes one managed file is pushed, then a GitHub push
    webhook signed with the agent's secret is POSTed to /hooks/github. The clock runs from
    just before `git push` until the receiver holds the report of that commit saying every
    host converged (status changed, no host failed or unreachable). Subtracting the run's
    execute stage from the report leaves what the daemon adds around the engine's work:
    fetch, checkout, queueing, connect/prepare, building and delivering the report. The
    overhead beyond all five stages is recorded too.
(b) Idle reconcile: the same agent restarted with a short reconcile interval and nothing to
    change. Its CPU (utime+stime, plus cutime+cstime of children it waited for, e.g. git)
    and RSS are read from /proc/PID/stat and /proc/PID/status at the end of each reconcile
    run (the "run finished" log line, read from the log file so that observing costs the
    agent nothing), so one cycle = the idle wait plus one no-change run.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench import workload
from bench.tools import BenchError
from tests.acceptance_agent.harness import Agent, agent_config, github_push
from tests.agent.gitfixtures import Remote
from tests.agent.receivers import Receiver, free_port
from tests.testbed import Bed, Host

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PUSHED_FILE = "files/payload0.txt"
FINISHED_LINE = 'msg="run finished"'  # the agent's log line at the end of every run


def proc_sample(pid: int) -> dict[str, float]:
    """CPU seconds (own and waited-for children) and RSS of one live process, from /proc."""
    data = Path(f"/proc/{pid}/stat").read_text()
    fields = data[data.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(v) / CLOCK_TICK for v in fields[11:15])
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            status[key] = int(value.split()[0])
    return {"t": time.monotonic(), "cpu_s": utime + stime, "children_cpu_s": cutime + cstime,
            "rss_kib": status.get("VmRSS", 0), "hwm_kib": status.get("VmHWM", 0)}


def _report_for(receiver: Receiver, revision: str) -> dict | None:
    for request in receiver.received():
        report = request.json()
        if report.get("source", {}).get("revision") == revision:
            return report
    return None


def _converged(report: dict, n_hosts: int) -> bool:
    hosts = report["summary"]["hosts"]
    return (report["status"] == "changed" and hosts["total"] == n_hosts
            and hosts["failed"] == 0 and hosts["unreachable"] == 0)


class Daemon:
    """One agent following one repository of the workload, and its report receiver."""

    def __init__(self, workdir: Path, bed: Bed, hosts: Sequence[Host], launcher: Path):
        self.workdir = workdir
        self.hosts = list(hosts)
        self.launcher = launcher
        self.remote = Remote(workdir / "git")
        self.files = workload.site_files(workload.SITE)
        self.files["inventory.py"] = bed.inventory(hosts, workload.groups(hosts))
        self.base = self.remote.commit_and_push(self.files, "bench: the workload")
        self.receiver = Receiver().start()
        self.port = free_port()
        (workdir / "agent").mkdir()
        self.agent: Agent | None = None

    def start(self, reconcile_interval: str | int) -> Agent:
        config = agent_config(url=self.remote.url, port=self.port,
                              state_dir=self.workdir / "agent" / "state", instance="bench",
                              poll_interval="3600s", reconcile_interval=reconcile_interval,
                              notify_url=self.receiver.url, notify_on=("all",))
        config["log"]["level"] = "info"  # debug lines would cost the agent CPU we measure
        self.agent = Agent(self.workdir / "agent", config, name="agent",
                           pullinfra=self.launcher).start()
        self.agent.wait_ready(timeout=120)
        return self.agent

    def agent_history(self) -> list[dict]:
        """Every run, oldest first, from `pullinfra history --json` (the state database)."""
        assert self.agent is not None
        return self.agent.history()

    def stop(self) -> None:
        if self.agent is not None and self.agent.running():
            self.agent.terminate(timeout=120)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.cleanup()
        self.receiver.stop()

    def push_to_converged(self, pushes: int, timeout: float) -> list[dict]:
        """(a): `pushes` samples of push -> webhook -> converged report."""
        agent = self.start(reconcile_interval=0)
        # the log, not /api/runs: at 100 hosts the API's runs (with their reports) are large
        # enough to time out while a run keeps the agent busy
        agent.wait_for(FINISHED_LINE, timeout=timeout)
        first = agent.history()[-1]
        if first["revision"] != self.base or first["status"] not in ("changed", "unchanged"):
            raise BenchError(f"the agent's first run ended {first['status']}\n"
                             f"{agent.log_tail()}")
        samples, before = [], self.base
        for i in range(pushes):
            content = self.files[PUSHED_FILE] + f"# push {i + 1}\n"
            sha = self.remote.commit({PUSHED_FILE: content}, f"bench: push {i + 1}")
            body, headers = github_push(self.remote.url, before, sha)
            start = time.perf_counter()
            self.remote.push()
            status, _, answer = agent.post("/hooks/github", body, headers)
            if not 200 <= status < 300:
                raise BenchError(f"the push webhook was answered {status}: {answer[:200]!r}")
            deadline = start + timeout
            while (report := _report_for(self.receiver, sha)) is None:
                if time.perf_counter() > deadline:
                    raise BenchError(f"no report of {sha[:8]} within {timeout}s\n"
                                     f"{agent.describe()}")
                time.sleep(0.005)
            total = time.perf_counter() - start
            if not _converged(report, len(self.hosts)):
                raise BenchError(f"the report of {sha[:8]} does not say every host converged:"
                                 f" {report['status']} {report['summary']}")
            wrong = [h.name for h in self.hosts
                     if h.read_text(f"{workload.BASE}/data/payload0.txt") != content]
            if wrong:
                raise BenchError(f"the report says converged, but {wrong[:5]} hold old files")
            stages = report["stages"]
            samples.append({
                "push_to_report_s": total, "execute_s": stages.get("execute", 0.0),
                "stages_s": sum(stages.values()), "stages": stages,
                "overhead_s": total - stages.get("execute", 0.0),
                "overhead_beyond_stages_s": total - sum(stages.values()),
            })
            print(f"    push {i + 1}: {total:.2f}s to the converged report, execute "
                  f"{stages.get('execute', 0.0):.2f}s, overhead {samples[-1]['overhead_s']:.2f}s",
                  flush=True)
            before = sha
        self.stop()
        return samples

    def idle_reconcile(self, interval: int, cycles: int, timeout: float) -> dict:
        """(b): CPU and RSS of the agent per reconcile cycle with nothing to change."""
        agent = self.start(reconcile_interval=f"{interval}s")
        done = agent.log().count(FINISHED_LINE)
        # the first reconcile is not timed: the cycles run from the end of one to the next
        agent.wait_for(FINISHED_LINE, timeout=timeout, count=done + 1)
        boundaries = [proc_sample(agent.pid)]
        for k in range(cycles):
            agent.wait_for(FINISHED_LINE, timeout=timeout, count=done + 2 + k)
            boundaries.append(proc_sample(agent.pid))
        self.stop()
        # the state CLI reads the history from the database, without asking the agent
        runs = [r for r in self.agent_history() if r["trigger"] == "reconcile"][:cycles + 1]
        bad = [(r["id"], r["status"]) for r in runs if r["status"] != "unchanged"]
        if len(runs) < cycles + 1 or bad:
            raise BenchError(f"idle reconcile runs that were not 'unchanged': {bad[:3]}"
                             f" ({len(runs)} of {cycles + 1} found)")
        per_cycle = [{"cpu_s": (b["cpu_s"] + b["children_cpu_s"])
                      - (a["cpu_s"] + a["children_cpu_s"]),
                      "seconds": b["t"] - a["t"], "rss_kib": b["rss_kib"]}
                     for a, b in itertools.pairwise(boundaries)]
        return {
            "interval_s": interval, "cycles": per_cycle,
            "cpu_s_per_cycle_median": statistics.median(c["cpu_s"] for c in per_cycle),
            "rss_kib_median": statistics.median(c["rss_kib"] for c in per_cycle),
            "peak_rss_kib": boundaries[-1]["hwm_kib"],
            "reconcile_runs": [{"id": r["id"], "status": r["status"], "stages": r.get("stages"),
                                "duration_s": (r.get("finished_at") or 0)
                                - (r.get("started_at") or 0)} for r in runs],
        }


def measure(workdir: Path, bed: Bed, hosts: Sequence[Host], launcher: Path, pushes: int,
            cycles: int, interval: int, timeout: float) -> dict:
    """Both daemon figures against `hosts`; the agent and receiver are always stopped."""
    workdir.mkdir(parents=True)
    daemon = Daemon(workdir, bed, hosts, launcher)
    try:
        print(f"  daemon: push to converged, {pushes} pushes at {len(hosts)} hosts", flush=True)
        pushed = daemon.push_to_converged(pushes, timeout)
        print(f"  daemon: idle reconcile every {interval}s, {cycles} cycles", flush=True)
        idle = daemon.idle_reconcile(interval, cycles, timeout)
    finally:
        daemon.close()
    return {
        "hosts": len(hosts), "pushes": pushed,
        "overhead_s_median": statistics.median(s["overhead_s"] for s in pushed),
        "overhead_beyond_stages_s_median": statistics.median(
            s["overhead_beyond_stages_s"] for s in pushed),
        "push_to_report_s_median": statistics.median(s["push_to_report_s"] for s in pushed),
        "idle": idle,
    }
