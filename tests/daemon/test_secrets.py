"""The contract that secrets never reach a log, a report, the state DB or `pullinfra show`:
one real `agent --once` run whose deploy uses a password from host data in a command, its
stderr and a rendered file, with secrets in the notifier, the API token and the webhook
secret, checked byte for byte everywhere the run leaves a trace."""

from __future__ import annotations

import textwrap

import pytest

from tests.agent.receivers import Receiver
from tests.daemon.helpers import pullinfra

PASSWORD = "Pa55-host-data-7f3a"
SECRETS = {
    "host data": PASSWORD,
    "notifier secret": "NOTIFY-SECRET-7f3a",
    "http token": "HTTP-TOKEN-7f3a",
    "webhook secret": "HOOK-SECRET-7f3a",
}

INVENTORY = f'hosts = [("@local", {{"db_password": "{PASSWORD}"}})]\n'
DEPLOY = textwrap.dedent('''
    from pyinfra import host
    from pyinfra.operations import files, server

    files.directory(name="Create the target", path=host.data.root)
    files.template(name="Render the db config", src="db.conf.j2",
                   dest=host.data.root + "/db.conf", password=host.data.db_password)
    server.shell(name="Use the password and fail",
                 commands=[f"echo using {host.data.db_password} >&2; exit 3"])
''').lstrip()


def _leaks(text: str) -> list[str]:
    return [what for what, secret in SECRETS.items() if secret in text]


def test_secrets_appear_in_no_log_report_state_or_show_output(fleet) -> None:
    receiver = Receiver().start()
    try:
        fleet.push({"inventory.py": INVENTORY, "deploys/site.py": DEPLOY,
                    "deploys/db.conf.j2": "password = {{ password }}\n"}, "uses a secret")
        config = fleet.config(notify_url=receiver.url)
        config.write_text(config.read_text().replace("s3cret", SECRETS["notifier secret"])
                          .replace('"tok"', f'"{SECRETS["http token"]}"')
                          .replace("hooksecret", SECRETS["webhook secret"]))

        done = pullinfra("agent", "--config", str(config), "--once")

        assert done.returncode == 1, done.stdout + done.stderr  # the shell step failed
        # The run really used the secret: the rendered file holds it on the host.
        assert (fleet.target / "db.conf").read_text() == f"password = {PASSWORD}\n"
        assert _leaks(done.stdout + done.stderr) == []

        [report] = receiver.received()
        assert report.json()["status"] in ("failed", "partial")
        ops = {op["name"]: op for op in report.json()["hosts"][0]["operations"]}
        assert ops["Use the password and fail"]["exit_code"] == 3
        assert "***" in ops["Use the password and fail"]["stderr_tail"]
        assert "***" in ops["Render the db config"]["diff"]
        assert _leaks(report.body.decode() + str(report.headers)) == []

        shown = pullinfra("show", "1", "--json", "--config", str(config))
        assert shown.returncode == 0, shown.stderr
        assert _leaks(shown.stdout) == []

        state_files = sorted(fleet.state.glob("state.db*"))
        assert state_files
        for path in state_files:
            assert _leaks(path.read_bytes().decode("latin-1")) == [], path
    finally:
        receiver.stop()


def test_a_bad_notifier_url_is_refused_without_showing_it(tmp_path) -> None:
    """A Slack webhook URL is the credential: a config error about it must not echo it."""
    from agent.config.errors import ConfigError
    from agent.config.loading import load_config

    path = tmp_path / "agent.toml"
    path.write_text(textwrap.dedent('''
        instance = "x"
        [source]
        url = "file:///nowhere"
        [[deployment]]
        name = "app"
        inventory = "inventory.py"
        deploys = ["deploy.py"]
        [[notify]]
        type = "slack"
        url = "hooks.slack.com/services/T0/B0/SLACK-SECRET-7f3a"
    '''))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "notify[0].url" in message and "not an http(s) URL" in message
    assert "SLACK-SECRET-7f3a" not in message
