"""docs/config-reference.md is written by scripts/config_reference.py from the config models;
these fail when a model change was committed without re-running it, or when a field has no
description for the page to show."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from agent.config.models import AgentConfig, SourceConfig, _Section

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "config_reference.py"
REGENERATE = ".venv/bin/python scripts/config_reference.py"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pullinfra_config_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _section_models() -> list[type[BaseModel]]:
    """Every section model, found from the models module rather than through the script."""
    import agent.config.models as models

    return [v for v in vars(models).values()
            if isinstance(v, type) and issubclass(v, _Section) and v is not _Section]


def test_committed_page_matches_the_models(reference: ModuleType) -> None:
    assert not reference.is_stale(), f"docs/config-reference.md is stale: run `{REGENERATE}`"


def test_every_model_field_has_a_description() -> None:
    missing = [f"{model.__name__}.{name}" for model in _section_models()
               for name, field in model.model_fields.items()
               if not (field.description or "").strip()]
    assert not missing, f"add a docstring under each field in agent/config/models.py: {missing}"


def test_script_refuses_a_field_without_description(reference: ModuleType) -> None:
    class Bare(_Section):
        described: int = 1
        """Has words."""
        bare: int = 2

    assert reference.undescribed(Bare) == ["bare"]
    assert reference.undescribed(AgentConfig) == []


def test_check_fails_on_an_edited_page(reference: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / reference.OUTPUT
    page.parent.mkdir(parents=True)
    page.write_text(reference.render())
    assert not reference.is_stale(tmp_path)
    page.write_text(reference.render() + "\nhand edit\n")
    assert reference.is_stale(tmp_path)
    assert REGENERATE in reference.stale_message()


def test_check_command_passes_on_the_committed_page(
    reference: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--check"]) == 0, capsys.readouterr().err


def test_every_key_is_on_the_page_with_its_env_var() -> None:
    text = (ROOT / "docs" / "config-reference.md").read_text()
    for model in _section_models():
        for name in model.model_fields:
            assert f"`{name}`" in text or f"{name}]" in text, name
    assert "`PULLINFRA_SOURCE__POLL_INTERVAL`" in text
    assert "`PULLINFRA_DEPLOYMENT__<i>__MODE`" in text
    assert "`PULLINFRA_STATE__RETENTION__RUNS`" in text


def test_types_are_readable(reference: ModuleType) -> None:
    fields = SourceConfig.model_fields
    assert reference.type_text(fields["poll_interval"].annotation,
                               reference._is_duration(fields["poll_interval"])) == "duration"
    assert reference.type_text(fields["token"].annotation) == "secret"
    assert reference.type_text(fields["gpg_keys"].annotation) == "list of paths"
    assert reference.type_text(fields["verify"].annotation) == 'one of `"off"`, `"head"`'
