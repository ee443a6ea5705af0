"""The privilege, pty/stdin, retry-until and temp-dir global arguments: their table entries,
config defaults, and the command lines and stdin each one makes."""

from __future__ import annotations

import io

import pytest

from agent.engine.arguments import ARGUMENTS_BY_NAME, Config, pop_global_arguments
from agent.engine.command import StringCommand
from agent.engine.connectors.base import CommandArgs, CommandOutput, make_unix_command
from agent.engine.connectors.local import LocalConnector

PYINFRA_DEFAULTS = {
    "_sudo_password": None,
    "_use_sudo_login": False,
    "_preserve_sudo_env": False,
    "_su_shell": False,
    "_use_su_login": False,
    "_preserve_su_env": False,
    "_su_password": None,
    "_doas": False,
    "_doas_user": None,
    "_dzdo": False,
    "_dzdo_user": None,
    "_get_pty": False,
    "_stdin": None,
    "_retry_until": None,
    "_temp_dir": None,
}

CONFIG_NAMES = {
    "SUDO_PASSWORD": ("_sudo_password", "pw"),
    "USE_SUDO_LOGIN": ("_use_sudo_login", True),
    "PRESERVE_SUDO_ENV": ("_preserve_sudo_env", True),
    "SU_SHELL": ("_su_shell", "bash"),
    "USE_SU_LOGIN": ("_use_su_login", True),
    "PRESERVE_SU_ENV": ("_preserve_su_env", True),
    "SU_PASSWORD": ("_su_password", "pw"),
    "DOAS": ("_doas", True),
    "DOAS_USER": ("_doas_user", "bob"),
    "DZDO": ("_dzdo", True),
    "DZDO_USER": ("_dzdo_user", "bob"),
    "TEMP_DIR": ("_temp_dir", "/var/tmp"),
}


def wrapped(**globals_) -> str:
    return make_unix_command("id", CommandArgs.from_globals(globals_)).get_raw_value()


def test_every_argument_is_declared_with_pyinfras_default():
    for name, default in PYINFRA_DEFAULTS.items():
        assert name in ARGUMENTS_BY_NAME, name
        assert ARGUMENTS_BY_NAME[name].default == default, name
    resolved = pop_global_arguments({}, lambda key: None, config=Config())
    assert {name: resolved[name] for name in PYINFRA_DEFAULTS} == PYINFRA_DEFAULTS


@pytest.mark.parametrize("setting", sorted(CONFIG_NAMES))
def test_config_setting_is_the_lowest_default(setting):
    argument, value = CONFIG_NAMES[setting]
    config = Config()
    setattr(config, setting, value)
    assert pop_global_arguments({}, lambda key: None, config=config)[argument] == value
    from_data = pop_global_arguments({}, lambda key: "data" if key == argument else None,
                                     config=config)
    assert from_data[argument] == "data"
    own = pop_global_arguments({argument: "own"}, lambda key: "data", config=config)
    assert own[argument] == "own"


def test_sudo_flags_match_pyinfra():
    assert wrapped(_sudo=True) == "sudo -H -n sh -c id"
    assert wrapped(_sudo=True, _use_sudo_login=True, _preserve_sudo_env=True,
                   _sudo_user="bob") == "sudo -H -n -i -E -u bob sh -c id"
    # Flags for sudo or su do nothing without sudo or su themselves.
    assert wrapped(_use_sudo_login=True, _sudo_password="pw", _use_su_login=True) == "sh -c id"


def test_sudo_password_goes_to_stdin_never_the_command_line():
    args = CommandArgs.from_globals({"_sudo": True, "_sudo_password": "hunter2", "_stdin": "x"})
    text = make_unix_command("id", args).get_raw_value()
    assert text == "sudo -H -S -p '' -k sh -c id"
    assert "hunter2" not in text and "hunter2" not in repr(args)
    assert args.stdin_bytes() == b"hunter2\nx\n"


def test_su_flags_and_su_password():
    assert wrapped(_su_user="bob") == "su bob -c 'sh -c id'"
    assert (
        wrapped(_su_user="bob", _use_su_login=True, _preserve_su_env=True, _su_shell="bash")
        == "su -l -m -s $(command -v bash) bob -c 'sh -c id'"
    )
    assert wrapped(_su_user="bob", _su_shell="b; rm") == (
        "su -s $(command -v 'b; rm') bob -c 'sh -c id'"
    )
    both = CommandArgs.from_globals(
        {"_sudo": True, "_sudo_password": "s1", "_su_user": "bob", "_su_password": "s2"}
    )
    assert both.stdin_bytes() == b"s1\ns2\n"
    assert "s2" not in make_unix_command("id", both).get_raw_value()


def test_doas_and_dzdo_commands():
    # Neither tool is installed on the bed hosts: these are checked by the text they build.
    assert wrapped(_doas=True) == "doas -n sh -c id"
    assert wrapped(_doas=True, _doas_user="bob") == "doas -n -u bob sh -c id"
    assert wrapped(_dzdo=True) == "dzdo -H -n sh -c id"
    assert wrapped(_dzdo=True, _dzdo_user="bob o") == "dzdo -H -n -u 'bob o' sh -c id"
    assert wrapped(_doas=True, _sudo=True) == "doas -n sudo -H -n sh -c id"


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("one", b"one\n"),
        ("one\n", b"one\n"),
        (["a", "b\n"], b"a\nb\n"),
        (io.StringIO("x\ny"), b"x\ny\n"),
        (None, None),
    ],
)
def test_stdin_forms(value, sent):
    assert CommandArgs.from_globals({"_stdin": value}).stdin_bytes() == sent


def test_local_connector_writes_stdin_and_hides_a_password_the_command_was_given():
    connector = LocalConnector()
    out = connector.run_shell_command(
        StringCommand("cat"), CommandArgs.from_globals({"_stdin": ["one", "two"]})
    )
    assert out.stdout == ["one", "two"]
    # Root is never asked for a password, so sudo leaves the password line on the command's
    # stdin (as a NOPASSWD rule does): it must not come back in the output.
    args = CommandArgs.from_globals({"_sudo": True, "_sudo_password": "hunter2", "_stdin": "x"})
    out = connector.run_shell_command(StringCommand("cat; echo hunter2 >&2"), args)
    assert out.exit_code == 0
    assert out.stdout == ["***", "x"] and out.stderr == ["***"]


def test_hide_passwords_leaves_output_alone_without_one():
    output = CommandOutput(0, ["hunter2"], [])
    assert CommandArgs().hide_passwords(output) is output


def test_temp_dir_places_the_privileged_upload(tmp_path):
    connector = LocalConnector()
    seen: list[str] = []
    dest = tmp_path / "dest.txt"
    args = CommandArgs.from_globals({"_sudo": True, "_temp_dir": str(tmp_path / "t") + "/"})
    (tmp_path / "t").mkdir()

    def upload(tmp: str) -> None:
        seen.append(tmp)
        with open(tmp, "wb") as handle:
            handle.write(b"data")

    connector._put_file_through_shell(upload, str(dest), args)
    assert dest.read_bytes() == b"data"
    assert seen[0].startswith(f"{tmp_path}/t/pullinfra-")
    assert list((tmp_path / "t").iterdir()) == []


def test_retry_until_retries_successful_attempts(write, run_local, tmp_path):
    inventory = write("inv.py", 'h = [("h1", {})]\n')
    counter = tmp_path / "count"
    deploy = write(
        "deploy.py",
        f"""
        from tests.engine.testops import shell
        seen = []
        def until(data):
            seen.append(data)
            return int(data["stdout_lines"][-1]) < 3
        shell("echo run >> {counter}; wc -l < {counter}", name="counts",
              _retries=5, _retry_delay=0, _retry_until=until)
        shell("echo once >> {counter}.2", name="no until", _retries=5, _retry_delay=0)
        def broken(data):
            raise ValueError("nope")
        shell("echo b >> {counter}.3", name="broken until", _retries=5, _retry_delay=0,
              _retry_until=broken)
        """,
    )
    events: list = []
    result = run_local(inventory, deploy, events=events)
    assert result.host("h1").status == "changed"
    assert counter.read_text().split() == ["run"] * 3
    assert (tmp_path / "count.2").read_text().split() == ["once"]
    assert (tmp_path / "count.3").read_text().split() == ["b"]
    retries = [e for e in events if type(e).__name__ == "OperationRetry"]
    assert [(e.attempt, e.retries) for e in retries] == [(1, 5), (2, 5)]
    warnings = [e.message for e in events if type(e).__name__ == "EngineWarning"]
    assert any("_retry_until raised ValueError: nope" in w for w in warnings)
