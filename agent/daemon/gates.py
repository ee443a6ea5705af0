"""Health gates: what must hold after a wave of a rollout before the next wave starts.

A gate never raises for what it finds: a host that fails the command, an endpoint that
answers 503, a Prometheus that is down or refuses the query all make a failed GateResult
whose detail says why, so the rollout (daemon/rollout.py) halts with a reason an operator
can act on. Every text a gate returns is short and masked with the secrets of every host of
the run's inventory, as the run's own output is (docs/architecture.md, secrets paragraph);
URLs are shown without their query string and user info, where tokens usually sit.
The clock and sleep come from the caller, so soak gates and retries are tested without
waiting (docs/gates.md).
"""

from __future__ import annotations

import http.client
import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from agent import __version__
from agent.config.models import (
    CommandGateConfig,
    GateConfig,
    HttpGateConfig,
    PromqlGateConfig,
    SoakGateConfig,
)
from agent.engine.adhoc import HostCommandResult, inventory_masker, run_command_on_hosts
from agent.engine.connectors.host_keys import REFUSE_UNKNOWN, HostKeyPolicy
from agent.engine.inventory import Inventory

MAX_DETAIL = 300
MAX_LABEL = 100
STDERR_TAIL = 120
BODY_LIMIT = 1 << 20  # bytes of an answer read at most, for `expect_body` and PromQL
USER_AGENT = f"pullinfra/{__version__} (health gate)"
# The host keys rule of a command gate whose caller gave none: refuse keys not known.
STRICT_HOST_KEYS = HostKeyPolicy(strict=REFUSE_UNKNOWN)
# Characters a regular expression gives a meaning to, escaped in `{hosts}` (RE2 syntax).
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


@dataclass(frozen=True)
class GateContext:
    """What a gate may use of the rollout it judges."""

    deployment: str
    wave: str  # the wave's name
    hosts: tuple[str, ...]  # inventory names of the wave's hosts
    inventory: Inventory  # the run's inventory: connection data and secrets of the hosts
    revision: str
    clock: Callable[[], float]  # seconds, monotonic; injectable
    sleep: Callable[[float], bool]  # False when cancelled (the agent is stopping)
    failures: Callable[[], int]  # failed hosts seen so far in this rollout
    # The wave's gates, checked again by a soak gate with recheck = true.
    gates: tuple[GateConfig, ...] = ()
    # Host keys for command gates: the daemon passes the run's own policy
    # (daemon/host_keys.py); the default refuses keys it was not given.
    host_keys: HostKeyPolicy = STRICT_HOST_KEYS


@dataclass(frozen=True)
class GateResult:
    gate: str  # e.g. "command: systemctl is-active app" (masked, short)
    passed: bool
    detail: str  # why it failed / what it saw (masked, short)
    duration_seconds: float


def check_gate(gate: GateConfig, ctx: GateContext) -> GateResult:
    """Judge one gate for the wave in `ctx`; the result's texts are masked and short."""
    masker = inventory_masker(ctx.inventory)
    started = ctx.clock()
    if isinstance(gate, CommandGateConfig):
        passed, detail = _command(gate, ctx)
    elif isinstance(gate, HttpGateConfig):
        passed, detail = _http(gate, ctx)
    elif isinstance(gate, PromqlGateConfig):
        passed, detail = _promql(gate, ctx)
    elif isinstance(gate, SoakGateConfig):
        passed, detail = _soak(gate, ctx, started)
    else:
        raise TypeError(f"not a gate: {type(gate).__name__}")
    return GateResult(
        gate=_short(masker(gate_label(gate)), MAX_LABEL),
        passed=passed,
        detail=_short(masker(detail), MAX_DETAIL),
        duration_seconds=max(0.0, ctx.clock() - started),
    )


def gate_label(gate: GateConfig) -> str:
    """How reports name a gate: its `name`, else its kind and what it checks."""
    if gate.name:
        return gate.name
    if isinstance(gate, CommandGateConfig):
        return f"command: {gate.command}"
    if isinstance(gate, HttpGateConfig):
        return f"http: {shown_url(gate.url)}"
    if isinstance(gate, PromqlGateConfig):
        return f"promql: {gate.query}"
    return f"soak: {_seconds(gate.duration)}"


def shown_url(url: str) -> str:
    """A URL as a report may show it: no user info, query or fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


# -- command ---------------------------------------------------------------------------------


def _command(gate: CommandGateConfig, ctx: GateContext) -> tuple[bool, str]:
    results = run_command_on_hosts(ctx.inventory, ctx.hosts, gate.command,
                                   timeout=gate.timeout, host_keys=ctx.host_keys)
    failed = [r for r in results.values() if not r.ok]
    if not failed:
        return True, f"exit 0 on {_hosts(len(results))}"
    why = "; ".join(f"{r.host}: {_host_failure(r)}" for r in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    allowed = f" ({gate.max_failed_hosts} allowed)" if gate.max_failed_hosts else ""
    passed = len(failed) <= gate.max_failed_hosts
    return passed, f"failed on {len(failed)} of {_hosts(len(results))}{allowed}: {why}{more}"


def _host_failure(result: HostCommandResult) -> str:
    if result.exit_code is None:
        return result.error or "no answer"
    lines = [line for line in result.stderr if line.strip()] or [
        line for line in result.stdout if line.strip()]
    tail = lines[-1].strip() if lines else ""
    if len(tail) > STDERR_TAIL:
        tail = "..." + tail[-STDERR_TAIL:]
    return f"exit {result.exit_code}" + (f": {tail}" if tail else "")


# -- http ------------------------------------------------------------------------------------


def _http(gate: HttpGateConfig, ctx: GateContext) -> tuple[bool, str]:
    per_host = "{host}" in gate.url or "{name}" in gate.url
    if per_host:
        targets = {name: _host_url(gate.url, name, ctx.inventory) for name in ctx.hosts}
    else:
        targets = {shown_url(gate.url): gate.url}

    def probe(url: str) -> str | None:
        return _http_problem(gate, url)

    problems = _with_retries(targets, probe, gate.retries, gate.interval, ctx.sleep)
    if problems is None:
        return False, "cancelled: the agent is stopping"
    if not problems:
        what = f"{_hosts(len(targets))}" if per_host else shown_url(gate.url)
        return True, f"{_expected(gate)} from {what}"
    tries = f" after {gate.retries + 1} tries" if gate.retries else ""
    return False, _listed(problems) + tries


def _host_url(url: str, name: str, inventory: Inventory) -> str:
    try:
        data = inventory.get(name).data
    except KeyError:
        data = {}
    address = str(data.get("ssh_hostname") or name)
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"  # an IPv6 address in a URL
    quote = urllib.parse.quote
    return url.replace("{host}", quote(address, safe=":[]")).replace("{name}", quote(name))


def _expected(gate: HttpGateConfig) -> str:
    status = "/".join(str(s) for s in gate.expect_status) if gate.expect_status else "2xx"
    body = " with the expected text" if gate.expect_body is not None else ""
    return f"HTTP {status}{body}"


def _http_problem(gate: HttpGateConfig, url: str) -> str | None:
    """None when the answer is as expected, else what was wrong with it."""
    try:
        status, body = _request(gate.method, url, gate.timeout,
                                read_body=gate.expect_body is not None)
    except _Unreachable as exc:
        return str(exc)
    wanted = gate.expect_status or range(200, 300)
    if status not in wanted:
        return f"HTTP {status}, expected {_expected(gate).removeprefix('HTTP ')}"
    if gate.expect_body is not None and gate.expect_body not in body.decode("utf-8", "replace"):
        return f"HTTP {status} but the body does not contain {gate.expect_body!r}"
    return None


class _Unreachable(Exception):
    """No HTTP answer: refused, timed out, not a URL, broken connection."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A gate judges the answer of the URL it was given, not of another one."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(method: str, url: str, timeout: float, read_body: bool) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers={"User-Agent": USER_AGENT},
                                     data=b"" if method == "POST" else None)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read(BODY_LIMIT) if read_body else b""
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read(BODY_LIMIT) if read_body else b""
    except TimeoutError:
        raise _Unreachable(f"no answer within {_seconds(timeout)}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Unreachable(f"no answer within {_seconds(timeout)}") from None
        raise _Unreachable(f"cannot connect: {_reason(exc.reason)}") from None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        raise _Unreachable(f"request failed: {type(exc).__name__}: {exc}") from None


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)


def _with_retries(
    targets: Mapping[str, str],
    probe: Callable[[str], str | None],
    retries: int,
    interval: float,
    sleep: Callable[[float], bool],
) -> dict[str, str] | None:
    """Probe every target; probe the ones that failed again, `interval` apart, up to
    `retries` times. The problems left, by target label; None when cancelled."""
    pending = dict(targets)
    problems: dict[str, str] = {}
    for attempt in range(retries + 1):
        if attempt and not sleep(interval):
            return None
        problems = {}
        for label, url in pending.items():
            problem = probe(url)
            if problem is not None:
                problems[label] = problem
        pending = {label: pending[label] for label in problems}
        if not pending:
            break
    return problems


# -- promql ----------------------------------------------------------------------------------


def hosts_regex(hosts: Sequence[str]) -> str:
    """The wave's host names as one regular expression, written for a PromQL string in
    double quotes (each backslash doubled): `host=~"{hosts}"`."""
    escaped = (_REGEX_SPECIAL.sub(r"\\\1", name) for name in hosts)
    return "|".join(escaped).replace("\\", "\\\\").replace('"', '\\"')


def _promql(gate: PromqlGateConfig, ctx: GateContext) -> tuple[bool, str]:
    query = gate.query.replace("{hosts}", hosts_regex(ctx.hosts))
    url = gate.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    where = shown_url(gate.url)
    seen: list[str] = []

    def probe(target: str) -> str | None:
        problem, summary = _promql_problem(gate, target, where)
        seen[:] = [summary]
        return problem

    problems = _with_retries({where: url}, probe, gate.retries, gate.interval, ctx.sleep)
    if problems is None:
        return False, "cancelled: the agent is stopping"
    if problems:
        tries = f" after {gate.retries + 1} tries" if gate.retries else ""
        return False, problems[where] + tries
    return True, seen[0] if seen else "passed"


def _promql_problem(gate: PromqlGateConfig, url: str, where: str) -> tuple[str | None, str]:
    """(what is wrong or None, what the query returned)."""
    try:
        status, body = _request("GET", url, gate.timeout, read_body=True)
    except _Unreachable as exc:
        return f"Prometheus at {where}: {exc}", ""
    try:
        answer = json.loads(body)
    except ValueError:
        return f"Prometheus at {where} answered HTTP {status} without JSON", ""
    if not isinstance(answer, dict) or answer.get("status") != "success":
        error = answer.get("error") if isinstance(answer, dict) else None
        kind = answer.get("errorType") if isinstance(answer, dict) else None
        return f"Prometheus refused the query (HTTP {status}, {kind or 'error'}): {error}", ""
    try:
        samples = _samples(answer.get("data") or {})
    except ValueError as exc:
        return str(exc), ""
    if gate.expect == "empty":
        if not samples:
            return None, "no samples, as expected"
        return f"{_count(len(samples))}, expected none: {_sample_list(samples)}", ""
    if not samples:
        return "no samples; expected at least one, all non-zero", ""
    zero = [s for s in samples if s[1] == 0 or math.isnan(s[1])]
    if zero:
        return f"{len(zero)} of {_count(len(samples))} zero: {_sample_list(zero)}", ""
    return None, f"{_count(len(samples))}, all non-zero"


def _samples(data: Mapping[str, object]) -> list[tuple[str, float]]:
    """(labels as text, value) of each sample of an instant query's answer."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [("scalar", float(result[1]))]
    if kind != "vector" or not isinstance(result, list):
        raise ValueError(f"the query returned a {kind}, not an instant vector or a scalar")
    found = []
    for item in result:
        labels = item.get("metric") or {}
        text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
        found.append((f"{labels.get('__name__', '')}{{{text}}}", float(item["value"][1])))
    return found


def _sample_list(samples: Sequence[tuple[str, float]]) -> str:
    shown = ", ".join(f"{labels} = {value:g}" for labels, value in samples[:3])
    return shown + (", ..." if len(samples) > 3 else "")


# -- soak ------------------------------------------------------------------------------------


def _soak(gate: SoakGateConfig, ctx: GateContext, started: float) -> tuple[bool, str]:
    """Wait in steps of `interval`, failing as soon as a host newly fails or (recheck) one
    of the wave's other gates does."""
    before = ctx.failures()
    others = [g for g in ctx.gates if not isinstance(g, SoakGateConfig)] if gate.recheck else []
    inner = replace(ctx, gates=())
    checks = 0
    while (elapsed := ctx.clock() - started) < gate.duration:
        if not ctx.sleep(min(gate.interval, gate.duration - elapsed)):
            return False, f"cancelled after {_seconds(ctx.clock() - started)} of the soak"
        at = _seconds(ctx.clock() - started)
        new = ctx.failures() - before
        if new > 0:
            return False, f"{new} more failed host{'s' if new != 1 else ''} after {at}"
        for other in others:
            result = check_gate(other, inner)
            if not result.passed:
                return False, f"{result.gate} failed after {at}: {result.detail}"
        checks += 1
    gates = f"{len(others)} gate{'s' if len(others) != 1 else ''}"
    again = f"; rechecked {gates} {checks} times" if others else ""
    return True, f"{_seconds(gate.duration)} without new failures{again}"


# -- text ------------------------------------------------------------------------------------


def _listed(problems: Mapping[str, str]) -> str:
    shown = "; ".join(f"{label}: {why}" for label, why in list(problems.items())[:3])
    return shown + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")


def _hosts(count: int) -> str:
    return f"{count} host{'s' if count != 1 else ''}"


def _count(count: int) -> str:
    return f"{count} sample{'s' if count != 1 else ''}"


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

