"""server operations: scripts, a local script (or script template) uploaded and run.

Both run every time (pyinfra marks them not idempotent): the script itself decides what it
changes. The upload is files.put's (or files.template's) own generator, so the local file is
found as those find it (agent/catalogue/operations/files/_uploads.py) and the upload is part of this
operation rather than a second one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import IO, Any

from agent.catalogue.facts.server._machine import TmpDir
from agent.catalogue.operations import files
from agent.catalogue.operations.util.files import chmod
from agent.engine.command import Commands, QuoteString, StringCommand
from agent.engine.context import host
from agent.engine.operation import operation
from agent.engine.operation_errors import OperationValueError

__all__ = ["script", "script_template"]

DEFAULT_TEMP_DIR = "/tmp"


def _temp_filename(hash_key: str | None = None) -> str:
    """Where the script goes on the host: the host's temporary directory (TMPDIR and the
    like, else /tmp), under a name hashed from `hash_key`, or a fresh one without it. A
    script template's key is its source and data, so the same render lands on the same
    file, which a later run then finds already uploaded."""
    directory = host.get_fact(TmpDir) or DEFAULT_TEMP_DIR
    key = hash_key if hash_key else str(uuid.uuid4())
    return f"{directory.rstrip('/')}/pullinfra-{hashlib.sha1(key.encode()).hexdigest()}"


def _arguments(args: Any, operation_name: str) -> list[Any]:
    """The script's arguments, each as pyinfra passes it: written into the command as is,
    so the shell expands it (pass a QuoteString for one word kept whole)."""
    if isinstance(args, str | bytes) or not isinstance(args, Iterable):
        raise OperationValueError(
            f"{operation_name}: `args` must be a list or tuple of the script's arguments,"
            f" got {args!r}; pass args=({args!r},) for one argument"
        )
    return list(args)


def _run(temp_file: str, args: list[Any]) -> Commands:
    yield chmod(temp_file, "+x")
    yield StringCommand(QuoteString(temp_file), *args)


@operation(is_idempotent=False, local_paths=("src",))
def script(src: str | IO[Any], args: Iterable[Any] = ()) -> Commands:
    """Upload a local script (a path relative to the deploy, as files.put takes it, or a
    file-like object) to a fresh temporary file on the host, make it executable and run it
    with `args`."""
    arguments = _arguments(args, "server.script")
    temp_file = _temp_filename()
    yield from files.put._inner(src, temp_file)
    yield from _run(temp_file, arguments)


@operation(is_idempotent=False, local_paths=("src",))
def script_template(src: str | IO[Any], args: Iterable[Any] = (), **data: Any) -> Commands:
    """Render a local Jinja2 script template with `data` (as files.template does, `host`
    included), upload it to a temporary file on the host, make it executable and run it
    with `args`."""
    arguments = _arguments(args, "server.script_template")
    temp_file = _temp_filename(f"{src}{data}")
    yield from files.template._inner(src, temp_file, **data)
    yield from _run(temp_file, arguments)
