"""Private keys for SSH: load one, and say honestly why one cannot be loaded.

paramiko's `PKey.from_path` reports "no password for an encrypted key", "wrong password" and
"not a key" alike through whatever the crypto library raises, its password argument was
renamed in paramiko 5, and it cannot read encrypted PKCS#8 keys at all. So the key file is
read here: whether it is encrypted comes from its own header, `cryptography` (paramiko's
crypto library) decrypts it, and paramiko gets it back unencrypted in OpenSSH format through
`from_private_key`, whose signature every paramiko release we allow shares.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import struct

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from agent.engine.connectors.base import ConnectError

_OPENSSH_BEGIN = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END = b"-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\0"


def key_is_encrypted(data: bytes) -> bool:
    """True for an OpenSSH key with a cipher, or a PEM/PKCS#8 key marked as encrypted."""
    if _OPENSSH_BEGIN in data:
        return _openssh_cipher(data) not in (b"none", None)
    return b"Proc-Type: 4,ENCRYPTED" in data or b"BEGIN ENCRYPTED PRIVATE KEY" in data


def _openssh_cipher(data: bytes) -> bytes | None:
    """The cipher name of an OpenSSH-format key, or None when the body does not parse."""
    body = data.split(_OPENSSH_BEGIN, 1)[1].split(_OPENSSH_END, 1)[0]
    try:
        raw = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_OPENSSH_MAGIC) or len(raw) < len(_OPENSSH_MAGIC) + 4:
        return None
    start = len(_OPENSSH_MAGIC) + 4
    (length,) = struct.unpack(">I", raw[len(_OPENSSH_MAGIC):start])
    return raw[start:start + length]


def load_private_key(path: str, password: str | bytes | None) -> paramiko.PKey:
    """The key at path, or a ConnectError that names what is wrong with it.

    A password given for a key that is not encrypted is ignored, as OpenSSH does. A
    certificate beside the key (`path-cert.pub`) is loaded with it, as OpenSSH does.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ConnectError(f"ssh_key {path} does not exist") from None
    except OSError as exc:
        raise ConnectError(f"cannot read ssh_key {path}: {exc.strerror or exc}") from None
    secret = _decrypted(path, data, password)
    key_class = _paramiko_class(path, secret)
    openssh = secret.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.OpenSSH,
                                   serialization.NoEncryption())
    try:
        key = key_class.from_private_key(io.StringIO(openssh.decode()))
    except (paramiko.SSHException, ValueError) as exc:
        raise ConnectError(f"cannot load ssh_key {path}: {_reason(exc)}") from None
    certificate = f"{path}-cert.pub"
    if os.path.exists(certificate):
        key.load_certificate(certificate)
    return key


def _decrypted(path: str, data: bytes, password: str | bytes | None) -> PrivateKeyTypes:
    encrypted = key_is_encrypted(data)
    if encrypted and password is None:
        raise ConnectError(f"ssh_key {path} is encrypted: set ssh_key_password")
    if isinstance(password, str):
        password = password.encode()
    secret = password if encrypted else None
    try:
        if _OPENSSH_BEGIN in data:
            return serialization.load_ssh_private_key(data, secret)
        return serialization.load_pem_private_key(data, secret)
    except UnsupportedAlgorithm as exc:
        raise ConnectError(f"cannot load ssh_key {path}: unsupported key type ({exc})") from None
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise ConnectError(f"cannot decrypt ssh_key {path}: wrong ssh_key_password?"
                               f" ({_reason(exc)})") from None
        raise ConnectError(f"cannot load ssh_key {path}: not a private key in OpenSSH or PEM"
                           f" format ({_reason(exc)})") from None


def _paramiko_class(path: str, secret: PrivateKeyTypes) -> type[paramiko.PKey]:
    for kind, key_class in ((rsa.RSAPrivateKey, paramiko.RSAKey),
                            (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
                            (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key)):
        if isinstance(secret, kind):
            return key_class
    raise ConnectError(f"cannot load ssh_key {path}: {type(secret).__name__} keys are not"
                       " supported (use an ed25519, ECDSA or RSA key)")


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
