"""The git questions a preview asks of a repository: a revision's full SHA, a read-only export
of its tree, the merge base with the target branch, and `git diff --stat`.

The agent asks them of its own bare clone (agent/source/git_source.py fetches the pull-request
refs into it), `pullinfra preview` of the repository it is pointed at. Exports go to a
directory of the preview's own, apart from the agent's run checkouts, which the agent prunes.
"""

from __future__ import annotations

from pathlib import Path

from git import Git
from git.exc import GitCommandError

from agent.source import SourceError
from agent.source.checkout import export_tree, prune_exports


class Repository:
    """One git directory (bare, or a work tree's .git) and where its exports go."""

    def __init__(self, git_dir: Path, exports: Path, timeout: float = 60.0) -> None:
        self.git_dir = git_dir
        self.exports = exports
        self.timeout = timeout
        self._git = Git(str(git_dir))

    @classmethod
    def at(cls, path: Path, exports: Path, timeout: float = 60.0) -> Repository:
        """The repository holding `path` (a work tree or a bare repository)."""
        try:
            found = Git(str(path)).execute(["git", "rev-parse", "--absolute-git-dir"],
                                          kill_after_timeout=timeout)
        except (GitCommandError, OSError):
            raise SourceError(f"{path} is not in a git repository") from None
        return cls(Path(found.strip()), exports, timeout)

    def resolve(self, revision: str) -> str:
        """The full SHA of a commit; SourceError naming `revision` when there is none."""
        try:
            return self._run("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
        except SourceError:
            raise SourceError(f"{revision!r} is not a commit in {self.git_dir}") from None

    def checkout(self, revision: str) -> Path:
        return export_tree(self._git, self.git_dir, self.resolve(revision), self.exports,
                           self.timeout)

    def prune(self, keep: int = 4) -> None:
        prune_exports(self.exports, (), keep)

    def merge_base(self, one: str, other: str) -> str | None:
        """Where `other` branched from `one` (what a pull request's diff is against)."""
        try:
            return self._run("merge-base", one, other).strip() or None
        except SourceError:
            return None

    def diff_stat(self, base: str, head: str) -> str:
        return self._run("diff", "--stat=100", "--no-color", base, head, "--").rstrip()

    def _run(self, *args: str) -> str:
        try:
            return self._git.execute(["git", f"--git-dir={self.git_dir}", *args],
                                     kill_after_timeout=self.timeout,
                                     strip_newline_in_stdout=False)
        except GitCommandError as exc:
            detail = str(exc.stderr or "").strip().removeprefix("stderr:").strip().strip("'")
            raise SourceError(detail or f"git {args[0]} failed") from None
