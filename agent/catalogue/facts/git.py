"""Facts about git working copies and git configuration.

Each command that looks inside a repository first tests that the directory exists, so a
missing repository reads as the fact's default (None, or {} for GitConfig) instead of failing
the host, as pyinfra's do. A host without git has every one of them at its default.
"""

from __future__ import annotations

import re

from agent.catalogue.facts.files import quote_path
from agent.engine.fact import FactBase

__all__ = [
    "GitBranch",
    "GitConfig",
    "GitLocalCommit",
    "GitRemoteBranchCommit",
    "GitTag",
    "GitTrackingBranch",
]

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _in_repo(repo: str, command: str) -> str:
    path = quote_path(repo)
    return f"! test -d {path} || (cd {path} && {command})"


class _GitFact(FactBase):
    def requires_command(self, **kwargs: object) -> str:
        return "git"


class GitBranch(_GitFact):
    """The branch (or tag) checked out in `repo`, as `git describe --all` names it without its
    `heads/` or `tags/` prefix; None when there is no such directory."""

    def command(self, repo: str) -> str:
        return _in_repo(repo, "git describe --all")

    def process(self, output: list[str]) -> str:
        return re.sub(r"(heads|tags)/", "", "\n".join(output))


class GitTag(_GitFact):
    """The tags of `repo`, one per item."""

    def command(self, repo: str) -> str:
        return _in_repo(repo, "git tag")

    def process(self, output: list[str]) -> list[str]:
        return list(output)


class GitConfig(_GitFact):
    """Git settings as {key: [values]} (a key set several times keeps every value, in order):
    the repository's own (`repo`), else the system's (`system=True`) or the user's global
    ones. No config file reads as {}."""

    def command(self, repo: str | None = None, system: bool = False) -> str:
        if repo is None:
            return f"git config {'--system' if system else '--global'} -l || true"
        return _in_repo(repo, "git config --local -l")

    def default(self) -> dict[str, list[str]]:
        return {}

    def process(self, output: list[str]) -> dict[str, list[str]]:
        settings: dict[str, list[str]] = {}
        for line in output:
            # A key set without a value (`[core] bare`) is listed without "=".
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
        return settings


class GitTrackingBranch(_GitFact):
    """The upstream (`origin/main`) of the branch checked out in `repo`, None when it has
    none or there is no such directory."""

    def command(self, repo: str) -> str:
        return _in_repo(repo, "git status --branch --porcelain")

    def process(self, output: list[str]) -> str | None:
        # The first line reads `## main...origin/main [ahead 1]` when there is an upstream.
        match = re.search(r"\.{3}(\S+)\b", output[0]) if output else None
        return match.group(1) if match else None


class GitLocalCommit(_GitFact):
    """The commit `ref` (default HEAD) points to in `repo`; None when the repository or the
    ref does not exist."""

    def command(self, repo: str, ref: str = "HEAD") -> str:
        return _in_repo(repo, f"git rev-parse {quote_path(ref)} 2>/dev/null") + " || true"

    def process(self, output: list[str]) -> str | None:
        line = output[0].strip() if output else ""
        return line if _SHA.fullmatch(line) else None


class GitRemoteBranchCommit(_GitFact):
    """The commit at the tip of `branch` (default: the remote's HEAD) on `remote`, as
    `git ls-remote` reports it; None when the remote cannot be reached or lacks the branch."""

    def command(self, repo: str, remote: str = "origin", branch: str | None = None) -> str:
        ref = quote_path(branch) if branch else "HEAD"
        return _in_repo(repo, f"git ls-remote {quote_path(remote)} {ref} 2>/dev/null | head -n1")

    def process(self, output: list[str]) -> str | None:
        first = output[0].strip().split("\t", 1)[0] if output else ""
        return first if _SHA.fullmatch(first) else None
