"""pullinfra's test venv must not contain pyinfra; real pyinfra is the oracle venv's only."""

from __future__ import annotations

import importlib.util


def test_pyinfra_is_not_importable_in_pullinfras_own_venv():
    """With pyinfra in this venv, its pinned paramiko (and the rest of its dependencies) would
    be what the tests run against instead of the versions users get from pullinfra's own
    requirements, and any test that imported it would compare pullinfra with pyinfra in one
    process again. Real pyinfra belongs in .venv-oracle, reached through tests/oracle.py."""
    spec = importlib.util.find_spec("pyinfra")
    assert spec is None, (
        f"`pyinfra` is importable in pullinfra's test process (from {spec.origin}): rebuild "
        ".venv from requirements/test.lock only; real pyinfra goes in .venv-oracle "
        "(requirements/oracle.lock) and tests reach it as a subprocess through tests/oracle.py"
    )
