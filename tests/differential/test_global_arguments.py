"""Differential cases for the global arguments (`_sudo`, `_su_user`, `_env`, `_retries`, ...).

Each deploy writes what the argument changed (the user a command ran as, its directory,
environment, shell, stdin, whether it had a terminal) into files, and the case's state reads
them back. Cases that log in as the bed's `deploy` user say so in their data (the harness lays
Case.data over the host's SSH data). doas and dzdo are not installed on the bed hosts and the
local apt repository has neither, so they are covered by the unit tests only
(tests/engine/test_global_arguments_more.py). Config defaults (config.SUDO and the like) are not
compared: the harness runs real pyinfra with a default Config and has no config.py to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from agent.compat import run_deploy
from agent.engine.run import RunOptions
from agent.report.build import Provenance, from_result
from tests.differential.harness import Case
from tests.testbed import Host

AS_DEPLOY = {"ssh_user": "deploy"}
DEPLOY_PW = "Deploy-pw-4c21e8"
APP_PW = "App-pw-93d0b7"


def _read(host: Host, paths: Sequence[str],
          views: Mapping[str, Callable[[str | None], Any]] | None = None) -> dict[str, Any]:
    """Each file's text (None when missing), through views[path] where a value is host-bound."""
    views = views or {}
    out = {}
    for path in paths:
        text = host.read_text(path)
        out[path] = views[path](text) if path in views else text
    return out


def _is_pts(text: str | None) -> bool | None:
    return None if text is None else text.startswith("/dev/pts/")


def _app_user(host: Host) -> None:
    host.run("useradd -m -s /bin/sh app", check=True)


def _app_with_password(host: Host) -> None:
    _app_user(host)
    host.run(f"echo 'app:{APP_PW}' | chpasswd", check=True)


def _sudo_needs_password(host: Host) -> None:
    """The bed lets deploy sudo without a password; here sudo asks for deploy's password."""
    _app_user(host)
    host.run(f"echo 'deploy:{DEPLOY_PW}' | chpasswd", check=True)
    host.write_file("/etc/sudoers.d/pullinfra-bed",
                    "Defaults:deploy lecture=never\ndeploy ALL=(ALL:ALL) ALL\n", mode=0o440)


def _upload_dir(host: Host) -> None:
    host.run("install -d -o deploy -g deploy /home/deploy/up", check=True)
    host.write_file("/etc/sudoers.d/log", "Defaults logfile=/var/log/sudo.log\n", mode=0o440)


def _upload_state(host: Host) -> dict[str, Any]:
    """The upload's result, and whether sudo moved it from the temp dir the deploy named."""
    sudo_log = (host.read_text("/var/log/sudo.log") or "").replace("\n    ", " ")
    return {**_read(host, ["/root/conf", "/tmp/up-left"]),
            "owner": host.run("stat -c '%U %a' /root/conf").stdout,
            "via temp dir": "/home/deploy/up/" in sudo_log}


CASES = [
    Case(
        name="sudo as deploy: user, login, env and preserved env",
        deploy='''
from pyinfra.operations import server
server.shell(name="sudo to app with env",
             commands=["id -un > /tmp/sudo-who; printenv FOO > /tmp/sudo-foo"],
             _sudo=True, _sudo_user="app", _env={"FOO": "bar baz"})
server.shell(name="sudo login", commands=["pwd > /tmp/sudo-login-pwd"],
             _sudo=True, _sudo_user="app", _use_sudo_login=True)
server.shell(name="sudo to root",
             commands=["id -un > /tmp/sudo-root; echo $HOME > /tmp/sudo-home;"
                       " if printenv SSH_CLIENT >/dev/null; then echo kept; else echo reset; fi"
                       " > /tmp/sudo-env-reset"],
             _sudo=True)
server.shell(name="sudo -E",
             commands=["if printenv SSH_CLIENT >/dev/null; then echo kept; else echo reset; fi"
                       " > /tmp/sudo-env-kept"],
             _sudo=True, _preserve_sudo_env=True)
server.shell(name="no sudo", commands=["id -un > /tmp/plain-who"])
''',
        data=AS_DEPLOY,
        setup=_app_user,
        state=lambda h: _read(h, ["/tmp/sudo-who", "/tmp/sudo-foo", "/tmp/sudo-login-pwd",
                                  "/tmp/sudo-root", "/tmp/sudo-home", "/tmp/sudo-env-reset",
                                  "/tmp/sudo-env-kept", "/tmp/plain-who"]),
    ),
    Case(
        name="sudo with a password that sudoers requires",
        deploy=f'''
from pyinfra.operations import server
server.shell(name="sudo with password", commands=["id -un > /tmp/pw-root"],
             _sudo=True, _sudo_password={DEPLOY_PW!r})
server.shell(name="sudo to app with password", commands=["id -un > /tmp/pw-app"],
             _sudo=True, _sudo_user="app", _sudo_password={DEPLOY_PW!r}, _env={{"X": "1"}})
''',
        data=AS_DEPLOY,
        setup=_sudo_needs_password,
        state=lambda h: _read(h, ["/tmp/pw-root", "/tmp/pw-app"]),
    ),
    Case(
        # pyinfra takes a global argument's default from host data (no config.py needed)
        name="sudo, user and password from host data",
        deploy='''
from pyinfra.operations import files, server
server.shell(name="defaults", commands=["id -un > /tmp/hd-who"])
server.shell(name="overridden", commands=["id -un > /tmp/hd-root"], _sudo_user="root")
files.file(name="as app", path="/tmp/hd-file")
''',
        data={**AS_DEPLOY, "_sudo": True, "_sudo_user": "app", "_sudo_password": DEPLOY_PW},
        setup=_sudo_needs_password,
        state=lambda h: {**_read(h, ["/tmp/hd-who", "/tmp/hd-root"]),
                         "file owner": h.run("stat -c %U /tmp/hd-file").stdout},
    ),
    Case(
        name="su from deploy with a password: login, preserved env and shell",
        deploy=f'''
from pyinfra.operations import server
server.shell(name="su to app", commands=["id -un > /tmp/su-who; echo $HOME > /tmp/su-home"],
             _su_user="app", _su_password={APP_PW!r})
server.shell(name="su login", commands=["pwd > /tmp/su-login-pwd"],
             _su_user="app", _use_su_login=True, _su_password={APP_PW!r})
server.shell(name="su -m", commands=["echo $HOME > /tmp/su-m-home"],
             _su_user="app", _preserve_su_env=True, _su_password={APP_PW!r})
server.shell(name="su shell", commands=["echo $SHELL > /tmp/su-shell"],
             _su_user="app", _su_shell="bash", _su_password={APP_PW!r})
''',
        data=AS_DEPLOY,
        setup=_app_with_password,
        state=lambda h: _read(h, ["/tmp/su-who", "/tmp/su-home", "/tmp/su-login-pwd",
                                  "/tmp/su-m-home", "/tmp/su-shell"]),
    ),
    Case(
        name="su from root without a password",
        deploy='''
from pyinfra.operations import server
server.shell(name="root su to app", commands=["id -un > /tmp/rsu-who"], _su_user="app",
             _env={"FOO": "x"})
''',
        setup=_app_user,
        state=lambda h: _read(h, ["/tmp/rsu-who"]),
    ),
    Case(
        name="shell executable, chdir, env, pty and stdin",
        deploy='''
from pyinfra.operations import server
server.shell(name="sh", commands=["readlink /proc/$$/exe > /tmp/sh-exe"])
server.shell(name="bash", commands=["readlink /proc/$$/exe > /tmp/bash-exe"],
             _shell_executable="bash")
server.shell(name="chdir and env", commands=["pwd > /tmp/cwd; printenv A B > /tmp/env"],
             _chdir="/etc", _env={"A": "one two", "B": "it's"})
server.shell(name="no pty", commands=["tty > /tmp/no-tty || true"])
server.shell(name="pty", commands=["tty > /tmp/tty"], _get_pty=True)
server.shell(name="stdin string", commands=["cat > /tmp/stdin-str"], _stdin="first\\nsecond")
server.shell(name="stdin list", commands=["cat > /tmp/stdin-list"], _stdin=["one", "two"])
''',
        state=lambda h: _read(h, ["/tmp/sh-exe", "/tmp/bash-exe", "/tmp/cwd", "/tmp/env",
                                  "/tmp/no-tty", "/tmp/tty", "/tmp/stdin-str",
                                  "/tmp/stdin-list"], {"/tmp/tty": _is_pts}),
    ),
    Case(
        name="timeout in time, success exit codes, retries until a counter reaches 3",
        deploy='''
from pyinfra.operations import server
server.shell(name="in time", commands=["sleep 0.2; echo done > /tmp/in-time"], _timeout=30)
server.shell(name="exit 3 is fine", commands=["echo ran > /tmp/exit3; exit 3"],
             _success_exit_codes=[0, 3])
server.shell(name="fails twice",
             commands=["n=$(cat /tmp/count 2>/dev/null || echo 0); n=$((n+1));"
                       " echo $n > /tmp/count; [ $n -ge 3 ]"],
             _retries=3, _retry_delay=0)

def until(data):
    return int(data["stdout_lines"][-1]) < 3

server.shell(name="retry until",
             commands=["echo x >> /tmp/until; wc -l < /tmp/until"],
             _retries=5, _retry_delay=0, _retry_until=until)
''',
        state=lambda h: _read(h, ["/tmp/in-time", "/tmp/exit3", "/tmp/count", "/tmp/until"]),
    ),
    Case(
        name="upload with sudo through a temp dir",
        deploy='''
from pyinfra.operations import files, server
files.put(name="put as root", src="files/conf", dest="/root/conf", mode="600", _sudo=True,
          _temp_dir="/home/deploy/up")
server.shell(name="list temp dir", commands=["ls -A /home/deploy/up > /tmp/up-left"])
''',
        files={"files/conf": "uploaded\n"},
        data=AS_DEPLOY,
        setup=_upload_dir,
        state=_upload_state,
    ),
    Case(
        name="_if with did_change callables",
        deploy='''
from pyinfra.operations import files, server
changed = files.file(name="marker", path="/tmp/marker", touch=False)
same = files.file(name="hostname", path="/etc/hostname")
server.shell(name="if all", commands=["echo ran >> /tmp/if-all"], _if=[changed.did_change])
server.shell(name="if both", commands=["echo ran >> /tmp/if-both"],
             _if=[changed.did_change, same.did_change])
server.shell(name="if one", commands=["echo ran >> /tmp/if-one"], _if=changed.did_change)
''',
        state=lambda h: _read(h, ["/tmp/if-all", "/tmp/if-both", "/tmp/if-one"]),
    ),
    Case(
        name="parallel and serial on two hosts",
        deploy='''
from pyinfra.operations import server
server.shell(name="parallel 1", commands=["echo p >> /tmp/par"], _parallel=1)
server.shell(name="serial", commands=["echo s >> /tmp/ser"], _serial=True)
''',
        hosts=2,
        state=lambda h: _read(h, ["/tmp/par", "/tmp/ser"]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_global_arguments_match_pyinfra(differential, case):
    differential.check(case)


ERRORS = Case(
    name="ignore errors, continue on error and a timeout",
    deploy='''
from pyinfra.operations import server
server.shell(name="times out", commands=["sleep 10", "echo no > /tmp/slept"], _timeout=1,
             _ignore_errors=True)
server.shell(name="ignored", commands=["echo a > /tmp/ign; exit 4", "echo no > /tmp/ign2"],
             _ignore_errors=True)
server.shell(name="continues, ignored",
             commands=["echo b > /tmp/cont; false", "echo c > /tmp/cont2"],
             _continue_on_error=True, _ignore_errors=True)
server.shell(name="after", commands=["echo after > /tmp/after"])
server.shell(name="continues, not ignored", commands=["false", "echo d > /tmp/cont3"],
             _continue_on_error=True)
server.shell(name="never", commands=["echo never > /tmp/never"])
''',
    state=lambda h: _read(h, ["/tmp/slept", "/tmp/ign", "/tmp/ign2", "/tmp/cont", "/tmp/cont2",
                              "/tmp/after", "/tmp/cont3", "/tmp/never"]),
)


def test_errors_match_pyinfra(differential):
    """The failing operations fail on both sides (so not `check`).

    An ignored failure lets the host go on; `_continue_on_error` alone runs the operation's
    remaining commands but the operation still fails and the host stops after it.
    """
    comparison = differential.run(ERRORS)
    assert comparison.same, comparison.diff()
    for observation in (comparison.pyinfra, comparison.pullinfra):
        assert observation.state["h1"] == {
            "/tmp/slept": None, "/tmp/ign": "a\n", "/tmp/ign2": None, "/tmp/cont": "b\n",
            "/tmp/cont2": "c\n", "/tmp/after": "after\n", "/tmp/cont3": "d\n",
            "/tmp/never": None}
        for run in observation.runs:
            success = {op.name: op.success for op in run["h1"]}
            assert success["continues, not ignored"] is False
            assert success.get("never") is None


@pytest.mark.bed
def test_sudo_password_stays_out_of_results(bed_host, write):
    """pullinfra's own results, events and report never carry the sudo or su password."""
    _sudo_needs_password(bed_host)
    bed_host.run(f"echo 'app:{APP_PW}' | chpasswd", check=True)
    inventory = write("inv.py", f"hosts = [('h', {({**bed_host.ssh_data, **AS_DEPLOY})!r})]\n")
    deploy = write("deploy.py", f'''
from pyinfra.operations import server
server.shell(name="sudo", commands=["id -un > /tmp/pw-root"], _sudo=True,
             _sudo_password={DEPLOY_PW!r})
server.shell(name="su", commands=["id -un > /tmp/pw-su"], _su_user="app",
             _su_password={APP_PW!r})
server.shell(name="wrong", commands=["true"], _sudo=True, _sudo_password="nope-{DEPLOY_PW}")
''')
    events: list = []
    result = run_deploy(inventory, [deploy], RunOptions(project_root=deploy.parent),
                        events.append)
    ops = {op.name: op for op in result.host("h").operations}
    assert ops["sudo"].status == "changed", (ops["sudo"].error, ops["sudo"].stderr_tail)
    assert ops["su"].status == "changed", (ops["su"].error, ops["su"].stderr_tail)
    assert ops["wrong"].status == "failed"
    assert bed_host.read_text("/tmp/pw-root") == "root\n"
    assert bed_host.read_text("/tmp/pw-su") == "app\n"
    report = from_result(result, Provenance(run_id=result.run_id)).to_json()
    for secret in (DEPLOY_PW, APP_PW):
        for text in (report, repr(events), repr(result)):
            assert secret not in text
