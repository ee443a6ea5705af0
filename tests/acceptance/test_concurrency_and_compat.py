"""Acceptance 6 (two runs at once in one process) and 7 (real pyinfra is unaffected)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.acceptance.conftest import pullinfra, real_python
from tests.oracle import (
    ORACLE_VENV,
    assert_standin_untouched,
    run_beside_standin,
    standin_imports,
    write_standin_pyinfra,
)

pytestmark = pytest.mark.bed

LEFT = '''\
from pyinfra import host
from pyinfra.operations import files, server
from tests.acceptance.rendezvous_ops import meet

files.file(name="left file", path=f"/tmp/left-{host.name}")
meet(host.data.barrier, name="left meets right")
server.shell(name="left owner", commands=[f"echo left {host.name} > /tmp/owner"])
files.directory(name="left dir", path="/tmp/left-dir")
'''

RIGHT = '''\
from pyinfra import host
from pyinfra.operations import files, server
from tests.acceptance.rendezvous_ops import meet

files.directory(name="right dir", path="/tmp/right-dir")
meet(host.data.barrier, name="right meets left")
files.file(name="right file", path=f"/tmp/right-{host.name}")
if host.name == "right-b":
    server.shell(name="right-b only", commands=["touch /tmp/right-b-only"])
server.shell(name="right owner", commands=[f"echo right {host.name} > /tmp/owner"])
'''


def test_two_runs_in_two_threads_do_not_mix(bed_hosts, bed_inventory, write, apply):
    machines = bed_hosts(4)
    hosts = {"left-a": machines[0], "left-b": machines[1],
             "right-a": machines[2], "right-b": machines[3]}
    runs = {
        "left": (bed_inventory({n: hosts[n] for n in ("left-a", "left-b")},
                               name="left_inventory.py"), write("left.py", LEFT)),
        "right": (bed_inventory({n: hosts[n] for n in ("right-a", "right-b")},
                                name="right_inventory.py"), write("right.py", RIGHT)),
    }
    barrier = threading.Barrier(4)  # both hosts of both runs: the executes overlap
    start = threading.Barrier(2)
    results, events = {}, {"left": [], "right": []}

    def go(tag: str) -> None:
        inventory, deploy = runs[tag]
        start.wait(30)
        results[tag] = apply(inventory, deploy, events=events[tag], data={"barrier": barrier})

    threads = [threading.Thread(target=go, args=(tag,)) for tag in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not barrier.broken
    left, right = results["left"], results["right"]
    assert left.run_id != right.run_id
    assert [h.name for h in left.hosts] == ["left-a", "left-b"]
    assert [h.name for h in right.hosts] == ["right-a", "right-b"]
    assert [(op.name, op.hosts) for op in left.operations] == [
        ("left file", ("left-a", "left-b")), ("left meets right", ("left-a", "left-b")),
        ("left owner", ("left-a", "left-b")), ("left dir", ("left-a", "left-b"))]
    assert [(op.name, op.hosts) for op in right.operations] == [
        ("right dir", ("right-a", "right-b")), ("right meets left", ("right-a", "right-b")),
        ("right file", ("right-a", "right-b")), ("right-b only", ("right-b",)),
        ("right owner", ("right-a", "right-b"))]
    for tag, result in results.items():
        assert result.failed_hosts == []
        for host in result.hosts:
            assert all(op.name.startswith(tag) for op in host.operations), host.name
            assert all(op.status == "changed" for op in host.operations), host.name
        seen_hosts = {getattr(e, "host", None) for e in events[tag]} - {None}
        assert seen_hosts == {h.name for h in result.hosts}

    for name, host in hosts.items():
        tag = name.split("-")[0]
        other = "right" if tag == "left" else "left"
        assert host.read_text("/tmp/owner") == f"{tag} {name}\n"
        assert host.stat(f"/tmp/{tag}-dir") is not None
        assert host.stat(f"/tmp/{other}-dir") is None
        assert host.exists(f"/tmp/{tag}-{name}")
        assert not any(host.exists(f"/tmp/{other}-{n}") for n in hosts)
        assert host.exists("/tmp/right-b-only") == (name == "right-b")


ENGINE_PROBE = '''\
import pyinfra
from pyinfra import facts, host, operations
from pyinfra.operations import files, server
from pyinfra.facts.files import File

probe = " ".join([
    pyinfra.__name__,
    type(host).__module__,
    operations.files.file.__module__,
    server.shell.__module__,
    File.__module__,
    facts.server.Os.__module__,
])
server.shell(name="probe", commands=[f"echo {probe} > /tmp/engine-probe"])
'''

EXPECTED_PROBE = ("agent.compat.pyinfra agent.engine.context"
                  " agent.catalogue.operations.files._paths"
                  " agent.catalogue.operations.server._shell agent.catalogue.facts.files"
                  " agent.catalogue.facts.server._machine")


def test_deploys_use_pullinfra_engine_and_import_pyinfra_stays_real(
    bed_hosts, bed_inventory, write, tmp_path
):
    """Deploys get pullinfra's engine however pullinfra is run, and a process that also
    imports pyinfra itself keeps its own pyinfra.

    Real pyinfra lives only in the oracle venv (pullinfra's venv must not hold it: see
    tests/oracle.py), so the processes that run pullinfra find a stand-in package named
    `pyinfra` on their path in its place. The property is about import resolution and
    sys.modules, which any package of that name shows, and the stand-in logs every import
    of it. The library run is a subprocess so that this test process never has a `pyinfra`.
    """
    first, second = bed_hosts(2)
    deploy = write("probe.py", ENGINE_PROBE)
    standin = write_standin_pyinfra(tmp_path / "standin")
    # Real pyinfra, installed beside pullinfra on this machine, is itself.
    real = real_python("import pyinfra, pyinfra.operations.files as f;"
                       "print(pyinfra.__file__); print(f.file.__module__)")
    assert real.returncode == 0, real.stderr
    real_file, real_module = real.stdout.split()
    assert "/site-packages/pyinfra/" in real_file and real_module == "pyinfra.operations.files"
    assert Path(real_file).resolve().is_relative_to(ORACLE_VENV.resolve())

    # Through the CLI, in its own process, with a `pyinfra` importable there.
    proc = pullinfra("apply", bed_inventory({"cli-host": first}, name="one.py"), deploy,
                     pythonpath=[standin])
    assert proc.returncode == 0, proc.stderr
    assert first.read_text("/tmp/engine-probe").split() == EXPECTED_PROBE.split()
    assert standin_imports(standin) == []

    # Through the library, in one process; afterwards `import pyinfra` is that process's own.
    seen = run_beside_standin(standin, bed_inventory({"api-host": second}, name="two.py"),
                              deploy, when="after", cwd=tmp_path)
    assert seen["failed"] == {} and seen["operations"] == ["probe"], seen
    assert second.read_text("/tmp/engine-probe").split() == EXPECTED_PROBE.split()
    assert_standin_untouched(seen, standin, "after")
