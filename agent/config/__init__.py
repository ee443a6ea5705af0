"""Agent configuration: one validated object built from file, environment and flags."""

from agent.config.durations import Duration, parse_duration
from agent.config.errors import ConfigError
from agent.config.loading import load_config
from agent.config.models import (
    AgentConfig,
    DeploymentConfig,
    HttpConfig,
    LogConfig,
    NotifyConfig,
    ReconcileConfig,
    RetentionConfig,
    ShardConfig,
    SourceConfig,
    StateConfig,
)
from agent.config.shard import hosts_for_shard, ordinal_from_pod_name, shard_for_host

__all__ = [
    "AgentConfig",
    "ConfigError",
    "DeploymentConfig",
    "Duration",
    "HttpConfig",
    "LogConfig",
    "NotifyConfig",
    "ReconcileConfig",
    "RetentionConfig",
    "ShardConfig",
    "SourceConfig",
    "StateConfig",
    "hosts_for_shard",
    "load_config",
    "ordinal_from_pod_name",
    "parse_duration",
    "shard_for_host",
]
