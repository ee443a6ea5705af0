"""Wall time against host count, one panel per scenario, one line per tool (and the floor).

Usage: .venv-bench/bin/python -I bench/plot.py RESULTS.json OUT.png

Runs in .venv-bench, where matplotlib is (bench/requirements.lock), never in .venv: the
project's venv holds what pullinfra and its tests need and nothing for the benchmark.
Reads only the results JSON that bench/run.py wrote, so it imports nothing of the checkout.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SCENARIOS = (("first", "first apply"), ("no-change", "no-change re-run"),
             ("drift", "re-run, 10% drifted"))
STYLE = {"pullinfra": ("tab:blue", "o"), "pyinfra": ("tab:orange", "s"),
         "ansible": ("tab:red", "^"), "floor": ("tab:gray", "x")}


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        results = json.load(f)
    med = results["medians"]
    ns = sorted(med, key=int)
    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(15, 4.8), sharey=True)
    for ax, (scenario, title) in zip(axes, SCENARIOS, strict=True):
        for tool, (color, marker) in STYLE.items():
            if tool == "floor" and scenario != "no-change":
                continue
            key = "no-change" if tool == "floor" else scenario
            points = [(int(n), med[n][tool][key]["wall_s"]) for n in ns
                      if med[n].get(tool, {}).get(key, {}).get("wall_s") is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, color=color, marker=marker, label=tool)
        ax.set_title(title)
        ax.set_xlabel("hosts")
        ax.set_xticks([int(n) for n in ns])
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("wall time, s (median, log scale)")
    handles, labels = axes[1].get_legend_handles_labels()  # the only panel with the floor
    axes[-1].legend(handles, labels, loc="lower right")
    machine = results["machine"]
    fig.suptitle(f"pullinfra {str(machine.get('pullinfra_commit', ''))[:10]} vs pyinfra and "
                 f"Ansible: {machine.get('date', '')}, {machine.get('nproc')} cores")
    fig.tight_layout()
    fig.savefig(argv[1], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
