"""docs/reference/ is written by scripts/reference.py from the catalogue; these fail when a
catalogue change was committed without re-running it, or when the pages miss a name deploy
code can reach."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agent.compat.importer import import_compat, public_names
from agent.engine.arguments import GLOBAL_ARGUMENTS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reference.py"
PAGES = ROOT / "docs" / "reference"
REGENERATE = ".venv/bin/python scripts/reference.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pullinfra_reference_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    return _load_script()


def _reachable(catalogue: str) -> list[str]:
    """`module.Name` for every name `from pyinfra.<catalogue>.<module> import Name` gives,
    found through the importer deploy code uses, not through the script."""
    names = []
    for info in pkgutil.iter_modules([str(ROOT / "agent" / "catalogue" / catalogue)]):
        if info.name.startswith("_") or info.name == "util":
            continue
        module = import_compat(f"pyinfra.{catalogue}.{info.name}")
        names += [f"{info.name}.{name}" for name in public_names(module)]
    return sorted(names)


def _headings(page: str) -> set[str]:
    return set(re.findall(r"^### (\S+)$", (PAGES / page).read_text(), flags=re.M))


def _examples(page: str) -> list[str]:
    text = (PAGES / page).read_text()
    return re.findall(r"^Example:\n\n```python\n(.*?)\n```$", text, flags=re.M | re.S)


def test_committed_pages_match_the_code(reference: ModuleType) -> None:
    stale = reference.stale_pages()
    assert not stale, (
        f"{', '.join(map(str, stale))} out of date with the catalogue: "
        f"run `{REGENERATE}` and commit docs/reference/"
    )


def test_check_command_passes_on_the_committed_pages(
    reference: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--check"]) == 0, capsys.readouterr().err


def test_stale_message_names_the_page_and_the_command(reference: ModuleType) -> None:
    message = reference.stale_message([Path("docs/reference/operations.md")])
    assert "docs/reference/operations.md" in message
    assert REGENERATE in message


def test_check_fails_on_an_edited_page(reference: ModuleType, tmp_path: Path) -> None:
    for path, text in reference.pages().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert reference.stale_pages(tmp_path) == []
    page = tmp_path / "docs" / "reference" / "facts.md"
    page.write_text(page.read_text() + "\nhand edit\n")
    assert reference.stale_pages(tmp_path) == [Path("docs/reference/facts.md")]


def test_every_operation_deploy_code_can_call_is_documented() -> None:
    reachable = _reachable("operations")
    assert "server.user" in reachable
    missing = sorted(set(reachable) - _headings("operations.md"))
    assert not missing, f"not in docs/reference/operations.md: {missing}; run `{REGENERATE}`"


def test_every_fact_deploy_code_can_read_is_documented() -> None:
    reachable = _reachable("facts")
    assert "server.Sysctl" in reachable
    missing = sorted(set(reachable) - _headings("facts.md"))
    assert not missing, f"not in docs/reference/facts.md: {missing}; run `{REGENERATE}`"


def test_pages_list_nothing_deploy_code_cannot_reach() -> None:
    assert _headings("operations.md") == set(_reachable("operations"))
    assert _headings("facts.md") == set(_reachable("facts"))


def test_every_global_argument_is_documented() -> None:
    text = (PAGES / "global-arguments.md").read_text()
    missing = [spec.name for spec in GLOBAL_ARGUMENTS if f"| `{spec.name}` |" not in text]
    assert not missing, f"not in docs/reference/global-arguments.md: {missing}"


@pytest.mark.parametrize("page", ["operations.md", "facts.md"])
def test_every_example_is_valid_python(page: str) -> None:
    examples = _examples(page)
    assert len(examples) == len(_headings(page))
    for example in examples:
        ast.parse(example)


def test_examples_pass_every_required_argument(reference: ModuleType) -> None:
    """Binding each example's keywords to the undecorated function raises for a missing
    required argument, so an example is a call the engine would accept."""
    for op in reference.operations():
        call = ast.parse(op.example).body[-1].value  # type: ignore[attr-defined]
        keywords = {kw.arg for kw in call.keywords} - {"name"}
        module = import_compat(f"pyinfra.operations.{op.module}")
        function = getattr(module, op.name.split(".", 1)[1])._inner
        inspect.signature(function).bind(**{k: None for k in keywords})


def test_docstring_argument_lines_are_read(reference: ModuleType) -> None:
    doc = reference.parse_docstring(
        """Do a thing.

        + delay: seconds to wait
          before trying again
        + interval: seconds between tries

        Why it differs from pyinfra.
        """
    )
    assert doc.summary == "Do a thing."
    assert doc.arguments == {
        "delay": "seconds to wait before trying again",
        "interval": "seconds between tries",
    }
    assert doc.body == ("Why it differs from pyinfra.",)


def test_reboot_shows_its_argument_descriptions_and_is_not_idempotent() -> None:
    text = (PAGES / "operations.md").read_text()
    section = text.split("### server.reboot\n", 1)[1].split("\n### ", 1)[0]
    assert "Idempotent: no" in section
    assert "`delay` (`int`, default `10`): seconds to wait" in section
