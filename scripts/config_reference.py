"""Write docs/config-reference.md from the configuration models (agent/config/models.py).

Every key's type, default, environment variable and description come from the models
themselves (the descriptions are the docstrings under each field), so the page cannot list a
key the loader refuses or miss one it reads. Output is deterministic, which lets `--check`
and tests/test_config_reference.py fail when a model change was committed without re-running
this script.

    .venv/bin/python scripts/config_reference.py          # write the page
    .venv/bin/python scripts/config_reference.py --check  # exit 1 if the page is stale
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.config.durations import parse_duration  # noqa: E402
from agent.config.models import (  # noqa: E402
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    AgentConfig,
)

OUTPUT = Path("docs") / "config-reference.md"
REGENERATE = ".venv/bin/python scripts/config_reference.py"
_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean",
            Path: "path", SecretStr: "secret"}
_PLURALS = {"string": "strings", "path": "paths", "secret": "secrets", "integer": "integers",
            "number": "numbers", "boolean": "booleans"}


@dataclass(frozen=True)
class Key:
    """One key of one section, as an operator writes it."""

    name: str
    type: str
    required: bool
    default: str | None  # as TOML text; None when required or unset by default
    env: str
    description: str


@dataclass(frozen=True)
class Section:
    """A TOML table (`[source]`), an array of tables (`[[deployment]]`) or the top level."""

    path: tuple[str, ...]
    is_list: bool
    description: str
    keys: tuple[Key, ...]
    variant: str = ""  # `type = "http"` for one kind of a list of several kinds of table

    @property
    def heading(self) -> str:
        if not self.path:
            return "Top level"
        name = ".".join(self.path)
        heading = f"[[{name}]]" if self.is_list else f"[{name}]"
        return f"{heading} {self.variant}" if self.variant else heading


# -- reading the models ------------------------------------------------------------------------


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _unannotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_duration(field: FieldInfo) -> bool:
    return any(getattr(m, "func", None) is parse_duration for m in field.metadata)


def _choices(values: Sequence[Any]) -> str:
    return ", ".join(f'`"{v}"`' for v in values)


def type_text(annotation: Any, duration: bool = False) -> str:
    """The type as an operator reads it: "duration", "list of strings", `"off"`, `"head"`."""
    annotation, _ = _strip_optional(_unannotated(annotation))
    annotation = _unannotated(annotation)
    if duration:
        return "duration"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + _choices(args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + _choices([m.value for m in annotation])
    if origin is list:
        inner = type_text(args[0])
        return "list of " + _PLURALS.get(inner, inner)
    if origin is dict:
        keys, values = args
        if values is Any:
            return "table"
        value_text = _PLURALS.get(type_text(values), type_text(values))
        if typing.get_origin(keys) is typing.Literal:
            return f"table of {value_text} by {_choices(typing.get_args(keys))}"
        return f"table of {value_text}"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"no readable name for the type {annotation!r}; add one to {__file__}")


def _bounds(field: FieldInfo) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    parts = []
    for meta in field.metadata:
        for attr, sign in words.items():
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        if getattr(meta, "min_length", None):
            parts.append(f"at least {meta.min_length}")
    return f" ({', '.join(parts)})" if parts else ""


def _toml(value: Any, duration: bool = False) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if duration:
        return f"{value} (seconds)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def default_text(field: FieldInfo) -> str | None:
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    if value is None:
        return None
    return _toml(value, _is_duration(field))


def _submodel(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model a field holds, and whether it is a list of them (`[[deployment]]`)."""
    annotation, _ = _strip_optional(_unannotated(annotation))
    if typing.get_origin(annotation) is list:
        inner = _unannotated(typing.get_args(annotation)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner, True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None


def _variants(annotation: Any) -> list[tuple[type[BaseModel], str]]:
    """The models of a list of tables told apart by a `type` key (`[[...gates]]`), each with
    its `type = "..."` line; empty for any other field."""
    annotation, _ = _strip_optional(_unannotated(annotation))
    if typing.get_origin(annotation) is not list:
        return []
    inner = _unannotated(typing.get_args(annotation)[0])
    if typing.get_origin(inner) not in (typing.Union, types.UnionType):
        return []
    variants = []
    for model in typing.get_args(inner):
        tag = model.model_fields["type"].annotation
        variants.append((model, f'type = "{typing.get_args(tag)[0]}"'))
    return variants


def _env_name(path: Sequence[str]) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(
        part if part == "<i>" else part.upper() for part in path
    )


def sections(
    model: type[BaseModel] = AgentConfig,
    path: tuple[str, ...] = (),
    env_path: tuple[str, ...] = (),
    is_list: bool = False,
    description: str = "",
    variant: str = "",
) -> Iterator[Section]:
    """The top level, then every section in model order, each followed by its subsections."""
    keys, nested = [], []
    for name, field in model.model_fields.items():
        sub = _submodel(field.annotation)
        if sub is not None:
            sub_model, sub_list = sub
            sub_env = (*env_path, name, "<i>") if sub_list else (*env_path, name)
            nested.append((sub_model, (*path, name), sub_env, sub_list, field.description or "",
                           ""))
            continue
        variants = _variants(field.annotation)
        for sub_model, variant in variants:
            nested.append((sub_model, (*path, name), (*env_path, name, "<i>"), True,
                           field.description or "", variant))
        if variants:
            continue
        keys.append(Key(
            name=name,
            type=type_text(field.annotation, _is_duration(field)) + _bounds(field),
            required=field.is_required(),
            default=default_text(field),
            env=_env_name((*env_path, name)),
            description=field.description or "",
        ))
    if variant:  # the `type` line first: it says which kind of table the rest belongs to
        keys.sort(key=lambda key: key.name != "type")
    yield Section(path, is_list, description, tuple(keys), variant)
    for sub_model, sub_path, sub_env, sub_list, sub_description, sub_variant in nested:
        yield from sections(sub_model, sub_path, sub_env, sub_list, sub_description,
                            sub_variant)


def undescribed(model: type[BaseModel] = AgentConfig, prefix: str = "") -> list[str]:
    """Dotted names of the fields, in this model and those it holds, without a description."""
    missing = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            missing.append(prefix + name)
        sub = _submodel(field.annotation)
        if sub is not None:
            missing += undescribed(sub[0], f"{prefix}{name}.")
        for sub_model, _ in _variants(field.annotation):
            missing += undescribed(sub_model, f"{prefix}{name}.")
    return missing


# -- rendering ---------------------------------------------------------------------------------

_INTRO = f"""\
<!-- Generated by scripts/config_reference.py from agent/config/models.py; do not edit. -->

# Configuration reference

Every key `pullinfra agent --config FILE` reads, from the models in `agent/config/models.py`
(an annotated example of the whole file is `config.example.toml`). After changing a model run
`{REGENERATE}`; tests/test_config_reference.py fails until this page matches.

- Precedence: command-line flags, then `PULLINFRA_*` environment variables, then the file.
- Environment: upper-case the key's path, prefix `{ENV_PREFIX}` and join the parts with
  `{ENV_NESTED_DELIMITER}`; an item of an array of tables is addressed by its index from 0
  (`PULLINFRA_DEPLOYMENT__0__MODE=plan`). Lists and tables can be given as JSON
  (`PULLINFRA_SOURCE__GPG_KEYS='["a.asc"]'`); lists of strings also as `a,b`.
- A duration is seconds (`60`) or a number with a unit: `"250ms"`, `"30s"`, `"5m"`, `"1h"`,
  `"1d"`.
- A relative path is relative to the directory of the config file.
- A secret is never logged or shown; prefer its environment variable over the file.
- Unknown keys are errors, so a typo never falls back to a default.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_section(section: Section) -> str:
    parts = [f"## {section.heading}\n"]
    if section.description:
        parts.append(" ".join(section.description.split()) + "\n")
    if section.is_list:
        parts.append(f"Zero or more `{section.heading}` tables.\n")
    rows = ["| key | type | default | environment | description |",
            "| --- | --- | --- | --- | --- |"]
    for key in section.keys:
        default = "required" if key.required else (f"`{key.default}`" if key.default else "unset")
        rows.append(f"| `{key.name}` | {_cell(key.type)} | {_cell(default)} | `{key.env}` | "
                    f"{_cell(key.description)} |")
    parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def render() -> str:
    return "\n".join([_INTRO] + [render_section(s) for s in sections() if s.keys])


def is_stale(root: Path = ROOT) -> bool:
    try:
        return (root / OUTPUT).read_text(encoding="utf-8") != render()
    except FileNotFoundError:
        return True


def stale_message() -> str:
    return (f"stale: {OUTPUT} no longer matches agent/config/models.py. "
            f"Regenerate it with `{REGENERATE}` and commit the result.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed page is stale; write nothing")
    options = parser.parse_args(argv)
    missing = undescribed()
    if missing:
        print(f"fields without a description (a docstring under the field in "
              f"agent/config/models.py): {', '.join(missing)}", file=sys.stderr)
        return 1
    if options.check:
        if is_stale():
            print(stale_message(), file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    if is_stale():
        (ROOT / OUTPUT).write_text(render(), encoding="utf-8")
        print(f"wrote {OUTPUT}")
    else:
        print(f"{OUTPUT} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
