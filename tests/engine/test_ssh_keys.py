"""Private keys as ssh-keygen writes them: loaded with any allowed paramiko, honest errors.

Every case uses a real key file from ssh-keygen, so the formats are the ones users have:
OpenSSH (the default), PEM and PKCS#8, with and without a passphrase.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from agent.engine.connectors.base import ConnectError
from agent.engine.connectors.ssh_keys import key_is_encrypted, load_private_key

PASS = "k3y-pass-phrase"


def _keygen(tmp_path: Path, name: str, kind: str, passphrase: str = "",
            fmt: str | None = None) -> Path:
    path = tmp_path / name
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-f", str(path)]
    if kind == "rsa":
        argv += ["-b", "2048"]
    if fmt:
        argv += ["-m", fmt]
    subprocess.run(argv, check=True, capture_output=True)
    return path


KEYS = [  # (name, type, passphrase, format)
    ("ed25519", "ed25519", "", None),
    ("ed25519_locked", "ed25519", PASS, None),
    ("rsa_pem", "rsa", "", "PEM"),
    ("rsa_pem_locked", "rsa", PASS, "PEM"),
    ("rsa_pkcs8_locked", "rsa", PASS, "PKCS8"),
    ("ecdsa_locked", "ecdsa", PASS, None),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: _keygen(folder, name, kind, pw, fmt) for name, kind, pw, fmt in KEYS}


def _public_blob(path: Path) -> str:
    return path.with_suffix(".pub").read_text().split()[1]


@pytest.mark.parametrize(("name", "kind", "passphrase", "fmt"), KEYS)
def test_every_format_loads_with_its_passphrase(keys, name, kind, passphrase, fmt):
    path = keys[name]
    assert key_is_encrypted(path.read_bytes()) is bool(passphrase)
    key = load_private_key(str(path), passphrase or None)
    assert isinstance(key, paramiko.PKey)
    assert key.get_base64() == _public_blob(path)


@pytest.mark.parametrize("name", ["ed25519", "rsa_pem"])
def test_a_passphrase_given_for_a_plain_key_is_ignored(keys, name):
    key = load_private_key(str(keys[name]), "not-needed")
    assert key.get_base64() == _public_blob(keys[name])


@pytest.mark.parametrize("name", ["ed25519_locked", "rsa_pem_locked", "rsa_pkcs8_locked"])
def test_encrypted_without_passphrase_says_so(keys, name):
    with pytest.raises(ConnectError, match=r"is encrypted: set ssh_key_password"):
        load_private_key(str(keys[name]), None)


@pytest.mark.parametrize("name", ["ed25519_locked", "rsa_pem_locked", "rsa_pkcs8_locked"])
def test_wrong_passphrase_says_so_and_never_shows_it(keys, name):
    with pytest.raises(ConnectError) as info:
        load_private_key(str(keys[name]), "wrong-one")
    message = str(info.value)
    assert "cannot decrypt" in message and "wrong ssh_key_password?" in message
    assert "wrong-one" not in message


def test_a_plain_key_is_never_called_encrypted(keys, tmp_path):
    """The defect this module fixes: any load failure used to be reported as "encrypted"."""
    broken = tmp_path / "broken"
    text = keys["ed25519"].read_text().splitlines()
    broken.write_text("\n".join(text[:2] + text[-1:]) + "\n")  # header, a line, footer
    with pytest.raises(ConnectError) as info:
        load_private_key(str(broken), None)
    assert "encrypted" not in str(info.value)
    assert str(info.value).startswith(f"cannot load ssh_key {broken}: ")


def test_not_a_key_names_the_file_and_the_reason(tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("this is not a key\n")
    with pytest.raises(ConnectError, match=r"cannot load ssh_key .*junk: \w+"):
        load_private_key(str(junk), None)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConnectError, match=r"ssh_key .*nope does not exist"):
        load_private_key(str(tmp_path / "nope"), None)
    with pytest.raises(ConnectError, match=r"cannot read ssh_key .*: Is a directory"):
        load_private_key(str(tmp_path), None)
