"""Assemble the agent configuration from flags, `PULLINFRA_*` variables and a TOML file.

Precedence is flags > environment > file. Every value remembers where it came from so a
validation error can point at the file line, the variable or the flag that set it.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from agent.config.errors import ConfigError
from agent.config.models import ENV_NESTED_DELIMITER, ENV_PREFIX, AgentConfig
from agent.config.positions import Loc, key_lines, line_for

_SECRET_KEYS = {"token", "secret", "password"}
# pydantic's type errors, said in TOML's words with what to write instead.
_EXPECTED = {
    "string_type": 'a string (in quotes: "...")',
    "int_type": "a whole number", "int_parsing": "a whole number",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "list_type": "an array ([...])", "dict_type": "a table ({...} or [section])",
    "model_type": "a table ([section] with its keys)",
}
_TOML_TYPES = {str: "a string", int: "an integer", float: "a float", bool: "a boolean",
               list: "an array", dict: "a table"}


def load_config(
    path: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = os.environ,
) -> AgentConfig:
    """Build and validate the agent configuration; raise ConfigError with a fixable message.

    `overrides` holds CLI flag values, nested (`{"source": {"ref": "v2"}}`) or dotted
    (`{"source.ref": "v2"}`). `env=None` ignores the environment entirely (useful in tests).
    """
    layers = _Layers(
        file=_read_toml(Path(path)) if path is not None else {},
        env=_env_layer(env or {}),
        flags=_expand_dotted(overrides or {}),
    )
    merged = _deep_merge(_deep_merge(layers.file, layers.env), layers.flags)
    _resolve_auto_shard_index(merged, env or {})
    base_dir = Path(path).resolve().parent if path is not None else Path.cwd()
    try:
        return AgentConfig.model_validate(merged, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = key_lines(layers.text) if path is not None else {}
        raise ConfigError(_describe(exc, layers, lines, path)) from None


class _Layers:
    """The three sources as plain dicts, kept apart to trace each value to its origin."""

    def __init__(self, file: tuple[dict[str, Any], str], env: dict[str, Any],
                 flags: dict[str, Any]) -> None:
        self.file, self.text = file
        self.env = env
        self.flags = flags


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found; pass an existing file to --config"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: the config file is not UTF-8 text (byte"
                          f" 0x{exc.object[exc.start]:02x}); save it as UTF-8") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        where, _, detail = _split_toml_position(str(exc))
        raise ConfigError(f"{path}{where}: invalid TOML: {detail}; fix the syntax there") from None


def _split_toml_position(message: str) -> tuple[str, str, str]:
    """tomllib says `... (at line 3, column 7)`; turn that into `:3` for file:line."""
    if "(at line " in message:
        detail, _, position = message.rpartition(" (at line ")
        line = position.split(",")[0].rstrip(")")
        return f":{line}", "", detail
    return "", "", message


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env parsing (nesting, JSON values) over an explicit mapping."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            AgentConfig,  # type: ignore[arg-type]  # only its fields are read
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_NESTED_DELIMITER,
            env_ignore_empty=False,
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    if not any(name.upper().startswith(ENV_PREFIX) for name in environ):
        return {}
    return _MappingEnvSource(environ)()


def _expand_dotted(overrides: Mapping[str, Any]) -> dict[str, Any]:
    expanded: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        parts = key.split(".")
        nested = {parts[-1]: value}
        for part in reversed(parts[:-1]):
            nested = {part: nested}
        expanded = _deep_merge(expanded, nested)
    return expanded


def _deep_merge(base: Any, top: Any) -> Any:
    """Tables merge key by key; `{"0": {...}}` from env patches that list item; rest replace."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _deep_merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(top, dict) and all(k.isdigit() for k in top):
        patched = list(base)
        for key, value in top.items():
            index = int(key)
            if index < len(patched):
                patched[index] = _deep_merge(patched[index], value)
            else:
                patched.append(value)
        return patched
    return top


def _resolve_auto_shard_index(merged: dict[str, Any], environ: Mapping[str, str]) -> None:
    """`index = "auto"` reads the pod name from HOSTNAME, the way a StatefulSet sets it."""
    shard = merged.get("shard")
    if isinstance(shard, dict) and shard.get("index") == "auto" and environ.get("HOSTNAME"):
        shard["index"] = environ["HOSTNAME"]


def _describe(exc: ValidationError, layers: _Layers, lines: dict[Loc, int],
              path: str | os.PathLike[str] | None) -> str:
    problems = [_describe_one(err, layers, lines, path) for err in exc.errors()]
    if len(problems) == 1:
        return problems[0]
    return f"invalid configuration ({len(problems)} problems):\n" + "\n".join(
        f"  {p}" for p in problems
    )


def _describe_one(err: Any, layers: _Layers, lines: dict[Loc, int],
                  path: str | os.PathLike[str] | None) -> str:
    loc = _clean_loc(err["loc"])
    key = _key_path(loc)
    where = _origin(loc, layers, lines, path)
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key `{key}`{_did_you_mean(loc)}; remove it or fix the spelling"
    if err["type"] == "missing":
        return f"{where}: `{key}` is required but not set; add it"
    if err["type"] in _EXPECTED:
        value = err.get("input")
        shown = _shown_input(loc, value, "")[len(" (got "):-1]  # secrets and tables: ""
        got = shown or _TOML_TYPES.get(type(value), type(value).__name__)
        return f"{where}: `{key}` must be {_EXPECTED[err['type']]}, got {got}"
    message = err["msg"].removeprefix("Value error, ")
    shown = _shown_input(loc, err.get("input"), message)
    return f"{where}: `{key}`: {message}{shown}" if key else f"{where}: {message}{shown}"


def _clean_loc(loc: Sequence[str | int]) -> Loc:
    """Drop pydantic's internal steps (e.g. `function-before[...]`) from an error location."""
    return tuple(p for p in loc if isinstance(p, int) or "[" not in p)


def _key_path(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _origin(loc: Loc, layers: _Layers, lines: dict[Loc, int],
            path: str | os.PathLike[str] | None) -> str:
    if _has_prefix_in(layers.flags, loc):
        return f"command-line override {_key_path(_deepest_set(layers.flags, loc))}"
    if _has_prefix_in(layers.env, loc):
        parts = [str(p) for p in _deepest_set(layers.env, loc)]
        return "environment variable " + ENV_PREFIX + ENV_NESTED_DELIMITER.join(parts).upper()
    if path is None:
        return "configuration"
    line = line_for(lines, loc)
    return f"{path}:{line}" if line else str(path)


def _has_prefix_in(layer: Any, loc: Loc) -> bool:
    fully_set = bool(loc) and len(_deepest_set(layer, loc)) == len(loc)
    return fully_set or _sets_scalar_on(layer, loc)


def _sets_scalar_on(layer: Any, loc: Loc) -> bool:
    """True when the layer sets some ancestor of `loc` to a non-table value (e.g. JSON)."""
    node = layer
    for part in loc:
        step = _step(node, part)
        if step is None:
            return False
        node = step
        if not isinstance(node, dict | list):
            return True
    return False


def _deepest_set(layer: Any, loc: Loc) -> Loc:
    node, found = layer, ()
    for part in loc:
        step = _step(node, part)
        if step is None:
            break
        node, found = step, (*found, part)
    return found


def _step(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part if isinstance(part, str) else str(part))
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _did_you_mean(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] = AgentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _shown_input(loc: Loc, value: Any, message: str) -> str:
    """Echo the offending value, except for secrets and whole tables."""
    if any(isinstance(p, str) and p in _SECRET_KEYS for p in loc):
        return ""
    if loc[-1:] == ("url",) and (loc[:1] == ("notify",) or "gates" in loc):
        return ""  # a Slack webhook URL is itself the credential; a gate's may carry a token
    if isinstance(value, str | int | float | bool) and len(repr(value)) <= 80 and not (
        isinstance(value, str) and repr(value) in message
    ):
        return f" (got {value!r})"
    return ""
