"""apt.key, apt.repo, apt.sources_file, apt.ppa, apt.deb and apt.dist_upgrade: facts in,
commands out; and the AptSources, AptKeys, Gpg* and DebArch/DebPackage parsers on real-looking
output."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.catalogue.facts.apt import (
    AptKeys,
    AptRepo,
    AptSimulate,
    AptSources,
    SimulateOperationWillChange,
    parse_apt_repo,
)
from agent.catalogue.facts.deb import DebArch, DebPackage, DebPackages
from agent.catalogue.facts.files import Directory, File, FindInFile
from agent.catalogue.facts.gpg import GpgKey, GpgKeyrings, GpgKeys, GpgSecretKeys
from agent.catalogue.facts.server import TmpDir, Which
from agent.catalogue.operations import apt
from agent.catalogue.operations.util.files import adjust_regex
from agent.compat import run_deploy
from agent.engine import operation_errors as apt_errors
from agent.engine.fact import FactError
from agent.vocab import OpStatus
from tests.ops.conftest import FakeHost, local_deploy, run_fact, run_op

APT = (
    "DEBIAN_FRONTEND=noninteractive apt-get -y "
    '-o Dpkg::Options::="--force-confdef" -o Dpkg::Options::="--force-confold"'
)
FILE_INFO = {"user": "root", "group": "root", "mode": 644, "size": 10, "mtime": None}
DIR_INFO = {"user": "root", "group": "root", "mode": 755}
FPR = "6C54D03CBC1BB9A0D03198EDD2729DD9324C2146"
COLONS = [
    "tru::1:1700000000:0:3:1:5",
    "pub:-:255:22:D2729DD9324C2146:1700000000:::-:::scSC::::::23::0:",
    f"fpr:::::::::{FPR}:",
    "uid:-::::1700000000::0123456789ABCDEF0123456789ABCDEF01234567::"
    "pullinfra test bed signing key <signing@pullinfra.invalid>::::::::::0:",
    "sub:-:255:18:1111222233334444:1700000000::::::e::::::23:",
    "fpr:::::::::AAAABBBBCCCCDDDDEEEEFFFF1111222233334444:",
]


# --------------------------------------------------------------------------- facts

SOURCES_OUTPUT = """\
##PYINFRA_FILE /etc/apt/sources.list
# deb http://deb.debian.org/debian bookworm main
deb [trusted=yes] file:/var/cache/pullinfra-testbed/repo ./

##PYINFRA_FILE /etc/apt/sources.list.d/vendor.list
deb [arch=amd64,arm64 signed-by=/etc/apt/keyrings/v.gpg] https://v.example/d bookworm main contrib

##PYINFRA_FILE /etc/apt/sources.list.d/debian.sources
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no

##PYINFRA_FILE /etc/apt/sources.list.d/inline.sources
Types: deb
URIs: https://inline.example/apt
Suites: ./
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ...
 -----END PGP PUBLIC KEY BLOCK-----
""".splitlines()


def test_apt_sources_reads_list_and_deb822_files() -> None:
    repos = AptSources().process(SOURCES_OUTPUT)
    assert [(r.type, r.url, r.distribution) for r in repos] == [
        ("deb", "file:/var/cache/pullinfra-testbed/repo", "./"),
        ("deb", "https://v.example/d", "bookworm"),
        ("deb", "http://deb.debian.org/debian", "bookworm"),
        ("deb", "http://deb.debian.org/debian", "bookworm-updates"),
        ("deb-src", "http://deb.debian.org/debian", "bookworm"),
        ("deb-src", "http://deb.debian.org/debian", "bookworm-updates"),
        ("deb", "https://inline.example/apt", "./"),
    ]
    assert repos[0]["options"] == {"trusted": "yes"} and repos[0]["components"] == []
    assert repos[1].options == {"arch": ["amd64", "arm64"],
                                "signed-by": "/etc/apt/keyrings/v.gpg"}
    assert repos[1].components == ["main", "contrib"]
    assert repos[2]["options"] == {"signed-by": "/usr/share/keyrings/debian-archive-keyring.gpg"}
    inline = repos[-1].options["signed-by"]
    assert isinstance(inline, str) and inline.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    assert "\n\n mDMEZ..." not in inline and "\n\nmDMEZ..." in inline
    assert "sources.list.d/*.sources" in AptSources().command()
    assert AptSources().default() == []


def test_apt_repo_compares_like_a_dict() -> None:
    repo = parse_apt_repo("deb [signed-by=/k.gpg] file:/srv/repo ./")
    assert repo == {"type": "deb", "url": "file:/srv/repo", "distribution": "./",
                    "components": [], "options": {"signed-by": "/k.gpg"}}
    assert repo["url"] == repo.get("url") == "file:/srv/repo" and "url" in repo
    assert isinstance(repo, AptRepo) and repo.to_json()["type"] == "deb"
    assert parse_apt_repo("not a source line") is None


def test_gpg_facts_parse_colon_output() -> None:
    keys = GpgKeys().process(COLONS)
    assert keys == {"D2729DD9324C2146": {
        "validity": "-", "length": 255, "fingerprint": FPR,
        "uid_hash": "0123456789ABCDEF0123456789ABCDEF01234567",
        "uid": "pullinfra test bed signing key <signing@pullinfra.invalid>",
        "subkeys": {"1111222233334444": {
            "validity": "-", "length": 255,
            "fingerprint": "AAAABBBBCCCCDDDDEEEEFFFF1111222233334444"}},
    }}
    secret = [line.replace("pub:", "sec:").replace("sub:", "ssb:") for line in COLONS]
    assert list(GpgSecretKeys().process(secret)) == ["D2729DD9324C2146"]
    assert GpgKeys().command(keyring="/k.gpg") == (
        "gpg --list-keys --with-colons --keyring /k.gpg --no-default-keyring")
    assert GpgKey().command(src="https://x.example/key") == (
        "(wget -O - https://x.example/key || curl -sSLf https://x.example/key)"
        " | gpg --with-colons")
    assert "command -v gpg" in GpgKey().full_command(src="/k.asc")


def test_gpg_keyrings_and_apt_keys_group_by_file() -> None:
    output = ["KEYRING:/etc/apt/keyrings/a.gpg", *COLONS, "KEYRING:/etc/apt/keyrings/empty.gpg",
              "KEYRING:/usr/share/keyrings/b.asc", *COLONS[1:4]]
    keyrings = GpgKeyrings().process(output)
    assert sorted(keyrings) == ["/etc/apt/keyrings/a.gpg", "/usr/share/keyrings/b.asc"]
    assert keyrings["/usr/share/keyrings/b.asc"]["format"] == "asc"
    assert list(AptKeys().process(output)) == ["D2729DD9324C2146"]
    command = AptKeys().command()
    assert all(d in command for d in ("/etc/apt/trusted.gpg.d", "/etc/apt/keyrings",
                                      "/usr/share/keyrings"))


@pytest.mark.skipif(not shutil.which("gpg"), reason="needs gpg")
def test_gpg_keyrings_on_a_real_keyring(tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--quiet"]
    subprocess.run([*gpg, "--passphrase", "", "--quick-gen-key", "t <t@pullinfra.invalid>",
                    "ed25519", "sign", "never"], check=True)
    (tmp_path / "keys").mkdir()
    subprocess.run([*gpg, "--export", "-o", str(tmp_path / "keys/t.gpg")], check=True)
    subprocess.run([*gpg, "--armor", "--export", "-o", str(tmp_path / "keys/t.asc")], check=True)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    env = {"PATH": "/usr/bin:/bin", "GNUPGHOME": str(home)}
    keyrings = run_fact(GpgKeyrings, env=env, directories=[str(tmp_path / "keys")])
    assert sorted(keyrings) == [str(tmp_path / "keys/t.asc"), str(tmp_path / "keys/t.gpg")]
    [(key_id, info)] = keyrings[str(tmp_path / "keys/t.gpg")]["keys"].items()
    assert info["fingerprint"].endswith(key_id) and info["uid"] == "t <t@pullinfra.invalid>"
    assert run_fact(GpgKey, env=env, src=str(tmp_path / "keys/t.asc")).keys() == {key_id}


def test_simulate_fact_and_deb_arch() -> None:
    line = "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."
    fact = SimulateOperationWillChange()
    assert fact.process(["Reading package lists...", line])["upgraded"] == 0
    assert fact.command(command="dist-upgrade").endswith(" dist-upgrade --dry-run")
    with pytest.raises(FactError):
        fact.process(["E: something"])
    assert DebArch().process(["amd64"]) == "amd64"
    assert DebArch().command() == "dpkg --print-architecture" and DebArch.immutable


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="needs dpkg-deb")
def test_deb_package_reads_an_archive(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        "Package: pullinfra-unit\nVersion: 1.2-3\nArchitecture: all\n"
        "Maintainer: t <t@pullinfra.invalid>\nDescription: unit test package\n")
    deb = tmp_path / "pullinfra-unit_1.2-3_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    assert run_fact(DebPackage, package=str(deb)) == {"name": "pullinfra-unit",
                                                      "version": "1.2-3"}
    # A missing file is looked up as a package name, which nothing installs.
    assert run_fact(DebPackage, package=str(tmp_path / "missing.deb")) is None


# --------------------------------------------------------------------------- apt.repo

LINE = "deb [signed-by=/etc/apt/keyrings/x.gpg] file:/srv/repo ./"


def _find(fake: FakeHost, path: str, line: str, found: list[str] | None) -> None:
    fake.fact(FindInFile, found, path=path, pattern=adjust_regex(line, True),
              interpolate_variables=False, extended_regex=False)


def test_repo_adds_the_line_to_its_own_list_file(fake: FakeHost) -> None:
    fake.fact(AptSources, AptSources().process(SOURCES_OUTPUT))
    _find(fake, "/etc/apt/sources.list.d/x.list", LINE, None)
    assert run_op(fake, apt.repo, LINE, filename="x") == [
        f"printf '%s\\n' '{LINE}' >> /etc/apt/sources.list.d/x.list"]


def test_repo_configured_anywhere_is_a_noop(fake: FakeHost) -> None:
    fake.fact(AptSources, AptSources().process(SOURCES_OUTPUT))
    # Configured in a .list file elsewhere; as a deb822 stanza it counts too (next test).
    same = "deb [trusted=yes] file:/var/cache/pullinfra-testbed/repo ./"
    assert run_op(fake, apt.repo, same, filename="other") == []
    assert fake.noops == [f'apt repo "{same}" exists']
    assert run_op(fake, apt.repo, LINE, present=False) == []
    assert fake.noops[-1] == f'apt repo "{LINE}" does not exist'


def test_repo_line_matching_a_deb822_stanza_is_a_noop(fake: FakeHost) -> None:
    fake.fact(AptSources, AptSources().process(SOURCES_OUTPUT))
    line = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
            " http://deb.debian.org/debian bookworm-updates main")
    assert run_op(fake, apt.repo, line) == []
    assert fake.noops == [f'apt repo "{line}" exists']


def test_repo_removed_from_sources_list(fake: FakeHost) -> None:
    fake.fact(AptSources, AptSources().process(SOURCES_OUTPUT))
    line = "deb [trusted=yes] file:/var/cache/pullinfra-testbed/repo ./"
    _find(fake, "/etc/apt/sources.list", line, [line])
    [command] = run_op(fake, apt.repo, line, present=False)
    assert command.startswith("sed -i") and " /etc/apt/sources.list " in command


# --------------------------------------------------------------------------- apt.sources_file

DEST = "/etc/apt/sources.list.d/pullinfra.sources"


def test_sources_file_writes_a_deb822_stanza(fake: FakeHost) -> None:
    fake.fact(AptSources, [])
    fake.fact(File, None, path=DEST).fact(Directory, DIR_INFO, path="/etc/apt/sources.list.d")
    commands = run_op(fake, apt.sources_file, "pullinfra", uris="file:/srv/repo",
                      suites=["./"], architectures="amd64 arm64",
                      signed_by="/etc/apt/keyrings/x.gpg")
    assert commands[0] == ("upload", b"Types: deb\nURIs: file:/srv/repo\nSuites: ./\n"
                           b"Architectures: amd64 arm64\nSigned-By: /etc/apt/keyrings/x.gpg\n",
                           DEST)
    assert commands[1:] == ["chmod 644 " + DEST]


def test_sources_file_already_configured_is_a_noop(fake: FakeHost) -> None:
    fake.fact(AptSources, AptSources().process(SOURCES_OUTPUT))
    assert run_op(fake, apt.sources_file, "debian", types=["deb", "deb-src"],
                  uris=["http://deb.debian.org/debian"], suites="bookworm",
                  components="main",
                  signed_by="/usr/share/keyrings/debian-archive-keyring.gpg") == []
    assert fake.noops == ['apt sources file "/etc/apt/sources.list.d/debian.sources" '
                          "is already configured"]


def test_sources_file_removal(fake: FakeHost) -> None:
    fake.fact(File, FILE_INFO, path=DEST)
    assert run_op(fake, apt.sources_file, "pullinfra", present=False) == [f"rm -f {DEST}"]
    fake.fact(File, None, path=DEST)
    assert run_op(fake, apt.sources_file, "pullinfra", present=False) == []
    assert fake.noops[-1] == f'apt sources file "{DEST}" does not exist'


def test_sources_file_without_suite_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import apt\n\n"
        "apt.sources_file(name='bad', filename='x', uris='file:/srv/repo')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "suites=" in (op.error or "")


# --------------------------------------------------------------------------- apt.ppa


def test_ppa_runs_apt_add_repository(fake: FakeHost) -> None:
    assert run_op(fake, apt.ppa, "ppa:bitcoin/bitcoin") == [
        "apt-add-repository -y ppa:bitcoin/bitcoin"]
    assert run_op(fake, apt.ppa, "ppa:bitcoin/bitcoin", present=False) == [
        "apt-add-repository -y --remove ppa:bitcoin/bitcoin"]
    assert apt.ppa.definition.is_idempotent is False
    assert apt.ppa.definition.full_name == "apt.ppa"


# --------------------------------------------------------------------------- apt.key

KEYRING = "/etc/apt/keyrings/pullinfra-testbed.gpg"
ASC = "/srv/keys/pullinfra-testbed.asc"


def test_key_from_a_file_is_dearmored_into_a_named_keyring(fake: FakeHost) -> None:
    fake.fact(File, None, path=KEYRING).fact(Directory, DIR_INFO, path="/etc/apt/keyrings")
    assert run_op(fake, apt.key, src=ASC) == [
        f'if grep -q "BEGIN PGP PUBLIC KEY BLOCK" "{ASC}"; then '
        f'gpg --batch --dearmor -o "{KEYRING}" "{ASC}"; else cp "{ASC}" "{KEYRING}"; fi',
        f"touch {KEYRING}",
        f"chmod 644 {KEYRING}",
    ]
    assert apt.key.definition.full_name == "apt.key"


def test_key_file_there_already_is_a_noop(fake: FakeHost) -> None:
    fake.fact(File, FILE_INFO, path="/etc/apt/keyrings/vendor.gpg")
    assert run_op(fake, apt.key, src="/srv/vendor.gpg", dest="vendor.gpg") == []
    assert fake.noops[-1] == "GPG keyring /etc/apt/keyrings/vendor.gpg already exists"


def test_key_by_id_checks_the_keyring(fake: FakeHost) -> None:
    keys = GpgKeys().process(COLONS)
    fake.fact(GpgKeyrings, {KEYRING: {"format": "gpg", "keys": keys}},
              directories=["/etc/apt/keyrings"])
    fake.fact(File, FILE_INFO, path=KEYRING)
    assert run_op(fake, apt.key, src=ASC, keyid="0x324C2146", dest=KEYRING) == []
    assert fake.noops[-1] == f"GPG keys 0x324C2146 already exist in {KEYRING}"


def test_key_from_a_keyserver(fake: FakeHost) -> None:
    fake.fact(GpgKeyrings, {}, directories=["/etc/apt/keyrings"])
    fake.fact(Directory, DIR_INFO, path="/etc/apt/keyrings").fact(TmpDir, "")
    home = "/tmp/pullinfra-" + hashlib.sha1(b"gpg-keyserver-0xAB 0xCD").hexdigest()
    fake.fact(Directory, None, path=home)
    dest = "/etc/apt/keyrings/keyserver-0xab-0xcd.gpg"
    fake.fact(File, None, path=dest)
    commands = run_op(fake, apt.key, keyserver="hkps://keys.example", keyid=["0xAB", "0xCD"])
    assert commands == [
        f"mkdir -p {home}",
        f"chmod 700 {home}",
        f'export GNUPGHOME="{home}" && gpg --batch --keyserver "hkps://keys.example"'
        " --recv-keys 0xAB 0xCD",
        f'export GNUPGHOME="{home}" && gpg --batch --export 0xAB 0xCD > "{dest}"',
        f"touch {dest}",
        f"chmod 644 {dest}",
    ]


def test_key_removed_by_id_from_every_keyring(fake: FakeHost) -> None:
    keys = GpgKeys().process(COLONS)
    fake.fact(GpgKeyrings, {"/etc/apt/trusted.gpg.d/old.gpg": {"format": "gpg", "keys": keys},
                            "/usr/share/keyrings/other.gpg": {"format": "gpg", "keys": {}}},
              directories=["/etc/apt/trusted.gpg.d", "/etc/apt/keyrings", "/usr/share/keyrings"])
    path = "/etc/apt/trusted.gpg.d/old.gpg"
    assert run_op(fake, apt.key, keyid=FPR, present=False) == [
        f'gpg --batch --yes --no-default-keyring --keyring "{path}" --delete-keys {FPR}',
        f'gpg --batch --no-default-keyring --keyring "{path}" --list-keys 2>/dev/null'
        f' | grep -q "^pub" || rm -f "{path}"',
    ]


def test_key_without_a_source_fails_at_the_deploy_line(tmp_path: Path) -> None:
    inventory, deploys = local_deploy(tmp_path, "from pyinfra.operations import apt\n\n"
        "apt.key(name='bad', dest='x.gpg')\n")
    result = run_deploy(inventory, deploys)
    [op] = result.host("@local").operations
    assert op.status == OpStatus.FAILED
    assert f"{deploys[0]}:3" in (op.error or "")
    assert "src=" in (op.error or "")


# --------------------------------------------------------------------------- apt.deb

DEB = "/srv/pullinfra-debfile_1.0_all.deb"


def test_deb_installs_then_fixes_dependencies(fake: FakeHost) -> None:
    fake.fact(DebPackage, {"name": "pullinfra-debfile", "version": "1.0"}, package=DEB)
    fake.fact(DebPackages, {})
    assert run_op(fake, apt.deb, DEB) == [
        f"dpkg --force-confdef --force-confold -i {DEB} 2> /dev/null || true",
        f"{APT} install -f",
        f"dpkg --force-confdef --force-confold -i {DEB}",
    ]


def test_deb_installed_version_is_a_noop_and_removal(fake: FakeHost) -> None:
    fake.fact(DebPackage, {"name": "pullinfra-debfile", "version": "1.0"}, package=DEB)
    fake.fact(DebPackages, {"pullinfra-debfile": {"1.0"}})
    assert run_op(fake, apt.deb, DEB) == []
    assert fake.noops == [f"deb {DEB} is installed"]
    assert run_op(fake, apt.deb, DEB, present=False, force=True) == [
        f"{APT.replace('-y', '-y --force-yes', 1)} remove pullinfra-debfile"]
    fake.fact(DebPackages, {"pullinfra-debfile": {"0.9"}})
    assert run_op(fake, apt.deb, DEB, present=False) == []
    assert fake.noops[-1] == f"deb {DEB} is not installed"


def test_deb_from_a_url_is_downloaded_first(fake: FakeHost) -> None:
    url = "http://198.18.0.254:8080/pullinfra-debfile_1.0_all.deb"
    temp = "/tmp/pullinfra-" + hashlib.sha1(url.encode()).hexdigest() + ".deb"
    fake.fact(TmpDir, "").fact(File, None, path=temp).fact(Which, "/usr/bin/curl", command="curl")
    fake.fact(DebPackage, {}, package=temp).fact(DebPackages, {})
    commands = run_op(fake, apt.deb, url)
    assert commands[0] == f"curl -sSLf {url} -o {temp}"
    assert commands[-1] == f"dpkg --force-confdef --force-confold -i {temp}"


# --------------------------------------------------------------------------- apt.dist_upgrade


def test_dist_upgrade_runs_when_the_simulation_changes_things(fake: FakeHost) -> None:
    fake.fact(AptSimulate, {"upgraded": 1, "newly_installed": 0, "removed": 0,
                            "not_upgraded": 0}, command="dist-upgrade --autoremove")
    assert run_op(fake, apt.dist_upgrade, auto_remove=True) == [
        f"{APT} dist-upgrade --autoremove"]


def test_dist_upgrade_with_nothing_to_do_is_a_noop(fake: FakeHost) -> None:
    fake.fact(AptSimulate, {"upgraded": 0, "newly_installed": 0, "removed": 0,
                            "not_upgraded": 2}, command="dist-upgrade")
    assert run_op(fake, apt.dist_upgrade) == []
    assert fake.noops == ["dist-upgrade skipped, no changes would be performed"]
    fake.fact(AptSimulate, {}, command="dist-upgrade")
    assert run_op(fake, apt.dist_upgrade) == [f"{APT} dist-upgrade"]


def test_upgrade_says_what_pyinfra_says_when_nothing_would_change(fake: FakeHost) -> None:
    fake.fact(AptSimulate, {"upgraded": 0, "newly_installed": 0, "removed": 0,
                            "not_upgraded": 0}, command="upgrade --autoremove")
    assert run_op(fake, apt.upgrade, auto_remove=True) == []
    assert fake.noops == ["upgrade --autoremove skipped, no changes would be performed"]


def test_key_from_a_url_is_downloaded_installed_and_cleaned_up(fake: FakeHost) -> None:
    url = "https://download.example:8443/linux/debian/gpg"
    dest = "/etc/apt/keyrings/download.example_8443-gpg.gpg"
    temp = "/tmp/pullinfra-" + hashlib.sha1(url.encode()).hexdigest()
    fake.fact(File, None, path=dest).fact(Directory, DIR_INFO, path="/etc/apt/keyrings")
    fake.fact(TmpDir, "").fact(File, None, path=temp).fact(Which, None, command="curl")
    fake.fact(Which, "/usr/bin/wget", command="wget")
    commands = run_op(fake, apt.key, src=url)
    assert commands[0] == f"wget -q '{url}' -O '{temp}'"
    assert commands[1].startswith(f'if grep -q "BEGIN PGP PUBLIC KEY BLOCK" "{temp}"')
    # (The fake's facts do not change: the temp file still reads as absent, so no removal.)
    fake.fact(File, FILE_INFO, path=temp)
    again = run_op(fake, apt.key, src=url)
    assert again[0] == commands[1] and again[-1] == f"rm -f {temp}"
    assert f"file {temp} has already been downloaded" in fake.noops


def test_key_single_keys_cannot_leave_an_armored_keyring(fake: FakeHost) -> None:
    keys = GpgKeys().process(COLONS)
    other = dict(keys)
    other["0000111122223333"] = {"fingerprint": "F" * 40, "subkeys": {}}
    fake.fact(GpgKeyrings, {"/etc/apt/keyrings/v.asc": {"format": "asc", "keys": other}},
              directories=["/etc/apt/keyrings"])
    with pytest.raises(apt_errors.OperationValueError, match="whole file"):
        run_op(fake, apt.key, keyid=FPR, dest="/etc/apt/keyrings/v.asc", present=False)
    fake.fact(GpgKeyrings, {"/etc/apt/keyrings/v.asc": {"format": "asc", "keys": keys}},
              directories=["/etc/apt/keyrings"])
    fake.fact(File, FILE_INFO, path="/etc/apt/keyrings/v.asc")
    assert run_op(fake, apt.key, keyid=FPR, dest="/etc/apt/keyrings/v.asc",
                  present=False) == ["rm -f /etc/apt/keyrings/v.asc"]
