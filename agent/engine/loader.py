"""The user's code of one run: deploy files, files they include, helper modules they import.

Deploy files are compiled once per run in setup and executed once per host in prepare.

Helper modules (`from lib.helpers import setup_users`, where `lib/` sits in the repository)
are the delicate part. In pyinfra they are ordinary imports: the repository is on
`sys.path` and they import the real pyinfra. Here they must get pullinfra's `pyinfra`, count
as user code (their lines are part of operation identity and of file:line errors), and two
runs at once in one process, each from a different checkout with its own `lib/helpers.py`,
must not see each other's modules, while `import pyinfra` anywhere else in the process still
means the real pyinfra. So the engine does not use `sys.path`, `sys.modules` or
`sys.meta_path` for them at all (all three are process-global):

- Every run has one `DeployCode`, with its own builtins namespace whose `__import__` asks
  the run's `Importer` first (the compat layer's maps `pyinfra...` to pullinfra) and this
  run's `DeployCode` about every other name. All code the run executes (deploy files,
  included files, helper modules) gets that namespace as `__builtins__`, so imports made by
  a helper resolve the same way.
- A name is the repository's when its top-level part is found under the run's roots (the
  project root, then each deploy file's directory) as a module or a regular package; a plain
  directory (namespace package) counts only when nothing importable has that name, which is
  Python's own rule for a path entry placed first. Anything else is a normal import.
- Repository modules are compiled from their files and executed into module objects kept in
  this `DeployCode` only (never `sys.modules`), once per run, under a per-run lock: the
  hosts of a run prepare in parallel threads and must share one copy of each module, fully
  initialised. Their files join the run's user files as they load.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from agent.engine.callsite import current_location, innermost_user_file, traceback_location
from agent.engine.context import bound_setup_config
from agent.engine.errors import DeployError, UserError
from agent.engine.imports import Importer, user_builtins
from agent.engine.local_paths import EscapingPathError, confine, confine_user_file
from agent.engine.user_text import read_user_text

if TYPE_CHECKING:
    from agent.engine.arguments import Config
    from agent.engine.host import Host


@dataclass(frozen=True)
class DeployFile:
    index: int
    path: str  # absolute; also the filename in the code object, to find its frames
    directory: Path
    code: CodeType


@dataclass(frozen=True)
class _Found:
    """Where a repository module lives: its file (None for a namespace package) and, for a
    package, the directories its submodules are searched in."""

    file: str | None
    search: list[str] | None


def compile_user_file(path: Path, what: str) -> CodeType:
    """Compile a file of the user's; a syntax error names its file:line."""
    filename = str(path)
    source = read_user_text(path, DeployError, what)
    try:
        return compile(source, filename, "exec")
    except SyntaxError as exc:
        raise DeployError(
            f"syntax error: {exc.msg}",
            where=f"{filename}:{exc.lineno or 1}",
            fix=f"correct the Python syntax of the {what}",
        ) from None


def compile_deploy_files(
    paths: Sequence[str | os.PathLike[str]], root: Path | None = None
) -> tuple[DeployFile, ...]:
    """Compile every deploy file up front, so a syntax error stops the run before connecting.

    With `root`, a deploy file whose real path is outside it is refused (local_paths.py)."""
    if not paths:
        raise DeployError("no deploy file given", fix="pass at least one deploy .py file")
    compiled = []
    for index, given in enumerate(paths):
        path = Path(given).resolve()
        if not path.is_file():
            raise DeployError(
                f"deploy file {given} does not exist", fix="check the path of the deploy file"
            )
        confine_user_file(given, root, "deploy file", DeployError)
        code = compile_user_file(path, "deploy file")
        compiled.append(DeployFile(index, str(path), path.parent, code))
    return tuple(compiled)


def _find_module(search: Sequence[str], leaf: str) -> _Found | None:
    """Python's path-finder order: a regular package or a module in any directory wins over
    namespace directories found earlier."""
    portions = []
    for directory in search:
        package = Path(directory, leaf)
        if (package / "__init__.py").is_file():
            return _Found(str(package / "__init__.py"), [str(package)])
        if Path(directory, f"{leaf}.py").is_file():
            return _Found(str(Path(directory, f"{leaf}.py")), None)
        if package.is_dir():
            portions.append(str(package))
    return _Found(None, portions) if portions else None


def _importable_elsewhere(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class DeployCode:
    """One run's user code and its import namespace. See the module docstring for why."""

    def __init__(
        self,
        deploys: Sequence[DeployFile],
        project_root: Path,
        importer: Importer | None = None,
        local_root: Path | None = None,
    ) -> None:
        self.deploys = tuple(deploys)
        self.project_root = project_root.resolve()
        # Every local file the run reads or writes stays inside this (local_paths.py).
        self.local_root = (local_root or self.project_root).resolve()
        roots = [self.project_root, *(d.directory for d in self.deploys)]
        self.roots = [str(root) for root in dict.fromkeys(roots)]
        self.builtins = user_builtins(importer, self.import_local)
        self._user_files = frozenset(d.path for d in self.deploys)
        self._lock = threading.RLock()
        self._modules: dict[str, ModuleType] = {}  # fully initialised only
        self._loading: dict[str, ModuleType] = {}  # being executed (circular imports)
        self._tops: dict[str, _Found | None] = {}  # top-level name -> in the repo or not
        self._included: dict[str, CodeType] = {}

    @property
    def user_files(self) -> frozenset[str]:
        return self._user_files

    def _add_user_file(self, path: str) -> None:
        with self._lock:
            self._user_files = self._user_files | {path}

    # -- imports -----------------------------------------------------------------------------

    def import_local(
        self, name: str, globals: Mapping[str, Any] | None, fromlist: Sequence[str], level: int
    ) -> ModuleType | None:
        """`__import__` for the repository's modules; None means "not ours, import normally"."""
        absolute = self._absolute_name(name, globals, level)
        if absolute is None or not self._is_local(absolute.partition(".")[0]):
            return None
        module = self._load(absolute)
        if fromlist:
            for item in fromlist:
                if item != "*" and not hasattr(module, item) and hasattr(module, "__path__"):
                    self._load_optional(f"{absolute}.{item}")
            return module
        if level:
            base = absolute[: len(absolute) - len(name)] if name else absolute
            return self._modules[base + name.partition(".")[0]]
        return self._modules[absolute.partition(".")[0]]

    def _absolute_name(
        self, name: str, globals: Mapping[str, Any] | None, level: int
    ) -> str | None:
        if not level:
            return name
        package = (globals or {}).get("__package__")
        if not package or package.partition(".")[0] not in self._tops:
            return None
        return importlib.util.resolve_name("." * level + name, package)

    def _is_local(self, top: str) -> bool:
        if top not in self._tops:
            found = _find_module(self.roots, top) if top.isidentifier() else None
            if found is not None and found.file is None and _importable_elsewhere(top):
                found = None
            self._tops[top] = found
        return self._tops[top] is not None

    def _load_optional(self, absolute: str) -> None:
        try:
            self._load(absolute)
        except ModuleNotFoundError as exc:
            if exc.name != absolute:
                raise

    def _load(self, absolute: str) -> ModuleType:
        module = self._modules.get(absolute)
        if module is not None:
            return module
        with self._lock:
            module = self._modules.get(absolute) or self._loading.get(absolute)
            if module is not None:
                return module
            parent_name, _, leaf = absolute.rpartition(".")
            parent = self._load(parent_name) if parent_name else None
            found = self._locate(absolute, parent)
            module = ModuleType(absolute)
            module.__dict__.update(
                __builtins__=self.builtins,
                __file__=found.file,
                __package__=absolute if found.search is not None else parent_name,
                __spec__=None,
                __loader__=None,
            )
            if found.search is not None:
                module.__path__ = found.search
            self._loading[absolute] = module
            try:
                if found.file is not None:
                    confine_user_file(found.file, self.local_root, "module", DeployError)
                    self._add_user_file(found.file)
                    exec(compile_user_file(Path(found.file), "module"), module.__dict__)
            finally:
                del self._loading[absolute]
            self._modules[absolute] = module
            if parent is not None:
                setattr(parent, leaf, module)
            return module

    def _locate(self, absolute: str, parent: ModuleType | None) -> _Found:
        if parent is None:
            found = self._tops.get(absolute)
        elif hasattr(parent, "__path__"):
            found = _find_module(parent.__path__, absolute.rpartition(".")[2])
        else:
            raise ModuleNotFoundError(
                f"No module named {absolute!r}; {parent.__name__!r} is not a package",
                name=absolute,
            )
        if found is None:
            raise ModuleNotFoundError(f"No module named {absolute!r}", name=absolute)
        return found

    # -- files -------------------------------------------------------------------------------

    def namespace(self, path: str, name: str) -> dict[str, Any]:
        return {"__builtins__": self.builtins, "__file__": path, "__name__": name}

    def include(self, host: Host, filename: str, data: Mapping[str, Any] | None) -> None:
        """`local.include(path, data=...)`: run another file as part of this deploy.

        Its operations are named `<path> | <name>` (the path relative to the project root,
        as pyinfra names them relative to its working directory), `data` is the lowest data
        layer inside it, and config changes made inside it are undone afterwards.
        """
        path = self._include_path(filename)
        code = self._compiled_include(path)
        shown = os.path.relpath(path, self.project_root)
        if shown.startswith(".."):
            shown = filename
        with host.config_undone_after(), host.deploy(shown, None, data or {}):
            exec(code, self.namespace(path, "__pullinfra_include__"))

    def _include_path(self, filename: str) -> str:
        """pyinfra's rule: relative to the project root (pyinfra: its working directory),
        or to the including file when written `./x.py`; a path the project root does not
        have is also looked up beside the including file."""
        given = Path(filename)
        including = innermost_user_file(self._user_files)
        here = Path(including).parent if including else self.project_root
        if given.is_absolute():
            candidates = [given]
        elif filename.startswith("./"):
            candidates = [here / given]
        else:
            candidates = [self.project_root / given, here / given]
        for candidate in candidates:
            if candidate.is_file():
                try:
                    return str(confine(candidate, self.local_root).resolve())
                except EscapingPathError as exc:
                    raise DeployError(
                        f"local.include: {exc}",
                        where=current_location(self._user_files),
                        fix="include only files inside the repository",
                    ) from None
        raise DeployError(
            f"local.include: {filename} not found (looked for "
            + ", ".join(str(c) for c in dict.fromkeys(candidates))
            + ")",
            where=current_location(self._user_files),
            fix="give the path relative to the project root, or ./path relative to this file",
        )

    def _compiled_include(self, path: str) -> CodeType:
        with self._lock:
            if path not in self._included:
                self._included[path] = compile_user_file(Path(path), "included file")
                self._add_user_file(path)
            return self._included[path]

    def exec_deploy_file(self, deploy: DeployFile) -> None:
        exec(deploy.code, self.namespace(deploy.path, "__pullinfra_deploy__"))

    def load_config_file(self, config: Config) -> None:
        """Run `config.py` from the project root, as pyinfra does from its working directory:
        `config.SUDO = True` there is the default for every deploy file and host."""
        path = self.project_root / "config.py"
        if not path.is_file():
            return
        confine_user_file(path, self.local_root, "config file", DeployError)
        filename = str(path)
        code = compile_user_file(path, "config file")
        self._add_user_file(filename)
        try:
            with bound_setup_config(config):
                exec(code, self.namespace(filename, "__pullinfra_config__"))
        except UserError as exc:
            exc.where = exc.where or traceback_location(exc.__traceback__, {filename})
            raise
        except Exception as exc:
            raise DeployError(
                f"{type(exc).__name__}: {exc}",
                where=traceback_location(exc.__traceback__, {filename}) or filename,
                fix="correct config.py",
            ) from None
