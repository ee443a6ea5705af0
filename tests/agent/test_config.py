"""Config loading: precedence, validation messages with file:line, secrets, shards, docs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.config import (
    AgentConfig,
    ConfigError,
    hosts_for_shard,
    load_config,
    parse_duration,
    shard_for_host,
)

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = """\
[source]
url = "file:///srv/infra.git"
"""


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path | None, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.message


def test_defaults_from_a_minimal_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert config.source.ref == "main"
    assert config.source.poll_interval == 60
    assert config.source.allow_non_fast_forward is False
    assert config.source.verify == "off"
    assert config.deployment == []
    assert config.http.listen == "127.0.0.1:9469"
    assert config.reconcile.mode == "apply"
    assert config.state.resolved_dir() == Path("/var/lib/pullinfra")
    assert config.state.resolved_dir(once=True) == Path(".pullinfra")
    assert (config.shard.index, config.shard.count) == (0, 1)


def test_flags_beat_env_beat_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'ref = "file-ref"\npoll_interval = 10\ntimeout = 7\n')
    env = {"PULLINFRA_SOURCE__REF": "env-ref", "PULLINFRA_SOURCE__POLL_INTERVAL": "5m",
           "UNRELATED": "x"}
    config = load_config(path, overrides={"source.ref": "flag-ref"}, env=env)
    assert config.source.ref == "flag-ref"
    assert config.source.poll_interval == 300
    assert config.source.timeout == 7
    nested = load_config(path, overrides={"source": {"timeout": "1m"}}, env=env)
    assert nested.source.timeout == 60
    assert nested.source.ref == "env-ref"


def test_env_can_patch_one_deployment_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + """
[[deployment]]
name = "web"
inventory = "inv.py"
deploys = "web.py"

[[deployment]]
name = "db"
inventory = "inv.py"
deploys = ["db.py"]
""")
    config = load_config(path, env={"PULLINFRA_DEPLOYMENT__1__MODE": "plan"})
    assert [(d.name, d.mode) for d in config.deployment] == [("web", "apply"), ("db", "plan")]
    assert config.deployment[0].deploys == ["web.py"]


def test_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(12) == 12
    for bad in ("soon", "5 parsecs", "-3", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_wrong_value_names_key_file_line_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + """
[[deployment]]
name = "web"
inventory = "inv.py"
deploys = ["a.py"]

[[deployment]]
name = "db"
inventory = "inv.py"
deploys = ["b.py"]
mode = "aply"
""")
    message = config_error(path, env={})
    assert message.startswith(f"{path}:13: ")
    assert "deployment[1].mode" in message
    assert "'apply' or 'plan'" in message
    assert "'aply'" in message


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'pol_interval = "5m"\n')
    message = config_error(path, env={})
    assert message.startswith(f"{path}:3: unknown key `source.pol_interval`")
    assert "did you mean `poll_interval`" in message


def test_unknown_table_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "\n[sauce]\nurl = 'x'\n")
    message = config_error(path, env={})
    assert f"{path}:4: unknown key `sauce`" in message
    assert "did you mean `source`" in message


def test_missing_required_key_points_at_its_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[log]\nlevel = 'info'\n\n[source]\nref = 'main'\n")
    message = config_error(path, env={})
    assert message == f"{path}:4: `source.url` is required but not set; add it"


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "timeout = 0\n[http]\nlisten = 'nowhere'\n")
    message = config_error(path, env={})
    assert message.startswith("invalid configuration (2 problems):")
    assert f"{path}:3: `source.timeout`: must be greater than 0" in message
    assert f"{path}:5: `http.listen`" in message and "HOST:PORT" in message


def test_error_from_env_names_the_variable(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, MINIMAL), env={"PULLINFRA_LOG__FORMAT": "xml"})
    assert message.startswith("environment variable PULLINFRA_LOG__FORMAT: `log.format`")
    assert "'text' or 'json'" in message


def test_error_from_a_flag_names_the_override(tmp_path: Path) -> None:
    message = config_error(write(tmp_path, MINIMAL), overrides={"source.depth": -1}, env={})
    assert message.startswith("command-line override source.depth: `source.depth`")


def test_toml_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "ref = main\n")
    assert config_error(path, env={}).startswith(f"{path}:3: invalid TOML:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    assert "config file not found" in config_error(tmp_path / "nope.toml", env={})


def test_secrets_stay_out_of_repr_dumps_and_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """\
[source]
url = "https://git.example.com/x.git"
token = "hunter2-source"

[http]
token = "hunter2-http"
webhook_secret = "hunter2-hooks"
webhook_secrets = { gitlab = "hunter2-gitlab" }

[[notify]]
type = "webhook"
url = "https://hooks.example.com/x"
secret = "hunter2-notify"
""")
    config = load_config(path, env={})
    assert config.source.token is not None
    assert config.source.token.get_secret_value() == "hunter2-source"
    assert config.http.webhook_secret_for("github") == "hunter2-hooks"
    assert config.http.webhook_secret_for("gitlab") == "hunter2-gitlab"
    for text in (repr(config), str(config), config.model_dump_json()):
        assert "hunter2" not in text
    bad = config_error(write(tmp_path, MINIMAL + "[http]\ntoken = 31415926\n"), env={})
    assert "http.token" in bad
    assert "31415926" not in bad


def test_token_over_plain_http_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[source]\nurl = "http://git.example.com/x.git"\ntoken = "t"\n')
    assert "plain http://" in config_error(path, env={})


def test_verify_head_needs_keys_and_key_files_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'verify = "head"\n')
    assert "allowed_signers" in config_error(path, env={})
    path = write(tmp_path, MINIMAL + 'verify = "head"\nallowed_signers = "signers"\n')
    message = config_error(path, env={})
    assert message.startswith(f"{path}:4: `source.allowed_signers`")
    assert "does not exist" in message
    (tmp_path / "signers").write_text("")
    config = load_config(path, env={})
    assert config.source.allowed_signers == tmp_path / "signers"


def test_relative_local_url_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[source]\nurl = "repo"\n'), env={})
    assert config.source.url == str(tmp_path / "repo")
    assert config.source.url_kind == "path"
    ssh = load_config(write(tmp_path, '[source]\nurl = "git@host:org/r.git"\n'), env={})
    assert ssh.source.url_kind == "ssh"
    assert "unsupported scheme" in config_error(
        write(tmp_path, '[source]\nurl = "ftp://x/y"\n'), env={}
    )


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + """
[[notify]]
type = "slack"
url = "https://hooks.slack.com/a"

[[notify]]
type = "slack"
url = "https://hooks.slack.com/b"
""")
    assert "notifier 'slack' is used twice" in config_error(path, env={})


def test_shard_index_from_pod_name_and_hostname(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[shard]\nindex = "pullinfra-2"\ncount = 3\n')
    assert load_config(path, env={}).shard.index == 2
    auto = write(tmp_path, MINIMAL + '[shard]\nindex = "auto"\ncount = 3\n')
    assert load_config(auto, env={"HOSTNAME": "pullinfra-1"}).shard.index == 1
    assert "HOSTNAME" in config_error(auto, env={})
    assert "outside 0..2" in config_error(auto, env={"HOSTNAME": "pullinfra-5"})
    assert "no trailing ordinal" in config_error(
        write(tmp_path, MINIMAL + '[shard]\nindex = "web"\n'), env={}
    )


def test_rendezvous_sharding_is_a_stable_partition() -> None:
    hosts = [f"web{i}.example.com" for i in range(60)]
    shards = [hosts_for_shard(hosts, index, 3) for index in range(3)]
    assert sorted(host for shard in shards for host in shard) == sorted(hosts)
    assert all(shards), "every shard gets some hosts"
    assert shard_for_host("web7.example.com", 3) == shard_for_host("web7.example.com", 3)
    moved = [h for h in hosts if shard_for_host(h, 3) != shard_for_host(h, 4)]
    assert all(shard_for_host(h, 4) == 3 for h in moved), "hosts move only to the new shard"
    assert shard_for_host("anything", 1) == 0
    with pytest.raises(ValueError):
        hosts_for_shard(hosts, 3, 3)


def test_shard_assignment_is_pinned() -> None:
    """A change of hash would silently reshuffle every fleet; pin a few answers."""
    assert [shard_for_host(f"host{i}", 3) for i in range(9)] == PINNED_SHARDS


PINNED_SHARDS = [2, 0, 1, 0, 1, 0, 2, 2, 0]


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        paths.append(path)
        inner = _inner_model(field.annotation)
        if inner is not None:
            paths.extend(_field_paths(inner, path))
    return paths


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _inner_model(arg)) is not None:
            return found
    return None


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.example.toml", env={})
    assert config.deployment[0].name == "web"


def test_example_config_documents_every_key() -> None:
    """Each model field appears, set or as a `# key = ...` line, inside its own table."""
    text = (ROOT / "config.example.toml").read_text()
    uncommented = re.sub(r"(?m)^# (?=[a-z_]+ = )", "", text)
    documented = tomllib.loads(uncommented)
    missing = [".".join(p) for p in _field_paths(AgentConfig) if not _present(documented, p)]
    assert missing == []


def _present(data: object, path: tuple[str, ...]) -> bool:
    node = data
    for part in path:
        if isinstance(node, list):
            node = node[0] if node else {}
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
