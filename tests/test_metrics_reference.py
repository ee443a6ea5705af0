"""docs/metrics.md is written by scripts/metrics_reference.py from agent/metrics.py; these fail
when a metric change was committed without re-running it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agent import metrics, vocab

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "metrics_reference.py"
PAGE = ROOT / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pullinfra_metrics_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_page_matches_the_code(reference: ModuleType) -> None:
    assert not reference.is_stale(), f"docs/metrics.md is stale: run `{reference.REGENERATE}`"


def test_check_fails_on_an_edited_page(reference: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / reference.OUTPUT
    page.parent.mkdir(parents=True)
    page.write_text(reference.render())
    assert not reference.is_stale(tmp_path)
    page.write_text(reference.render().replace("gauge", "counter", 1))
    assert reference.is_stale(tmp_path)
    assert reference.main(["--check"]) == 0


def test_every_family_is_documented_with_its_labels() -> None:
    text = PAGE.read_text()
    for family in metrics.FAMILIES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{family.name}` |"))
        for label in family.labels:
            assert f"`{label}`:" in row, (family.name, label)
    assert "| `pullinfra_host_operations` | gauge |" in text


def test_closed_label_sets_are_listed(reference: ModuleType) -> None:
    """Every label is either given its closed set or described as open: none is forgotten."""
    for family in metrics.FAMILIES:
        for label in family.labels:
            assert ((family.name, label) in reference.LABEL_VALUES
                    or label in reference.OPEN_LABELS), (family.name, label)
    row = reference.label_text("pullinfra_host_operations", "status")
    assert row == "`status`: " + ", ".join(f"`{s}`" for s in vocab.OpStatus)
