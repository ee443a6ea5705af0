"""Run one queued operation on one host: `_if`, the generator, its commands, retries."""

from __future__ import annotations

import time

from agent.engine.arguments import if_callables
from agent.engine.attempt import AttemptOutput, CommandFailed, Failure, tail
from agent.engine.command import (
    FileUploadCommand,
    FunctionCommand,
    QuoteString,
    StringCommand,
    make_command,
)
from agent.engine.connectors.base import CommandTimeout, ConnectionLost
from agent.engine.connectors.shell import fits_shell
from agent.engine.context import bound_host
from agent.engine.errors import HostFailure
from agent.engine.events import EngineWarning, OperationRetry
from agent.engine.host import Host, OpExecution
from agent.engine.operation import QueuedOp
from agent.engine.prefetch import reads_after_change
from agent.engine.result import OpHostResult
from agent.vocab import OpStatus


def run_op_on_host(host: Host, queued: QueuedOp, index: int) -> OpHostResult:
    started = time.monotonic()
    with bound_host(host):
        result = _run_bound(host, queued, index)
    result.duration_seconds = time.monotonic() - started
    queued.meta.result = result
    return result


def skipped(queued: QueuedOp, reason: str) -> OpHostResult:
    result = OpHostResult(name=queued.name, status=OpStatus.SKIPPED, reasons=[reason])
    queued.meta.result = result
    return result


def _run_bound(host: Host, queued: QueuedOp, index: int) -> OpHostResult:
    args = queued.global_args
    try:
        conditions = if_callables(args["_if"])
        run_it = all(condition() for condition in conditions)
    except Exception as exc:
        return _result(queued, None, Failure(f"evaluating _if failed: {exc}"), ignored=False)
    if not run_it:
        return skipped(queued, "_if is false")

    retries = int(args["_retries"] or 0)
    for attempt in range(retries + 1):
        execution = OpExecution(dict(args), queued.deploy_dir, host.run.dry, queued.deploy_data)
        output = execution.output
        with host.executing(execution):
            failure = _drive(host, queued, execution)
        if attempt == retries or host.run.cancelled.is_set():
            break
        if failure is not None:
            reason = failure.message
        elif _retry_until_says_retry(host, queued, execution, output):
            reason = "_retry_until asked for another attempt"
        else:
            break
        host.run.emit(OperationRetry(index, host.name, attempt + 1, retries, reason))
        host.run.cancelled.wait(float(args["_retry_delay"] or 0))
    return _result(queued, execution, failure, ignored=bool(args["_ignore_errors"]))


def _retry_until_says_retry(
    host: Host, queued: QueuedOp, execution: OpExecution, output: AttemptOutput
) -> bool:
    """pyinfra's `_retry_until`: asked only after an attempt that succeeded, with the output
    dict pyinfra builds; if it raises, a warning is recorded and the attempt stands."""
    retry_until = execution.args.get("_retry_until")
    if retry_until is None:
        return False
    data = {
        "stdout_lines": list(output.stdout_lines),
        "stderr_lines": list(output.stderr_lines),
        "commands": list(execution.commands),
        "executed_commands": output.executed_commands,
        "host": host.name,
        "operation": queued.name,
    }
    try:
        return bool(retry_until(data))
    except Exception as exc:
        host.run.emit(
            EngineWarning(
                host.mask(f"_retry_until raised {type(exc).__name__}: {exc}"),
                location=queued.location,
                host=host.name,
            )
        )
        return False


def _result(
    queued: QueuedOp, execution: OpExecution | None, failure: Failure | None, ignored: bool
) -> OpHostResult:
    commands = execution.commands if execution else []
    result = OpHostResult(
        name=queued.name,
        status=OpStatus.NO_CHANGE,
        commands=list(commands),
        diff="".join(execution.diffs) if execution and execution.diffs else None,
        reasons=list(execution.reasons) if execution else [],
    )
    if failure is not None:
        result.status = OpStatus.FAILED
        result.error = failure.message
        result.exit_code = failure.exit_code
        result.stderr_tail = failure.stderr_tail
        result.ignored = ignored
    elif commands:
        result.status = OpStatus.CHANGED
        result.exit_code = 0
    return result


def _drive(host: Host, queued: QueuedOp, execution: OpExecution) -> Failure | None:
    """Run the generator. Shell commands wait in the host's pipeline and go in one round
    trip when the host must answer (a fact read, an upload, a callback, the end), with the
    next operation's first fact reads after them (prefetch.py)."""
    try:
        generator = queued.definition.function(*queued.args, **queued.kwargs)
        for value in generator or ():
            command = make_command(value)
            shown = host.mask(command.get_masked_value())
            execution.commands.append(shown)
            if execution.dry:
                continue
            args = execution.command_args
            if isinstance(command, FileUploadCommand) and fits_shell(args):
                command = host.connector.upload_command(command, args) or command
            if isinstance(command, StringCommand) and fits_shell(args):
                host.defer(command, shown)
                continue
            host.send_commands()
            failure = _execute_alone(host, command, shown, execution)
            if failure is None:
                execution.output.executed_commands += 1
                continue
            execution.output.failures.append(failure)
            if execution.stop_after_failure:
                generator.close()
                break
        if host.pipeline.pending:
            host.send_commands(reads_after_change(host, host.queued_after(queued)))
    except CommandFailed:
        return execution.output.failures[0]
    except HostFailure as exc:
        return Failure(str(exc), exc.command, exc.exit_code, exc.stderr_tail)
    except Exception as exc:
        where = f" ({queued.location})" if queued.location else ""
        failure = Failure(host.mask(f"{queued.name}{where}: {type(exc).__name__}: {exc}"))
        _send_before_failing(host)
        return failure
    return execution.output.failures[0] if execution.output.failures else None


def _send_before_failing(host: Host) -> None:
    """Commands a generator yielded before it raised ran before the error when commands
    were sent one by one; they still do, and their own failures are recorded."""
    try:
        host.send_commands()
    except HostFailure:
        return


def _execute_alone(
    host: Host, command: object, shown: str, execution: OpExecution
) -> Failure | None:
    """What cannot wait in the pipeline: uploads, callbacks, and commands that need a
    channel of their own. Each may change the host in ways the pipeline cannot see."""
    args = execution.command_args
    try:
        if isinstance(command, StringCommand):
            output = host.connector.run_shell_command(command, args)
            execution.output.stdout_lines += output.stdout
            execution.output.stderr_lines += output.stderr
            if output.exit_code in args.success_exit_codes:
                return None
            return Failure(
                f"command failed with exit code {output.exit_code}: {shown}",
                shown,
                output.exit_code,
                host.mask(tail(output.stderr)),
            )
        if isinstance(command, FileUploadCommand):
            host.connector.put_file(command.read_bytes(), command.dest, args)
            if command.mode:
                chmod = StringCommand("chmod", QuoteString(command.mode), QuoteString(command.dest))
                output = host.connector.run_shell_command(chmod, args)
                if output.exit_code != 0:
                    return Failure(f"chmod failed: {shown}", shown, output.exit_code,
                                   host.mask(tail(output.stderr)))
            return None
        if isinstance(command, FunctionCommand):
            return _call(host, command, shown)
    except CommandTimeout as exc:
        return Failure(f"command {exc}: {shown}", shown)
    except ConnectionLost as exc:
        raise HostFailure(host.mask(str(exc)), command=shown) from None
    except OSError as exc:
        return Failure(host.mask(f"{shown}: {exc}"), shown)
    finally:
        host.pipeline.host_changed()
    return Failure(f"unknown command type: {shown}", shown)


def _call(host: Host, command: FunctionCommand, shown: str) -> Failure | None:
    """A callback fails its operation on this host only by raising, as in pyinfra, which
    ignores what the callback returns: deploy code written for pyinfra returns anything.
    Whatever it raises is the deploy's own code failing, so it is recorded, not re-raised."""
    try:
        command.function(*command.args, **command.kwargs)
    except (CommandTimeout, ConnectionLost):
        raise
    except Exception as exc:
        return Failure(host.mask(f"python callback raised {type(exc).__name__}: {exc}"), shown)
    return None
