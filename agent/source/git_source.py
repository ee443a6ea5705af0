"""The git source: one local clone in the state dir, fetched incrementally.

`fetch()` hands out a commit only once it is known to be safe to apply: it descends from
the last accepted commit (unless non-fast-forward is allowed) and, with verify = "head",
carries a trusted signature. The last accepted commit is a ref inside the clone, so the
protection survives restarts without the state DB.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from git import Git
from git.exc import GitCommandError

from agent.config import SourceConfig
from agent.source.checkout import export_tree, prune_exports
from agent.source.credentials import Scrubber, display_url, git_environment
from agent.source.errors import (
    FetchError,
    FetchTimeout,
    NonFastForward,
    RefNotFound,
    SourceError,
)
from agent.source.history import Commit, commit_info, overtaken, touched_paths
from agent.source.verify import SignatureVerifier

_FULL_SHA_LENGTH = 40
_REVISION = re.compile(r"[0-9a-fA-F]{4,40}")
PULL_NAMESPACE = "refs/pullinfra/pulls/"
"""Where fetched pull / merge request heads are kept in the clone, apart from the branch."""


@dataclass(frozen=True)
class FetchResult:
    """A commit the daemon may apply, and what changed since `previous`.

    `changed_paths` is None when there is no previous commit to compare with (first fetch)
    or no common history: treat that as "everything changed".
    """

    url: str
    ref: str
    revision: str
    previous: str | None
    author: str
    message: str
    committed_at: datetime
    changed_paths: tuple[str, ...] | None
    verified: bool
    forced: bool

    @property
    def is_new(self) -> bool:
        return self.revision != self.previous

    @property
    def summary(self) -> str:
        """First line of the commit message, for logs and short reports."""
        return self.message.splitlines()[0] if self.message else ""


class GitSource:
    """Clone, fetch, verify and export one repository ref. Safe to share between threads."""

    def __init__(self, config: SourceConfig, state_dir: Path, keep_checkouts: int = 2) -> None:
        self.config = config
        self.root = Path(state_dir) / "source"
        self.git_dir = self.root / "repo.git"
        self.checkouts_dir = self.root / "checkouts"
        self.keep_checkouts = keep_checkouts
        self._git = Git(str(self.root))
        self._env = git_environment(config)
        self._scrub = Scrubber(config)
        self._verifier = SignatureVerifier(config, self.root / "gnupg")
        self._lock = threading.RLock()
        ref_key = config.ref.replace("/", "%2F")
        self._fetched_ref = f"refs/pullinfra/fetched/{ref_key}"
        self._accepted_ref = f"refs/pullinfra/accepted/{ref_key}"

    @property
    def display_url(self) -> str:
        return display_url(self.config.url)

    def fetch(self, previous: str | None = None) -> FetchResult:
        """Fetch the ref and return its head if it may be applied; raise SourceError if not.

        `previous` is the commit the caller last applied; changed paths are computed against
        it, and it is the force-push baseline when the clone has no accepted commit yet
        (e.g. after the clone was deleted).
        """
        with self._lock:
            self._ensure_repository()
            self._fetch_ref()
            new = self._rev_parse(f"{self._fetched_ref}^{{commit}}")
            accepted = self._resolve(self._accepted_ref)
            baseline = accepted or previous
            forced = bool(baseline) and baseline != new and not self._descends(new, baseline)
            if forced and not self.config.allow_non_fast_forward:
                raise NonFastForward(self.config.ref, baseline or "", new)
            verified = self._verify(new)
            self._git_run("update-ref", self._accepted_ref, new)
            compare_to = previous if previous is not None else accepted
            return self._result(new, compare_to, verified, forced)

    def accept(self, revision: str) -> None:
        """Operator override: make `revision` the new force-push baseline."""
        with self._lock:
            full = self._rev_parse(f"{revision}^{{commit}}")
            self._git_run("update-ref", self._accepted_ref, full)

    @property
    def accepted(self) -> str | None:
        """The last head `fetch` handed out for this ref, if any."""
        if not self.git_dir.is_dir():
            return None
        return self._resolve(self._accepted_ref)

    def fetch_pull_heads(self, pattern: str) -> dict[int, str]:
        """Fetch the forge's pull / merge request heads (`pattern`, e.g. refs/pull/*/head)
        into a namespace of their own; {request number: head SHA}. They are never applied:
        previews read them (agent/preview/service.py), and requests that are gone are pruned.
        """
        with self._lock:
            self._ensure_repository()
            self._git_remote("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune",
                             "origin", f"+{pattern}:{PULL_NAMESPACE}*")
            listed = self._git_run("for-each-ref", "--format=%(refname) %(objectname)",
                                   PULL_NAMESPACE)
        heads = {}
        for line in listed.splitlines():
            ref, _, sha = line.partition(" ")
            number = ref.removeprefix(PULL_NAMESPACE)
            if number.isdigit():
                heads[int(number)] = sha
        return heads

    def resolve_commit(self, revision: str) -> str | None:
        """The full SHA of `revision` (a SHA, short or full) when the clone has that commit."""
        if not _REVISION.fullmatch(revision):
            return None  # never an option or a revision expression handed to git
        with self._lock:
            return self._resolve(f"{revision}^{{commit}}")

    def is_ancestor(self, ancestor: str, of: str) -> bool:
        """Whether `ancestor` is `of` or in its history (both full SHAs in the clone)."""
        with self._lock:
            return self._descends(of, ancestor)

    def checkout(self, revision: str) -> Path:
        """A read-only directory holding exactly the tree of `revision` (a full SHA)."""
        with self._lock:
            full = self._rev_parse(f"{revision}^{{commit}}")
            return export_tree(self._git, self.git_dir, full, self.checkouts_dir,
                               self.config.timeout)

    def prune_checkouts(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove exports other than `keep` and the most recently used ones."""
        with self._lock:
            return prune_exports(self.checkouts_dir, keep, self.keep_checkouts)

    def commit(self, revision: str) -> Commit:
        """Author and message of a commit in the clone (None fields if it lacks it)."""
        return commit_info(self._git_run, revision)

    def overtaken(self, old: str | None, new: str) -> list[Commit]:
        """Commits between `old` (excluded) and `new` (excluded), oldest first."""
        return overtaken(self._git_run, old, new)

    def touched_paths(self, revision: str) -> list[str] | None:
        """Files a commit itself changed; None when unknown."""
        return touched_paths(self._git_run, revision)

    def changed_paths(self, old: str | None, new: str) -> list[str] | None:
        """Files added, modified or deleted between two commits; None when not comparable."""
        if old == new:
            return []
        if old is None or self._resolve(f"{old}^{{commit}}") is None:
            return None
        output = self._git_run("diff", "--name-only", "--no-renames", "-z", old, new, "--")
        return sorted(p for p in output.split("\0") if p)

    def _result(self, new: str, previous: str | None, verified: bool, forced: bool) -> FetchResult:
        fields = self._git_run("show", "-s", "--format=%an <%ae>%x00%ct%x00%B", new)
        author, timestamp, message = fields.split("\0", 2)
        changed = self.changed_paths(previous, new)
        return FetchResult(
            url=self.display_url,
            ref=self.config.ref,
            revision=new,
            previous=previous,
            author=author,
            message=message.strip(),
            committed_at=datetime.fromtimestamp(int(timestamp), tz=UTC),
            changed_paths=tuple(changed) if changed is not None else None,
            verified=verified,
            forced=forced,
        )

    def _ensure_repository(self) -> None:
        if not (self.git_dir / "HEAD").is_file():
            # The clone holds the whole deploy repository: the owner's alone, whatever the
            # umask (git applies core.sharedRepository=0600 to every file it writes later).
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._git_run("init", "--bare", "--quiet", "--shared=0600", str(self.git_dir),
                          git_dir=False)
        current = self._resolve_config("remote.origin.url")
        if current != self.config.url:
            self._git_run("config", "remote.origin.url", self.config.url)

    def _fetch_ref(self) -> None:
        args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "origin"]
        if self.config.depth and self._resolve(self._fetched_ref) is None:
            args.insert(1, f"--depth={self.config.depth}")
        ref = self.config.ref
        if _looks_like_sha(ref) and self._resolve(f"{ref}^{{commit}}") is not None:
            self._git_run("update-ref", self._fetched_ref, ref)
            return
        try:
            self._git_remote(*args, f"+{ref}:{self._fetched_ref}")
        except RefNotFound:
            if not _looks_like_sha(ref):
                raise
            self._git_remote(*args[:-1], "origin", "+refs/heads/*:refs/pullinfra/heads/*")
            if self._resolve(f"{ref}^{{commit}}") is None:
                raise
            self._git_run("update-ref", self._fetched_ref, ref)

    def _git_remote(self, *args: str) -> None:
        """Run a git command that talks to the remote; classify its failure for backoff."""
        started = time.monotonic()
        try:
            self._git_run(*args, env=self._env)
        except FetchError:
            raise
        except SourceError as exc:
            if time.monotonic() - started >= self.config.timeout:
                raise FetchTimeout(
                    f"fetching {self.display_url} took longer than {self.config.timeout:g}s "
                    "(source.timeout)"
                ) from None
            if "couldn't find remote ref" in exc.message or "not our ref" in exc.message:
                raise RefNotFound(
                    f"{self.display_url} has no branch, tag or commit {self.config.ref!r} "
                    "(source.ref)"
                ) from None
            raise FetchError(f"cannot fetch {self.display_url}: {exc.message}") from None

    def _descends(self, new: str, baseline: str) -> bool:
        if self._resolve(f"{baseline}^{{commit}}") is None:
            return False
        try:
            self._git_run("merge-base", "--is-ancestor", baseline, new)
        except SourceError:
            return False
        return True

    def _verify(self, revision: str) -> bool:
        if self.config.verify == "off":
            return False
        self._verifier.verify(self._git, self.git_dir, revision, self.config.timeout)
        return True

    def _rev_parse(self, spec: str) -> str:
        found = self._resolve(spec)
        if found is None:
            raise SourceError(f"{spec} is not a commit in {self.display_url}")
        return found

    def _resolve(self, spec: str) -> str | None:
        try:
            return self._git_run("rev-parse", "--verify", "--quiet", spec).strip() or None
        except SourceError:
            return None

    def _resolve_config(self, key: str) -> str | None:
        try:
            return self._git_run("config", "--get", key).strip() or None
        except SourceError:
            return None

    def _git_run(self, *args: str, env: dict[str, str] | None = None,
                 git_dir: bool = True) -> str:
        command = ["git", f"--git-dir={self.git_dir}", *args] if git_dir else ["git", *args]
        try:
            return self._git.execute(command, env=env, kill_after_timeout=self.config.timeout,
                                     strip_newline_in_stdout=False)
        except GitCommandError as exc:
            detail = self._scrub(str(exc.stderr or "").strip().removeprefix("stderr:").strip())
            raise SourceError(detail.strip("'").strip() or f"git {args[0]} failed") from None


def _looks_like_sha(ref: str) -> bool:
    return len(ref) == _FULL_SHA_LENGTH and all(c in "0123456789abcdef" for c in ref.lower())
