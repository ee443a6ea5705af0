"""The agent's configuration schema: every key the agent reads, with its default.

Each model forbids unknown keys so a typo fails loudly at start-up instead of silently
running with a default. config.example.toml documents every field here, and a test keeps
the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.config.cron import cron_trigger
from agent.config.durations import Duration
from agent.config.shard import ordinal_from_pod_name
from agent.vocab import NotifyOn

ENV_PREFIX = "PULLINFRA_"
ENV_NESTED_DELIMITER = "__"
DEFAULT_STATE_DIR = Path("/var/lib/pullinfra")
ONCE_STATE_DIR = Path(".pullinfra")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SCP_LIKE_URL = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")


def _one_or_many(value: object) -> object:
    """Let `limit = "web"` stand for `limit = ["web"]`, and comma lists from env vars."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_one_or_many)]


def _resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    """Relative paths in a config file mean relative to that file, not to the cwd."""
    if value is None or value.is_absolute():
        return value
    base = (info.context or {}).get("base_dir")
    return Path(base) / value if base else value


def _existing_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """Key and trust files are read much later, by git; fail at start-up instead."""
    resolved = _resolve_path(value, info)
    if resolved is not None and not resolved.is_file():
        raise ValueError(f"file {str(resolved)!r} does not exist; create it or fix the path")
    return resolved


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_default=True, use_attribute_docstrings=True
    )


class SourceConfig(_Section):
    url: str
    """Git repository holding inventories and deploy code: https://..., ssh://git@host/repo.git,
    git@host:org/repo.git, file:///srv/infra.git or a local path."""
    ref: str = "main"
    """Branch, tag or full commit SHA to follow."""
    poll_interval: Duration = 60.0
    """How often to fetch the repository."""
    timeout: Duration = 60.0
    """Time limit for one fetch (clone, fetch or signature check)."""
    depth: int = Field(0, ge=0)
    """Depth of the first clone; 0 clones the full history. Later fetches are incremental."""
    ssh_command: str = "ssh"
    """Command git runs for ssh:// and user@host:path URLs (GIT_SSH_COMMAND). The agent adds
    the key, known_hosts, StrictHostKeyChecking=yes and BatchMode=yes options to it."""
    ssh_key: Path | None = None
    """Private key for git over SSH; unset, ssh's own defaults apply."""
    known_hosts: Path | None = None
    """known_hosts file for git over SSH; host keys are checked strictly against it. Unset,
    ssh's own known_hosts files apply."""
    token: SecretStr | None = None
    """Token for HTTPS remotes, sent as an HTTP Authorization header to git only; it is never
    written to disk, logged or stored. Prefer PULLINFRA_SOURCE__TOKEN over the file."""
    token_username: str = "x-access-token"
    """User name sent with the token (GitHub: "x-access-token", GitLab: "oauth2" or any name)."""
    verify: Literal["off", "head"] = "off"
    """Commit signature check: "off", or "head" to refuse any head commit whose signature does
    not verify against `allowed_signers` or `gpg_keys`."""
    allowed_signers: Path | None = None
    """SSH allowed-signers file (ssh-keygen(1) ALLOWED SIGNERS format), used when
    verify = "head"."""
    gpg_keys: list[Path] = Field(default_factory=list)
    """OpenPGP public key files (armored or binary) whose signatures are trusted when verify
    is "head"."""
    allow_non_fast_forward: bool = False
    """Accept a branch head that is not a descendant of the last accepted commit (a force-push
    or history rewrite). With false, such a head is refused, reported and never applied."""

    @field_validator("url")
    @classmethod
    def _known_url_scheme(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the repository url is empty")
        if "://" in value:
            scheme = value.split("://", 1)[0].lower()
            if scheme not in {"https", "http", "ssh", "git+ssh", "file"}:
                raise ValueError(
                    f"unsupported scheme {scheme!r}; use https://, ssh://, file:// or a local path"
                )
            return value
        if _SCP_LIKE_URL.match(value):
            return value
        resolved = _resolve_path(Path(value), info)
        return str(resolved)

    @field_validator("ref")
    @classmethod
    def _plain_ref(cls, value: str) -> str:
        value = value.strip()
        if not value or value.startswith("-") or any(c in value for c in " ~^:?*[\\"):
            raise ValueError(f"{value!r} is not a branch, tag or commit name")
        return value

    @field_validator("poll_interval", "timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0 seconds")
        return value

    @field_validator("ssh_key", "known_hosts", "allowed_signers")
    @classmethod
    def _file_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info)

    @field_validator("gpg_keys")
    @classmethod
    def _key_files_exist(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [p for p in (_existing_file(v, info) for v in value) if p is not None]

    @model_validator(mode="after")
    def _verify_needs_keys(self) -> SourceConfig:
        if self.verify == "head" and not (self.allowed_signers or self.gpg_keys):
            raise ValueError(
                "verify = \"head\" needs `allowed_signers` (SSH signers file) or `gpg_keys` "
                "(OpenPGP public key files) to check signatures against"
            )
        if self.token is not None and self.url_kind == "http":
            raise ValueError("refusing to send a token over plain http://; use https://")
        return self

    @property
    def url_kind(self) -> Literal["https", "http", "ssh", "file", "path"]:
        """How the agent reaches the repository; decides which credentials apply."""
        if "://" in self.url:
            scheme = self.url.split("://", 1)[0].lower()
            return "ssh" if scheme == "git+ssh" else scheme  # type: ignore[return-value]
        return "ssh" if _SCP_LIKE_URL.match(self.url) else "path"


class WindowConfig(_Section):
    kind: Literal["allow", "deny"]
    """"allow": with any allow window, new commits apply only while one is open. "deny": no
    new commit applies while it is open (deny wins over allow)."""
    schedule: str
    """When the window opens: a five-field cron schedule (minute hour day-of-month month
    day-of-week), e.g. "0 22 * * 1-5" for 22:00 Monday to Friday."""
    duration: Duration
    """How long the window stays open after each time the schedule fires, e.g. "2h"."""
    timezone: str = "UTC"
    """The IANA time zone the schedule is read in, e.g. "Europe/Berlin" (daylight saving
    time included)."""

    @field_validator("duration")
    @classmethod
    def _positive_duration(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0 seconds")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone; use an IANA name such "
                             "as \"UTC\" or \"Europe/Berlin\"") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        cron_trigger(value, ZoneInfo("UTC"))  # the syntax; the time zone does not change it
        return value


class DeploymentConfig(_Section):
    name: str
    """Unique name; used in metrics labels, URLs and `pullinfra trigger NAME`."""
    inventory: str
    """Inventory file, relative to the repository root."""
    deploys: StrList = Field(min_length=1)
    """Deploy files run in order, relative to the repository root; at least one."""
    limit: StrList | None = None
    """Only these hosts or groups (a name or a list); unset, all hosts in the inventory."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Extra data for deploy code, like `pullinfra apply --data k=v`."""
    parallel: int | None = Field(None, ge=1)
    """Hosts worked on at once; unset, the engine's default."""
    fail_percent: float | None = Field(None, ge=0, le=100)
    """Stop the run when more than this percentage of hosts failed; unset, the engine's
    default."""
    paths: StrList = Field(default_factory=list)
    """Only commits that change a path under one of these prefixes or globs trigger this
    deployment ("**" spans directories); empty, every change triggers it."""
    mode: Literal["apply", "plan"] = "apply"
    """"apply" makes changes; "plan" only computes and reports them."""
    rollout: RolloutConfig | None = None
    """Apply a new commit in waves, with thresholds and health gates between them
    (docs/rollout.md); unset, every host at once."""
    windows: list[WindowConfig] = Field(default_factory=list)
    """Sync windows: when new commits may be applied (docs/operator-guide.md, "Sync
    windows"); empty, at any time."""

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a usable name; use letters, digits, '.', '_' or '-' "
                "(it appears in metrics labels and URLs)"
            )
        return value


def _gate_http_url(value: str) -> str:
    """Gate URLs are read by the agent itself; only http(s) is ever fetched."""
    if not value.startswith(("https://", "http://")):
        raise ValueError("is not an http(s) URL (it may hold a secret, so it is not shown)")
    return value


class _GateBase(_Section):
    name: str | None = None
    """Shown in reports and history for this gate; unset, its kind and what it checks, e.g.
    "http: https://app.example.com/health"."""


class _RetryingGate(_GateBase):
    timeout: Duration = 10.0
    """Time limit for one request."""
    retries: int = Field(0, ge=0)
    """Further attempts after a failed one; the gate fails when the last attempt fails."""
    interval: Duration = 5.0
    """Wait between attempts."""

    @field_validator("url", check_fields=False)
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _gate_http_url(value)


class CommandGateConfig(_GateBase):
    type: Literal["command"]
    """A shell command run on every host of the wave, over the hosts' own connections."""
    command: str = Field(min_length=1)
    """The command; it passes on a host when it exits 0 there, e.g.
    "systemctl is-active app"."""
    timeout: Duration = 60.0
    """Time limit for the command on each host; a host that runs over it fails."""
    max_failed_hosts: int = Field(0, ge=0)
    """Hosts on which the command may fail (or that cannot be reached) with the gate still
    passing."""


class HttpGateConfig(_RetryingGate):
    type: Literal["http"]
    """An HTTP request the agent sends itself."""
    url: str
    """Where to send it. "{host}" is replaced by each wave host's address (its ssh_hostname,
    else its name) and "{name}" by its inventory name; with either, every host of the wave
    must pass."""
    method: Literal["GET", "HEAD", "POST"] = "GET"
    """Request method; a POST has an empty body."""
    expect_status: list[int] = Field(default_factory=list)
    """Answers that pass, e.g. [200, 204]; empty, any 2xx status."""
    expect_body: str | None = None
    """Text the answer's body must contain; unset, the body is not read."""


class PromqlGateConfig(_RetryingGate):
    type: Literal["promql"]
    """An instant query to Prometheus' HTTP API (/api/v1/query)."""
    url: str
    """Prometheus' base URL, e.g. "http://prometheus:9090"."""
    query: str = Field(min_length=1)
    """The PromQL expression. "{hosts}" is replaced by a regular expression matching the wave's
    host names, for use inside double quotes: up{job="node", host=~"{hosts}"} == 0."""
    expect: Literal["nonzero", "empty"] = "nonzero"
    """"nonzero": the query is the good condition and passes when it returns at least one
    sample and no sample is 0. "empty": the query is the bad condition (as in an alert rule)
    and passes when it returns nothing."""


class SoakGateConfig(_GateBase):
    type: Literal["soak"]
    """A wait during which no host of the rollout may newly fail."""
    duration: Duration
    """How long to wait."""
    interval: Duration = 30.0
    """How often the wave's other gates are checked again during the wait (with
    recheck = true)."""
    recheck: bool = False
    """Check the wave's other gates every interval too; the soak fails as soon as one does."""

    @field_validator("interval")
    @classmethod
    def _positive_interval(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0 seconds")
        return value


GateConfig = Annotated[
    CommandGateConfig | HttpGateConfig | PromqlGateConfig | SoakGateConfig,
    Field(discriminator="type"),
]
"""One health gate, told apart by its `type`; agent/daemon/gates.py checks it."""



class WaveConfig(_Section):
    name: str | None = None
    """Shown in reports, history and metrics; unset, "wave 1", "wave 2", ... by position."""
    group: str | None = None
    """The inventory group whose hosts (not in an earlier wave) make this wave."""
    hosts: StrList | None = None
    """Inventory host names (not in an earlier wave) that make this wave."""
    percent: float | None = Field(None, gt=0, le=100)
    """This percentage of the hosts not in an earlier wave, rounded up, in inventory order;
    100 is "the rest". Exactly one of group, hosts and percent is set."""
    max_failed_hosts: int | None = Field(None, ge=0)
    """Failed or unreachable hosts the wave may have and still go on; more halt the rollout.
    Unset (and max_failed_percent unset), 0."""
    max_failed_percent: float | None = Field(None, ge=0, le=100)
    """The same as a percentage of the wave's hosts; set this or max_failed_hosts."""
    pause: Duration = 0.0
    """Wait after the wave has run, before its gates are checked."""
    gates: list[GateConfig] = Field(default_factory=list)
    """Checked after this wave (before the rollout's own gates); one that fails halts the
    rollout."""

    @model_validator(mode="after")
    def _one_selector(self) -> WaveConfig:
        chosen = [k for k in ("group", "hosts", "percent") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("set exactly one of `group`, `hosts` and `percent` "
                             f"(found: {', '.join(chosen) or 'none'})")
        if self.max_failed_hosts is not None and self.max_failed_percent is not None:
            raise ValueError("set `max_failed_hosts` or `max_failed_percent`, not both")
        return self


class RolloutConfig(_Section):
    on_failure: Literal["halt", "rollback"] = "halt"
    """What a wave that fails (beyond its threshold, or at a gate) does: "halt" stops the
    rollout there; "rollback" also puts that wave's hosts back on the last applied commit.
    Hosts of later waves stay on the last applied commit either way."""
    waves: list[WaveConfig] = Field(min_length=1)
    """The waves, in order; hosts left over after the last one run as a final wave "rest"."""
    gates: list[GateConfig] = Field(default_factory=list)
    """Checked after every wave, the last one included, after the wave's own gates."""

    @model_validator(mode="after")
    def _unique_wave_names(self) -> RolloutConfig:
        _require_unique([w.name for w in self.waves if w.name], "wave name", "name")
        return self


class ReconcileConfig(_Section):
    interval: Duration = 900.0
    """How often the applied commit is re-run to find drift; 0 turns drift checks off."""
    mode: Literal["apply", "detect"] = "apply"
    """"apply" corrects drift; "detect" only reports it."""
    jitter: Duration = 60.0
    """Random extra delay of up to this much before each reconcile, so a fleet of agents does
    not run in lock-step."""


WebhookProvider = Literal["github", "gitlab", "gitea"]


class HttpConfig(_Section):
    listen: str = "127.0.0.1:9469"
    """Address of /metrics, /healthz, /readyz, /api/* and /hooks/*; "0.0.0.0:9469" lets
    Prometheus scrape from another machine."""
    token: SecretStr | None = None
    """Bearer token for /api/* (runs, trigger); unset, the API is refused. Prefer
    PULLINFRA_HTTP__TOKEN over the file."""
    webhook_secret: SecretStr | None = None
    """Secret for push webhooks at /hooks/github, /hooks/gitlab and /hooks/gitea: the HMAC key
    for GitHub and Gitea signatures, the X-Gitlab-Token value for GitLab. Unset, hooks are
    refused. Prefer PULLINFRA_HTTP__WEBHOOK_SECRET over the file."""
    webhook_secrets: dict[WebhookProvider, SecretStr] = Field(default_factory=dict)
    """Per-provider secrets (github, gitlab, gitea), overriding webhook_secret for that
    provider."""
    metrics_listen: str | None = None
    """A second address serving only /metrics and /healthz, e.g. "0.0.0.0:9101", so that
    Prometheus can scrape from another machine while `listen` (API and hooks) stays on
    loopback. /metrics is still served on `listen` too. Unset, no second listener."""
    rate_limit_per_minute: int = Field(120, ge=0)
    """Requests per minute one source address may send to POST /api/trigger and
    /api/rollback, and apart from those to POST /hooks/*, once its burst is spent; beyond it
    the answer is 429 with Retry-After. IPv6 addresses count per /64; behind a reverse proxy
    every request is the proxy's. 0 turns the limit off."""
    rate_limit_burst: int = Field(60, ge=1)
    """Requests one source address may send at once before rate_limit_per_minute applies;
    a forge sending several deliveries together stays well inside it."""

    def webhook_secret_for(self, provider: str) -> str | None:
        """The provider's own secret if set, else the shared one; None disables its hook."""
        secret = self.webhook_secrets.get(provider, self.webhook_secret)  # type: ignore[call-overload]
        return secret.get_secret_value() if secret is not None else None

    @field_validator("listen", "metrics_listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"{value!r} is not HOST:PORT, e.g. \"127.0.0.1:9469\" or \"[::]:9469\""
            )
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


NotifyEvent = NotifyOn


class NotifyConfig(_Section):
    type: Literal["webhook", "slack", "github-status", "gitlab-status"]
    """"webhook" (JSON ChangeReport, X-Pullinfra-Signature: sha256=<HMAC>), "slack" (incoming
    webhook), "github-status" or "gitlab-status" (commit status, context
    pullinfra/<deployment>)."""
    name: str | None = None
    """Name of the outbox queue for this receiver; must be unique. Keep it stable: pending
    reports are kept under it across restarts. Unset, the type, e.g. "webhook"."""
    url: str
    """Where to send. webhook/slack: the receiving URL. github-status: the repository API URL,
    e.g. "https://api.github.com/repos/ORG/REPO". gitlab-status: the project API URL, e.g.
    "https://gitlab.example.com/api/v4/projects/42"."""
    secret: SecretStr | None = None
    """webhook: HMAC key for X-Pullinfra-Signature. github-status/gitlab-status: the API token
    (required for those). Prefer PULLINFRA_NOTIFY__<i>__SECRET over the file."""
    on: Annotated[list[NotifyEvent], BeforeValidator(_one_or_many)] = Field(
        default_factory=lambda: ["all"]
    )
    """Which runs to report: "changed", "failed", "drift", or "all"."""
    timeout: Duration = 10.0
    """Time limit for one delivery attempt."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("is not an http(s) URL (a webhook URL can hold a secret, so it "
                             "is not shown)")
        return value

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"{value!r} is not a usable name; use letters, digits, '.', '_', '-'")
        return value

    @model_validator(mode="after")
    def _status_senders_need_token(self) -> NotifyConfig:
        if self.type in {"github-status", "gitlab-status"} and self.secret is None:
            raise ValueError(f"type = \"{self.type}\" needs `secret` (the API token)")
        return self

    @property
    def notifier(self) -> str:
        """The stable name the outbox queues under; survives restarts and reloads."""
        return self.name or self.type


class RetentionConfig(_Section):
    runs: int | None = Field(1000, ge=1)
    """Runs kept per deployment in the history."""
    days: float | None = Field(90, gt=0)
    """Days of history kept (runs and delivered reports)."""


class StateConfig(_Section):
    dir: Path | None = None
    """Directory for the git clone, checkouts and the SQLite history. Unset,
    "/var/lib/pullinfra", or "./.pullinfra" with `pullinfra agent --once`."""
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    """How much run history is kept."""

    @field_validator("dir")
    @classmethod
    def _relative_to_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve_path(value, info)

    def resolved_dir(self, once: bool = False) -> Path:
        """`--once` runs are often a try-out from a checkout; keep them out of /var/lib."""
        if self.dir is not None:
            return self.dir
        return ONCE_STATE_DIR if once else DEFAULT_STATE_DIR


class SSHConfig(_Section):
    known_hosts: Path | None = None
    """known_hosts file on the agent's machine with the keys of the hosts the deployments
    reach over SSH (not the git server's: that is [source] known_hosts)."""
    repo_known_hosts: str | None = None
    """known_hosts file in the repository, relative to its root, read from the commit being
    applied; a commit without it fails before any host is touched."""
    accept_new_host_keys: bool = False
    """Accept the key of a host seen for the first time and record it in "known_hosts" in the
    state dir. With false, a host whose key is in none of the known_hosts files is refused
    and reported unreachable. A changed key is refused either way."""

    @field_validator("known_hosts")
    @classmethod
    def _file_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _existing_file(value, info)

    @field_validator("repo_known_hosts")
    @classmethod
    def _inside_repository(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = Path(value).parts
        if not value.strip() or Path(value).is_absolute() or ".." in parts:
            raise ValueError(f"{value!r} is not a path inside the repository, e.g. \"known_hosts\"")
        return value


class ShardConfig(_Section):
    index: int = Field(0, ge=0)
    """Which shard this agent is: an integer, a StatefulSet pod name such as "pullinfra-2"
    (the trailing number is used), or "auto" to read the pod name from $HOSTNAME. Hosts are
    split between shards by rendezvous hashing of the host name."""
    count: int = Field(1, ge=1)
    """Number of shards (agents) sharing the inventory."""

    @field_validator("index", mode="before")
    @classmethod
    def _ordinal(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().isdigit():
            if value.strip() == "auto":
                raise ValueError("\"auto\" needs the HOSTNAME environment variable to be set")
            return ordinal_from_pod_name(value)
        return value

    @model_validator(mode="after")
    def _index_in_range(self) -> ShardConfig:
        if self.index >= self.count:
            raise ValueError(
                f"index {self.index} is outside 0..{self.count - 1} (count = {self.count})"
            )
        return self


class PreviewConfig(_Section):
    enabled: bool = False
    """Preview pull / merge requests: plan their head against the live hosts (plan mode only,
    nothing is changed) and post the result as a commit status and one comment per request
    (docs/previews.md)."""
    provider: Literal["github", "gitlab", "gitea"] = "github"
    """The forge that hosts the repository: where pull-request refs live and where the status
    and comment go."""
    api_url: str | None = None
    """The forge's API; unset, https://api.github.com or https://gitlab.com/api/v4. Gitea has
    no default: give its /api/v1 URL, e.g. "https://gitea.example.com/api/v1"."""
    token: SecretStr | None = None
    """API token allowed to read pull requests and to write statuses and comments."""
    repository: str | None = None
    """"owner/name" (GitHub, Gitea) or the GitLab project's id or "group/name"; unset, read
    from [source] url."""
    allow_forks: bool = False
    """Preview requests whose head is in a fork. Off: such a request gets a commit status
    saying it was refused, and none of its code runs (docs/previews.md says why)."""
    deployment: str | None = None
    """Which [[deployment]]'s inventory and deploys to preview; unset, the first."""

    @model_validator(mode="after")
    def _usable(self) -> PreviewConfig:
        if self.enabled and self.token is None:
            raise ValueError("[preview] enabled needs a token to post statuses and comments")
        if self.enabled and self.provider == "gitea" and not self.api_url:
            raise ValueError('[preview] provider = "gitea" needs api_url (its /api/v1 URL)')
        return self


class LogConfig(_Section):
    format: Literal["text", "json"] = "text"
    """"text" for people, "json" for log collectors."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    """"debug", "info", "warning" or "error"."""

    @field_validator("level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class AgentConfig(_Section):
    """The whole agent configuration; build it with `load_config`, not directly.

    A plain model rather than a BaseSettings: BaseSettings reads os.environ whenever it is
    constructed, which would make `load_config(env=...)` and reloads depend on hidden
    process state. `load_config` runs pydantic-settings' env source explicitly instead.
    """

    instance: str | None = None
    """Name of this agent in change reports (agent.instance) and logs; unset, the machine's
    host name."""
    shutdown_grace: Duration = 30.0
    """On SIGTERM/SIGINT the agent stops scheduling and lets the operation in flight finish on
    its hosts for at most this long; the run is then recorded as interrupted (and re-run at
    the next start) and the agent exits 0."""
    source: SourceConfig
    """The git repository the agent follows."""
    deployment: list[DeploymentConfig] = Field(default_factory=list)
    """One [[deployment]] per inventory + deploy set. Each has its own run history, lock,
    suspend state and metrics labels."""
    reconcile: ReconcileConfig = Field(default_factory=ReconcileConfig)
    """Drift checks: re-running the applied commit."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    """The HTTP server: metrics, health, API and push webhooks."""
    notify: list[NotifyConfig] = Field(default_factory=list)
    """One [[notify]] per change-report receiver. Reports go through a persistent outbox and
    are retried with backoff, in order, across restarts."""
    state: StateConfig = Field(default_factory=StateConfig)
    """Where the agent keeps its clone and history."""
    ssh: SSHConfig = Field(default_factory=SSHConfig)
    """Host keys of the hosts the deployments reach over SSH. Unknown keys are refused unless
    accept_new_host_keys is true; a host's own data (ssh_strict_host_key_checking,
    ssh_known_hosts_file) still wins."""
    shard: ShardConfig = Field(default_factory=ShardConfig)
    """Splitting one inventory between several agents."""
    log: LogConfig = Field(default_factory=LogConfig)
    """Log output."""
    preview: PreviewConfig = Field(default_factory=PreviewConfig)
    """Plan previews of pull / merge requests (off by default)."""

    @model_validator(mode="after")
    def _unique_names(self) -> AgentConfig:
        _require_unique([d.name for d in self.deployment], "deployment name", "name")
        _require_unique([n.notifier for n in self.notify], "notifier", "name")
        wanted = self.preview.deployment
        if self.preview.enabled and wanted and self.deployment_named(wanted) is None:
            raise ValueError(f"[preview] deployment = {wanted!r} is no [[deployment]] name")
        return self

    @field_validator("shutdown_grace")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 seconds or more")
        return value

    def deployment_named(self, name: str) -> DeploymentConfig | None:
        return next((d for d in self.deployment if d.name == name), None)


def _require_unique(names: list[str], what: str, key: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} is used twice; give each one a distinct `{key}`")
        seen.add(name)


# DeploymentConfig names models defined after it (RolloutConfig); resolve them now, so that
# its fields' types are the models themselves and not forward references.
DeploymentConfig.model_rebuild(force=True)
