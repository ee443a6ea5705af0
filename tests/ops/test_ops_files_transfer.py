"""files.download, files.get and files.sync: facts in, commands out, against the fake host."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.catalogue.facts.files import (
    Directory,
    File,
    FindFiles,
    FindLinks,
    Link,
    Sha1File,
    Sha256File,
)
from agent.catalogue.facts.server import Date, Which
from agent.catalogue.operations import files
from agent.compat import run_deploy
from agent.engine.command import FunctionCommand
from agent.engine.context import bound_host
from agent.engine.operation_errors import OperationError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_op

URL = "http://example.test/a.tar"
DEST = "/opt/a.tar"
TEMP = "/tmp/pullinfra-" + hashlib.sha1(DEST.encode()).hexdigest()
SUM = "ab" * 32
INFO = {"user": "root", "group": "root", "mode": 644, "size": 3,
        "mtime": datetime(2026, 1, 1, 12, 0, 0)}


def test_download_missing_file_with_curl_and_checksum(fake: FakeHost) -> None:
    fake.fact(File, None, path=DEST).fact(Which, "/usr/bin/curl", command="curl")
    assert run_op(fake, files.download, URL, DEST, user="app", mode="0600", sha256sum=SUM,
                  headers={"X-A": "b c"}) == [
        f"curl -sSLf --header 'X-A: b c' {URL} -o {TEMP}",
        f"(( sha256sum {TEMP} 2> /dev/null || shasum -a 256 {TEMP} || sha256 {TEMP} ) "
        f"| grep {SUM} ) || ( rm -f {TEMP} ; echo 'SHA256 did not match!' && exit 1 )",
        f"mv {TEMP} {DEST}",
        f"chown app {DEST}",
        f"chmod 600 {DEST}",
    ]


def test_download_falls_back_to_wget_then_to_either(fake: FakeHost) -> None:
    fake.fact(File, None, path=DEST).fact(Which, None, command="curl")
    fake.fact(Which, "/usr/bin/wget", command="wget")
    wget = f"wget -q --no-check-certificate {URL} -O {TEMP} || ( rm -f {TEMP} ; exit 1 )"
    assert run_op(fake, files.download, URL, DEST, insecure=True)[0] == wget
    fake.fact(Which, None, command="wget")
    first = run_op(fake, files.download, URL, DEST, temp_dir="/var/tmp")[0]
    temp = "/var/tmp/pullinfra-" + hashlib.sha1(DEST.encode()).hexdigest()
    assert first == (f"( curl -sSLf {URL} -o {temp} ) || "
                     f"( wget -q {URL} -O {temp} || ( rm -f {temp} ; exit 1 ) )")


def test_download_existing_matching_file_is_a_noop(fake: FakeHost) -> None:
    fake.fact(File, INFO, path=DEST).fact(Sha256File, SUM, path=DEST)
    fake.fact(Date, datetime(2026, 1, 1, 12, 30, tzinfo=UTC))
    assert run_op(fake, files.download, URL, DEST, sha256sum=SUM.upper(), cache_time=3600) == []
    assert fake.noops == [f"file {DEST} has already been downloaded"]


def test_download_existing_file_only_gets_owner_and_mode(fake: FakeHost) -> None:
    fake.fact(File, INFO, path=DEST)
    assert run_op(fake, files.download, URL, DEST, user="app", mode=640) == [
        f"chown app {DEST}", f"chmod 640 {DEST}"]


def test_download_again_on_stale_cache_wrong_sum_or_force(fake: FakeHost) -> None:
    fake.fact(File, INFO, path=DEST).fact(Which, "/usr/bin/curl", command="curl")
    fake.fact(Date, datetime(2026, 1, 1, 14, 0, tzinfo=UTC))
    assert run_op(fake, files.download, URL, DEST, cache_time=3600)[1] == f"mv {TEMP} {DEST}"
    fake.fact(Sha1File, "00" * 20, path=DEST)
    assert len(run_op(fake, files.download, URL, DEST, sha1sum="11" * 20)) == 3
    assert len(run_op(fake, files.download, URL, DEST, force=True)) == 2
    assert fake.noops == []


def test_download_onto_a_directory_fails(fake: FakeHost) -> None:
    fake.fact(File, False, path=DEST)
    with pytest.raises(OperationError, match="not a file"):
        run_op(fake, files.download, URL, DEST)


def test_download_argument_error_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        "files.download(name='bad', src='http://x/y', dest='/tmp/y', cache_time='soon')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "cache_time" in (op.error or "")


def test_get_fetches_then_is_a_noop_when_equal(fake: FakeHost, tmp_path: Path) -> None:
    fake.fact(File, INFO, path="/etc/motd")
    fake.files["/etc/motd"] = b"hello\n"
    [command] = run_op(fake, files.get, "/etc/motd", "out/motd", create_local_dir=True)
    assert command == ("function", command[1])
    with bound_host(fake):  # type: ignore[arg-type]
        for real in files.get._inner("/etc/motd", "out/motd", create_local_dir=True):
            assert isinstance(real, FunctionCommand)
            real.function(*real.args, **real.kwargs)
    local = tmp_path / "out" / "motd"
    assert local.read_bytes() == b"hello\n"
    fake.fact(Sha1File, hashlib.sha1(b"hello\n").hexdigest(), path="/etc/motd")
    assert run_op(fake, files.get, "/etc/motd", "out/motd") == []
    assert fake.noops == [f"file {local} has already been downloaded"]
    assert len(run_op(fake, files.get, "/etc/motd", "out/motd", force=True)) == 1


def test_get_of_a_missing_remote_file_fails_at_execute(fake: FakeHost, tmp_path: Path) -> None:
    fake.fact(File, None, path="/nope")
    with bound_host(fake):  # type: ignore[arg-type]
        [real] = list(files.get._inner("/nope", str(tmp_path / "n"), add_deploy_dir=False))
        with pytest.raises(OperationError, match="could not read /nope"):
            real.function(*real.args, **real.kwargs)


def _tree(root: Path) -> Path:
    src = root / "site"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_bytes(b"hi\n")
    (src / "skip.pyc").write_bytes(b"x")
    (src / "sub" / "a.txt").write_bytes(b"a\n")
    (src / "cache").mkdir()
    (src / "cache" / "c").write_bytes(b"c")
    os.symlink("index.html", src / "home.html")
    for path in (src, src / "sub", src / "index.html", src / "sub" / "a.txt"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return src


def test_sync_new_tree_with_delete_and_excludes(fake: FakeHost, tmp_path: Path) -> None:
    _tree(tmp_path)
    fake.fact(Link, None, path="/srv/site")
    for path in ("/srv/site", "/srv/site/sub"):
        fake.fact(File, None, path=path).fact(Directory, None, path=path)
    for path in ("/srv/site/home.html", "/srv/site/index.html", "/srv/site/sub/a.txt"):
        fake.fact(File, None, path=path).fact(Link, None, path=path)
    fake.fact(FindFiles, ["/srv/site/old.txt", "/srv/site/index.html", "/srv/site/x.pyc"],
              path="/srv/site")
    fake.fact(FindLinks, ["/srv/site/gone"], path="/srv/site")
    fake.fact(File, {**INFO}, path="/srv/site/old.txt")
    fake.fact(Link, {"link_target": "x"}, path="/srv/site/gone")
    commands = run_op(fake, files.sync, "site", "/srv/site", delete=True,
                      exclude="*.pyc", exclude_dir="cache")
    text = [c if isinstance(c, str) else c[0] + " " + c[2] for c in commands]
    assert "mkdir -p /srv/site" in text and "mkdir -p /srv/site/sub" in text
    assert "chmod 755 /srv/site" in text
    assert "ln -s index.html /srv/site/home.html" in text
    assert "upload /srv/site/index.html" in text and "upload /srv/site/sub/a.txt" in text
    assert "rm -f /srv/site/old.txt" in text and "rm -f /srv/site/gone" in text
    assert not any("pyc" in line or "cache" in line for line in text)


def test_sync_of_a_missing_local_dir_names_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import files\n\n"
        "files.sync(name='bad', src='nowhere', dest='/tmp/nowhere')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "no such local directory" in (op.error or "")


def test_rsync_builds_the_local_command_over_ssh(fake: FakeHost) -> None:
    fake.data.update(ssh_hostname="198.18.0.5", ssh_user="deploy", ssh_port=2222,
                     ssh_key="/k/id", ssh_strict_host_key_checking="no")
    with bound_host(fake):  # type: ignore[arg-type]
        [command] = list(files.rsync._inner("site/", "/srv/site"))
    assert isinstance(command, FunctionCommand)
    assert command.args == (
        "rsync -ax --delete --rsh 'ssh -o BatchMode=yes -o StrictHostKeyChecking=no -p 2222 "
        f"-i /k/id' --rsync-path rsync {fake.local_dir}/site/ deploy@198.18.0.5:/srv/site",
    )


def test_rsync_on_local_runs_on_the_host(fake: FakeHost) -> None:
    fake.name = "@local"
    assert run_op(fake, files.rsync, "a/", "/b", flags=["-a"]) == ["rsync -a a/ /b"]
    with pytest.raises(OperationError, match="flags"):
        run_op(fake, files.rsync, "a/", "/b", flags="-a")


def test_download_checks_an_upper_case_sum_as_the_tools_print_it(fake: FakeHost) -> None:
    fake.fact(File, None, path=DEST).fact(Which, "/usr/bin/curl", command="curl")
    check = run_op(fake, files.download, URL, DEST, md5sum="AB" * 16)[1]
    assert f"| grep {'ab' * 16} )" in check and "'MD5 did not match!'" in check
