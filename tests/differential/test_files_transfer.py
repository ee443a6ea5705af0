"""Differential cases for files.download, files.get and files.sync against real pyinfra.

files.download fetches from an HTTP server this test starts on the bed's gateway address
(the machine's end of every bed link), as tests/differential/test_apt.py does for apt.deb."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.differential import state
from tests.differential.harness import Case
from tests.differential.served import serve_directory
from tests.testbed import Host

PAYLOAD = b"a payload served over http\n" * 100
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
DL = ["/opt/dl", "/opt/dl/a.bin", "/opt/dl/cached.bin", "/opt/dl/forced.bin"]
SITE = ["/srv/site", "/srv/site/index.html", "/srv/site/sub", "/srv/site/sub/a.txt",
        "/srv/site/old.txt", "/srv/site/x.pyc", "/srv/site/skip.pyc", "/srv/site/cache",
        "/srv/site/home.html"]


@pytest.fixture
def served_url(bed, tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "a.bin").write_bytes(PAYLOAD)
    with serve_directory(bed, served) as url:
        yield url


def _changed(observation, host: str = "h1") -> list[list[bool]]:
    return [[op.changed for op in run[host]] for run in observation.runs]


def test_download_with_a_matching_checksum(differential, served_url):
    case = Case(
        name="files.download with sha256sum, cache_time and force",
        deploy=f'''
from pyinfra.operations import files
files.directory(path="/opt/dl")
files.download(name="checked", src="{served_url}/a.bin", dest="/opt/dl/a.bin",
               sha256sum="{PAYLOAD_SHA256}", mode="600", user="nobody")
files.download(name="cached", src="{served_url}/a.bin", dest="/opt/dl/cached.bin",
               cache_time=3600)
files.download(name="forced", src="{served_url}/a.bin", dest="/opt/dl/forced.bin", force=True)
''',
        state=lambda h: state.files(h, DL),
    )
    comparison = differential.check(case)
    assert _changed(comparison.pullinfra) == [[True, True, True, True],
                                              [False, False, False, True]]
    assert comparison.pullinfra.state["h1"]["/opt/dl/a.bin"]["sha256"] == PAYLOAD_SHA256


def test_download_with_a_wrong_checksum_fails(differential, served_url):
    case = Case(
        name="files.download with a sha256sum that does not match",
        deploy=f'''
from pyinfra.operations import files
files.download(name="wrong sum", src="{served_url}/a.bin", dest="/opt/bad.bin",
               sha256sum="{'0' * 64}")
''',
        state=lambda h: state.files(h, ["/opt/bad.bin"]),
    )
    comparison = differential.run(case)
    for observation in (comparison.pyinfra, comparison.pullinfra):
        assert [[op.success for op in run["h1"]] for run in observation.runs] == [[False]] * 2
    # pyinfra is wrong here: it moves the download to dest before checking it, so a file that
    # failed its checksum stays in place for whatever reads dest next. pullinfra checks the
    # temporary file and removes it on a mismatch: nothing reaches dest.
    assert comparison.pyinfra.state["h1"]["/opt/bad.bin"]["sha256"] == PAYLOAD_SHA256
    assert comparison.pullinfra.state["h1"]["/opt/bad.bin"] == {"exists": False}


def _old_site(host: Host) -> None:
    host.run(["mkdir", "-p", "/srv/site"], check=True)
    host.write_file("/srv/site/index.html", "old\n")
    host.write_file("/srv/site/old.txt", "remove me\n")
    host.write_file("/srv/site/x.pyc", "excluded, so kept\n")


def test_sync_a_tree_with_delete_and_excludes(differential):
    case = Case(
        name="files.sync changed, new and deleted files, excludes",
        deploy='''
import os
from pyinfra.operations import files
link = os.path.join(os.path.dirname(os.path.abspath(__file__)), "site", "home.html")
if not os.path.islink(link):
    os.symlink("index.html", link)
files.sync(name="site", src="site", dest="/srv/site", delete=True,
           exclude="*.pyc", exclude_dir="cache", user="nobody", mode="640", dir_mode="750")
''',
        files={"site/index.html": "new\n", "site/sub/a.txt": "a\n", "site/skip.pyc": "x",
               "site/cache/c": "c"},
        setup=_old_site,
        state=lambda h: state.files(h, SITE),
    )
    comparison = differential.check(case)
    assert _changed(comparison.pullinfra) == [[True], [False]]
    site = comparison.pullinfra.state["h1"]
    assert not site["/srv/site/old.txt"]["exists"] and site["/srv/site/x.pyc"]["exists"]
    assert site["/srv/site/home.html"]["link_target"] == "index.html"


def _report(host: Host) -> None:
    host.write_file("/srv/report.txt", "the same report on every host\n")


def test_get_fetches_to_the_deploy_dir(differential, tmp_path: Path):
    case = Case(
        name="files.get to the deploy directory",
        deploy='''
from pyinfra.operations import files
files.get(name="report", src="/srv/report.txt", dest="fetched/report.txt",
          create_local_dir=True)
''',
        setup=_report,
        state=lambda h: state.files(h, ["/srv/report.txt"]),
    )
    comparison = differential.check(case)
    assert _changed(comparison.pullinfra) == [[True], [False]]
    roots = sorted(tmp_path.glob("case*"))
    fetched = {tool: (roots[-1] / tool / "fetched" / "report.txt").read_bytes()
               for tool in ("pyinfra", "pullinfra")}
    assert fetched["pyinfra"] == fetched["pullinfra"] == b"the same report on every host\n"


MIRROR = ["/srv/mirror", "/srv/mirror/index.html", "/srv/mirror/css/a.css",
          "/srv/mirror/stale.txt"]


def _stale_mirror(host: Host) -> None:
    host.run("mkdir -p /srv/mirror", check=True)
    host.write_file("/srv/mirror/stale.txt", "not in the source\n")


def test_rsync_mirrors_a_local_tree_over_ssh(differential):
    """Both tools run this machine's rsync over ssh with the host's ssh data; rsync always
    counts as a change, in both, since neither can tell what rsync did."""
    case = Case(
        name="files.rsync of the deploy's site/ with --delete",
        deploy='''
from pyinfra.operations import files
files.rsync(name="mirror", src="site/", dest="/srv/mirror", flags=["-rlt", "--delete"])
''',
        files={"site/index.html": "home\n", "site/css/a.css": "body {}\n"},
        setup=_stale_mirror,
        state=lambda h: state.files(h, MIRROR),
    )
    comparison = differential.check(case)
    assert _changed(comparison.pullinfra) == [[True], [True]]
    mirror = comparison.pullinfra.state["h1"]
    assert mirror["/srv/mirror/index.html"]["exists"]
    assert not mirror["/srv/mirror/stale.txt"]["exists"]
