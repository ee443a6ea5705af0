"""The three tools under test, how each is installed, invoked and timed.

- pyinfra: real pyinfra 3.x from .venv-oracle (requirements/oracle.lock, scripts/bootstrap.sh),
  with the dependencies it pins for itself, as its users get it.
- pullinfra: `python -m agent.cli` from a `git archive` of --rev put first on PYTHONPATH, not
  the live checkout, because other sessions edit agent/ while a benchmark runs (a half-edited
  tree would be measured, or crash). `--rev worktree` measures the checkout as it is.
- ansible: ansible-core from bench/requirements.lock in .venv-bench (made here; never in
  .venv), with pipelining on, forks = number of hosts, no fact gathering, and the target's
  Python named (no interpreter discovery round trip): Ansible at its fastest stock settings.

Every run goes through bench/reaper.py, which times the whole process tree the same way for
all three (bench/README.md, "How it is measured").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import venv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.oracle import ORACLE_BIN, oracle_env
from tests.testbed import Bed, Host

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
PYINFRA = ORACLE_BIN / "pyinfra"
BENCH_VENV = ROOT / ".venv-bench"
BENCH_LOCK = BENCH / "requirements.lock"
REAPER = BENCH / "reaper.py"
TOOLS = ("pyinfra", "pullinfra", "ansible")


class BenchError(RuntimeError):
    """The benchmark cannot go on; its result would be wrong. The message says why."""


def _stamp(lock: Path) -> str:
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def ensure_bench_venv(log: Path) -> Path:
    """.venv-bench holding exactly bench/requirements.lock (made anew when the lock changes,
    as scripts/bootstrap.sh does for the project's venvs); returns its bin directory."""
    stamp = BENCH_VENV / ".bench-lock"
    if stamp.is_file() and stamp.read_text() == _stamp(BENCH_LOCK):
        return BENCH_VENV / "bin"
    print(f"bench: creating {BENCH_VENV.name} from {BENCH_LOCK.relative_to(ROOT)}", flush=True)
    with contextlib.suppress(FileNotFoundError):
        stamp.unlink()
    venv.EnvBuilder(clear=True, with_pip=True).create(BENCH_VENV)
    # -I: the checkout (cwd) must not be on sys.path, or pip check sees pullinfra's egg-info
    pip = [str(BENCH_VENV / "bin" / "python"), "-I", "-m", "pip"]
    with log.open("ab") as out:
        for argv in ([*pip, "install", "-q", "--require-hashes", "--no-deps", "-r",
                      str(BENCH_LOCK)], [*pip, "check"]):
            if subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise BenchError(f"{' '.join(argv)} failed; see {log}")
    stamp.write_text(_stamp(BENCH_LOCK))
    return BENCH_VENV / "bin"


def export_pullinfra(rev: str, dest: Path) -> tuple[str, str]:
    """agent/ at `rev` exported into dest; returns (commit, PYTHONPATH for pullinfra)."""
    if rev == "worktree":
        return "worktree", str(ROOT)
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit, "agent"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    # Compiled as pip compiles an installed wheel (and pyinfra's and Ansible's venvs are):
    # with PYTHONDONTWRITEBYTECODE set, as on these machines, every run would compile agent/.
    subprocess.run([str(PYTHON), "-m", "compileall", "-q", str(dest)], check=True,
                   stdout=subprocess.DEVNULL)
    where = subprocess.run([str(PYTHON), "-c", "import agent; print(agent.__file__)"],
                           cwd=dest.parent, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(dest)}).stdout.strip()
    if not where.startswith(str(dest)):
        raise BenchError(f"the exported pullinfra is not the one imported ({where})")
    return commit, str(dest)


def pullinfra_launcher(pythonpath: str, path: Path) -> Path:
    """An executable `pullinfra` that runs the exported commit (for the daemon's tests'
    AgentProcess, which runs `PULLINFRA agent --config FILE`); exec keeps the pid."""
    path.write_text(f"#!/bin/sh\nPYTHONPATH={pythonpath} exec {PYTHON} -m agent.cli \"$@\"\n")
    path.chmod(0o755)
    return path


def ansible_inventory(path: Path, bed: Bed, hosts: Sequence[Host],
                      groups: Mapping[str, Sequence[str]]) -> Path:
    """An INI inventory with the same hosts, groups and SSH settings as bed.inventory."""
    by_name = {h.name: h for h in hosts}
    lines = []
    for group, names in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{n} ansible_host={by_name[n].address} ansible_port={by_name[n].port}"
                  for n in names]
        lines.append("")
    ssh_args = (f"-o UserKnownHostsFile={bed.known_hosts} -o GlobalKnownHostsFile=/dev/null "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes")
    lines += ["[all:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={bed.client_key}",
              f"ansible_ssh_common_args='{ssh_args}'",
              "ansible_python_interpreter=/usr/bin/python3", ""]
    path.write_text("\n".join(lines))
    return path


def ansible_config(path: Path, forks: int, workdir: Path) -> Path:
    """ansible.cfg: pipelining on, forks = hosts; ssh_args stay Ansible's default
    (ControlMaster=auto, ControlPersist=60s: one SSH connection per host, reused)."""
    path.write_text("\n".join([
        "[defaults]",
        f"forks = {forks}",
        "host_key_checking = True",
        "retry_files_enabled = False",
        f"local_tmp = {workdir / 'ansible-local'}",
        "",
        "[ssh_connection]",
        "pipelining = True",
        f"control_path_dir = {workdir / 'cp'}",
        "",
    ]))
    return path


@dataclass
class Invocation:
    """Everything needed to run one tool against one set of hosts."""

    tool: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Toolbox:
    """The tools' fixed settings for one benchmark run (paths, pullinfra's PYTHONPATH)."""

    site: Path
    pullinfra_path: str
    ansible_bin: Path | None
    workdir: Path

    def invocation(self, tool: str, inventory_py: Path, inventory_ini: Path,
                   forks: int) -> Invocation:
        if tool == "pyinfra":
            return Invocation(tool, [str(PYINFRA), "-y", str(inventory_py), "deploy.py"],
                              self.site, oracle_env())
        if tool == "pullinfra":
            env = {**os.environ, "PYTHONPATH": self.pullinfra_path}
            return Invocation(tool, [str(PYTHON), "-m", "agent.cli", "apply", str(inventory_py),
                                     "deploy.py"], self.site, env)
        if tool == "ansible":
            if self.ansible_bin is None:
                raise BenchError("ansible was not installed for this run")
            cfg = ansible_config(self.workdir / f"ansible-{forks}.cfg", forks, self.workdir)
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("ANSIBLE_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
            # cryptography's deprecation notice on every start is noise in the log, no more
            env |= {"ANSIBLE_CONFIG": str(cfg), "PYTHONWARNINGS": "ignore::DeprecationWarning",
                    "ANSIBLE_NOCOLOR": "1"}
            return Invocation(tool, [str(self.ansible_bin / "ansible-playbook"), "-i",
                                     str(inventory_ini), "playbook.yml"], self.site, env)
        raise ValueError(f"unknown tool {tool!r}")


def timed(inv: Invocation, log: Path, cgroup: Path | None = None) -> dict:
    """Run one invocation under bench/reaper.py; its figures plus the bed hosts' CPU.

    cgroup: the bed's cgroup (systemd hosts live under it); the growth of its usage_usec
    over the run is the CPU the hosts spent serving the tool (sshd, shells, systemd).
    """
    result = log.with_suffix(".json")
    hosts_before = _cgroup_usage(cgroup)
    with log.open("wb") as out:
        proc = subprocess.run([str(PYTHON), "-I", str(REAPER), str(result), "--", *inv.argv],
                              cwd=inv.cwd, env=inv.env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not result.exists():
        raise BenchError(f"the reaper failed for {inv.tool} ({proc.returncode}); see {log}")
    sample = json.loads(result.read_text())
    if hosts_before is not None:
        sample["hosts_cpu_s"] = (_cgroup_usage(cgroup) - hosts_before) / 1e6
    if sample["exit"] != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise BenchError(f"{inv.tool} exited {sample['exit']}:\n{tail}")
    return sample


def _cgroup_usage(cgroup: Path | None) -> int | None:
    if cgroup is None:
        return None
    try:
        for line in (cgroup / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def versions(ansible_bin: Path | None, pullinfra_path: str) -> dict[str, str]:
    """Each tool's own --version line (cwd / so that no checkout is on sys.path)."""
    def first_line(argv: list[str], env: Mapping[str, str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, cwd="/", env=dict(env))
        except OSError as exc:
            return f"unavailable: {exc}"
        return (done.stdout.strip() or done.stderr.strip()).splitlines()[0]

    out = {"pyinfra": first_line([str(PYINFRA), "--version"], oracle_env()),
           "pullinfra": first_line([str(PYTHON), "-m", "agent.cli", "--version"],
                                   {**os.environ, "PYTHONPATH": pullinfra_path}),
           "python": sys.version.split()[0]}
    if ansible_bin is not None:
        out["ansible"] = first_line([str(ansible_bin / "ansible-playbook"), "--version"],
                                    {**os.environ, "PYTHONWARNINGS": "ignore"})
    return out
