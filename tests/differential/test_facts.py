"""Facts read over SSH from the same bed host by real pyinfra 3.10 and by pullinfra.

One deploy file serves both sides: in prepare it calls `host.get_fact(...)` for every fact
of its host's kind and writes the values as JSON to a path given as host data. Real pyinfra
runs it in the oracle venv (tests/differential/run_real_pyinfra.py, nothing of pullinfra's
on its path); pullinfra runs it through agent.compat.run_deploy. Both convert values with
the one `jsonable` of tests/oracle.py (its source is part of the deploy), so a set or a
tuple cannot differ by accident of two conversions.

The host gets some content first (a user with keys, a group, a crontab, a limits entry, an
/etc/hosts line, a net.* sysctl, a reboot-required flag, a generated locale, a login in
lastlog), so the facts are not trivially empty.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

from agent.catalogue.facts.server import Sysctl
from agent.compat import run_deploy
from agent.engine.run import RunOptions
from tests.oracle import JSONABLE_SOURCE, require_oracle, run_oracle_file
from tests.testbed import Host
from tests.testbed.aptrepo import ensure_signed_repo

RUN_REAL = Path(__file__).with_name("run_real_pyinfra.py")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm0aZ8pT1b+Kq3lK4r1Qk9zv1xYkqN2Jm3mWw1Zc8Xh alice@lap"
NET_KEYS = ["net.ipv4.ip_forward", "net.ipv4.tcp_syncookies", "net.ipv6.conf.all.forwarding",
            "net.ipv4.ip_local_port_range"]

DEPLOY = JSONABLE_SOURCE + f'''

from pyinfra import host
from pyinfra.facts import crontab, server, systemd, sysvinit

COMMON = {{
    "LsbRelease": (server.LsbRelease, {{}}),
    "Home": (server.Home, {{}}),
    "Home(deploy)": (server.Home, {{"user": "deploy"}}),
    "Home(nobody-here)": (server.Home, {{"user": "nobody-here"}}),
    "LinuxName": (server.LinuxName, {{}}),
    "User": (server.User, {{}}),
    "Users": (server.Users, {{}}),
    "OsRelease": (server.OsRelease, {{}}),
    "Path": (server.Path, {{}}),
    "TmpDir": (server.TmpDir, {{}}),
    "Mounts": (server.Mounts, {{}}),
    "Sysctl(net)": (server.Sysctl, {{"keys": {NET_KEYS!r}}}),
    "Sysctl": (server.Sysctl, {{}}),
    "KernelModules": (server.KernelModules, {{}}),
    "Locales": (server.Locales, {{}}),
    "Timezone": (server.Timezone, {{}}),
    "RebootRequired": (server.RebootRequired, {{}}),
    "SecurityLimits": (server.SecurityLimits, {{}}),
    "Hostname": (server.Hostname, {{}}),
    "Os": (server.Os, {{}}),
    "Arch": (server.Arch, {{}}),
    "Kernel": (server.Kernel, {{}}),
    "LinuxDistribution": (server.LinuxDistribution, {{}}),
    "EtcHosts": (server.EtcHosts, {{}}),
    "Processes": (server.Processes, {{}}),
    "AuthorizedKeys(root)": (server.AuthorizedKeys, {{"user": "root"}}),
    "AuthorizedKeys(alice)": (server.AuthorizedKeys, {{"user": "alice"}}),
    "Groups": (server.Groups, {{}}),
    "Crontab": (crontab.Crontab, {{}}),
    "Crontab(root)": (crontab.Crontab, {{"user": "root"}}),
}}
PLAIN = {{
    "InitdStatus": (sysvinit.InitdStatus, {{}}),
}}
SYSTEMD = {{
    "SystemdStatus": (systemd.SystemdStatus, {{}}),
    "SystemdEnabled": (systemd.SystemdEnabled, {{}}),
    "SystemdStatus(services)": (systemd.SystemdStatus,
                                {{"services": ["ssh.service", "cron.service", "nope.service"]}}),
    "SystemdEnabled(services)": (systemd.SystemdEnabled, {{"services": "ssh.service"}}),
    "SystemdStatus(machine)": (systemd.SystemdStatus, {{"machine": ".host"}}),
    "SystemdStatus(user_mode)": (systemd.SystemdStatus, {{"user_mode": True}}),
    "SystemdEnabled(user_mode)": (systemd.SystemdEnabled, {{"user_mode": True}}),
    "SystemdStatus(deploy)": (systemd.SystemdStatus,
                              {{"user_mode": True, "user_name": "deploy"}}),
}}


def _read(fact, kwargs):
    try:
        value = host.get_fact(fact, **kwargs)
    except Exception as exc:  # the comparison shows which side failed, and how
        return {{"error": type(exc).__name__}}
    if hasattr(value, "to_json"):  # crontab.CrontabFile
        value = value.to_json()
    return jsonable(value)


wanted = dict(COMMON, **(SYSTEMD if host.data.facts_kind == "systemd" else PLAIN))
with open(host.data.facts_out, "w") as out:
    json.dump({{name: _read(fact, kwargs) for name, (fact, kwargs) in wanted.items()}}, out)
'''


def _inventory(path: Path, host: Host, kind: str, out: Path) -> Path:
    data = dict(host.ssh_data, facts_kind=kind, facts_out=str(out))
    path.write_text(f"hosts = [({host.name!r}, {data!r})]\n")
    return path


def _content(host: Host) -> None:
    host.run("groupadd ops && useradd -m -s /bin/bash -G ops alice"
             " && mkdir -p /home/alice/.ssh", check=True)
    host.write_file("/home/alice/.ssh/authorized_keys", f"# alice\n{KEY}\n")
    host.run("chown -R alice: /home/alice/.ssh", check=True)
    host.run("printf 'MAILTO=ops\\n# nightly\\n15 3 * * * /usr/bin/backup --all\\n"
             "@reboot /bin/true boot\\n*/5 * * * 1-5 echo tick\\n' | crontab -u root -",
             check=True)
    limits = (host.read_text("/etc/security/limits.conf") or "")
    host.write_file("/etc/security/limits.conf",
                    limits + "@ops hard nofile 4096\n*    soft    core    0\n")
    hosts = host.read_text("/etc/hosts") or ""
    host.write_file("/etc/hosts", hosts + "198.18.7.7 db.internal db  # the database\n")
    host.run("sysctl -w net.ipv4.ip_forward=1", check=True)
    host.write_file("/var/run/reboot-required", "*** System restart required ***\n")
    # A login with a terminal, which sshd records in lastlog (Users' lastlog and login_time).
    ssh = host.ssh_argv("true")
    subprocess.run([ssh[0], "-tt", *ssh[1:]], check=True, capture_output=True, timeout=30)
    gen = host.read_text("/etc/locale.gen") or ""
    host.write_file("/etc/locale.gen", gen + "de_DE.UTF-8 UTF-8\n")
    host.run("locale-gen", check=True)


def _both(host: Host, kind: str, tmp_path: Path, source: str = DEPLOY) -> tuple[dict, dict]:
    """(pyinfra's facts, pullinfra's facts) of `host`, read by the same deploy."""
    require_oracle()
    deploy = tmp_path / "deploy.py"
    deploy.write_text(source)
    theirs_out, ours_out = tmp_path / "pyinfra.json", tmp_path / "pullinfra.json"
    theirs_inv = _inventory(tmp_path / "inv_pyinfra.py", host, kind, theirs_out)
    ours_inv = _inventory(tmp_path / "inv_pullinfra.py", host, kind, ours_out)
    run_oracle_file(RUN_REAL, [str(theirs_inv), str(deploy)], cwd=tmp_path)
    result = run_deploy(str(ours_inv), [str(deploy)], RunOptions(project_root=tmp_path))
    assert not result.has_failures, result
    return json.loads(theirs_out.read_text()), json.loads(ours_out.read_text())


# Counters the kernel changes by itself between two reads (open files, cached inodes and
# dentries, the last pid, a fresh random uuid per read): their values cannot match.
SYSCTL_COUNTERS = ("fs.dentry-state", "fs.file-nr", "fs.inode-nr", "fs.inode-state",
                   "fs.aio-nr", "fs.quota.", "kernel.ns_last_pid", "kernel.random.",
                   "kernel.pty.nr", "net.netfilter.nf_conntrack_count")
# Keys of the bed host's own namespaces (network, UTS): nothing outside the host sets them.
HOST_OWNED = ("net.", "kernel.hostname", "kernel.domainname")
SESSION_SCOPE = re.compile(r"^session-\d+\.scope$")
# What each side's own SSH login runs while it reads Processes, or (on a systemd host) a user
# manager and its bus: root's starts with a login, deploy's bus with the first user_name
# query of the side that read first, so they may have come, gone or been replaced between.
OWN_SESSION = {"sshd", "sh", "ps", "systemd", "(sd-pam)", "dbus-daemon"}


def _sysctls(host: Host) -> dict:
    return Sysctl().process(host.run("sysctl -a 2>/dev/null", check=True).stdout.splitlines())


def _shape(value: object) -> object:
    """What the parser decided about a value: int, str, or a list of those."""
    if isinstance(value, list):
        return [type(part).__name__ for part in value]
    return type(value).__name__


def _compare_sysctl(theirs: dict, ours: dict, before: dict, after: dict) -> None:
    """Every key on both sides, each parsed to the same shape (int, text, list). Values must be
    the same for the keys the bed host owns (its network namespace's `net.*` and its UTS
    names): machine-wide keys belong to the shared kernel, which other tests' hosts and the
    kernel itself change at any moment, also between the two sides' reads."""
    assert set(theirs) == set(ours)
    assert {k: _shape(v) for k, v in theirs.items() if not k.startswith(SYSCTL_COUNTERS)} == {
        k: _shape(v) for k, v in ours.items() if not k.startswith(SYSCTL_COUNTERS)}
    moving = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    owned = {k for k in theirs if k.startswith(HOST_OWNED) and not k.startswith(SYSCTL_COUNTERS)
             and k not in moving}
    assert len(owned) > 100, sorted(owned)
    assert {k: theirs[k] for k in owned} == {k: ours[k] for k in owned}
    # The fix this test found: keys with an empty value (`kernel.panic_sys_info = `) are
    # kept, as "", like pyinfra does (see agent/catalogue/facts/server/_kernel.py).
    empty = {k for k, v in theirs.items() if v == ""}
    assert {k: ours[k] for k in empty} == dict.fromkeys(empty, "")


def _compare_processes(theirs: dict, ours: dict) -> None:
    """Each side reads ps over its own SSH connection, at its own time: the processes both
    saw (init, the sshd listener, ...) must agree on everything but the sampled cpu and mem
    percentages; a process one side alone saw must be its own login's (sshd, sh, ps) or a
    user manager's (OWN_SESSION)."""
    common = set(theirs) & set(ours)

    def stable(p: dict) -> tuple:
        return p["user"], p["command"], p["args"]

    assert {pid: stable(theirs[pid]) for pid in common} == {
        pid: stable(ours[pid]) for pid in common}
    listeners = [pid for pid in common if "[listener]" in theirs[pid]["args"]]
    assert len(listeners) == 1 and theirs[listeners[0]]["command"] == "sshd", theirs
    for side in (theirs, ours):
        own = [p for pid, p in side.items() if pid not in common]
        assert {p["command"] for p in own} <= OWN_SESSION, own
        assert [p["args"] for p in own if p["command"] == "ps"] == [
            "ps -eo pid,user,stat,%cpu,%mem,comm,args --no-headers"]
        assert any(p["args"] == "sshd: root@notty" for p in own), own


def _compare_rest(theirs: dict, ours: dict) -> None:
    assert set(theirs) == set(ours)
    errors = {k: (theirs[k], ours[k]) for k in theirs
              if any(isinstance(v, dict) and set(v) == {"error"} for v in (theirs[k], ours[k]))}
    assert not errors, errors
    diff = {k: _delta(theirs[k], ours[k]) for k in theirs if theirs[k] != ours[k]}
    assert not diff, json.dumps(diff, indent=1)


def _delta(theirs: object, ours: object) -> object:
    """Only what differs, as (pyinfra's, pullinfra's), for a readable failure."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return {k: _delta(theirs.get(k), ours.get(k)) for k in set(theirs) | set(ours)
                if theirs.get(k) != ours.get(k)}
    return theirs, ours


def _content_shows(facts: dict) -> None:
    """The content put on the host is in the facts, so "same" is not "both empty"."""
    assert facts["AuthorizedKeys(alice)"] == [KEY]
    assert facts["Users"]["alice"]["groups"] == ["ops"]
    assert "ops" in facts["Groups"]
    assert facts["EtcHosts"]["198.18.7.7"] == ["db.internal", "db"]
    assert {"domain": "@ops", "limit_type": "hard", "item": "nofile",
            "value": "4096"} in facts["SecurityLimits"]
    assert [e.get("command") for e in facts["Crontab(root)"]] == [
        None, "/usr/bin/backup --all", "/bin/true boot", "echo tick"]
    assert facts["Crontab"] == facts["Crontab(root)"]
    assert facts["Sysctl(net)"]["net.ipv4.ip_forward"] == 1
    assert facts["RebootRequired"] is True
    assert "de_DE.UTF-8" in facts["Locales"]
    assert facts["Home(deploy)"] == "/home/deploy"
    assert facts["Users"]["root"]["lastlog"] is not None
    assert facts["Users"]["root"]["login_time"] is not None


def _home_of_unknown_user(theirs: dict, ours: dict) -> None:
    """Documented difference (docs/catalogue.md, accounts): the home of a user that does not
    exist is None with pullinfra; pyinfra gives back the shell's unexpanded `~name`."""
    assert theirs.pop("Home(nobody-here)") == "~nobody-here"
    assert ours.pop("Home(nobody-here)") is None


def test_sysctl_keeps_a_key_with_an_empty_value() -> None:
    """`sysctl -a` prints `kernel.panic_sys_info = ` on recent kernels; pyinfra has the key
    with "" (its test for an empty value comes before it strips the value)."""
    assert Sysctl().process(["kernel.panic_sys_info = ", "net.ipv4.ip_forward = 1", "x ="]) == {
        "kernel.panic_sys_info": "", "net.ipv4.ip_forward": 1}


def test_plain_host_facts_match_pyinfra(bed_host: Host, tmp_path: Path) -> None:
    _content(bed_host)
    before = _sysctls(bed_host)
    theirs, ours = _both(bed_host, "plain", tmp_path)
    after = _sysctls(bed_host)
    _content_shows(theirs)
    _compare_sysctl(theirs.pop("Sysctl"), ours.pop("Sysctl"), before, after)
    _compare_processes(theirs.pop("Processes"), ours.pop("Processes"))
    _home_of_unknown_user(theirs, ours)
    # Documented difference (docs/catalogue.md, services): pullinfra's InitdStatus keeps
    # scripts whose names hold "." or "_" (Debian's hwclock.sh), which pyinfra's name
    # pattern drops; every other script has the same status on both sides.
    theirs_initd, ours_initd = theirs.pop("InitdStatus"), ours.pop("InitdStatus")
    extra = {k: v for k, v in ours_initd.items() if k not in theirs_initd}
    assert extra == {"hwclock.sh": False}
    assert theirs_initd == {k: v for k, v in ours_initd.items() if k not in extra}
    assert theirs_initd["ssh"] is True
    _compare_rest(theirs, ours)


def test_systemd_host_facts_match_pyinfra(systemd_host: Host, tmp_path: Path) -> None:
    _content(systemd_host)
    # deploy's own user manager runs without a login of deploy's (user_name="deploy").
    # deploy's manager runs (lingering) and has been reached once before either side reads.
    systemd_host.run("loginctl enable-linger deploy && systemctl start user@$(id -u deploy)"
                     " && systemctl --user --machine=deploy@.host show --property Id"
                     " default.target", check=True)
    before = _sysctls(systemd_host)
    theirs, ours = _both(systemd_host, "systemd", tmp_path)
    after = _sysctls(systemd_host)
    _content_shows(theirs)
    _compare_sysctl(theirs.pop("Sysctl"), ours.pop("Sysctl"), before, after)
    _compare_processes(theirs.pop("Processes"), ours.pop("Processes"))
    _home_of_unknown_user(theirs, ours)
    # Every SSH login is a logind session with a scope unit of its own: each side sees its
    # own session-N.scope running (the other's may be gone or still stopping). All the
    # other units have the same state on both sides.
    for name in ("SystemdStatus", "SystemdEnabled", "SystemdStatus(machine)"):
        t = {k: v for k, v in theirs[name].items() if not SESSION_SCOPE.match(k)}
        o = {k: v for k, v in ours[name].items() if not SESSION_SCOPE.match(k)}
        assert t == o, name
        assert len(t) > 20, t
        if name != "SystemdEnabled":
            for side in (theirs[name], ours[name]):
                assert any(SESSION_SCOPE.match(k) and v for k, v in side.items()), side
        theirs.pop(name), ours.pop(name)
    # Root's manager (user_mode, reached through the login's session) and deploy's (lingering,
    # through --machine=deploy@.host) have units of their own: compared with the rest.
    assert theirs["SystemdStatus(deploy)"] and theirs["SystemdEnabled(user_mode)"]
    # Each reach of deploy's manager (--machine=deploy@.host) opens a session of deploy's, which
    # lastlog records: pyinfra's read of SystemdStatus(deploy) comes after its Users and before
    # ours, so pullinfra's Users sees deploy's login of that later moment.
    theirs_deploy, ours_deploy = theirs["Users"]["deploy"], ours["Users"]["deploy"]
    assert theirs_deploy["lastlog"] and ours_deploy["lastlog"]
    assert ours_deploy["login_time"]["datetime"] >= theirs_deploy["login_time"]["datetime"]
    for key in ("lastlog", "login_time"):
        ours_deploy[key] = theirs_deploy[key]
    assert theirs["SystemdStatus(services)"] == {
        "ssh.service": True, "cron.service": False, "nope.service": False}
    _compare_rest(theirs, ours)



# Packages, sources, keys, git, pip and file facts: read by a deploy of their own, on content
# the test puts on the host first (_more_content).
MORE_DEPLOY = JSONABLE_SOURCE + """

import dataclasses

from pyinfra import host
from pyinfra.facts import apt, deb, files, git, pip

F = "/srv/facts"
WANTED = {
    "DebArch": (deb.DebArch, {}),
    "DebPackage(bash)": (deb.DebPackage, {"package": "bash"}),
    "DebPackage(nope)": (deb.DebPackage, {"package": "nope-not-installed"}),
    "AptSources": (apt.AptSources, {}),
    "AptKeys": (apt.AptKeys, {}),
    "GitBranch": (git.GitBranch, {"repo": F + "/clone"}),
    "GitConfig(repo)": (git.GitConfig, {"repo": F + "/clone"}),
    "GitConfig(global)": (git.GitConfig, {}),
    "GitTrackingBranch": (git.GitTrackingBranch, {"repo": F + "/clone"}),
    "PipPackages(venv)": (pip.PipPackages, {"pip": F + "/venv/bin/pip"}),
    "Block": (files.Block, {"path": F + "/blocked.conf"}),
    "Block(marker)": (files.Block, {"path": F + "/blocked.conf", "marker": "## {mark} app",
                                    "begin": "START", "end": "STOP"}),
    "Block(none)": (files.Block, {"path": F + "/plain.txt"}),
    "Block(missing)": (files.Block, {"path": F + "/missing.conf"}),
    "FindFiles": (files.FindFiles, {"path": F + "/tree"}),
    "FindFiles(fname)": (files.FindFiles, {"path": F + "/tree", "fname": "*.txt"}),
    "FindFiles(maxdepth)": (files.FindFiles, {"path": F + "/tree", "maxdepth": 1}),
    "FindFiles(min_size)": (files.FindFiles, {"path": F + "/tree", "min_size": 100}),
    "FindDirectories": (files.FindDirectories, {"path": F + "/tree"}),
    "FindLinks": (files.FindLinks, {"path": F + "/tree"}),
    "FindFiles(missing)": (files.FindFiles, {"path": F + "/nowhere"}),
    "FindInFile": (files.FindInFile, {"path": F + "/plain.txt", "pattern": "^alpha"}),
    "FindInFile(ere)": (files.FindInFile, {"path": F + "/plain.txt", "pattern": "a+l|gam+a",
                                           "extended_regex": True}),
    "FindInFile(nomatch)": (files.FindInFile, {"path": F + "/plain.txt", "pattern": "zzz"}),
    "FindInFile(missing)": (files.FindInFile, {"path": F + "/missing.conf", "pattern": "x"}),
    "Md5File": (files.Md5File, {"path": F + "/plain.txt"}),
    "Sha1File": (files.Sha1File, {"path": F + "/plain.txt"}),
    "Sha256File": (files.Sha256File, {"path": F + "/plain.txt"}),
    "Sha384File": (files.Sha384File, {"path": F + "/plain.txt"}),
    "Sha256File(missing)": (files.Sha256File, {"path": F + "/missing.conf"}),
}


def _read(fact, kwargs):
    try:
        value = host.get_fact(fact, **kwargs)
    except Exception as exc:  # the comparison shows which side failed, and how
        return {"error": type(exc).__name__}
    if isinstance(value, list):  # apt.AptSources: AptRepo dataclasses
        value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return jsonable(value)


with open(host.data.facts_out, "w") as out:
    json.dump({name: _read(fact, kwargs) for name, (fact, kwargs) in WANTED.items()}, out)
"""

PLAIN_TEXT = "alpha one\nbeta two\ngamma three\nalpha again\n"
BLOCKED = ("before = 1\n# BEGIN PYINFRA BLOCK\nkey = value\nother = 2\n# END PYINFRA BLOCK\n"
           "## START app\nport = 8080\n## STOP app\nafter = 3\n")
DEB822 = ("Types: deb deb-src\nURIs: http://deb.example.org/debian\nSuites: bookworm"
          " bookworm-updates\nComponents: main contrib\nArchitectures: amd64\n"
          "Signed-By: /etc/apt/keyrings/pullinfra-testbed.gpg\n")
EXTRA_LIST = ("# an extra source\n"
              "deb [arch=amd64 signed-by=/etc/apt/keyrings/pullinfra-testbed.gpg]"
              " http://extra.example.org/debian bookworm main non-free\n"
              "deb-src http://extra.example.org/debian bookworm main\n")


def _more_content(host: Host) -> str:
    """Sources, a keyring, a git clone with a tracking branch, a venv and a file tree;
    gives back the keyring key's fingerprint."""
    signed = ensure_signed_repo()
    host.run("mkdir -p /etc/apt/keyrings /srv/facts/tree/sub/deep", check=True)
    host.write_file("/etc/apt/keyrings/pullinfra-testbed.gpg", signed.key_gpg.read_bytes())
    host.write_file("/etc/apt/sources.list.d/extra.list", EXTRA_LIST)
    host.write_file("/etc/apt/sources.list.d/example.sources", DEB822)
    host.run(
        "set -e; cd /srv/facts; git init -q --bare -b main origin.git;"
        " git init -q -b main seed; cd seed; git config user.email t@example.org;"
        " git config user.name Tester; echo hi > README; git add README;"
        " git commit -q -m first; git remote add origin /srv/facts/origin.git;"
        " git push -q origin main; cd ..; git clone -q /srv/facts/origin.git clone;"
        " git -C clone config core.pager cat; git -C clone config facts.answer 42;"
        " git config --global user.name 'Global Person';"
        " git config --global user.email global@example.org;"
        " git config --global alias.st status", check=True)
    host.run("python3 -m venv /srv/facts/venv", check=True)
    host.write_file("/srv/facts/plain.txt", PLAIN_TEXT)
    host.write_file("/srv/facts/blocked.conf", BLOCKED)
    host.write_file("/srv/facts/tree/a.txt", "a\n")
    host.write_file("/srv/facts/tree/big.bin", "x" * 500)
    host.write_file("/srv/facts/tree/sub/b.txt", "b\n")
    host.write_file("/srv/facts/tree/sub/deep/c.conf", "c\n")
    host.run("ln -s a.txt /srv/facts/tree/link-a && ln -s sub /srv/facts/tree/sub-link"
             " && ln -s /nowhere /srv/facts/tree/sub/dangling", check=True)
    return signed.fingerprint


def _more_content_shows(facts: dict, fingerprint: str) -> None:
    """The content put on the host is in the facts, so "same" is not "both empty"."""
    assert facts["DebArch"] == "amd64"
    assert facts["DebPackage(bash)"]["name"] == "bash" and facts["DebPackage(bash)"]["version"]
    repos = {(r["type"], r["url"], r["distribution"]) for r in facts["AptSources"]}
    assert {("deb", "http://extra.example.org/debian", "bookworm"),
            ("deb-src", "http://extra.example.org/debian", "bookworm"),
            ("deb", "http://deb.example.org/debian", "bookworm-updates"),
            ("deb-src", "http://deb.example.org/debian", "bookworm")} <= repos
    assert any(k.get("fingerprint") == fingerprint for k in facts["AptKeys"].values())
    assert facts["GitBranch"] == "main" and facts["GitTrackingBranch"] == "origin/main"
    assert facts["GitConfig(repo)"]["facts.answer"] == ["42"]
    assert facts["GitConfig(global)"]["user.name"] == ["Global Person"]
    assert set(facts["PipPackages(venv)"]) >= {"pip"}
    assert facts["Block"] == ["key = value", "other = 2"]
    assert facts["Block(marker)"] == ["port = 8080"]
    assert facts["Block(none)"] == [] and facts["Block(missing)"] is None
    assert sorted(facts["FindFiles"]) == [f"/srv/facts/tree/{p}" for p in (
        "a.txt", "big.bin", "sub/b.txt", "sub/deep/c.conf")]
    assert facts["FindFiles(min_size)"] == ["/srv/facts/tree/big.bin"]
    assert len(facts["FindLinks"]) == 3 and len(facts["FindDirectories"]) == 3
    assert facts["FindInFile"] == ["alpha one", "alpha again"]
    assert facts["FindInFile(nomatch)"] == [] and facts["FindInFile(missing)"] is None
    assert facts["Md5File"] == hashlib.md5(PLAIN_TEXT.encode()).hexdigest()
    assert facts["Sha1File"] == hashlib.sha1(PLAIN_TEXT.encode()).hexdigest()
    assert facts["Sha256File"] == hashlib.sha256(PLAIN_TEXT.encode()).hexdigest()
    assert facts["Sha384File"] == hashlib.sha384(PLAIN_TEXT.encode()).hexdigest()
    assert facts["Sha256File(missing)"] is None


def test_plain_host_package_git_pip_and_file_facts_match_pyinfra(
        bed_host: Host, tmp_path: Path) -> None:
    fingerprint = _more_content(bed_host)
    theirs, ours = _both(bed_host, "plain", tmp_path, MORE_DEPLOY)
    _more_content_shows(theirs, fingerprint)
    _more_content_shows(ours, fingerprint)
    # A package neither installed nor a .deb file is None on both sides (pullinfra's gave {}
    # until this test found it).
    assert theirs["DebPackage(nope)"] is None
    _compare_rest(theirs, ours)
