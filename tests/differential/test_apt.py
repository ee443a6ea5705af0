"""Differential cases for apt's repositories, keys, .deb files and dist-upgrade.

The signed repository, its key and a .deb no repository serves are built by
tests/testbed/aptrepo.py (ensure_signed_repo) under /var/cache, which bed hosts see as this
machine does: so ``src=`` of apt.key and apt.deb are host paths, as pyinfra means them, and
the repository is a ``file:`` URI. The .deb is also served over HTTP from the bed's gateway
(.254, this machine's end of every host's link) for apt.deb's URL form. apt.ppa needs
Ubuntu's apt-add-repository and is only unit-tested (tests/ops/test_ops_apt_sources.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.compat import run_deploy
from agent.engine.run import RunOptions
from tests.differential import state_apt
from tests.differential.harness import Case
from tests.differential.served import serve_directory
from tests.oracle import JSONABLE_SOURCE, require_oracle, run_oracle_file
from tests.testbed import Host
from tests.testbed.aptrepo import (
    REPO_DIR,
    SIGNED_ROOT,
    AptRepoError,
    SignedRepo,
    ensure_signed_repo,
)

RUN_REAL = Path(__file__).with_name("run_real_pyinfra.py")
try:
    SIGNED = ensure_signed_repo()
    SIGNED_ERROR = None
except (AptRepoError, OSError) as exc:  # not root, or no gpg: the bed cannot run here either
    SIGNED_ERROR = f"cannot build the signed apt repository: {exc}"
    SIGNED = SignedRepo(SIGNED_ROOT / "repo", SIGNED_ROOT / "pullinfra-testbed.asc",
                        SIGNED_ROOT / "pullinfra-testbed.gpg", "0" * 40,
                        SIGNED_ROOT / "files/pullinfra-debfile_1.0_all.deb")
KEYRING = "/etc/apt/keyrings/pullinfra-testbed.gpg"
PACKAGES = ["pullinfra-signed", "pullinfra-debfile", "pullinfra-dummy", "pullinfra-dummy-extra"]


@pytest.fixture(autouse=True)
def _signed_repo_built(bed) -> None:
    """Without a bed every test here skips (or fails in CI) through `bed`; with one, the
    signed repository must have been built."""
    if SIGNED_ERROR:
        pytest.fail(SIGNED_ERROR, pytrace=False)


def _state(host: Host) -> dict:
    return state_apt.apt_config(host, PACKAGES)


def _old_config(host: Host) -> None:
    host.run(f"cp {SIGNED.key_gpg} /etc/apt/keyrings/old-vendor.gpg"
             " && printf 'Types: deb\\nURIs: http://deb.invalid/debian\\nSuites: bookworm\\n'"
             " > /etc/apt/sources.list.d/old.sources", check=True)


def _installed_and_old_key(host: Host) -> None:
    host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
             " pullinfra-dummy=1.0 pullinfra-dummy-extra", check=True, timeout=300)
    host.run(f"cp {SIGNED.key_gpg} /etc/apt/trusted.gpg.d/pullinfra-old.gpg", check=True)


CASES = [
    Case(
        name="apt.key from a key file, apt.repo signed by it, then update and install",
        deploy=f'''
from pyinfra.operations import apt
apt.key(name="key", src="{SIGNED.key_asc}")
apt.repo(name="repo", src="{SIGNED.sources_line(KEYRING)}", filename="pullinfra-signed")
apt.update(name="update")
apt.packages(name="signed package", packages=["pullinfra-signed"])
apt.repo(name="absent repo", src="deb http://deb.invalid/debian bookworm main", present=False)
''',
        state=_state,
    ),
    Case(
        name="apt.key by key id, apt.sources_file, removing a keyring and a sources file",
        deploy=f'''
from pyinfra.operations import apt
apt.key(name="old keyring gone", dest="old-vendor.gpg", present=False)
apt.sources_file(name="old sources gone", filename="old", present=False)
apt.key(name="key by id", src="{SIGNED.key_gpg}", keyid="{SIGNED.fingerprint[-16:]}",
        dest="pullinfra-bed.gpg")
apt.sources_file(name="deb822", filename="pullinfra-signed", uris="file:{SIGNED.repo}",
                 suites="./", signed_by="/etc/apt/keyrings/pullinfra-bed.gpg")
apt.update(name="update")
apt.packages(name="signed package", packages=["pullinfra-signed"])
''',
        setup=_old_config,
        state=_state,
    ),
    Case(
        name="apt.deb from a file and removed by one, apt.dist_upgrade, a key out of every keyring",
        deploy=f'''
from pyinfra.operations import apt
apt.deb(name="loose deb", src="{SIGNED.deb_file}")
apt.deb(name="extra gone", src="{REPO_DIR}/pullinfra-dummy-extra_1.0_all.deb", present=False)
apt.dist_upgrade(name="dist-upgrade")
apt.key(name="key out of every keyring", keyid="{SIGNED.fingerprint}", present=False)
''',
        setup=_installed_and_old_key,
        state=_state,
    ),
]


EXPECTED = {
    CASES[0].name: {"pullinfra-signed": "1.0"},
    CASES[1].name: {"pullinfra-signed": "1.0"},
    CASES[2].name: {"pullinfra-debfile": "1.0", "pullinfra-dummy": "2.0",
                    "pullinfra-dummy-extra": None},
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_apt_matches_pyinfra(differential, case):
    comparison = differential.run(case)
    comparison.assert_same()
    # Agreeing is not enough: the packages really came from the signed repository, the file
    # and the dist-upgrade.
    packages = comparison.pullinfra.state["h1"]["packages"]
    for name, version in EXPECTED[case.name].items():
        assert packages[name] == version, (name, packages)


@pytest.fixture
def served_url(bed) -> Iterator[str]:
    """The base URL of SIGNED.served, from the bed hosts' side."""
    with serve_directory(bed, SIGNED.served) as url:
        yield url


def test_apt_key_and_deb_from_a_url(differential, served_url):
    case = Case(
        name="apt.key and apt.deb from http URLs",
        deploy=f'''
from pyinfra.operations import apt
apt.key(name="key from a url", src="{served_url}/{SIGNED.key_asc.name}")
apt.deb(name="deb from a url", src="{served_url}/{SIGNED.deb_file.name}")
''',
        state=_state,
    )
    comparison = differential.run(case)
    assert not comparison.pyinfra.failures and not comparison.pullinfra.failures
    assert comparison.pyinfra.state == comparison.pullinfra.state
    config = comparison.pullinfra.state["h1"]
    assert config["packages"]["pullinfra-debfile"] == "1.0"
    host_port = served_url.removeprefix("http://").replace(":", "_")
    assert config["keyrings"][f"/etc/apt/keyrings/{host_port}-pullinfra-testbed.gpg"]["keys"] == [
        SIGNED.fingerprint]
    theirs_key, theirs_deb = zip(*(run["h1"] for run in comparison.pyinfra.runs), strict=True)
    ours_key, ours_deb = zip(*(run["h1"] for run in comparison.pullinfra.runs), strict=True)
    assert [op.changed for op in theirs_key] == [op.changed for op in ours_key] == [True, False]
    theirs_first, theirs_second = theirs_deb
    ours_first, ours_second = ours_deb
    assert theirs_first.changed and ours_first.changed
    # Real pyinfra downloads to a name without ".deb", which its DebPackage fact then looks up
    # as a package name, so it never sees the file's version installed and reinstalls on every
    # run. Ours keeps the suffix and the second run changes nothing.
    assert theirs_second.changed
    assert not ours_second.changed


FACTS_DEPLOY = JSONABLE_SOURCE + f'''

from pyinfra import host
from pyinfra.facts import apt, deb, gpg

FACTS = {{
    "AptSources": (apt.AptSources, {{}}),
    "AptKeys": (apt.AptKeys, {{}}),
    "DebArch": (deb.DebArch, {{}}),
    "DebPackage(file)": (deb.DebPackage, {{"package": "{SIGNED.deb_file}"}}),
    "DebPackage(installed)": (deb.DebPackage, {{"package": "pullinfra-signed"}}),
    "GpgKey": (gpg.GpgKey, {{"src": "{SIGNED.key_asc}"}}),
    "GpgKeys(keyring)": (gpg.GpgKeys, {{"keyring": "{KEYRING}"}}),
    "GpgKeyrings": (gpg.GpgKeyrings, {{"directories": ["/etc/apt/keyrings",
                                                        "/etc/apt/trusted.gpg.d"]}}),
}}


def _read(fact, kwargs):
    try:
        value = host.get_fact(fact, **kwargs)
    except Exception as exc:
        return {{"error": type(exc).__name__}}
    if isinstance(value, list):
        value = [v.to_json() if hasattr(v, "to_json") else v for v in value]
    return jsonable(value)


with open(host.data.facts_out, "w") as out:
    json.dump({{name: _read(fact, kwargs) for name, (fact, kwargs) in FACTS.items()}}, out)
'''


def _apt_content(host: Host) -> None:
    """A signed source as a .list line and as a deb822 file, keyrings binary and armored."""
    host.run(f"cp {SIGNED.key_gpg} {KEYRING} && cp {SIGNED.key_asc} /etc/apt/keyrings/copy.asc",
             check=True)
    host.write_file("/etc/apt/sources.list.d/pullinfra-signed.list",
                    SIGNED.sources_line(KEYRING) + "\n")
    host.write_file("/etc/apt/sources.list.d/more.sources",
                    "Types: deb deb-src\nURIs: http://deb.invalid/a http://deb.invalid/b\n"
                    "Suites: bookworm\nComponents: main contrib\nArchitectures: amd64\n"
                    f"Signed-By: {KEYRING}\n\nTypes: deb\nURIs: http://off.invalid\n"
                    "Suites: x\nEnabled: no\n")
    host.run(f"dpkg -i {SIGNED.repo}/pullinfra-signed_1.0_all.deb", check=True, timeout=300)


def _facts_inventory(path: Path, host: Host, out: Path) -> Path:
    path.write_text(f"hosts = [({host.name!r}, {dict(host.ssh_data, facts_out=str(out))!r})]\n")
    return path


def test_apt_facts_match_pyinfra(bed_host: Host, tmp_path: Path) -> None:
    require_oracle()
    _apt_content(bed_host)
    deploy = tmp_path / "deploy.py"
    deploy.write_text(FACTS_DEPLOY)
    theirs_out, ours_out = tmp_path / "pyinfra.json", tmp_path / "pullinfra.json"
    theirs_inv = _facts_inventory(tmp_path / "inv_pyinfra.py", bed_host, theirs_out)
    ours_inv = _facts_inventory(tmp_path / "inv_pullinfra.py", bed_host, ours_out)
    run_oracle_file(RUN_REAL, [str(theirs_inv), str(deploy)], cwd=tmp_path)
    result = run_deploy(str(ours_inv), [str(deploy)], RunOptions(project_root=tmp_path))
    assert not result.has_failures, result
    theirs, ours = json.loads(theirs_out.read_text()), json.loads(ours_out.read_text())
    assert ours == theirs
    # Not trivially equal: the content above is there.
    assert ours["DebPackage(file)"] == {"name": "pullinfra-debfile", "version": "1.0"}
    assert ours["DebPackage(installed)"]["name"] == "pullinfra-signed"
    assert SIGNED.fingerprint[-16:] in ours["AptKeys"]
    assert len(ours["AptSources"]) == 1 + 4 + 1  # the test bed's own, more.sources, the .list
    assert ours["DebArch"]
