"""Differential tests: one deploy, run by real pyinfra 3.10 and by pullinfra, compared.

Each tool gets its own fresh bed hosts (a Case with hosts=N takes 2N pristine hosts: N for
each), and runs the same deploy on them twice. The comparison covers, per host:

- the sequence of operations (names) on run 1 and on run 2,
- each operation's changed / no-change flag on run 1 and on run 2 (run 2 shows idempotence),
- that every operation succeeded, on both tools and both runs,
- the final state `case.state(host)` read directly from the host (tests/differential/state.py).

Real pyinfra runs only in the oracle venv, as a subprocess (run_real_pyinfra.py, with pyinfra's
own State/inventory/connect/prepare/execute and its per-host operation meta). pullinfra runs
in this process through `agent.compat.run_deploy`. Both inventories name their hosts h1..hN,
so results and states compare host by host.

Adding a case (in tests/differential/test_<family>.py)::

    from tests.differential import state
    from tests.differential.harness import Case

    CASES = [
        Case(
            name="user with groups and a key",
            deploy='''
    from pyinfra.operations import server
    server.user(name="alice", user="alice", groups=["adm"], shell="/bin/bash")
    ''',
            state=lambda h: state.users(h, ["alice"]),
            # hosts=1                      hosts per tool
            # systemd=True                 hosts that boot systemd (the `systemd_hosts` fixture)
            # data={"port": 8080}          host data for every host (beside the SSH data)
            # files={"templates/x.j2": "{{ host.data.port }}"}   beside the deploy
            # setup=lambda h: h.run("useradd bob", check=True)  on each fresh host, first
        ),
    ]

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_accounts_match_pyinfra(differential, case):
        differential.check(case)

`differential.check(case)` asserts and shows a unified diff of the two sides when they
differ. Where pyinfra itself is wrong, use `comparison = differential.run(case)` (nothing
asserted), then assert the right behaviour on `comparison.pullinfra` / `comparison.pyinfra`
(`.runs[0]["h1"]`, `.state["h1"]`) with a comment saying why pyinfra is wrong.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from agent.compat import run_deploy
from agent.engine.result import HostResult, RunResult
from agent.engine.run import RunOptions
from agent.vocab import OpStatus
from tests.oracle import run_oracle_file
from tests.testbed import Host

REAL_PYINFRA_SCRIPT = Path(__file__).with_name("run_real_pyinfra.py")
RUNS = 2
ORACLE_TIMEOUT = 600


@dataclass(frozen=True)
class Case:
    name: str
    deploy: str
    state: Callable[[Host], Any]
    hosts: int = 1
    systemd: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    setup: Callable[[Host], None] | None = None


class OpResult(NamedTuple):
    name: str
    changed: bool
    success: bool | None  # None: the operation never ran on the host


HostOps = dict[str, list[OpResult]]  # inventory name (h1..hN) -> operations in order


@dataclass
class Observation:
    """What one tool did: per-run, per-host operation results, and the hosts' final state."""

    tool: str
    runs: list[HostOps]
    state: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # host-level errors (e.g. connect)

    @property
    def failures(self) -> list[str]:
        found = [f"{self.tool} {host}: {error}" for host, error in self.errors.items()]
        for number, run in enumerate(self.runs, 1):
            for host, ops in run.items():
                found += [f"{self.tool} run {number} {host}: {op.name} "
                          f"{'failed' if op.success is False else 'never ran'}"
                          for op in ops if op.success is not True]
        return found

    def view(self) -> dict[str, Any]:
        """The comparable part: the operations that ran, with changed flag and success, per
        run and host, and the final state.

        Operations a host never reached (after a failure) and host-level error texts are
        left out: pyinfra lists the one and pullinfra the other, and neither is behaviour.
        Both still make `failures`.
        """
        shown: dict[str, Any] = {}
        for number, run in enumerate(self.runs, 1):
            shown[f"run {number}"] = {
                host: [f"{op.name}: {'changed' if op.changed else 'no change'}"
                       + ("" if op.success else " (failed)")
                       for op in ops if op.success is not None]
                for host, ops in sorted(run.items())}
        shown["state"] = self.state
        return shown


@dataclass
class Comparison:
    case: Case
    pyinfra: Observation
    pullinfra: Observation

    @property
    def same(self) -> bool:
        return self.pyinfra.view() == self.pullinfra.view()

    def diff(self) -> str:
        """A unified diff of the two sides' views (empty when they agree)."""
        left, right = (json.dumps(o.view(), indent=2, sort_keys=True).splitlines()
                       for o in (self.pyinfra, self.pullinfra))
        return "\n".join(difflib.unified_diff(left, right, "pyinfra", "pullinfra", lineterm=""))

    def assert_same(self) -> None:
        assert self.same, (f"{self.case.name}: pullinfra differs from real pyinfra "
                           f"(- pyinfra, + pullinfra):\n{self.diff()}")
        failures = self.pyinfra.failures + self.pullinfra.failures
        assert not failures, (f"{self.case.name}: both tools agree, but not every operation "
                              "succeeded:\n" + "\n".join(failures))


def _jsonable(value: Any) -> Any:
    """State as JSON brings it back, so tuples and lists (etc.) never differ by accident."""
    return json.loads(json.dumps(value, sort_keys=True))


def _inventory_source(hosts: Sequence[Host], data: Mapping[str, Any]) -> str:
    entries = "".join(f"    ({f'h{i}'!r}, {({**host.ssh_data, **data})!r}),\n"
                      for i, host in enumerate(hosts, 1))
    return f"hosts = [\n{entries}]\n"


def _write_project(root: Path, case: Case, hosts: Sequence[Host]) -> tuple[Path, Path]:
    """The case's project for one tool: inventory.py, deploy.py and case.files; their paths."""
    root.mkdir(parents=True)
    for relative, text in case.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    deploy = root / "deploy.py"
    deploy.write_text(textwrap.dedent(case.deploy).lstrip("\n"))
    inventory = root / "inventory.py"
    inventory.write_text(_inventory_source(hosts, case.data))
    return inventory, deploy


def _run_pyinfra(inventory: Path, deploy: Path) -> HostOps:
    proc = run_oracle_file(REAL_PYINFRA_SCRIPT, [str(inventory), str(deploy)],
                           cwd=deploy.parent, timeout=ORACLE_TIMEOUT)
    hosts = json.loads(proc.stdout)["hosts"]
    return {host: [OpResult(*op) for op in ops] for host, ops in hosts.items()}


def _pullinfra_ops(host: HostResult) -> list[OpResult]:
    ops, stopped = [], False
    for op in host.operations:
        if op.status == OpStatus.SKIPPED and stopped:
            ops.append(OpResult(op.name, False, None))
            continue
        ops.append(OpResult(op.name, op.status == OpStatus.CHANGED,
                            op.status != OpStatus.FAILED))
        stopped = stopped or op.host_stopped
    return ops


def _run_pullinfra(inventory: Path, deploy: Path) -> tuple[HostOps, dict[str, str]]:
    result: RunResult = run_deploy(inventory, [deploy], RunOptions(project_root=deploy.parent))
    ops = {host.name: _pullinfra_ops(host) for host in result.hosts}
    errors = {host.name: host.error for host in result.hosts if host.error}
    if result.aborted:
        errors["run"] = str(result.aborted)
    return ops, errors


def _states(case: Case, hosts: Sequence[Host]) -> dict[str, Any]:
    return {f"h{i}": _jsonable(case.state(host)) for i, host in enumerate(hosts, 1)}


class Differential:
    """The `differential` fixture: run(case) observes both tools, check(case) also asserts."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request = request
        self.tmp_path = tmp_path
        self.count = 0

    def _hosts(self, case: Case) -> list[Host]:
        factory = self.request.getfixturevalue("systemd_hosts" if case.systemd else "bed_hosts")
        return list(factory(2 * case.hosts))

    def run(self, case: Case) -> Comparison:
        """Run case's deploy twice with each tool on fresh hosts; nothing asserted."""
        hosts = self._hosts(case)
        theirs, ours = hosts[:case.hosts], hosts[case.hosts:]
        if case.setup is not None:
            for host in hosts:
                case.setup(host)
        self.count += 1
        root = self.tmp_path / f"case{self.count}"
        pyinfra_project = _write_project(root / "pyinfra", case, theirs)
        pullinfra_project = _write_project(root / "pullinfra", case, ours)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            # Different hosts, so real pyinfra's subprocess runs while pullinfra runs here.
            pyinfra_runs = pool.submit(lambda: [_run_pyinfra(*pyinfra_project)
                                                for _ in range(RUNS)])
            our_runs, our_errors = [], {}
            for _ in range(RUNS):
                ops, errors = _run_pullinfra(*pullinfra_project)
                our_runs.append(ops)
                our_errors.update(errors)
            their_runs = pyinfra_runs.result()
        return Comparison(
            case,
            Observation("pyinfra", their_runs, _states(case, theirs)),
            Observation("pullinfra", our_runs, _states(case, ours), our_errors),
        )

    def check(
        self, case: Case, pyinfra_wrong: Callable[[Comparison], None] | None = None
    ) -> Comparison:
        """run(case), asserting both tools agree and every operation succeeded.

        `pyinfra_wrong`, for a case where real pyinfra is wrong, first asserts the exact
        difference and sets pyinfra's side to the right result, so that everything else is
        still compared."""
        comparison = self.run(case)
        if pyinfra_wrong is not None:
            pyinfra_wrong(comparison)
        comparison.assert_same()
        return comparison
