"""Rollout waves: a new commit goes to a deployment's hosts wave by wave, each judged by its
failure threshold and then its health gates before the next one starts (docs/rollout.md).

The runner (agent/daemon/runner.py) hands in how to run the engine on a set of hosts and how
to roll hosts back; this module decides the waves, their order and when to stop, and says
what happened as the report's `rollout` section. It keeps no state between runs: a halt is
recorded by the outcome funnel from the report (agent/daemon/outcomes.py).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.config.models import GateConfig, RolloutConfig, WaveConfig
from agent.daemon.gates import GateContext, GateResult, check_gate
from agent.engine.connectors.host_keys import HostKeyPolicy
from agent.engine.inventory import Inventory
from agent.engine.result import RunResult
from agent.report.model import GateOutcome, RolledBack, Rollout, WaveOutcome
from agent.vocab import FAILED_STATUSES, GateStatus, HostStatus, RunStatus, WaveStatus

log = logging.getLogger(__name__)

REST = "rest"
"""The name of the final wave that takes the hosts no configured wave took."""
_DOWN = (HostStatus.FAILED, HostStatus.UNREACHABLE)


@dataclass(frozen=True)
class Wave:
    name: str
    hosts: tuple[str, ...]
    config: WaveConfig | None
    """None for the implicit last wave of left-over hosts."""


@dataclass(frozen=True)
class RolloutParts:
    """What a rollout needs from the run around it."""

    deployment: str
    revision: str
    inventory: Inventory
    run: Callable[[Inventory], RunResult]
    """The engine on these hosts (a deploy that fails to load: every host failed)."""
    roll_back: Callable[[tuple[str, ...]], RolledBack]
    """Put these hosts back on the last applied commit."""
    clock: Callable[[], float]
    sleep: Callable[[float], bool]
    """Wait; False when the agent is stopping."""
    host_keys: HostKeyPolicy
    """The run's host key policy, for gates that reach the hosts."""


@dataclass
class RolloutOutcome:
    results: list[RunResult]
    """The engine's result of each wave that ran, in order."""
    rollout: Rollout
    interrupted: bool = False


def plan_waves(config: RolloutConfig, inventory: Inventory) -> list[Wave]:
    """The waves over the hosts of this run (this shard's, within the deployment's limit).
    Percentages are of the hosts no earlier wave took, rounded up, in inventory order, so
    the same hosts lead every commit. Hosts left after the last wave make a wave "rest"."""
    remaining = [h.name for h in inventory.hosts]
    waves: list[Wave] = []
    for number, wave in enumerate(config.waves, start=1):
        taken = _select(wave, remaining, inventory)
        waves.append(Wave(wave.name or f"wave {number}", tuple(taken), wave))
        remaining = [h for h in remaining if h not in taken]
    if remaining:
        waves.append(Wave(REST, tuple(remaining), None))
    return waves


def _select(wave: WaveConfig, remaining: list[str], inventory: Inventory) -> list[str]:
    if wave.group is not None:
        return [h for h in remaining if wave.group in inventory.get(h).groups]
    if wave.hosts is not None:
        return [h for h in remaining if h in wave.hosts]
    count = math.ceil(len(remaining) * (wave.percent or 0) / 100)
    return remaining[:count]


def allowed_failures(wave: WaveConfig | None, hosts: int) -> int:
    """How many of the wave's hosts may fail with the rollout going on."""
    if wave is None:
        return 0
    if wave.max_failed_percent is not None:
        return math.floor(hosts * wave.max_failed_percent / 100)
    return wave.max_failed_hosts or 0


def run_rollout(config: RolloutConfig, parts: RolloutParts) -> RolloutOutcome:
    """Run the waves in order until one fails; then halt (and roll back, if configured)."""
    waves = plan_waves(config, parts.inventory)
    done = RolloutOutcome([], Rollout())
    for index, wave in enumerate(waves):
        if not wave.hosts:
            done.rollout.waves.append(WaveOutcome(name=wave.name, status=WaveStatus.SKIPPED))
            continue
        outcome, reason = _run_wave(config, parts, wave, done)
        done.rollout.waves.append(outcome)
        if done.interrupted:  # not a halt: the run is interrupted and runs again
            done.rollout.reason = (f"the agent stopped during wave {wave.name}; the commit "
                                   "runs again, from the first wave, at its next start")
            _not_reached(done.rollout, waves[index + 1:])
            break
        if reason is None:
            continue
        log.warning("rollout halted", extra={"deployment": parts.deployment, "wave": wave.name,
                                             "reason": reason})
        done.rollout.halted, done.rollout.halted_at = True, wave.name
        done.rollout.reason = reason
        if config.on_failure == "rollback":
            rolled = parts.roll_back(wave.hosts)
            done.rollout.rolled_back = rolled
            if rolled.status is not None and rolled.status not in FAILED_STATUSES | {
                    RunStatus.INTERRUPTED}:
                outcome.status = WaveStatus.ROLLED_BACK
        _not_reached(done.rollout, waves[index + 1:])
        break
    return done


def _run_wave(config: RolloutConfig, parts: RolloutParts, wave: Wave, done: RolloutOutcome
              ) -> tuple[WaveOutcome, str | None]:
    """Run one wave and judge it: the outcome, and why it halts the rollout (None: it
    passed)."""
    subset = parts.inventory.only(wave.hosts)
    log.info("rollout wave started", extra={"deployment": parts.deployment, "wave": wave.name,
                                            "hosts": len(wave.hosts)})
    result = parts.run(subset)
    done.results.append(result)
    outcome = WaveOutcome(name=wave.name, hosts=list(wave.hosts), status=WaveStatus.FAILED)
    if result.aborted == RunStatus.INTERRUPTED:
        done.interrupted = True
        return outcome, None
    failed = [h.name for h in result.hosts if h.status in _DOWN]
    allowed = allowed_failures(wave.config, len(wave.hosts))
    if len(failed) > allowed or (result.aborted and not failed):
        return outcome, _threshold_reason(wave, failed, allowed, result.aborted)
    pause = wave.config.pause if wave.config is not None else 0.0
    if pause and not parts.sleep(pause):
        done.interrupted = True
        return outcome, None
    gates = (*(wave.config.gates if wave.config is not None else ()), *config.gates)
    context = GateContext(
        deployment=parts.deployment, wave=wave.name, hosts=wave.hosts,
        inventory=parts.inventory, revision=parts.revision, clock=parts.clock,
        sleep=parts.sleep, failures=lambda: _failures(done.results), gates=gates,
        host_keys=parts.host_keys)
    for gate in gates:
        result_of_gate = _check(gate, context)
        passed = result_of_gate.passed
        outcome.gates.append(GateOutcome(
            gate=result_of_gate.gate, status=GateStatus.PASSED if passed else GateStatus.FAILED,
            detail=result_of_gate.detail or None,
            duration_seconds=round(result_of_gate.duration_seconds, 6)))
        if not passed:
            return outcome, f"gate {result_of_gate.gate} failed: {result_of_gate.detail}"
    outcome.status = WaveStatus.PASSED
    return outcome, None


def _check(gate: GateConfig, context: GateContext) -> GateResult:
    """A gate that raises fails (the agent must outlive any gate)."""
    try:
        return check_gate(gate, context)
    except Exception as exc:
        log.exception("gate check failed on an internal error",
                      extra={"deployment": context.deployment, "wave": context.wave})
        kind = getattr(gate, "type", "gate")
        return GateResult(gate=str(kind), passed=False,
                          detail=f"internal error: {type(exc).__name__}", duration_seconds=0.0)


def _threshold_reason(wave: Wave, failed: Sequence[str], allowed: int,
                      aborted: str | None) -> str:
    if not failed:
        return f"wave {wave.name} stopped: {aborted}"
    names = ", ".join(failed[:5]) + (", ..." if len(failed) > 5 else "")
    return (f"{len(failed)} of {len(wave.hosts)} hosts of wave {wave.name} failed ({names}); "
            f"it allows {allowed}")


def _failures(results: Sequence[RunResult]) -> int:
    return sum(h.status in _DOWN for r in results for h in r.hosts)


def _not_reached(rollout: Rollout, waves: Sequence[Wave]) -> None:
    rollout.waves += [WaveOutcome(name=w.name, hosts=list(w.hosts),
                                  status=WaveStatus.HALTED if w.hosts else WaveStatus.SKIPPED)
                      for w in waves]


def merged(results: Sequence[RunResult], fallback: RunResult) -> RunResult:
    """One result for the run: every wave's hosts, stage times added up."""
    if not results:
        return fallback
    stages: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.stages.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    aborted = next((r.aborted for r in results if r.aborted == RunStatus.INTERRUPTED), None)
    return dataclasses.replace(
        results[0], finished_at=results[-1].finished_at, stages=stages,
        hosts=[h for r in results for h in r.hosts],
        operations=[o for r in results for o in r.operations],
        aborted=aborted or next((r.aborted for r in results if r.aborted), None),
        callback_errors=[e for r in results for e in r.callback_errors])
