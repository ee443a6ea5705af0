"""pullinfra vs pyinfra 3.x: wall time and peak RSS of `apply` on real SSH hosts.

Run from the checkout root as root: `.venv/bin/python -m bench.run` (see bench/README.md).
Numbers are ratios against pyinfra measured in the same run, because absolute seconds on a
shared 2-core machine mean little from one run to the next.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.deploy import Deploy, write_deploy
from tests.oracle import ORACLE_BIN, oracle_env
from tests.testbed import Bed, Host

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
# Real pyinfra runs from its own venv, with the dependencies it pins for itself, as its users
# get it; pullinfra's venv does not contain it.
PYINFRA = ORACLE_BIN / "pyinfra"
TOOLS = ("pyinfra", "pullinfra")
PHASES = ("first", "no-change")


class BenchError(RuntimeError):
    pass


def tool_argv(tool: str, inventory: Path, deploy: Path) -> list[str]:
    if tool == "pyinfra":
        return [str(PYINFRA), "-y", str(inventory), str(deploy)]
    return [*PULLINFRA, "apply", str(inventory), str(deploy)]


# The venv's `pullinfra` runs the live checkout, which other sessions edit while this runs;
# a half-edited tree would be measured (or crash). So pullinfra runs from an export of one
# commit, put first on PYTHONPATH (the editable install's finder comes after sys.path).
PULLINFRA = [str(VENV_BIN / "python"), "-m", "agent.cli"]
PULLINFRA_ENV: dict[str, str] = {}  # PYTHONPATH for pullinfra only, set by export_pullinfra


def export_pullinfra(rev: str, dest: Path) -> str:
    """Export agent/ at `rev` into dest and point PYTHONPATH at it; returns the commit id."""
    if rev == "worktree":
        PULLINFRA_ENV["PYTHONPATH"] = str(ROOT)
        return "worktree"
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "agent"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    PULLINFRA_ENV["PYTHONPATH"] = str(dest)
    where = subprocess.run([*PULLINFRA[:1], "-c", "import agent; print(agent.__file__)"],
                           cwd=dest.parent, capture_output=True, text=True,
                           env={**os.environ, **PULLINFRA_ENV}).stdout.strip()
    if not where.startswith(str(dest)):
        raise BenchError(f"the exported pullinfra is not the one imported ({where})")
    return commit


def timed(argv: list[str], cwd: Path, log: Path,
          env: dict[str, str] | None = None) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB, exit code) of one process.

    wait4 gives this child's own rusage (ru_maxrss covers it and any descendants it
    waited for), so other processes on the machine and earlier runs never leak in.
    """
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode


# ---- checks, straight on the hosts' filesystems (no SSH, no tool involved)

def snapshot(hosts: list[Host], d: Deploy) -> dict[str, dict[str, int]]:
    """mtime_ns of every managed file, to prove the no-change run rewrote nothing."""
    paths = [*d.puts, *d.templates, *d.files, f"{d.dirs[0]}/conf/settings.ini"]
    snap = {}
    for h in hosts:
        snap[h.name] = {}
        for p in paths:
            st = h.stat(p)
            snap[h.name][p] = st.st_mtime_ns if st else -1
    return snap


def check_applied(hosts: list[Host], d: Deploy, reloads: int) -> None:
    """Every host holds what the deploy describes; `reloads` lines in the _if-guarded log."""
    problems = []
    for h in hosts:
        for p in d.dirs:
            st = h.stat(p)
            if st is None or (st.st_mode & 0o777) != 0o755:
                problems.append(f"{h.name}: directory {p} missing or not 755")
        for p, want in d.puts.items():
            if h.read_file(p) != want:
                problems.append(f"{h.name}: {p} content differs")
        for p in d.templates:
            if h.read_file(p) != d.rendered(p, h.name):
                problems.append(f"{h.name}: {p} rendered differently: {h.read_file(p)!r}")
            elif (h.stat(p).st_mode & 0o777) != 0o640:
                problems.append(f"{h.name}: {p} mode is not 640")
        for p in d.files:
            st = h.stat(p)
            if st is None or (st.st_mode & 0o777) != 0o600:
                problems.append(f"{h.name}: file {p} missing or not 600")
        settings = (h.read_text(f"{d.dirs[0]}/conf/settings.ini") or "").splitlines()
        if settings != d.lines:
            problems.append(f"{h.name}: settings.ini is {settings!r}")
        if not (h.read_text(f"{d.dirs[0]}/data/uname.txt") or "").startswith("Linux"):
            problems.append(f"{h.name}: uname.txt not written")
        log = (h.read_text(f"{d.dirs[0]}/logs/reloads.log") or "").splitlines()
        if len(log) != reloads:
            problems.append(f"{h.name}: reloads.log has {len(log)} lines, want {reloads}")
    if problems:
        raise BenchError("host state is wrong:\n  " + "\n  ".join(problems[:20]))


def run_one(tool: str, phase: str, ctx: dict) -> dict:
    log = ctx["logdir"] / f"{tool}-{ctx['scale']}h-{phase}-{ctx['rep']}.log"
    wall, cpu, rss, code = timed(tool_argv(tool, ctx["inventory"], ctx["deploy"].deploy_file),
                            ctx["deploy"].dir, log,
                            env={**os.environ, **PULLINFRA_ENV} if tool == "pullinfra"
                            else oracle_env())
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise BenchError(f"{tool} {phase} on {ctx['scale']} hosts exited {code}:\n{tail}")
    return {"wall_s": wall, "cpu_s": cpu, "rss_kib": rss, "log": str(log)}


def measure_tool(bed: Bed, hosts: list[Host], tool: str, ctx: dict) -> dict[str, dict]:
    """First apply on pristine hosts, then the no-change apply, both checked on the hosts."""
    bed.reset(hosts)
    d = ctx["deploy"]
    first = run_one(tool, "first", ctx)
    check_applied(hosts, d, reloads=1)
    before = snapshot(hosts, d)
    time.sleep(0.01)  # so that a rewrite would show in mtime_ns even on coarse clocks
    second = run_one(tool, "no-change", ctx)
    check_applied(hosts, d, reloads=1)
    if snapshot(hosts, d) != before:
        raise BenchError(f"{tool}: the no-change run rewrote managed files")
    return {"first": first, "no-change": second}


def machine_facts() -> dict:
    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return ""

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": next((ln.split(":", 1)[1].strip()
                     for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")), platform.processor()),
        "mem_total_kib": int(Path("/proc/meminfo").read_text().split()[1]),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pyinfra": out([str(PYINFRA), "--version"]),
        # cwd / would put the live checkout first on sys.path (python -m adds the cwd)
        "pullinfra": subprocess.run([*PULLINFRA, "--version"], capture_output=True, text=True,
                                    cwd="/", env={**os.environ, **PULLINFRA_ENV}).stdout.strip(),
        "loadavg_start": os.getloadavg(),
    }


def summarize(samples: dict) -> list[dict]:
    rows = []
    for scale, by_tool in samples.items():
        for phase in PHASES:
            row: dict = {"hosts": int(scale), "phase": phase}
            for tool in TOOLS:
                runs = [r[phase] for r in by_tool[tool]]
                row[f"{tool}_s"] = statistics.median(r["wall_s"] for r in runs)
                row[f"{tool}_cpu_s"] = statistics.median(r["cpu_s"] for r in runs)
                row[f"{tool}_rss_mib"] = statistics.median(r["rss_kib"] for r in runs) / 1024
            row["time_ratio"] = row["pyinfra_s"] / row["pullinfra_s"]
            row["cpu_ratio"] = row["pyinfra_cpu_s"] / row["pullinfra_cpu_s"]
            row["rss_ratio"] = row["pyinfra_rss_mib"] / row["pullinfra_rss_mib"]
            rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    head = (f"{'hosts':>5}  {'phase':<9}  {'pyinfra s':>9}  {'pullinfra s':>11}  {'ratio':>6}"
            f"  {'cpu s':>5} / {'cpu s':<5}  {'ratio':>6}"
            f"  {'pyinfra MiB':>11}  {'pullinfra MiB':>13}  {'ratio':>6}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['hosts']:>5}  {r['phase']:<9}  {r['pyinfra_s']:>9.2f}  {r['pullinfra_s']:>11.2f}"
            f"  {r['time_ratio']:>5.2f}x  {r['pyinfra_cpu_s']:>5.2f} / {r['pullinfra_cpu_s']:<5.2f}"
            f"  {r['cpu_ratio']:>5.2f}x  {r['pyinfra_rss_mib']:>11.1f}"
            f"  {r['pullinfra_rss_mib']:>13.1f}  {r['rss_ratio']:>5.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--scales", default="1,5,20",
                        help="host counts, comma separated (default 1,5,20)")
    parser.add_argument("--reps", type=int, default=3, help="runs per tool and scale (median)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"),
                        help="JSON results file ('-' for none)")
    parser.add_argument("--rev", default="HEAD",
                        help="pullinfra commit to measure, or 'worktree' for the live checkout"
                             " (default HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (tool logs)")
    args = parser.parse_args(argv)
    scales = sorted({int(s) for s in args.scales.split(",")})
    if not PYINFRA.exists():
        print(f"BENCHMARK INVALID: real pyinfra ({PYINFRA}) is missing: run scripts/bootstrap.sh",
              file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="pullinfra-bench-"))
    logdir = work / "logs"
    logdir.mkdir()
    deploy = write_deploy(work / "deploy")
    try:
        commit = export_pullinfra(args.rev, work / "pullinfra-src")
    except BenchError as exc:
        print(f"BENCHMARK INVALID: {exc}", file=sys.stderr)
        return 1
    facts = machine_facts()
    facts["pullinfra_commit"] = commit
    print(f"deploy: {deploy.n_ops} operations; scales {scales}; {args.reps} reps; "
          f"nproc {facts['nproc']}; load {facts['loadavg_start'][0]:.2f}", flush=True)
    samples: dict[str, dict[str, list]] = {}
    started = time.monotonic()
    try:
        t0 = time.monotonic()
        with Bed.create(max(scales), apt_repo=None) as bed:
            print(f"bed {bed.bed_id}: {len(bed.hosts)} hosts in {time.monotonic() - t0:.1f}s",
                  flush=True)
            for scale in scales:
                hosts = bed.hosts[:scale]
                inventory = bed.write_inventory(work / f"inventory_{scale}.py", hosts)
                ctx = {"scale": scale, "inventory": inventory, "deploy": deploy,
                       "logdir": logdir, "rep": "warmup"}
                if scale == scales[0]:  # page cache, .pyc files: not what we measure
                    for tool in TOOLS:
                        measure_tool(bed, hosts, tool, ctx)
                by_tool: dict[str, list] = {t: [] for t in TOOLS}
                for rep in range(args.reps):
                    ctx["rep"] = rep
                    # alternate who goes first, so drift in machine load hits both alike
                    for tool in (TOOLS if rep % 2 == 0 else TOOLS[::-1]):
                        res = measure_tool(bed, hosts, tool, ctx)
                        by_tool[tool].append(res)
                        print(f"  {scale:>3} hosts rep {rep} {tool:<9}  first "
                              f"{res['first']['wall_s']:6.2f}s  no-change "
                              f"{res['no-change']['wall_s']:6.2f}s", flush=True)
                samples[str(scale)] = by_tool
    except BenchError as exc:
        print(f"BENCHMARK INVALID: {exc}\n(tool logs kept in {logdir})", file=sys.stderr)
        return 1
    rows = summarize(samples)
    facts["loadavg_end"] = os.getloadavg()
    facts["elapsed_s"] = round(time.monotonic() - started, 1)
    print()
    print(table(rows))
    print(f"\nratio = pyinfra / pullinfra (above 1: pullinfra is faster / smaller). "
          f"Medians of {args.reps}. Load average {facts['loadavg_start'][0]:.2f} -> "
          f"{facts['loadavg_end'][0]:.2f}; {facts['elapsed_s']}s total.")
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        for by_tool in samples.values():
            for runs in by_tool.values():
                for r in runs:
                    for p in PHASES:
                        r[p].pop("log", None)
        out.write_text(json.dumps({"machine": facts, "deploy_ops": deploy.n_ops,
                                   "reps": args.reps, "rows": rows, "samples": samples},
                                  indent=2) + "\n")
        print(f"wrote {out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
