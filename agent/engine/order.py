"""Merge each host's operation sequence into one global order.

Each host says "A before B" for consecutive ops; a topological sort finds an order every host
agrees with, and among ops that are ready at the same time the one called earlier in the
deploy (by identity) goes first. Hosts listed in any order give the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from graphlib import CycleError, TopologicalSorter

from agent.engine.errors import OrderCycleError
from agent.engine.identity import OpId


def merge_order(
    sequences: Iterable[Sequence[OpId]], describe: Callable[[OpId], str] = str
) -> list[OpId]:
    sorter: TopologicalSorter[OpId] = TopologicalSorter()
    for sequence in sequences:
        for index, op_id in enumerate(sequence):
            if index == 0:
                sorter.add(op_id)
            else:
                sorter.add(op_id, sequence[index - 1])
    try:
        sorter.prepare()
    except CycleError as exc:
        cycle = exc.args[1] if len(exc.args) > 1 else []
        steps = "\n".join(f"    {describe(op_id)}" for op_id in cycle)
        raise OrderCycleError(
            "the hosts run these operations in contradicting orders, so there is no single"
            f" order to run them in:\n{steps}",
            fix="when a loop contains per-host conditions, iterate with"
            " `for item in host.loop(items):` so each iteration is its own operation, or move"
            " the conditional operations out of the loop",
        ) from None
    order: list[OpId] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=OpId.sort_key)
        sorter.done(*ready)
        order.extend(ready)
    return order
