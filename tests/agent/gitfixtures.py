"""Real git remotes for the agent tests: a bare repository and a work clone that pushes.

Git runs with an empty global config so the machine's settings (signing, hooks, default
branch) cannot change what a test sees.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

HERMETIC_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada Author",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Author",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, **HERMETIC_ENV}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


class Remote:
    """A bare repository (the remote) plus a work clone used to push commits to it."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        self.branch = branch
        git("init", "--quiet", "--bare", f"--initial-branch={branch}", str(self.bare))
        git("init", "--quiet", f"--initial-branch={branch}", str(self.work))
        git("remote", "add", "origin", str(self.bare), cwd=self.work)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def commit(self, files: dict[str, str | None], message: str,
               sign_with: Path | None = None, git_args: list[str] | None = None) -> str:
        """Write (or with None, delete) files, commit and return the new SHA; no push."""
        for name, content in files.items():
            path = self.work / name
            if content is None:
                git("rm", "--quiet", name, cwd=self.work)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            git("add", name, cwd=self.work)
        signing = (["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign_with}"]
                   if sign_with else [])
        sign = ["-S"] if sign_with or git_args else []
        git(*signing, *(git_args or []), "commit", "--quiet", *sign, "-m", message, cwd=self.work)
        return self.head()

    def push(self, force: bool = False) -> None:
        git("push", "--quiet", *(["--force"] if force else []), "origin",
            f"HEAD:refs/heads/{self.branch}", cwd=self.work)

    def commit_and_push(self, files: dict[str, str | None], message: str,
                        sign_with: Path | None = None) -> str:
        sha = self.commit(files, message, sign_with)
        self.push()
        return sha

    def rewrite_to(self, revision: str) -> None:
        """Move the work clone back to `revision` (to build a force-push from there)."""
        git("reset", "--quiet", "--hard", revision, cwd=self.work)

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)


def ssh_signing_key(directory: Path, name: str = "signer") -> Path:
    """A fresh ed25519 key pair; returns the private key path (public is `.pub` beside it)."""
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                   check=True, capture_output=True)
    return key


def allowed_signers(path: Path, email: str, *keys: Path) -> Path:
    lines = [f'{email} namespaces="git" {Path(f"{k}.pub").read_text().strip()}' for k in keys]
    path.write_text("\n".join(lines) + "\n")
    return path


class GpgSigner:
    """A throwaway OpenPGP identity in its own GNUPGHOME; `close()` stops its gpg-agent."""

    def __init__(self, home: Path, email: str = "ada@example.com") -> None:
        self.home = home
        self.email = email
        home.mkdir(mode=0o700, parents=True)
        self._gpg("--quick-gen-key", "--passphrase", "", f"Ada <{email}>", "ed25519", "sign",
                  "never")

    def export_public(self, path: Path) -> Path:
        path.write_bytes(self._gpg("--armor", "--export", self.email).stdout)
        return path

    def git_args(self) -> list[str]:
        """Options for `git commit -S` to sign with this identity."""
        return ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={self.email}",
                "-c", f"gpg.program={self._wrapper()}"]

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "all"],
                       capture_output=True, check=False)

    def _wrapper(self) -> Path:
        script = self.home / "gpg-wrapper"
        script.write_text(f'#!/bin/sh\nexec gpg --homedir "{self.home}" --batch '
                          f'--pinentry-mode loopback --passphrase "" "$@"\n')
        script.chmod(0o700)
        return script

    def _gpg(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch",
                               "--pinentry-mode", "loopback", *args],
                              check=True, capture_output=True)


def remote_on_bed_host(root: Path, host: Any, path: str = "/srv/repo.git"
                       ) -> tuple[Remote, str]:
    """A bare repository on a bed host, and a work clone that pushes to it over SSH with the
    bed's key (set in the clone, so nothing in the environment is needed); with its URL."""
    host.run(f"git init --quiet --bare --initial-branch=main {path}", check=True)
    url = f"root@{host.address}:{path}"
    remote = Remote(root)
    git("remote", "set-url", "origin", url, cwd=remote.work)
    bed = host.bed
    git("config", "core.sshCommand",
        f"ssh -F none -i {bed.client_key} -o IdentitiesOnly=yes -o BatchMode=yes"
        f" -o StrictHostKeyChecking=yes -o UserKnownHostsFile={bed.known_hosts}",
        cwd=remote.work)
    return remote, url
