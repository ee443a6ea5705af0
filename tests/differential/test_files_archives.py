"""Differential cases for files.copy, files.move, files.flags and files.unarchive.

files.flags is only run with no flags here: its work is done by chflags, which Linux (and so
a Debian bed host) lacks; tests/ops/test_ops_files_archives.py covers its commands."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest

from tests.differential import harness
from tests.differential.harness import Case, Comparison, Observation
from tests.differential.state import files
from tests.testbed import Host


def _ascii_tar() -> str:
    """A plain tar of text files as text: its headers are ASCII, so case.files can carry it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, body in [("rel/bin", "#!/bin/sh\necho hi\n"), ("rel/conf/app.ini", "a=1\n")]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o755, 1700000000
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(body.encode()))
    return out.getvalue().decode("ascii")


def _copy_sources(host: Host) -> None:
    host.run("mkdir -p /srv/src/tree/sub /srv/dest", check=True)
    host.write_file("/srv/src/app.conf", "port=80\n", mode=0o640)
    host.write_file("/srv/src/tree/a", "alpha\n")
    host.write_file("/srv/src/tree/sub/b", "beta\n", mode=0o600)


def _move_sources(host: Host) -> None:
    host.run("mkdir -p /srv/olddir /srv/into", check=True)
    host.write_file("/srv/old.txt", "old\n", mode=0o600)
    host.write_file("/srv/olddir/x", "x\n")


def _archives(host: Host) -> None:
    host.run("mkdir -p /srv/build/pkg/share", check=True)
    host.write_file("/srv/build/pkg/bin", "#!/bin/sh\n", mode=0o755)
    host.write_file("/srv/build/pkg/share/readme", "read me\n")
    host.run("tar -czf /srv/app.tar.gz -C /srv/build pkg && cd /srv/build && "
             "zip -qr /srv/app.zip pkg && mkdir -p /opt/tgz /opt/zip /opt/tar /opt/again",
             check=True)


COPIED = ["/srv/dest/app.conf", "/srv/dest/tree", "/srv/dest/tree/a", "/srv/dest/tree/sub",
          "/srv/dest/tree/sub/b", "/srv/src/app.conf"]
MOVED = ["/srv/old.txt", "/srv/olddir", "/srv/into/old.txt", "/srv/into/olddir",
         "/srv/into/olddir/x"]
UNPACKED = [f"/opt/{d}/pkg/{f}" for d in ("tgz", "zip", "again") for f in ("bin", "share/readme")]
UNPACKED += ["/opt/tar/rel/bin", "/opt/tar/rel/conf/app.ini", "/opt/tar/rel"]

CASES = [
    Case(
        name="files.copy a file and a directory, files.flags with nothing asked",
        deploy='''
from pyinfra.operations import files
files.copy(name="copy file", src="/srv/src/app.conf", dest="/srv/dest")
files.copy(name="copy tree", src="/srv/src/tree", dest="/srv/dest")
files.flags(name="no flags", path="/srv/dest")
''',
        setup=_copy_sources,
        state=lambda h: files(h, COPIED),
    ),
    Case(
        name="files.unarchive a tar.gz, a zip and a local tar, with and without creates",
        deploy='''
from pyinfra.operations import files
files.unarchive(name="tgz", src="/srv/app.tar.gz", dest="/opt/tgz", remote_src=True,
                creates="/opt/tgz/pkg/bin")
files.unarchive(name="zip", src="/srv/app.zip", dest="/opt/zip", remote_src=True,
                creates="/opt/zip/pkg/bin", user="nobody", group="nogroup")
files.unarchive(name="local tar", src="files/rel.tar", dest="/opt/tar",
                creates="/opt/tar/rel/bin")
files.unarchive(name="every run", src="/srv/app.zip", dest="/opt/again", remote_src=True,
                extra_opts=["-q"])
''',
        files={"files/rel.tar": _ascii_tar()},
        setup=_archives,
        state=lambda h: files(h, UNPACKED),
    ),
]


def _directory_copied_again(comparison: Comparison) -> None:
    """Real pyinfra is wrong here: its files.copy only compares a file with its copy, so it
    copies a directory again on every run (cp -r over the earlier copy, which changes
    nothing). pullinfra compares the trees and reports no change. Check that this is the only
    difference."""
    theirs = comparison.pyinfra.runs[1]["h1"]
    ours = comparison.pullinfra.runs[1]["h1"]
    assert [op.changed for op in theirs] == [False, True, False]
    assert [op.changed for op in ours] == [False, False, False]
    theirs[1] = theirs[1]._replace(changed=False)


PYINFRA_WRONG: dict[str, Callable[[Comparison], None]] = {
    CASES[0].name: _directory_copied_again,
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_files_archives_match_pyinfra(differential, case):
    differential.check(case, PYINFRA_WRONG.get(case.name))


MOVE = Case(
    name="files.move a file and a directory",
    deploy='''
from pyinfra.operations import files
files.move(name="move file", src="/srv/old.txt", dest="/srv/into")
files.move(name="move dir", src="/srv/olddir", dest="/srv/into")
''',
    setup=_move_sources,
    state=lambda h: files(h, MOVED),
)


def test_files_move_matches_pyinfra_and_settles(bed_hosts, tmp_path):
    """Real pyinfra is wrong here for a deploy that runs again: on a second run its
    files.move raises while the deploy is prepared (the source is gone), so the whole run
    fails. pullinfra takes "source gone, moved copy there" as done and reports no change.
    So: one run of pyinfra against pullinfra's first, then pullinfra's second alone."""
    theirs, ours = bed_hosts(2)
    for host in (theirs, ours):
        MOVE.setup(host)
    their_project = harness._write_project(tmp_path / "pyinfra", MOVE, [theirs])
    our_project = harness._write_project(tmp_path / "pullinfra", MOVE, [ours])
    their_run = harness._run_pyinfra(*their_project)
    our_runs, our_errors = [], {}
    for _ in range(2):
        ops, errors = harness._run_pullinfra(*our_project)
        our_runs.append(ops)
        our_errors.update(errors)
    assert [(op.changed, op.success) for op in our_runs[1]["h1"]] == [(False, True)] * 2
    comparison = Comparison(
        MOVE,
        Observation("pyinfra", [their_run], harness._states(MOVE, [theirs])),
        Observation("pullinfra", our_runs[:1], harness._states(MOVE, [ours]), our_errors),
    )
    comparison.assert_same()
