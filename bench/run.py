"""pullinfra against real pyinfra 3.x, Ansible and a bare-paramiko floor, on real SSH hosts.

Run from the checkout root as root: `.venv/bin/python -m bench.run` (bench/README.md has
every option). The same workload (bench/site) runs under each tool at each host count in
three scenarios; every run is checked on the hosts; the daemon's own overhead is measured
last. Results: bench/results/<date>.json (every sample), .md (the tables, also printed) and
.png (wall time against hosts). Numbers are read as ratios between tools measured in the
same run, because absolute seconds on a shared 2-core machine move between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import daemon, report, tools, workload
from bench.tools import PYTHON, ROOT, TOOLS, BenchError, Invocation
from tests.testbed import Bed, BedError, Host
from tests.testbed.aptrepo import ensure_repo

RESULTS = ROOT / "bench" / "results"
FLOOR = ROOT / "bench" / "floor.py"
PLOT = ROOT / "bench" / "plot.py"
INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_PER_HOST = 10  # systemd, journald, logind, dbus... hold ~7 inotify instances a host
# Ansible costs ~12 CPU-seconds per host and run here (its controller and, mostly, one Python
# module process per task on the host): ~150 s a run at 20 hosts, ~13 minutes at 100 on 2
# cores. So it runs once at 20 and 50 hosts and not at 100, and the other tools once at 100,
# unless --reps-for says otherwise (bench/README.md, "Budget").
DEFAULT_REPS_FOR = ("ansible@20=1", "ansible@50=1", "ansible@100=0",
                    "pyinfra@100=1", "pullinfra@100=1", "floor@100=1")
QUICK_TOOLS = ("pyinfra", "pullinfra")  # Ansible alone needs ~8 minutes at 20 hosts


def parse_reps_for(specs: Sequence[str]) -> dict[tuple[str, int], int]:
    """TOOL@N=K overrides, e.g. ansible@100=1 (TOOL may be floor)."""
    out = {}
    for spec in specs:
        m = re.fullmatch(r"(pyinfra|pullinfra|ansible|floor)@(\d+)=(\d+)", spec.strip())
        if not m:
            raise SystemExit(f"--reps-for takes TOOL@N=K (e.g. ansible@100=1), got {spec!r}")
        out[(m[1], int(m[2]))] = int(m[3])
    return out


def raise_inotify_limit(hosts: int) -> dict[str, int]:
    """systemd hosts share the machine's inotify instance limit (they run as root in the
    machine's user namespace): 128, Debian's default, stops booting at ~18 hosts. Raised
    (never lowered) and left raised, so that a bed another session boots meanwhile is not
    cut off by a later restore."""
    before = int(INOTIFY.read_text())
    want = 128 + INOTIFY_PER_HOST * hosts
    if before < want:
        INOTIFY.write_text(str(want))
    return {"before": before, "after": int(INOTIFY.read_text())}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts(versions: dict[str, str], commit: str) -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": next((ln.split(":", 1)[1].strip()
                     for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), platform.processor()),
        "mem_total_kib": int(Path("/proc/meminfo").read_text().split()[1]),
        "kernel": platform.release(),
        "versions": versions,
        "pullinfra_commit": commit,
        "checkout_head": git("rev-parse", "HEAD"),
        "bench_commit": git("log", "-1", "--format=%H", "--", "bench"),
        "loadavg_start": loadavg(),
    }


class Runner:
    """Runs and checks every measurement of one benchmark on one bed."""

    def __init__(self, bed: Bed, toolbox: tools.Toolbox, work: Path,
                 resume: Path | None = None):
        self.bed = bed
        self.toolbox = toolbox
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir()
        self.resume = resume / "logs" if resume else None
        self.resumed: list[str] = []
        self.want = workload.Expected(toolbox.site)
        self.cgroup = Path(bed.state["cgroup"]) if bed.state.get("cgroup") else None

    def inventories(self, hosts: Sequence[Host]) -> tuple[Path, Path]:
        groups = workload.groups(hosts)
        n = len(hosts)
        return (self.bed.write_inventory(self.work / f"inventory_{n}.py", hosts, groups),
                tools.ansible_inventory(self.work / f"inventory_{n}.ini", self.bed, hosts,
                                        groups))

    def _run(self, inv: Invocation, label: str) -> dict:
        load = loadavg()
        sample = tools.timed(inv, self.logs / f"{label}.log", self.cgroup)
        sample["loadavg"] = load
        (self.logs / f"{label}.json").write_text(json.dumps(sample))
        return sample

    def _checked(self, label: str) -> None:
        """Mark a sample as checked on the hosts: only such samples can be resumed."""
        (self.logs / f"{label}.checked").touch()

    def has_record(self, label: str) -> bool:
        return self.resume is not None and (self.resume / f"{label}.checked").exists()

    def _recorded(self, labels: Sequence[str]) -> list[dict] | None:
        """The checked samples of an earlier, interrupted run (--resume), if all are there."""
        if not all(self.has_record(lb) for lb in labels):
            return None
        self.resumed += labels
        return [json.loads((self.resume / f"{lb}.json").read_text()) for lb in labels]

    def scenarios(self, tool: str, hosts: Sequence[Host], label: str) -> dict[str, dict]:
        """First apply on fresh hosts, a no-change re-run, a re-run after a hand edit on 10%
        of the hosts; each checked on the hosts, the re-runs for rewritten files too."""
        recorded = self._recorded([f"{label}-{s}" for s in report.SCENARIOS])
        if recorded:
            return dict(zip(report.SCENARIOS, recorded, strict=True))
        inv = self.toolbox.invocation(tool, *self.inventories(hosts), forks=len(hosts))
        self.bed.reset(hosts)
        out = {"first": self._run(inv, f"{label}-first")}
        workload.check(hosts, self.want, reloads=1)
        self._checked(f"{label}-first")

        before = workload.snapshot(hosts, self.want)
        out["no-change"] = self._run(inv, f"{label}-no-change")
        workload.check(hosts, self.want, reloads=1)
        moved = workload.rewritten(before, workload.snapshot(hosts, self.want))
        if moved:
            raise workload.StateError(f"{tool}'s no-change run rewrote {moved[:10]}")
        self._checked(f"{label}-no-change")

        edited = workload.edit_by_hand(hosts)
        before = workload.snapshot(hosts, self.want)
        out["drift"] = self._run(inv, f"{label}-drift")
        workload.check(hosts, self.want, reloads={h.name: 2 for h in edited})
        moved = workload.rewritten(before, workload.snapshot(hosts, self.want),
                                   allowed={h.name: [workload.APP_CONF] for h in edited})
        if moved:
            raise workload.StateError(f"{tool}'s drift run rewrote {moved[:10]}")
        self._checked(f"{label}-drift")
        return out

    def warm_up(self, tool: str, hosts: Sequence[Host]) -> None:
        inv = self.toolbox.invocation(tool, *self.inventories(hosts), forks=len(hosts))
        self.bed.reset(hosts)
        self._run(inv, f"warmup-{tool}")
        workload.check(hosts, self.want, reloads=1)

    def floor(self, hosts: Sequence[Host], label: str) -> dict:
        """The floor's one-command read of every host (hosts must be converged)."""
        recorded = self._recorded([label])
        if recorded:
            return recorded[0]
        spec = self.work / f"floor-{len(hosts)}.json"
        spec.write_text(json.dumps({
            "user": "root", "key": str(self.bed.client_key),
            "known_hosts": str(self.bed.known_hosts), "command": workload.STATE_COMMAND,
            "hosts": [{"name": h.name, "address": h.address, "port": h.port} for h in hosts]}))
        out = self.work / f"{label}-out.json"
        inv = Invocation("floor", [str(PYTHON), "-I", str(FLOOR), str(spec), str(out)],
                         self.work, dict(os.environ))
        sample = self._run(inv, label)
        workload.check_floor(json.loads(out.read_text()), hosts, self.want)
        self._checked(label)
        return sample


def _order(tools_: Sequence[str], rep: int) -> list[str]:
    """Who goes first rotates between repetitions, so drift in machine load hits all alike."""
    k = rep % len(tools_)
    return [*tools_[k:], *tools_[:k]]


def measure(runner: Runner, hosts_counts: Sequence[int], tools_: Sequence[str],
            reps_of: dict[tuple[str, int], int], warmup: bool) -> dict:
    bed = runner.bed
    samples: dict[str, dict[str, list]] = {}
    if warmup:  # page cache, .pyc files, Ansible's first start: not what is measured
        print("warm-up (not measured): a first apply of each tool on 2 hosts", flush=True)
        for tool in tools_:
            resumed = all(runner.has_record(f"{tool}-{n}-{rep}-{s}")
                          for n in hosts_counts for rep in range(reps_of[(tool, n)])
                          for s in report.SCENARIOS)
            if not resumed:
                runner.warm_up(tool, bed.hosts[:2])
    for n in hosts_counts:
        hosts = bed.hosts[:n]
        by_tool: dict[str, list] = {t: [] for t in tools_}
        for rep in range(max(reps_of[(t, n)] for t in tools_)):
            for tool in _order(tools_, rep):
                if rep >= reps_of[(tool, n)]:
                    continue
                started = time.monotonic()
                res = runner.scenarios(tool, hosts, f"{tool}-{n}-{rep}")
                by_tool[tool].append(res)
                print(f"  N={n:<3} rep {rep} {tool:<9}  first {res['first']['wall_s']:7.2f}s"
                      f"  no-change {res['no-change']['wall_s']:7.2f}s  drift "
                      f"{res['drift']['wall_s']:7.2f}s   ({time.monotonic() - started:.0f}s "
                      f"with reset and checks; load {loadavg()[0]:.1f})", flush=True)
        by_tool["floor"] = []
        for rep in range(reps_of[("floor", n)]):
            by_tool["floor"].append(runner.floor(hosts, f"floor-{n}-{rep}"))
        print(f"  N={n:<3} floor      "
              + "  ".join(f"{s['wall_s']:.2f}s" for s in by_tool["floor"]), flush=True)
        samples[str(n)] = by_tool
    return samples


def plot(results_json: Path, png: Path, ansible_bin: Path | None) -> str | None:
    """The PNG, drawn by bench/plot.py in .venv-bench; the error text if it could not be."""
    python = (ansible_bin or tools.ensure_bench_venv(results_json.with_suffix(".venv.log"))) \
        / "python"
    done = subprocess.run([str(python), "-I", str(PLOT), str(results_json), str(png)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip()[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="20,50,100",
                        help="host counts N, comma separated (default 20,50,100)")
    parser.add_argument("--reps", type=int, default=3,
                        help="repetitions per tool and N, the median is reported (default 3)")
    parser.add_argument("--reps-for", action="append", default=[], metavar="TOOL@N=K",
                        help="repetitions of one tool (or floor) at one N, e.g. ansible@100=1;"
                             " repeatable; defaults: " + " ".join(DEFAULT_REPS_FOR))
    parser.add_argument("--tools", default=None,
                        help="tools to run, comma separated (default pyinfra,pullinfra,ansible;"
                             " with --quick pyinfra,pullinfra)")
    parser.add_argument("--quick", action="store_true",
                        help="N=20 only, one repetition, no Ansible (unless --tools names it),"
                             " a short daemon check: < 5 minutes")
    parser.add_argument("--rev", default="HEAD",
                        help="pullinfra commit to measure, or 'worktree' for the live checkout"
                             " (default HEAD)")
    parser.add_argument("--no-daemon", action="store_true", help="skip the daemon figures")
    parser.add_argument("--pushes", type=int, default=3,
                        help="daemon push-to-converged samples (default 3)")
    parser.add_argument("--cycles", type=int, default=4,
                        help="idle reconcile cycles measured (default 4)")
    parser.add_argument("--reconcile-interval", type=int, default=10,
                        help="the idle agent's reconcile interval, seconds (default 10)")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip the unmeasured warm-up run of each tool on 2 hosts")
    parser.add_argument("--name", default=None,
                        help="results file name without suffix (default: today's date, "
                             "YYYY-MM-DD; -quick is added in quick mode)")
    parser.add_argument("--out", default=str(RESULTS),
                        help="results directory (default bench/results); '-' writes nothing")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work dir (every tool's log, the agent's log)")
    parser.add_argument("--resume", metavar="WORKDIR", default=None,
                        help="reuse the checked samples in the work dir of an interrupted run"
                             " (kept on failure) and measure only what is missing")
    args = parser.parse_args(argv)

    hosts_counts = [20] if args.quick else sorted({int(n) for n in args.hosts.split(",")})
    reps = 1 if args.quick else args.reps
    tools_ = [t for t in (args.tools or ",".join(QUICK_TOOLS if args.quick else TOOLS))
              .split(",") if t]
    if unknown := set(tools_) - set(TOOLS):
        parser.error(f"unknown tools {sorted(unknown)}; choose from {TOOLS}")
    pushes, cycles = (1, 2) if args.quick else (args.pushes, args.cycles)
    overrides = parse_reps_for([] if args.quick else [*DEFAULT_REPS_FOR, *args.reps_for])
    reps_of = {(t, n): overrides.get((t, n), reps) for t in [*tools_, "floor"]
               for n in hosts_counts}
    if os.geteuid() != 0:
        print("BENCHMARK INVALID: the test bed needs root", file=sys.stderr)
        return 1
    if not tools.PYINFRA.exists():
        print(f"BENCHMARK INVALID: real pyinfra ({tools.PYINFRA}) is missing: run "
              "PULLINFRA_WANT_TEST_TOOLS=1 scripts/bootstrap.sh", file=sys.stderr)
        return 1

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pullinfra-bench-"))
    try:
        ansible_bin = tools.ensure_bench_venv(work / "bench-venv.log")
        commit, pythonpath = tools.export_pullinfra(args.rev, work / "pullinfra-src")
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"BENCHMARK INVALID: {exc}", file=sys.stderr)
        return 1
    site = workload.copy_site(work / "site")
    toolbox = tools.Toolbox(site, pythonpath, ansible_bin, work)
    facts = machine_facts(tools.versions(ansible_bin, pythonpath), commit)
    facts["inotify_max_user_instances"] = raise_inotify_limit(max(hosts_counts))
    print(f"pullinfra {commit[:12]} | {facts['versions']['pyinfra']} | "
          f"{facts['versions'].get('ansible', 'no ansible')} | N {hosts_counts} | "
          f"reps {dict((f'{t}@{n}', k) for (t, n), k in reps_of.items())} | "
          f"load {facts['loadavg_start'][0]:.2f}", flush=True)
    daemon_result = None
    try:
        t0 = time.monotonic()
        with Bed.create(0, apt_repo=ensure_repo().path) as bed:
            bed.add_hosts(max(hosts_counts), systemd=True)
            facts["bed_boot_s"] = round(time.monotonic() - t0, 1)
            print(f"bed {bed.bed_id}: {len(bed.hosts)} systemd hosts in "
                  f"{facts['bed_boot_s']}s", flush=True)
            runner = Runner(bed, toolbox, work, Path(args.resume) if args.resume else None)
            samples = measure(runner, hosts_counts, tools_, reps_of, not args.no_warmup)
            facts["resumed_from"] = args.resume
            facts["resumed_samples"] = runner.resumed
            if not args.no_daemon:
                launcher = tools.pullinfra_launcher(pythonpath, work / "pullinfra")
                daemon_result = daemon.measure(
                    work / "daemon", bed, bed.hosts[:max(hosts_counts)], launcher, pushes,
                    cycles, args.reconcile_interval, timeout=1800)
    except (BenchError, workload.StateError, BedError, AssertionError, OSError,
            subprocess.SubprocessError) as exc:
        print(f"BENCHMARK INVALID: {type(exc).__name__}: {exc}\n(logs kept in {work}; "
              f"`--resume {work}` reuses the samples checked so far)", file=sys.stderr)
        return 1

    med = report.medians(samples)
    rows = report.ratio_rows(med)
    goal_rows = report.goals(med, daemon_result)
    facts["loadavg_end"] = loadavg()
    facts["elapsed_s"] = round(time.monotonic() - started, 1)
    reps_text = {f"{t}@{n}": k for (t, n), k in reps_of.items()}
    text = report.markdown(rows, goal_rows, daemon_result, reps_text)
    header = (f"## Results {facts['date'][:10]}: pullinfra {commit[:12]}, "
              f"{facts['versions']['pyinfra']}, {facts['versions'].get('ansible', '')}\n\n"
              f"{facts['nproc']} cores ({facts['cpu']}), load average "
              f"{facts['loadavg_start'][0]:.1f} at the start and {facts['loadavg_end'][0]:.1f}"
              f" at the end; {facts['elapsed_s'] / 60:.1f} minutes in all.\n\n")
    if runner.resumed:
        which = ", ".join(sorted({label.split("-")[0] for label in runner.resumed}))
        header += (f"{len(runner.resumed)} samples ({which}) were reused from an interrupted"
                   f" run (`--resume {args.resume}`), measured "
                   "there under the same settings; the rest (and the elapsed time) is this "
                   "run's.\n\n")
    print()
    print(header + text)
    if args.out != "-":
        name = args.name or (dt.date.today().isoformat() + ("-quick" if args.quick else ""))
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results = {"machine": facts, "quick": args.quick, "hosts": hosts_counts,
                   "reps": reps_text, "operations_per_host": workload.OPERATIONS,
                   "samples": samples, "medians": med, "rows": rows, "goals": goal_rows,
                   "daemon": daemon_result}
        (out / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / f"{name}.md").write_text(header + text)
        error = plot(out / f"{name}.json", out / f"{name}.png", ansible_bin)
        print(f"wrote {out / name}.json, .md" + (f" (no plot: {error})" if error else ", .png"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work dir kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
