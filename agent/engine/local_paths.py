"""Local paths of a run stay inside its root: the exported commit, when the agent runs.

Deploy code names files on the agent's own machine: files.put's and files.template's
sources, a synced directory, a script, an archive, a key file, files.get's destination, and
the deploy, inventory and group-data files themselves. In the agent they come from a commit,
so a symlink committed in it (`files/app.conf -> /etc/pullinfra/token`) or a `../..` would
carry a file of the agent's machine to every host (or let files.get write over one) through
a one-line change that a reviewer does not notice.

So every such path is resolved as the kernel will open it (`os.path.realpath`: every
symlink, every `..`, absolute paths too) and refused unless the result lies inside the real
path of the root. A symlink that stays inside works. This confines paths, not Python: deploy
code that opens a file itself is code a reviewer reads (docs/deploy-code.md, "Local files
stay inside the repository").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from agent.engine.errors import UserError
from agent.engine.operation_errors import OperationError

StrPath = str | os.PathLike[str]


class EscapingPathError(OperationError):
    """A local path that resolves outside the run's root.

    An OperationError, so an operation that meets it at execute fails on its host; found at
    prepare (operation.py), it becomes a DeployError with the call's file:line.
    """

    def __init__(self, given: StrPath, real: str, root: str) -> None:
        self.given = os.fspath(given)
        self.real = real
        self.root = root
        super().__init__(
            f"local path {self.given} resolves to {real}, outside the repository ({root}):"
            " a symlink or `..` may not leave it"
        )


def is_inside(real: str, root: str) -> bool:
    """Both real paths: `root` itself counts as inside."""
    return real == root or real.startswith(root.rstrip("/") + "/")


def confine(path: StrPath, root: StrPath) -> Path:
    """`path` unchanged (relative ones against the working directory, as open() takes them)
    once its real path is inside `root`'s; EscapingPathError otherwise.

    The path given is returned rather than its real path, so names shown (diffs, template
    search directories) stay the ones the deploy wrote; what it opens is what was checked.
    """
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    if not is_inside(real, base):
        raise EscapingPathError(path, real, base)
    return Path(path)


def confine_user_file(
    path: StrPath, root: StrPath | None, what: str, error: type[UserError]
) -> None:
    """A file of user code or data (deploy, module, inventory, group data) that resolves
    outside `root` is refused, as `error`, before it is read; no root, no check."""
    if root is None:
        return
    try:
        confine(path, root)
    except EscapingPathError as exc:
        raise error(
            f"{what} {exc.given} resolves to {exc.real}, outside the repository ({exc.root})",
            where=os.fspath(path),
            fix=f"keep the {what} inside the repository; a symlink may point only into it",
        ) from None


def default_root(directories: Iterable[StrPath]) -> Path:
    """The root of a run by hand (`pullinfra apply`/`plan`): the git work tree holding the
    given directories (the inventory's, the deploy files'), as the agent's root is the whole
    commit, else the smallest directory holding all of them.

    Found from the paths as written (made absolute, symlinks not followed), so a deploy file
    that is a symlink to elsewhere does not widen the root it is checked against.
    """
    absolute = [os.path.abspath(d) for d in directories]
    common = Path(os.path.commonpath(absolute)) if absolute else Path.cwd()
    for candidate in (common, *common.parents):
        if (candidate / ".git").exists():
            return candidate
    return common
