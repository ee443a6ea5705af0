"""From samples to what a reader needs: medians, ratios against each peer, the goals' checks,
and the markdown table (the same text is printed, written to bench/results/<date>.md and
quoted in bench/README.md).

Ratios are pullinfra / peer, so below 1 means pullinfra is faster (or smaller); the goals
are written the same way (e.g. no-change wall <= 1/6 of pyinfra's is a ratio <= 0.167).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

SCENARIOS = ("first", "no-change", "drift")
SCENARIO_TITLES = {"first": "first apply", "no-change": "no-change re-run",
                   "drift": "re-run, 10% drifted"}
FIGURES = ("wall_s", "cpu_s", "rss_kib", "hosts_cpu_s")
PEERS = ("pyinfra", "ansible")
GOAL_HOSTS = 50  # the goals' host count (medians of 3 there)
NA = "n/a"

Samples = Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]]


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def medians(samples: Mapping[str, Any]) -> dict[str, dict[str, dict[str, dict]]]:
    """{N: {tool: {scenario: {figure: median, "n": reps}}}}; the floor as scenario no-change."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for n, by_tool in samples.items():
        out[n] = {}
        for tool, reps in by_tool.items():
            if tool == "floor":
                runs = {"no-change": list(reps)}
            else:
                runs = {s: [r[s] for r in reps if s in r] for s in SCENARIOS}
            out[n][tool] = {
                s: {f: _median([r[f] for r in rs if f in r]) for f in FIGURES} | {"n": len(rs)}
                for s, rs in runs.items() if rs}
    return out


def _get(med: Mapping, n: int | str, tool: str, scenario: str, figure: str) -> float | None:
    return med.get(str(n), {}).get(tool, {}).get(scenario, {}).get(figure)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratio_rows(med: Mapping) -> list[dict[str, Any]]:
    """One row per host count and scenario: each tool's medians and pullinfra / peer ratios."""
    rows = []
    for n in sorted(med, key=int):
        for s in SCENARIOS:
            row: dict[str, Any] = {"hosts": int(n), "scenario": s}
            for tool in ("pullinfra", *PEERS):
                for f in FIGURES:
                    row[f"{tool}_{f}"] = _get(med, n, tool, s, f)
            row["floor_wall_s"] = _get(med, n, "floor", "no-change", "wall_s")
            for peer in PEERS:
                for f in ("wall_s", "cpu_s", "rss_kib"):
                    row[f"vs_{peer}_{f}"] = _ratio(row[f"pullinfra_{f}"], row[f"{peer}_{f}"])
            row["vs_floor_wall_s"] = _ratio(row["pullinfra_wall_s"], row["floor_wall_s"])
            rows.append(row)
    return rows


def _goal(name: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"goal": name, "measured": measured,
            "met": met, "verdict": "not measured" if met is None else
            ("met" if met else "NOT MET")}


def _fmt(x: float | None, spec: str = ".2f", suffix: str = "") -> str:
    return NA if x is None else f"{x:{spec}}{suffix}"


def goals(med: Mapping, daemon: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's goals, each checked against this run's medians (met / NOT MET / not
    measured when the run did not include the host count or tool it needs)."""
    g = str(GOAL_HOSTS)
    out = []
    r = _ratio(_get(med, g, "pullinfra", "no-change", "wall_s"),
               _get(med, g, "pyinfra", "no-change", "wall_s"))
    out.append(_goal("no-change re-run wall <= 1/6 of pyinfra's (N=50)",
                     f"{_fmt(r, '.3f')} (target <= 0.167)",
                     None if r is None else r <= 1 / 6))
    r = _ratio(_get(med, g, "pullinfra", "no-change", "wall_s"),
               _get(med, g, "floor", "no-change", "wall_s"))
    out.append(_goal("no-change re-run wall <= 2x the floor (N=50)",
                     f"{_fmt(r, '.2f', 'x')} (target <= 2)", None if r is None else r <= 2))
    r = _ratio(_get(med, g, "pullinfra", "first", "wall_s"),
               _get(med, g, "pyinfra", "first", "wall_s"))
    out.append(_goal("first apply wall <= 1/3 of pyinfra's (N=50)",
                     f"{_fmt(r, '.3f')} (target <= 0.333)", None if r is None else r <= 1 / 3))
    pairs = [(n, s, _ratio(_get(med, n, "pullinfra", s, "wall_s"),
                           _get(med, n, "ansible", s, "wall_s")))
             for n in sorted(med, key=int) for s in SCENARIOS]
    measured = [(n, s, x) for n, s, x in pairs if x is not None]
    slower = [f"N={n} {s}" for n, s, x in measured if x >= 1]
    worst = max((x for _, _, x in measured), default=None)
    out.append(_goal("faster than Ansible in every scenario at every N",
                     f"{len(measured)} of {len(pairs)} measured, worst ratio {_fmt(worst, '.3f')}"
                     + (f"; slower: {', '.join(slower)}" if slower else ""),
                     None if not measured else not slower))
    rss = [(s, _get(med, "100", "pullinfra", s, "rss_kib"), _get(med, "100", "pyinfra", s,
                                                                 "rss_kib")) for s in SCENARIOS]
    rss = [(s, a, b) for s, a, b in rss if a is not None and b is not None]
    out.append(_goal("peak RSS at N=100 <= pyinfra's",
                     ", ".join(f"{s} {a / 1024:.0f}/{b / 1024:.0f} MiB" for s, a, b in rss)
                     or NA, None if not rss else all(a <= b for _, a, b in rss)))
    growth = [(s, _ratio(_get(med, "100", "pullinfra", s, "wall_s"),
                         _get(med, "20", "pullinfra", s, "wall_s"))) for s in SCENARIOS]
    growth = [(s, x) for s, x in growth if x is not None]
    out.append(_goal("wall time grows no worse than linearly, 20 -> 100 hosts (<= 5x)",
                     ", ".join(f"{s} {x:.2f}x" for s, x in growth) or NA,
                     None if not growth else all(x <= 5 for _, x in growth)))
    overhead = daemon.get("overhead_s_median") if daemon else None
    out.append(_goal("daemon push-to-converged overhead < 2 s",
                     f"{_fmt(overhead, '.2f', ' s')} (median, at N={daemon['hosts']})"
                     if daemon else NA, None if overhead is None else overhead < 2))
    idle = daemon["idle"]["cpu_s_per_cycle_median"] if daemon else None
    idle_n = daemon["hosts"] if daemon else None
    pyinfra_cpu = _get(med, idle_n, "pyinfra", "no-change", "cpu_s") if idle_n else None
    out.append(_goal("idle reconcile cycle at N=100 costs less CPU than one pyinfra no-change "
                     "run", f"{_fmt(idle, '.2f', ' s')} vs {_fmt(pyinfra_cpu, '.2f', ' s')}"
                     f" (N={idle_n})", None if idle is None or pyinfra_cpu is None
                     or idle_n != 100 else idle < pyinfra_cpu))
    return out


def markdown(rows: Sequence[Mapping[str, Any]], goal_rows: Sequence[Mapping[str, Any]],
             daemon: Mapping[str, Any] | None, reps: Mapping[str, Any]) -> str:
    """The tables: wall time and ratios; CPU and RSS and ratios; the goals; the daemon."""
    out = ["### Wall time (s, median) and ratios (pullinfra / peer: below 1, pullinfra is "
           "faster)", "",
           "| N | scenario | pullinfra | pyinfra | ansible | floor | / pyinfra | / ansible "
           "| / floor |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        floor = r["floor_wall_s"] if r["scenario"] == "no-change" else None
        vs_floor = r["vs_floor_wall_s"] if r["scenario"] == "no-change" else None
        out.append(f"| {r['hosts']} | {SCENARIO_TITLES[r['scenario']]} "
                   f"| {_fmt(r['pullinfra_wall_s'])} | {_fmt(r['pyinfra_wall_s'])} "
                   f"| {_fmt(r['ansible_wall_s'])} | {_fmt(floor)} "
                   f"| {_fmt(r['vs_pyinfra_wall_s'], '.3f')} "
                   f"| {_fmt(r['vs_ansible_wall_s'], '.3f')} | {_fmt(vs_floor, '.2f')} |")
    out += ["", "### CPU (s, user+sys of the tool's process tree) and peak RSS (MiB), medians",
            "", "| N | scenario | CPU pullinfra | CPU pyinfra | CPU ansible | / pyinfra "
            "| / ansible | RSS pullinfra | RSS pyinfra | RSS ansible* | / pyinfra | / ansible "
            "| hosts' CPU pullinfra / pyinfra / ansible |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        def mib(x: float | None) -> str:
            return _fmt(None if x is None else x / 1024, ".1f")
        out.append(
            f"| {r['hosts']} | {SCENARIO_TITLES[r['scenario']]} "
            f"| {_fmt(r['pullinfra_cpu_s'])} | {_fmt(r['pyinfra_cpu_s'])} "
            f"| {_fmt(r['ansible_cpu_s'])} | {_fmt(r['vs_pyinfra_cpu_s'], '.3f')} "
            f"| {_fmt(r['vs_ansible_cpu_s'], '.3f')} | {mib(r['pullinfra_rss_kib'])} "
            f"| {mib(r['pyinfra_rss_kib'])} | {mib(r['ansible_rss_kib'])} "
            f"| {_fmt(r['vs_pyinfra_rss_kib'], '.3f')} | {_fmt(r['vs_ansible_rss_kib'], '.3f')} "
            f"| {_fmt(r['pullinfra_hosts_cpu_s'], '.1f')} / {_fmt(r['pyinfra_hosts_cpu_s'], '.1f')}"
            f" / {_fmt(r['ansible_hosts_cpu_s'], '.1f')} |")
    out += ["", "\\* Ansible's RSS is its largest single process (the controller or one forked "
            "worker), not the sum over its workers.", "",
            "Repetitions (median of): " + "; ".join(f"{k}: {v}" for k, v in reps.items()), "",
            "### Goals", "", "| goal | measured | verdict |", "|---|---|---|"]
    out += [f"| {g['goal']} | {g['measured']} | {g['verdict']} |" for g in goal_rows]
    if daemon:
        idle = daemon["idle"]
        out += ["", "### Daemon", "",
                f"- push to converged at N={daemon['hosts']} ({len(daemon['pushes'])} pushes, "
                f"medians): {daemon['push_to_report_s_median']:.2f} s from `git push` to the "
                f"converged report; overhead beyond the execute stage "
                f"{daemon['overhead_s_median']:.2f} s, beyond all five stages "
                f"{daemon['overhead_beyond_stages_s_median']:.2f} s",
                f"- idle reconcile at N={daemon['hosts']} every {idle['interval_s']} s "
                f"({len(idle['cycles'])} cycles): {idle['cpu_s_per_cycle_median']:.2f} s CPU "
                f"per cycle (median), RSS {idle['rss_kib_median'] / 1024:.1f} MiB (median at the "
                f"end of a cycle), peak {idle['peak_rss_kib'] / 1024:.1f} MiB"]
    return "\n".join(out) + "\n"
