"""The agent's embedded state: run history, applied commits, suspensions, report outbox.

One SQLite file in WAL mode, so `pullinfra history` can read while the daemon writes. One
connection per StateDB, shared by the daemon's threads under a lock; every write is its own
short transaction, so a crash never leaves half a run recorded.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

from agent.state.rows import (
    RUN_STATUSES,
    TRIGGERS,
    AppliedRow,
    HostRow,
    OutboxItem,
    PinRow,
    RunRow,
)
from agent.state.schema import MIGRATIONS, SCHEMA_VERSION
from agent.vocab import RunStatus

DB_FILENAME = "state.db"
_DAY = 86400.0
_DISK_ERRORS = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


class StateError(Exception):
    """The state DB cannot be used (newer schema, not a database, unwritable)."""


class Retention(Protocol):
    """How much history to keep; `RetentionConfig` from the config satisfies this."""

    runs: int | None
    days: float | None


def _owner_only(directory: Path) -> None:
    """Create the state dir 0700 whatever the umask, and take group and other bits off one
    made before: it holds every exported commit of the deploy repository (group_data
    secrets included) and the hosts' known_hosts. A dir someone else owns (a volume's root
    with fsGroup) is left as it is; its contents are owner-only anyway."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = directory.stat()
    if found.st_uid == os.geteuid() and found.st_mode & 0o077:
        os.chmod(directory, 0o700)


class StateDB:
    """Open (creating or migrating) the SQLite file at `path`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        _owner_only(self.path.parent)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._lock = threading.RLock()
        self.write_error: str | None = None
        """Why the last write failed (a full disk), until a write succeeds again."""
        self._joined = False  # inside `atomically`: writes join its transaction
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.path}: cannot open the state DB: {exc}") from None

    @classmethod
    def in_state_dir(cls, state_dir: str | os.PathLike[str]) -> StateDB:
        """The agent's DB at its conventional place, `<state dir>/state.db`."""
        return cls(Path(state_dir) / DB_FILENAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # runs

    def start_run(self, deployment: str, trigger: str, mode: str, revision: str | None,
                  previous_revision: str | None = None, author: str | None = None,
                  message: str | None = None, started_at: float | None = None,
                  window_override: str | None = None) -> int:
        """Record a run as `running` before it touches any host; returns its id."""
        return self._insert_run(
            deployment=deployment, trigger=trigger, mode=mode, status=RunStatus.RUNNING,
            revision=revision, previous_revision=previous_revision, author=author,
            message=message, started_at=_now(started_at), window_override=window_override)

    def finish_run(self, run_id: int, status: str, report: Any = None,
                   stages: Mapping[str, float] | None = None, error: str | None = None,
                   finished_at: float | None = None) -> None:
        """Store the outcome, the full ChangeReport and one row per host from its `hosts`."""
        _check(status, RUN_STATUSES - {RunStatus.RUNNING}, "run status")
        document = _report_dict(report)
        if stages is None and document is not None:
            stages = document.get("stages") or {}
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, stages = ?, report = ?, "
                "error = ? WHERE id = ?",
                (status, _now(finished_at), json.dumps(dict(stages or {})),
                 json.dumps(document) if document is not None else None, error, run_id),
            ).rowcount
            if not updated:
                raise KeyError(f"no run {run_id}")
            db.execute("DELETE FROM host_results WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT OR REPLACE INTO host_results (run_id, host, status, error) "
                "VALUES (?, ?, ?, ?)",
                [(run_id, h["name"], h.get("status") or "unknown", h.get("error"))
                 for h in (document or {}).get("hosts") or [] if h.get("name")],
            )

    def mark_interrupted_runs(self, now: float | None = None) -> list[RunRow]:
        """Runs a crash left `running`: mark them interrupted and return them to re-run."""
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM runs WHERE status = ?",
                                               (RunStatus.RUNNING,))]
            db.executemany(
                "UPDATE runs SET status = ?, finished_at = ?, "
                "error = COALESCE(error, 'the agent stopped before the run finished') "
                "WHERE id = ?",
                [(RunStatus.INTERRUPTED, _now(now), run_id) for run_id in ids],
            )
            return [self._run(db, run_id) for run_id in ids]

    def record_superseded(self, deployment: str, trigger: str, mode: str, revision: str,
                          superseded_by: str, previous_revision: str | None = None,
                          author: str | None = None, message: str | None = None,
                          now: float | None = None) -> int:
        """Note a commit that a newer one overtook before it ran; it is never applied."""
        at = _now(now)
        return self._insert_run(
            deployment=deployment, trigger=trigger, mode=mode, status=RunStatus.SUPERSEDED,
            revision=revision, previous_revision=previous_revision, author=author,
            message=message, started_at=at, finished_at=at, superseded_by=superseded_by)

    def get_run(self, run_id: int) -> RunRow | None:
        with self._lock:
            return self._run(self._db, run_id)

    def list_runs(self, deployment: str | None = None, limit: int = 50,
                  status: str | None = None, reports: bool = True) -> list[RunRow]:
        """Newest first. `reports=False` leaves each row's report None: reading a long
        history of a big fleet's reports costs seconds (a rollback reads only revisions)."""
        where, args = _filters(deployment=deployment, status=status)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (*args, limit)
            ).fetchall()
        return [RunRow.from_row(r, report=reports) for r in rows]

    def run_revisions(self, deployment: str, limit: int) -> set[str | None]:
        """The revisions of the deployment's newest `limit` runs (reports left unread)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT revision FROM runs WHERE deployment = ? ORDER BY id DESC LIMIT ?",
                (deployment, limit),
            ).fetchall()
        return {r["revision"] for r in rows}

    def host_results(self, run_id: int) -> list[HostRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM host_results WHERE run_id = ? ORDER BY host", (run_id,)
            ).fetchall()
        return [HostRow(**dict(r)) for r in rows]

    # applied commits and retries

    def last_applied(self, deployment: str) -> str | None:
        state = self.applied_state(deployment)
        return state.revision if state else None

    def applied_state(self, deployment: str) -> AppliedRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM applied WHERE deployment = ?", (deployment,)
            ).fetchone()
        return AppliedRow(**dict(row)) if row else None

    def set_applied(self, deployment: str, revision: str, now: float | None = None) -> None:
        """`revision` is now applied; clears the retry state."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO applied (deployment, revision, applied_at, attempted_revision, "
                "attempts, last_attempt_at, last_error) VALUES (?, ?, ?, ?, 0, ?, NULL) "
                "ON CONFLICT (deployment) DO UPDATE SET revision = excluded.revision, "
                "applied_at = excluded.applied_at, attempted_revision = excluded.revision, "
                "attempts = 0, last_attempt_at = excluded.applied_at, last_error = NULL, "
                "halted_revision = NULL",
                (deployment, revision, _now(now), revision, _now(now)),
            )

    def record_attempt(self, deployment: str, revision: str, error: str | None = None,
                       now: float | None = None, halted: bool = False) -> int:
        """Count a failed attempt at `revision`; returns consecutive attempts at it.
        `halted`: its rollout halted, so it is not retried (any other failure clears that)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO applied (deployment, attempted_revision, attempts, last_attempt_at, "
                "last_error, halted_revision) VALUES (?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (deployment) DO UPDATE SET "
                "attempts = CASE WHEN attempted_revision = excluded.attempted_revision "
                "THEN attempts + 1 ELSE 1 END, attempted_revision = excluded.attempted_revision, "
                "last_attempt_at = excluded.last_attempt_at, last_error = excluded.last_error, "
                "halted_revision = excluded.halted_revision",
                (deployment, revision, _now(now), error, revision if halted else None),
            )
            row = db.execute("SELECT attempts FROM applied WHERE deployment = ?",
                             (deployment,)).fetchone()
            return int(row["attempts"])

    # rollback pins

    def pin(self, deployment: str, revision: str, head: str | None,
            now: float | None = None) -> None:
        """A rollback to `revision` while the branch head was `head`: polls leave it there
        until the head moves."""
        with self._transaction() as db:
            db.execute("INSERT INTO pins (deployment, revision, head, since) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (deployment) DO UPDATE SET revision = excluded.revision, "
                       "head = excluded.head, since = excluded.since",
                       (deployment, revision, head, _now(now)))

    def unpin(self, deployment: str) -> bool:
        """True when the deployment was pinned."""
        with self._transaction() as db:
            return db.execute("DELETE FROM pins WHERE deployment = ?",
                              (deployment,)).rowcount > 0

    def pinned(self, deployment: str) -> PinRow | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM pins WHERE deployment = ?",
                                   (deployment,)).fetchone()
        return PinRow(**dict(row)) if row else None

    # suspend / resume

    def suspend(self, name: str, reason: str = "", now: float | None = None) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO suspended (deployment, since, reason) "
                       "VALUES (?, ?, ?)", (name, _now(now), reason))

    def resume(self, name: str) -> bool:
        """True when `name` was suspended."""
        with self._transaction() as db:
            return db.execute("DELETE FROM suspended WHERE deployment = ?", (name,)).rowcount > 0

    def is_suspended(self, name: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM suspended WHERE deployment = ?",
                                    (name,)).fetchone() is not None

    def suspended(self) -> list[str]:
        with self._lock:
            return [r["deployment"] for r in
                    self._db.execute("SELECT deployment FROM suspended ORDER BY deployment")]

    # report outbox

    def outbox_put(self, notifier: str, payload: str | bytes | Mapping[str, Any],
                   now: float | None = None) -> int:
        """Queue a report for `notifier`, due at once; returns the item id (FIFO order)."""
        text = _payload_text(payload)
        at = _now(now)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO outbox (notifier, payload, created_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?)", (notifier, text, at, at))
            return int(cursor.lastrowid or 0)

    def outbox_due(self, now: float | None = None,
                   notifier: str | None = None) -> list[OutboxItem]:
        """The head (oldest pending item) of each notifier's queue, if it is due.

        Only heads are ever returned, so a report waiting for its retry holds back the
        reports behind it: receivers see them in order, across restarts too.
        """
        where = "AND o.notifier = ?" if notifier is not None else ""
        args = (notifier,) if notifier is not None else ()
        with self._lock:
            rows = self._db.execute(
                "SELECT o.* FROM outbox o JOIN (SELECT notifier, MIN(id) AS id FROM outbox "
                f"WHERE delivered_at IS NULL GROUP BY notifier) h ON o.id = h.id "
                f"WHERE o.next_attempt_at <= ? {where} ORDER BY o.id",
                (_now(now), *args),
            ).fetchall()
        return [OutboxItem.from_row(r) for r in rows]

    def outbox_done(self, item_id: int, now: float | None = None) -> None:
        """The item left the queue (delivered, or dropped for good by the sender)."""
        with self._transaction() as db:
            db.execute("UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                       (_now(now), item_id))

    def outbox_failed(self, item_id: int, next_at: float, error: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, "
                       "last_error = ? WHERE id = ?", (next_at, error[:2000], item_id))

    def outbox_depth(self, notifier: str | None = None) -> int:
        (row,) = self._undelivered("COUNT(*) AS n", notifier)
        return int(row["n"])

    def outbox_pending(self, notifier: str | None = None) -> list[OutboxItem]:
        return [OutboxItem.from_row(r) for r in self._undelivered("*", notifier, "ORDER BY id")]

    def _undelivered(self, columns: str, notifier: str | None, order: str = ""
                     ) -> list[sqlite3.Row]:
        where, args = _filters(notifier=notifier)
        where = f"{where} AND" if where else "WHERE"
        with self._lock:
            return self._db.execute(
                f"SELECT {columns} FROM outbox {where} delivered_at IS NULL {order}", args
            ).fetchall()

    # agent metadata

    def meta_get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def meta_set(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def write_problem(self) -> str | None:
        """Why writes fail, while they still do. After a failed write this tries a small one,
        so the answer (the agent's /healthz) clears once space is freed, not at the next run."""
        if self.write_error is not None:
            with suppress(StateError):
                self.meta_set("write_probe", str(time.time()))
        return self.write_error

    # retention

    def prune(self, retention: Retention, now: float | None = None) -> int:
        """Drop old finished runs and delivered reports; returns how many runs went.

        `runs` counts per deployment, so a busy deployment cannot push out the history of
        a quiet one. Running runs and undelivered reports are never pruned.
        """
        removed = 0
        with self._transaction() as db:
            if retention.runs is not None:
                removed += db.execute(
                    "DELETE FROM runs WHERE status != ? AND id IN (SELECT id FROM "
                    "(SELECT id, ROW_NUMBER() OVER (PARTITION BY deployment ORDER BY id DESC) "
                    "AS n FROM runs) WHERE n > ?)", (RunStatus.RUNNING, retention.runs)
                ).rowcount
            if retention.days is not None:
                cutoff = _now(now) - retention.days * _DAY
                removed += db.execute(
                    "DELETE FROM runs WHERE status != ? AND started_at < ?",
                    (RunStatus.RUNNING, cutoff)).rowcount
                db.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL "
                           "AND delivered_at < ?", (cutoff,))
        return removed

    # internals

    def _insert_run(self, **columns: Any) -> int:
        _check(columns["trigger"], TRIGGERS, "trigger")
        names = ", ".join(columns)  # the callers' keyword names: never user input
        marks = ", ".join("?" * len(columns))
        with self._transaction() as db:
            cursor = db.execute(f"INSERT INTO runs ({names}) VALUES ({marks})",
                                tuple(columns.values()))
            return int(cursor.lastrowid or 0)

    @contextmanager
    def atomically(self) -> Iterator[None]:
        """The writes made inside, on this thread, as one transaction: a crash keeps all of
        them or none (a finished run's row, what it applied, its queued reports)."""
        with self._transaction():
            self._joined = True
            try:
                yield
            finally:
                self._joined = False

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write. A full disk ends it as a StateError that says so; the connection stays
        usable, so writes work again once space is freed."""
        with self._lock:
            if self._joined:  # the lock is ours: the transaction is `atomically`'s
                yield self._db
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT leaves the transaction open (unless SQLite rolled it
                    # back itself): every later BEGIN would fail.
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _DISK_ERRORS:
                    raise
                self.write_error = f"cannot write the state DB {self.path}: {exc}"
                raise StateError(f"{self.write_error}; free space in {self.path.parent}"
                                 ) from exc
            self.write_error = None

    def _run(self, db: sqlite3.Connection, run_id: int) -> RunRow | None:
        row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRow.from_row(row) if row else None

    def _migrate(self) -> None:
        with self._transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"{self.path}: the state DB has schema v{version}, newer than this agent "
                    f"supports (v{SCHEMA_VERSION}); upgrade pullinfra or use another state dir"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")


def _statements(script: str) -> list[str]:
    """executescript() would commit our transaction; split and run statements inside it."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _check(value: str, allowed: frozenset[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")


def _now(value: float | None) -> float:
    return time.time() if value is None else value


def _filters(**equal: str | None) -> tuple[str, tuple[str, ...]]:
    used = {k: v for k, v in equal.items() if v is not None}
    if not used:
        return "", ()
    return "WHERE " + " AND ".join(f"{k} = ?" for k in used), tuple(used.values())


def _report_dict(report: Any) -> dict[str, Any] | None:
    """Accept a ChangeReport model, its JSON text, or a plain mapping."""
    if report is None:
        return None
    if hasattr(report, "model_dump"):
        return report.model_dump(mode="json")
    if isinstance(report, str | bytes):
        return json.loads(report)
    return dict(report)


def _payload_text(payload: str | bytes | Mapping[str, Any]) -> str:
    if isinstance(payload, bytes):
        return payload.decode()
    if isinstance(payload, str):
        return payload
    return json.dumps(payload)
