"""The source watcher: fetch the ref, back off while fetches fail, and say once per commit
that a fetched head was refused (force-pushed, or its signature did not verify).

The last accepted head stays the one deployments move to while fetches fail or are refused,
so the fleet keeps being reconciled on the last good commit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent.backoff import Backoff
from agent.daemon.policy import RefusedHead
from agent.metrics import Metrics
from agent.source import (
    FetchError,
    FetchResult,
    GitSource,
    NonFastForward,
    SourceError,
    VerificationFailed,
)
from agent.state import StateDB
from agent.vocab import Trigger

log = logging.getLogger(__name__)

# A refusal is reported under the trigger that found it; a timer's reconcile or a retry did
# not fetch, so the poll stands for them.
_REFUSAL_TRIGGERS = (Trigger.POLL, Trigger.WEBHOOK, Trigger.MANUAL)


class SourceWatcher:
    def __init__(self, source: GitSource, db: StateDB, metrics: Metrics, backoff: Backoff,
                 baseline: Callable[[], str | None]) -> None:
        self.source = source
        self._db = db
        self._metrics = metrics
        self._backoff = backoff
        self._baseline = baseline
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._reported: set[str] = set()
        self.head: FetchResult | None = None
        self.fetched_once = False
        self.last_failed = False

    def replace_source(self, source: GitSource) -> None:
        """A reloaded config with another [source]: start over from its first fetch."""
        with self._lock:
            self.source = source
            self.head = None

    def backing_off(self) -> bool:
        return time.monotonic() < self._not_before  # a wall clock set back stretches no wait

    def fetch(self, trigger: Trigger) -> RefusedHead | None:
        """Fetch; a good head becomes `head`, a failure keeps the last one. Returns the
        refusal to record when the fetched head was refused for the first time."""
        started = time.monotonic()
        source = self.source
        try:
            head = source.fetch(previous=self._baseline())
        except FetchError as exc:
            self._failed("failure", started)
            wait = self._backoff.failure()
            self._not_before = time.monotonic() + wait
            log.warning("fetch failed; backing off", extra={
                "source": source.display_url, "error": exc.message,
                "failures": self._backoff.failures, "retry_in_seconds": round(wait, 1),
                "keeps_reconciling": self.head.revision[:12] if self.head else "-"})
            return None
        except (NonFastForward, VerificationFailed) as exc:
            self._failed("rejected", started)
            self.fetched_once = True
            if isinstance(exc, VerificationFailed):
                self._metrics.count_verification_failure()
            return self._refusal(exc, trigger)
        except SourceError as exc:
            self._failed("failure", started)
            log.error("fetch failed", extra={"source": source.display_url,
                                             "error": exc.message})
            return None
        self._succeeded(head, started, trigger)
        return None

    def _failed(self, result: str, started: float) -> None:
        self._metrics.observe_fetch(result, time.monotonic() - started)
        self.last_failed = True

    def _succeeded(self, head: FetchResult, started: float, trigger: Trigger) -> None:
        now = time.time()
        self._metrics.observe_fetch("success", time.monotonic() - started, now=now)
        self._metrics.set_source_revision(head.revision)
        self._backoff.success()
        self._not_before = 0.0
        self.last_failed = False
        if self.head is None or self.head.revision != head.revision:
            log.info("fetched new commit", extra={
                "revision": head.revision[:12], "author": head.author, "commit": head.summary,
                "verified": head.verified, "forced": head.forced, "trigger": trigger})
        self.head = head
        self.fetched_once = True

    def _refusal(self, exc: NonFastForward | VerificationFailed, trigger: Trigger
                 ) -> RefusedHead | None:
        """The refusal to record, the first time this commit is refused (across restarts)."""
        sha = exc.new if isinstance(exc, NonFastForward) else exc.revision
        key = f"refused:{sha}"
        with self._lock:
            if sha in self._reported or self._db.meta_get(key):
                log.debug("head still refused", extra={"revision": sha[:12]})
                return None
            self._reported.add(sha)
            self._db.meta_set(key, str(time.time()))
        log.error("refusing the fetched head", extra={"revision": sha[:12],
                                                      "error": exc.message})
        return RefusedHead(sha, exc.message,
                           trigger if trigger in _REFUSAL_TRIGGERS else Trigger.POLL)
