"""The `differential` fixture (see tests/differential/harness.py for how to add a case)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.differential.harness import Differential
from tests.oracle import require_oracle


@pytest.fixture
def differential(request: pytest.FixtureRequest, tmp_path: Path, bed) -> Differential:
    require_oracle()
    return Differential(request, tmp_path)
