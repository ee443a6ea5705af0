"""Imports point one way: the contracts of [tool.importlinter] in pyproject.toml hold.

import-linter reads the code's own import graph (including imports inside functions), so an
engine module that imports the compat layer, the daemon or the report package again, or a
report module that imports metrics, fails here with the offending line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_the_import_contracts_hold():
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    report = proc.stdout[proc.stdout.find("Contracts"):]
    assert proc.returncode == 0, report
    assert "0 broken" in report, report
