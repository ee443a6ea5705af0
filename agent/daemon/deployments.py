"""One run at a time per deployment, and at most one queued follow-up.

A trigger that arrives while a deployment is running does not start a second run and is not
lost: it becomes the single follow-up, which runs once the current run ends. More triggers
during the same run fold into that one follow-up (keeping the most specific trigger), so a
burst of pushes or polls never stacks up runs. The follow-up decides what to run only when it
starts, from the newest commit known then; commits in between are recorded as superseded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from agent.state import StateError
from agent.vocab import Trigger

log = logging.getLogger(__name__)

RequestKind = Trigger
# When triggers fold into one follow-up, the most specific one names it.
# A rollback names its commit and is never folded away; a manual override keeps its reason.
_PRIORITY: dict[Trigger, int] = {Trigger.RECONCILE: 0, Trigger.POLL: 1, Trigger.RETRY: 2,
                                 Trigger.WEBHOOK: 3, Trigger.MANUAL: 4, Trigger.ROLLBACK: 5}


@dataclass(frozen=True)
class Request:
    """Why a deployment should be looked at; what to run is decided when it starts."""

    kind: RequestKind
    revision: str | None = None
    """For `retry` after a crash: the commit the interrupted run was on; for `rollback`: the
    commit to go back to."""
    override_window: str | None = None
    """A manual run outside the deployment's sync windows: the operator's reason."""

    def merged(self, other: Request) -> Request:
        if _PRIORITY[other.kind] != _PRIORITY[self.kind]:
            return other if _PRIORITY[other.kind] > _PRIORITY[self.kind] else self
        # The same kind: the newer rollback's commit, and an override's reason, win.
        newer = other.kind == Trigger.ROLLBACK or other.override_window is not None
        return other if newer else self


SubmitResult = Literal["started", "queued", "refused"]


class DeploymentSlot:
    """The run lock of one deployment: `submit` starts a worker or queues the follow-up."""

    def __init__(self, name: str, work: Callable[[str, Request], None]) -> None:
        self.name = name
        self._work = work
        self._mu = threading.Lock()
        self._running = False
        self._pending: Request | None = None
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def pending(self) -> Request | None:
        return self._pending

    def submit(self, request: Request) -> SubmitResult:
        with self._mu:
            if self._closed:
                return "refused"
            if self._running:
                self._pending = request if self._pending is None else self._pending.merged(request)
                return "queued"
            self._running = True
            self._idle.clear()
            self._thread = threading.Thread(target=self._loop, args=(request,),
                                            name=f"pullinfra-run-{self.name}", daemon=True)
            self._thread.start()
            return "started"

    def close(self) -> None:
        """Refuse new work and drop the follow-up (shutdown); a run in flight goes on."""
        with self._mu:
            self._closed = True
            self._pending = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def _loop(self, request: Request) -> None:
        while True:
            try:
                self._work(self.name, request)
            except StateError as exc:  # a full state dir: no traceback, the error says it all
                log.error("deployment not run: its state cannot be written",
                          extra={"deployment": self.name, "error": str(exc)})
            except Exception:  # a bug in one run must not wedge the deployment for good
                log.exception("run worker failed", extra={"deployment": self.name})
            with self._mu:
                if self._pending is None or self._closed:
                    self._pending = None
                    self._running = False
                    self._idle.set()
                    return
                request, self._pending = self._pending, None


class Slots:
    """The slots of every configured deployment, kept in step with the config."""

    def __init__(self, work: Callable[[str, Request], None]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._slots: dict[str, DeploymentSlot] = {}

    def sync(self, names: Iterable[str]) -> None:
        """Slots for exactly these deployments; a removed one finishes its run and ends."""
        wanted = set(names)
        with self._lock:
            for name in [n for n in self._slots if n not in wanted]:
                self._slots.pop(name).close()
            for name in wanted - set(self._slots):
                self._slots[name] = DeploymentSlot(name, self._work)

    def submit(self, name: str, request: Request) -> SubmitResult:
        with self._lock:
            slot = self._slots.get(name)
        return slot.submit(request) if slot is not None else "refused"

    def close(self) -> list[str]:
        """Refuse new work everywhere; the deployments still running."""
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            slot.close()
        return [s.name for s in slots if s.running]

    def wait_stopped(self, timeout: float) -> bool:
        """Whether every run ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            slots = list(self._slots.values())
        return all(s.wait_idle(max(0.0, deadline - time.monotonic())) for s in slots)

    def idle(self) -> bool:
        with self._lock:
            return all(not s.running and s.pending is None for s in self._slots.values())
