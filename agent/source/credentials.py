"""How git authenticates: environment for one git process, never files or arguments.

The HTTPS token travels as an `http.extraHeader` set through GIT_CONFIG_* variables, so it
is never written to the repository config, never on a command line (visible in `ps`), and
never in a message: `Scrubber` removes it and any URL credentials from git's output.
"""

from __future__ import annotations

import base64
import re
import shlex

from agent.config import SourceConfig

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def git_environment(config: SourceConfig) -> dict[str, str]:
    """Variables for every git process that talks to the remote."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": ssh_command(config)}
    if config.token is not None and config.url_kind == "https":
        env.update({
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {_basic_credentials(config)}",
        })
    return env


def ssh_command(config: SourceConfig) -> str:
    """The configured ssh command, made strict and non-interactive."""
    args = shlex.split(config.ssh_command) or ["ssh"]
    args += ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
             "-o", f"ConnectTimeout={max(1, int(config.timeout))}"]
    if config.known_hosts is not None:
        args += ["-o", f"UserKnownHostsFile={config.known_hosts}"]
    if config.ssh_key is not None:
        args += ["-i", str(config.ssh_key), "-o", "IdentitiesOnly=yes"]
    return shlex.join(args)


def _basic_credentials(config: SourceConfig) -> str:
    assert config.token is not None
    pair = f"{config.token_username}:{config.token.get_secret_value()}"
    return base64.b64encode(pair.encode()).decode()


class Scrubber:
    """Removes credentials from text before it leaves the source (errors, logs, reports)."""

    def __init__(self, config: SourceConfig) -> None:
        self._secrets = []
        if config.token is not None:
            self._secrets += [config.token.get_secret_value(), _basic_credentials(config)]

    def __call__(self, text: str) -> str:
        text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def display_url(url: str) -> str:
    """The repository URL as it may appear in reports: without user or password."""
    return _URL_USERINFO.sub(r"\g<scheme>", url)
