"""Signature checks on the head commit: SSH signatures and OpenPGP.

Trust is exactly the configured keys. SSH signatures are checked against the allowed-signers
file; OpenPGP signatures against a keyring in the state dir that holds only `gpg_keys`
(rebuilt whenever those files change), so the agent user's own keyring never counts.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from git import Git
from git.exc import GitCommandError

from agent.config import SourceConfig
from agent.source.errors import VerificationFailed


class SignatureVerifier:
    """Verifies commits in one repository against the configured trusted keys."""

    def __init__(self, config: SourceConfig, gnupg_home: Path) -> None:
        self._config = config
        self._gnupg_home = gnupg_home

    def verify(self, git: Git, git_dir: Path, revision: str, timeout: float) -> None:
        """Return quietly when `revision` carries a good signature from a trusted key."""
        env = {}
        if self._config.gpg_keys:
            self._prepare_keyring(timeout)
            env["GNUPGHOME"] = str(self._gnupg_home)
        signers = self._config.allowed_signers or Path("/dev/null")
        try:
            git.execute(
                ["git", f"--git-dir={git_dir}", "-c", f"gpg.ssh.allowedSignersFile={signers}",
                 "verify-commit", "--raw", revision],
                env=env, kill_after_timeout=timeout, with_extended_output=True,
            )
        except GitCommandError as exc:
            raise VerificationFailed(revision, _reason(str(exc.stderr or ""))) from None

    def _prepare_keyring(self, timeout: float) -> None:
        fingerprint = self._keys_fingerprint()
        marker = self._gnupg_home / "pullinfra-keys.sha256"
        if marker.is_file() and marker.read_text() == fingerprint:
            return
        if self._gnupg_home.exists():
            shutil.rmtree(self._gnupg_home)
        self._gnupg_home.mkdir(mode=0o700, parents=True)
        gpg = ["gpg", "--batch", "--no-tty", "--homedir", str(self._gnupg_home)]
        try:
            # gpg exits 2 when it cannot reach a gpg-agent (e.g. a state dir whose socket path
            # is too long), even though public keys need no agent: judge by the keyring.
            imported = subprocess.run([*gpg, "--import", *map(str, self._config.gpg_keys)],
                                      capture_output=True, text=True, timeout=timeout)
            listing = subprocess.run([*gpg, "--with-colons", "--list-keys"], check=True,
                                     capture_output=True, text=True, timeout=timeout).stdout
            fingerprints = _primary_fingerprints(listing)
            if not fingerprints:
                raise VerificationFailed(
                    "", f"cannot load source.gpg_keys: {imported.stderr.strip()[-300:]}")
            owner_trust = "".join(f"{fpr}:6:\n" for fpr in fingerprints)
            subprocess.run([*gpg, "--import-ownertrust"], input=owner_trust.encode(),
                           check=True, capture_output=True, timeout=timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            raise VerificationFailed("", f"cannot load source.gpg_keys: {exc}") from None
        marker.write_text(fingerprint)

    def _keys_fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in self._config.gpg_keys:
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()


def _primary_fingerprints(colons: str) -> list[str]:
    """Fingerprints of primary keys: the `fpr` line right after each `pub` line."""
    fingerprints, after_pub = [], False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            after_pub = True
        elif fields[0] == "fpr" and after_pub:
            fingerprints.append(fields[9])
            after_pub = False
    return fingerprints


def _reason(stderr: str) -> str:
    text = stderr.strip().removeprefix("stderr:").strip().strip("'").strip()
    if not text:
        return "the commit is not signed"
    if "No signature" in text or "no signature" in text:
        return "the commit is not signed"
    if "allowedSignersFile needs to be configured" in text or "No principal matched" in text:
        return "signed by a key not in source.allowed_signers"
    if "No public key" in text or "public key not found" in text or "ERRSIG" in text:
        return "signed by an OpenPGP key not in source.gpg_keys"
    first = text.splitlines()[-1][:200]
    return f"git verify-commit failed: {first}"
