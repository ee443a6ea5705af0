"""Global operation order: call-site identity, host.loop, conditionals, cycles."""

from __future__ import annotations

import random

import pytest

from agent.engine.errors import OrderCycleError
from agent.engine.identity import OpId
from agent.engine.order import merge_order

DEPLOY = """
from pyinfra import host
from tests.engine.testops import mark

def helper(tag):
    mark(name=f"helper-{tag}", label=f"helper-{tag}")

mark(name="first", label="first")
for item in host.loop(["a", "b"]):
    mark(name=f"loop-{item}", label=f"loop-{item}")
    if "web" in host.groups:
        mark(name=f"web-{item}", label=f"web-{item}")
    helper(item)
if "db" in host.groups:
    mark(name="db-only", label="db-only")
helper("end")
mark(name="last", label="last")
"""

EXPECTED = [
    "first", "loop-a", "web-a", "helper-a", "loop-b", "web-b", "helper-b",
    "db-only", "helper-end", "last",
]


def _inventory(write, tmp_path, order):
    hosts = {
        "web-01": "web", "web-02": "web", "db-01": "db", "both-01": "both",
    }
    web = [h for h in order if hosts[h] in ("web", "both")]
    db = [h for h in order if hosts[h] in ("db", "both")]
    lines = []
    for name in order:
        lines.append(f'{name.replace("-", "_")} = [("{name}", {{"log": "{tmp_path}/{name}.log"}})]')
    groups = [f"web = {web!r}", f"db = {db!r}"]
    if random.random() < 0.5:
        groups.reverse()
    return write("inv.py", "\n".join(lines + groups) + "\n")


@pytest.mark.parametrize("seed", range(6))
def test_global_order_is_the_same_for_shuffled_host_orders(write, run_local, tmp_path, seed):
    random.seed(seed)
    order = ["web-01", "web-02", "db-01", "both-01"]
    random.shuffle(order)
    deploy = write("deploy.py", DEPLOY)
    result = run_local(_inventory(write, tmp_path, order), deploy)

    assert [op.name for op in result.operations] == EXPECTED
    hosts_of = {op.name: set(op.hosts) for op in result.operations}
    assert hosts_of["web-a"] == {"web-01", "web-02", "both-01"}
    assert hosts_of["db-only"] == {"db-01", "both-01"}
    assert hosts_of["first"] == {"web-01", "web-02", "db-01", "both-01"}
    # The hosts really ran them in that order (each op waits for all hosts).
    for name, expected in {
        "web-01": [n for n in EXPECTED if n != "db-only"],
        "db-01": [n for n in EXPECTED if not n.startswith("web-")],
        "both-01": EXPECTED,
    }.items():
        assert (tmp_path / f"{name}.log").read_text().split() == expected


def test_nested_function_called_from_two_places_is_two_operations(write, run_local, tmp_path):
    inventory = write("inv.py", f'h = [("h1", {{"log": "{tmp_path}/h1.log"}})]\n')
    deploy = write(
        "deploy.py",
        """
        from tests.engine.testops import mark

        def outer(tag):
            inner(tag)

        def inner(tag):
            mark(name=f"inner-{tag}", label=tag)

        outer("one")
        outer("two")
        """,
    )
    result = run_local(inventory, deploy)
    assert [op.name for op in result.operations] == ["inner-one", "inner-two"]


def test_plain_loop_with_per_host_condition_is_a_cycle_with_advice(write, run_local, tmp_path):
    inventory = write("inv.py", 'web = ["w1"]\ndb = ["d1"]\n')
    deploy = write(
        "deploy.py",
        f"""
        from pyinfra import host
        from tests.engine.testops import mark

        for i in range(2):
            if not ("db" in host.groups and i == 0):
                mark(name="A", path="{tmp_path}/log")
            mark(name="B", path="{tmp_path}/log")
        """,
    )
    with pytest.raises(OrderCycleError) as caught:
        run_local(inventory, deploy)
    message = str(caught.value)
    assert "host.loop(" in message
    assert f"{deploy}:" in message
    assert not (tmp_path / "log").exists()


def test_the_same_loop_with_host_loop_orders_fine(write, run_local, tmp_path):
    inventory = write("inv.py", f'web = [("w1", {{"log": "{tmp_path}/w1"}})]\n'
                      f'db = [("d1", {{"log": "{tmp_path}/d1"}})]\n')
    deploy = write(
        "deploy.py",
        """
        from pyinfra import host
        from tests.engine.testops import mark

        for i in host.loop(range(2)):
            if not ("db" in host.groups and i == 0):
                mark(name=f"A{i}", label=f"A{i}")
            mark(name=f"B{i}", label=f"B{i}")
        """,
    )
    result = run_local(inventory, deploy)
    assert [op.name for op in result.operations] == ["A0", "B0", "A1", "B1"]
    assert (tmp_path / "d1").read_text().split() == ["B0", "A1", "B1"]


def test_plain_loop_repeats_get_a_counter(write, run_local, tmp_path):
    inventory = write("inv.py", f'h = [("h1", {{"log": "{tmp_path}/h1"}})]\n')
    deploy = write(
        "deploy.py",
        """
        from tests.engine.testops import mark
        for i in range(3):
            mark(name=f"m{i}", label=str(i))
        """,
    )
    result = run_local(inventory, deploy)
    assert [op.name for op in result.operations] == ["m0", "m1", "m2"]
    assert (tmp_path / "h1").read_text().split() == ["0", "1", "2"]


def test_several_deploy_files_run_in_the_order_given(write, run_local, tmp_path):
    inventory = write("inv.py", f'h = [("h1", {{"log": "{tmp_path}/h1"}})]\n')
    second = write("b.py", "from tests.engine.testops import mark\nmark(name='b', label='b')\n")
    first = write("a.py", "\n\nfrom tests.engine.testops import mark\nmark(name='a', label='a')\n")
    result = run_local(inventory, second, first)
    assert [op.name for op in result.operations] == ["b", "a"]


def test_merge_order_breaks_ties_by_identity():
    a, b, c = OpId((0, 5), 0), OpId((0, 9), 0), OpId((0, 7), 0)
    assert merge_order([[b], [a, c]]) == [a, b, c]
    assert merge_order([[a, c], [b]]) == [a, b, c]
