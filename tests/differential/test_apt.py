"""Differential cases for apt's repositories, keys, .deb files and dist-upgrade.

The signed repository, its key and a .deb no repository serves are built by
tests/testbed/aptrepo.py (ensure_signed_repo) under /var/cache, which bed hosts see as this
machine does: so ``src=`` of apt.key and apt.deb are host paths, as pyinfra means them, and
the repository is a ``file:`` URI. apt.ppa needs Ubuntu's apt-add-repository and is only
unit-tested (tests/ops/test_ops_apt_sources.py).
"""

from __future__ import annotations

import pytest

from tests.differential import state_apt
from tests.differential.harness import Case
from tests.testbed import Host
from tests.testbed.aptrepo import REPO_DIR, ensure_signed_repo

SIGNED = ensure_signed_repo()
KEYRING = "/etc/apt/keyrings/pullinfra-testbed.gpg"
PACKAGES = ["pullinfra-signed", "pullinfra-debfile", "pullinfra-dummy", "pullinfra-dummy-extra"]


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


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_apt_matches_pyinfra(differential, case):
    differential.check(case)
