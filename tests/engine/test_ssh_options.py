"""SSH inventory options: ssh_config files, @ssh/ names, retries, agent forwarding, kwargs.

The connector runs against small paramiko servers on loopback (password login, exec, and
direct-tcpip for ProxyJump), so every path here is a real SSH connection.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from agent.engine.command import StringCommand
from agent.engine.connectors.base import CommandArgs, ConnectError
from agent.engine.connectors.shell import SHELL_COMMAND
from agent.engine.connectors.ssh import SSHConnector
from agent.engine.connectors.ssh_config import (
    Hop,
    SSHConfigError,
    parse_hop,
    read_config,
)
from agent.engine.connectors.ssh_connect import (
    DEFAULT_CONNECT_RETRIES,
    DEFAULT_RETRY_MAX_DELAY,
    DEFAULT_RETRY_MIN_DELAY,
)
from agent.engine.errors import InventoryError
from agent.engine.inventory import load_inventory

PASSWORD = "Loopback-pw-1"


def _key_text() -> str:
    secret = ed25519.Ed25519PrivateKey.generate()
    return secret.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()


def _new_key() -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(io.StringIO(_key_text()))


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: LoopbackServer) -> None:
        self.server = server
        self.tunnels: dict[int, socket.socket] = {}

    def get_allowed_auths(self, username: str) -> str:
        return "password,publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.server.logins.append(username)
        known = self.server.client_key
        if known is not None and key.get_base64() == known.get_base64():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        self.server.logins.append(username)
        if password == PASSWORD:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_direct_tcpip_request(self, chanid: int, origin: Any, destination: Any):
        """Connect first, then confirm, as sshd does: a closed port fails the channel."""
        self.server.tunnels.append(tuple(destination))
        try:
            self.tunnels[chanid] = socket.create_connection(tuple(destination), timeout=5)
        except OSError:
            return paramiko.OPEN_FAILED_CONNECT_FAILED
        return paramiko.OPEN_SUCCEEDED

    def check_channel_forward_agent_request(self, channel: paramiko.Channel) -> bool:
        self.server.agent_requests += 1
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if command == SHELL_COMMAND.encode():
            threading.Thread(target=_local_shell, args=(channel,), daemon=True).start()
            return True

        def answer() -> None:
            while channel.recv(1024):  # stdin up to the client's EOF, as a command reads it
                pass
            channel.sendall(b"ran " + command.split(b" ")[-1].strip(b"\x27\"") + b"\n")
            channel.send_exit_status(0)
            channel.close()

        threading.Thread(target=answer, daemon=True).start()
        return True


def _local_shell(channel: paramiko.Channel) -> None:
    """The connector's long-lived shell, played by a local /bin/sh: the commands these
    tests send only echo."""
    shell = subprocess.Popen(
        ["/bin/sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert shell.stdin and shell.stdout and shell.stderr
    relays = [
        threading.Thread(target=_relay, args=(shell.stdout.read1, channel.sendall), daemon=True),
        threading.Thread(
            target=_relay, args=(shell.stderr.read1, channel.sendall_stderr), daemon=True
        ),
    ]
    for relay in relays:
        relay.start()
    _relay(channel.recv, lambda data: (shell.stdin.write(data), shell.stdin.flush()))
    with contextlib.suppress(OSError):
        shell.stdin.close()
    shell.wait()
    with contextlib.suppress(OSError, EOFError):
        channel.close()


def _relay(read: Any, write: Any) -> None:
    with contextlib.suppress(OSError, EOFError, ValueError):
        while data := read(65536):
            write(data)


def _pump(source: Any, sink: Any) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except (OSError, EOFError):  # the other end went away (paramiko raises EOFError)
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError, EOFError):
                end.close()


class LoopbackServer:
    """An SSH server on 127.0.0.1: password login, exec echoes, direct-tcpip relays.

    Bound at once but listening only after listen(): until then connects are refused, as
    with a host whose sshd is still starting.
    """

    def __init__(self) -> None:
        self.key = _new_key()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.logins: list[str] = []
        self.tunnels: list[tuple[str, int]] = []
        self.agent_requests = 0
        self.accepted = 0
        self.client_key: paramiko.PKey | None = None  # a public key it lets log in
        self._transports: list[paramiko.Transport] = []

    def listen(self) -> None:
        self.sock.listen(16)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        self._transports.append(transport)
        transport.add_server_key(self.key)
        interface = _Interface(self)
        try:
            transport.start_server(server=interface)
        except (paramiko.SSHException, EOFError, OSError):
            return
        while transport.is_active():
            channel = transport.accept(0.2)
            if channel is None or channel.get_id() not in interface.tunnels:
                continue
            target = interface.tunnels.pop(channel.get_id())
            threading.Thread(target=_pump, args=(channel, target), daemon=True).start()
            threading.Thread(target=_pump, args=(target, channel), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the thread in accept(): close alone does not
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for transport in self._transports:
            transport.close()


@pytest.fixture
def servers() -> Iterator[Any]:
    made: list[LoopbackServer] = []

    def make(listening: bool = True) -> LoopbackServer:
        server = LoopbackServer()
        if listening:
            server.listen()
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture(autouse=True)
def no_home_config(tmp_path, monkeypatch) -> Path:
    """A HOME without ~/.ssh/config, so the machine's own config never leaks into a test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


def _data(server: LoopbackServer, **extra: Any) -> dict[str, Any]:
    return {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": server.port,
        "ssh_user": "tester",
        "ssh_password": PASSWORD,
        "ssh_strict_host_key_checking": "no",
        "ssh_allow_agent": False,
        "ssh_look_for_keys": False,
        "ssh_connect_timeout": 5,
        **extra,
    }


def _run(connector: SSHConnector, word: str = "x") -> list[str]:
    """`ran <word>` from the one-exec server and from its long-lived shell alike."""
    output = connector.run_shell_command(StringCommand("echo", "ran", word), CommandArgs())
    assert output.exit_code == 0
    return output.stdout


def _recording_sleeps(connector: SSHConnector, then: Any = None) -> list[float]:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if then is not None:
            then(len(slept))

    connector._sleep = sleep  # type: ignore[method-assign]
    return slept


# ---------------------------------------------------------------- ssh_config parsing


def test_config_host_alias_gives_hostname_user_port_identity_and_jump(tmp_path):
    config = tmp_path / "config"
    config.write_text(
        "Host web\n"
        "    HostName 10.1.2.3\n"
        "    User deployer\n"
        "    Port 2222\n"
        "    IdentityFile ~/keys/web\n"
        "    IdentityFile /etc/keys/second\n"
        "    ProxyJump jumper@bastion:2200,ssh://other\n"
        "    ForwardAgent yes\n"
        "    UserKnownHostsFile ~/kh1 /tmp/kh2\n"
        "Host *\n"
        "    User fallback\n"
        "    Port 22\n"
        "    StrictHostKeyChecking off\n"
    )
    found = read_config(str(config))
    assert found is not None
    web = found.settings("web")
    assert (web.hostname, web.user, web.port) == ("10.1.2.3", "deployer", 2222)
    home = str(Path("~").expanduser())
    assert web.identity_files == (f"{home}/keys/web", "/etc/keys/second")
    assert web.proxy_jump == (Hop("bastion", "jumper", 2200), Hop("other"))
    assert web.forward_agent is True
    assert web.known_hosts_files == (f"{home}/kh1", "/tmp/kh2")
    assert web.strict_host_key_checking == "no"  # `off` is OpenSSH's other spelling of no

    other = found.settings("db.example.net")  # only the * block matches
    assert (other.hostname, other.user, other.port) == ("db.example.net", "fallback", 22)
    assert other.proxy_jump == () and other.identity_files == ()


def test_config_include_is_read_relative_to_the_including_file(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "web.conf").write_text("Host web\n  HostName 10.9.9.9\n")
    config = tmp_path / "config"
    config.write_text("Include conf.d/*.conf\nHost *\n  Port 2022\n")
    found = read_config(str(config))
    assert found is not None
    assert (found.settings("web").hostname, found.settings("web").port) == ("10.9.9.9", 2022)

    (tmp_path / "loop").write_text(f"Include {tmp_path / 'loop'}\n")
    with pytest.raises(SSHConfigError, match="Include loop"):
        read_config(str(tmp_path / "loop"))


def test_without_a_config_file_the_home_config_is_read_when_it_exists(no_home_config):
    assert read_config(None) is None  # no ~/.ssh/config: nothing, no error
    (no_home_config / ".ssh").mkdir()
    (no_home_config / ".ssh" / "config").write_text("Host web\n  HostName 10.4.4.4\n")
    found = read_config(None)
    assert found is not None and found.settings("web").hostname == "10.4.4.4"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Host web\n  Port twenty\n", "Port 'twenty' is not a port number"),
        ("Host web\n  StrictHostKeyChecking maybe\n", "StrictHostKeyChecking 'maybe'"),
        ("Host web\n  ProxyJump bastion:notaport\n", "ProxyJump"),
        ("Host web\n  ConnectTimeout soon\n", "ConnectTimeout"),
    ],
)
def test_bad_config_values_name_the_file_host_and_value(tmp_path, text, match):
    config = tmp_path / "config"
    config.write_text(text)
    found = read_config(str(config))
    assert found is not None
    with pytest.raises(SSHConfigError, match=match) as caught:
        found.settings("web")
    assert str(config) in str(caught.value) and "'web'" in str(caught.value)


def test_a_named_config_file_must_exist(tmp_path):
    with pytest.raises(SSHConfigError, match="does not exist"):
        read_config(str(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("text", "hop"),
    [
        ("bastion", Hop("bastion")),
        ("me@bastion", Hop("bastion", "me")),
        ("me@bastion:2200", Hop("bastion", "me", 2200)),
        ("ssh://me@bastion:2200", Hop("bastion", "me", 2200)),
        ("[fd00::1]:2200", Hop("fd00::1", None, 2200)),
        ("fd00::1", Hop("fd00::1")),
    ],
)
def test_proxy_jump_entries(text, hop):
    assert parse_hop(text) == hop


# ---------------------------------------------------------------- the connector


def test_data_wins_over_the_config_and_the_config_fills_the_rest(servers, tmp_path):
    server = servers()
    config = tmp_path / "config"
    config.write_text(
        f"Host alias\n  HostName 127.0.0.1\n  Port {server.port}\n  User from-config\n"
    )
    connector = SSHConnector(
        "alias",
        {
            "ssh_config_file": str(config),
            "ssh_password": PASSWORD,
            "ssh_strict_host_key_checking": "no",
        },
    )
    connector.connect()
    try:
        assert (connector.hostname, connector.port) == ("127.0.0.1", server.port)
        assert _run(connector, "one") == ["ran one"]
    finally:
        connector.disconnect()
    assert server.logins == ["from-config"]

    explicit = SSHConnector(
        "alias",
        {"ssh_config_file": str(config), "ssh_password": PASSWORD, "ssh_user": "from-data",
         "ssh_strict_host_key_checking": "no"},
    )
    explicit.connect()
    explicit.disconnect()
    assert server.logins[-1] == "from-data"


def test_the_home_config_applies_when_no_config_file_is_named(servers, no_home_config):
    server = servers()
    (no_home_config / ".ssh").mkdir()
    (no_home_config / ".ssh" / "config").write_text(
        f"Host home-alias\n  HostName 127.0.0.1\n  Port {server.port}\n  User from-home\n"
    )
    connector = SSHConnector("home-alias", {"ssh_password": PASSWORD,
                                            "ssh_strict_host_key_checking": "no"})
    connector.connect()
    connector.disconnect()
    assert server.logins == ["from-home"]


def test_a_jump_host_that_jumps_through_itself_is_refused(tmp_path):
    config = tmp_path / "config"
    config.write_text("Host *\n  ProxyJump bastion\n")
    connector = SSHConnector("web", {"ssh_config_file": str(config)})
    with pytest.raises(ConnectError, match=r"nests more than 8 deep.*ProxyJump none"):
        connector.connect()


def test_accept_new_records_the_resolved_name_in_the_configs_known_hosts(servers, tmp_path):
    server = servers()
    known = tmp_path / "kh"
    config = tmp_path / "config"
    config.write_text(
        f"Host alias\n  HostName 127.0.0.1\n  Port {server.port}\n  UserKnownHostsFile {known}\n"
    )
    connector = SSHConnector("alias", {"ssh_config_file": str(config), "ssh_password": PASSWORD})
    connector.connect()
    connector.disconnect()
    assert known.read_text().startswith(f"[127.0.0.1]:{server.port} ssh-ed25519 ")


def test_proxy_jump_goes_through_the_jump_host(servers, tmp_path):
    jump, target = servers(), servers()
    key_file = tmp_path / "jump_key"
    key_file.write_text(_key_text())
    key_file.chmod(0o600)
    jump.client_key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
    config = tmp_path / "config"
    config.write_text(
        f"Host target\n  HostName 127.0.0.1\n  Port {target.port}\n  ProxyJump hop-user@jump\n"
        f"Host jump\n  HostName 127.0.0.1\n  Port {jump.port}\n"
    )
    data = {"ssh_config_file": str(config), "ssh_password": PASSWORD, "ssh_user": "tester",
            "ssh_strict_host_key_checking": "no", "ssh_allow_agent": False,
            "ssh_look_for_keys": False}
    # A jump host logs in with its own IdentityFile (or agent, default keys), never with
    # the target's password: as in pyinfra and OpenSSH.
    with pytest.raises(ConnectError, match="jump host jump: no way to log in as hop-user"):
        SSHConnector("target", data).connect()
    assert jump.logins == [] and target.logins == []

    config.write_text(config.read_text() + f"  IdentityFile {key_file}\n")
    connector = SSHConnector("target", data)
    connector.connect()
    try:
        assert _run(connector, "through") == ["ran through"]
    finally:
        connector.disconnect()
    assert jump.tunnels == [("127.0.0.1", target.port)]
    assert jump.logins == ["hop-user"] and target.logins == ["tester"]
    assert target.accepted == 1  # its only connect: the tunnel (the jump host was tried twice)

    target.close()  # the jump host cannot reach it now
    with pytest.raises(ConnectError, match=f"jump host jump cannot reach 127.0.0.1:{target.port}"):
        SSHConnector("target", data).connect()


def test_proxy_command_carries_the_connection(servers, tmp_path):
    server = servers()
    marker = tmp_path / "relayed"
    relay = tmp_path / "relay.py"
    relay.write_text(
        "import os, socket, sys, threading\n"
        f"open({str(marker)!r}, 'w').write(sys.argv[1] + ':' + sys.argv[2])\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "def up():\n"
        "    while data := os.read(0, 65536):\n"
        "        s.sendall(data)\n"
        "    s.shutdown(socket.SHUT_WR)\n"
        "threading.Thread(target=up, daemon=True).start()\n"
        "while data := s.recv(65536):\n"
        "    os.write(1, data)\n"
    )
    config = tmp_path / "config"
    config.write_text(
        f"Host alias\n  HostName 127.0.0.1\n  Port {server.port}\n"
        f"  ProxyCommand {sys.executable} {relay} %h %p\n"
    )
    connector = SSHConnector("alias", {"ssh_config_file": str(config), "ssh_password": PASSWORD,
                                       "ssh_strict_host_key_checking": "no"})
    connector.connect()
    try:
        assert _run(connector, "piped") == ["ran piped"]
    finally:
        connector.disconnect()
    assert marker.read_text() == f"127.0.0.1:{server.port}"


def test_connect_retries_until_the_server_listens(servers):
    server = servers(listening=False)
    connector = SSHConnector("h", _data(server, ssh_connect_retries=3,
                                        ssh_connect_retry_min_delay=0.2,
                                        ssh_connect_retry_max_delay=0.3))
    slept = _recording_sleeps(connector, then=lambda n: n == 2 and server.listen())
    connector.connect()
    try:
        assert _run(connector) == ["ran x"]
    finally:
        connector.disconnect()
    assert len(slept) == 2 and all(0.2 <= s <= 0.3 for s in slept)


def test_retries_run_out_with_the_last_reason(servers):
    server = servers(listening=False)
    connector = SSHConnector("h", _data(server, ssh_connect_retries=2))
    slept = _recording_sleeps(connector)
    with pytest.raises(ConnectError, match=r"Connection refused \(tried 3 times\)"):
        connector.connect()
    assert len(slept) == 2
    assert all(DEFAULT_RETRY_MIN_DELAY <= s <= DEFAULT_RETRY_MAX_DELAY for s in slept)


def test_no_retry_by_default_nor_after_a_refused_login(servers):
    assert DEFAULT_CONNECT_RETRIES == 0
    closed = servers(listening=False)
    connector = SSHConnector("h", _data(closed))
    slept = _recording_sleeps(connector)
    with pytest.raises(ConnectError, match=r"Connection refused$"):
        connector.connect()
    assert slept == []

    server = servers()
    wrong = SSHConnector("h", _data(server, ssh_password="wrong-one", ssh_connect_retries=5))
    slept = _recording_sleeps(wrong)
    with pytest.raises(ConnectError, match="authentication failed as tester"):
        wrong.connect()
    assert slept == [] and server.logins == ["tester"]


def test_paramiko_connect_kwargs_are_passed_and_win(servers, monkeypatch):
    server = servers()
    seen: list[dict[str, Any]] = []
    real = paramiko.SSHClient.connect

    def spy(self, hostname, **kwargs):
        seen.append(kwargs)
        return real(self, hostname, **kwargs)

    monkeypatch.setattr(paramiko.SSHClient, "connect", spy)
    # ssh_port is wrong; the kwargs' port is the one used, as pyinfra lets them override all.
    data = _data(server, ssh_port=1, ssh_paramiko_connect_kwargs={
        "port": server.port, "banner_timeout": 7, "compress": True, "username": "kw-user"})
    connector = SSHConnector("h", data)
    connector.connect()
    try:
        assert _run(connector) == ["ran x"]
    finally:
        connector.disconnect()
    (kwargs,) = seen
    assert kwargs["banner_timeout"] == 7 and kwargs["compress"] is True
    assert kwargs["port"] == server.port and server.logins == ["kw-user"]


def test_agent_forwarding_is_requested_when_asked(servers, tmp_path):
    server = servers()
    for forward, requests in ((None, 0), (False, 0), (True, 1)):
        extra = {} if forward is None else {"ssh_forward_agent": forward}
        connector = SSHConnector("h", _data(server, **extra))
        connector.connect()
        assert _run(connector) == ["ran x"]
        connector.disconnect()
        assert server.agent_requests == requests, forward

    config = tmp_path / "config"
    config.write_text("Host 127.0.0.1\n  ForwardAgent yes\n")
    from_config = SSHConnector("h", _data(server, ssh_config_file=str(config)))
    from_config.connect()
    _run(from_config)  # the request needs no reply: a command after it shows it arrived
    from_config.disconnect()
    assert server.agent_requests == 2
    data_says_no = SSHConnector("h", _data(server, ssh_config_file=str(config),
                                           ssh_forward_agent=False))
    data_says_no.connect()
    _run(data_says_no)
    data_says_no.disconnect()
    assert server.agent_requests == 2


# ---------------------------------------------------------------- the inventory


def _load(write, text: str, **kwargs: Any):
    return load_inventory(write("inv.py", text), **kwargs)


def test_ssh_name_form_keeps_the_name_and_connects_to_the_rest(write):
    inv = _load(write, """
        web = (["@ssh/10.0.0.1", ("@ssh/alias", {"ssh_hostname": "10.0.0.9"})],
               {"ssh_hostname": "from-group"})
        other = ["plain"]
    """)
    first, second, plain = inv.hosts
    assert (first.name, first.connector, first.data["ssh_hostname"]) == (
        "@ssh/10.0.0.1", "ssh", "10.0.0.1")  # the name beats its group's data, as in pyinfra
    assert second.data["ssh_hostname"] == "10.0.0.9"  # the host's own data beats the name
    assert first.host_data == {"ssh_hostname": "10.0.0.1"}
    assert "ssh_hostname" not in plain.data
    overridden = _load(write, 'web = ["@ssh/10.0.0.1"]\n', data_overrides={"ssh_hostname": "o"})
    assert overridden.hosts[0].data["ssh_hostname"] == "o"

    connector = SSHConnector(first.name, first.data)
    assert (connector.name, connector.hostname) == ("@ssh/10.0.0.1", "10.0.0.1")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"ssh_connect_retries": -1}, "ssh_connect_retries must be a whole number"),
        ({"ssh_connect_retries": "3"}, "ssh_connect_retries must be a whole number"),
        ({"ssh_connect_retries": True}, "ssh_connect_retries must be a whole number"),
        ({"ssh_connect_retry_min_delay": -0.1}, "ssh_connect_retry_min_delay must be a number"),
        ({"ssh_connect_retry_max_delay": "1s"}, "ssh_connect_retry_max_delay must be a number"),
        ({"ssh_connect_retry_min_delay": 2, "ssh_connect_retry_max_delay": 1}, "is above"),
        ({"ssh_forward_agent": "yes"}, "ssh_forward_agent must be True or False"),
        ({"ssh_paramiko_connect_kwargs": [1]}, "must be a dict"),
        ({"ssh_paramiko_connect_kwargs": {"hostname": "x"}}, "set ssh_hostname instead"),
        ({"ssh_paramiko_connect_kwargs": {"bannertimeout": 3}}, "'bannertimeout', which"),
        ({"ssh_config_file": "/nonexistent/ssh_config"}, "does not exist"),
        ({"ssh_config_file": 42}, "ssh_config_file must be a path"),
    ],
)
def test_bad_ssh_values_are_refused_at_load_time(write, data, match):
    with pytest.raises(InventoryError, match=match) as caught:
        _load(write, f"x = 1\nweb = [('w', {data!r})]\n")
    assert caught.value.where.endswith("inv.py:2")


def test_a_bad_entry_in_the_config_file_is_refused_at_load_time(write, tmp_path):
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host web\n  Port nine\nHost bastion\n  Port 0\nHost db\n  ProxyJump bastion\n"
    )
    with pytest.raises(InventoryError, match="Port 'nine' is not a port number"):
        _load(write, f"hosts = [('web', {{'ssh_config_file': {str(config)!r}}})]\n")
    with pytest.raises(InventoryError, match="'bastion': Port '0'"):  # the jump host's entry too
        _load(write, f"hosts = [('db', {{'ssh_config_file': {str(config)!r}}})]\n")
    # a host the broken entries do not match loads
    _load(write, f"hosts = [('other', {{'ssh_config_file': {str(config)!r}}})]\n")


@pytest.mark.parametrize("name", ["@ssh", "@ssh/", "@sshx/h", "@docker/x"])
def test_bad_connector_names(write, name):
    with pytest.raises(InventoryError) as caught:
        _load(write, f"web = [{name!r}]\n")
    text = str(caught.value) + str(caught.value.fix)
    assert "@ssh/<hostname>" in text


def test_passwords_in_ssh_data_stay_secret(write):
    inv = _load(write, """
        web = [("w", {"ssh_password": "Pw-one-1", "ssh_key_password": "Pw-two-2",
                      "ssh_paramiko_connect_kwargs": {"passphrase": "Pw-three-3",
                                                      "password": "Pw-four-4",
                                                      "banner_timeout": 30}})]
    """)
    assert inv.hosts[0].secrets == {"Pw-one-1", "Pw-two-2", "Pw-three-3", "Pw-four-4"}


def test_a_bad_kwargs_message_never_shows_values(write):
    with pytest.raises(InventoryError) as caught:
        _load(write, 'web = [("w", {"ssh_paramiko_connect_kwargs": {"pasword": "Pw-x-1"}})]\n')
    assert "Pw-x-1" not in str(caught.value) + str(caught.value.fix)


def test_a_string_from_the_command_line_is_told_how_to_pass_a_number(write):
    with pytest.raises(InventoryError, match="ssh_connect_retries must be a whole") as caught:
        _load(write, 'web = ["w"]\n', data_overrides={"ssh_connect_retries": "3"})
    assert "--data ssh_connect_retries:=" in str(caught.value.fix)
