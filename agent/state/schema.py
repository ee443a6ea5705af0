"""The state DB schema, as numbered migrations applied in order (PRAGMA user_version).

Append a migration to change the schema; never edit one that has shipped, since agents in
the field have already applied it.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment TEXT NOT NULL,
        trigger TEXT NOT NULL,
        mode TEXT NOT NULL,
        status TEXT NOT NULL,
        revision TEXT,
        previous_revision TEXT,
        author TEXT,
        message TEXT,
        started_at REAL NOT NULL,
        finished_at REAL,
        stages TEXT NOT NULL DEFAULT '{}',
        report TEXT,
        error TEXT,
        superseded_by TEXT
    );
    CREATE INDEX runs_by_deployment ON runs (deployment, id);
    CREATE INDEX runs_by_status ON runs (status);

    CREATE TABLE host_results (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        host TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, host)
    );
    CREATE INDEX host_results_by_host ON host_results (host, run_id);

    CREATE TABLE applied (
        deployment TEXT PRIMARY KEY,
        revision TEXT,
        applied_at REAL,
        attempted_revision TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt_at REAL,
        last_error TEXT
    );

    CREATE TABLE suspended (
        deployment TEXT PRIMARY KEY,
        since REAL NOT NULL,
        reason TEXT NOT NULL DEFAULT ''
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        notifier TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        delivered_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox (notifier, id) WHERE delivered_at IS NULL;

    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # sync-window overrides and rollback pins
    """
    ALTER TABLE runs ADD COLUMN window_override TEXT;

    CREATE TABLE pins (
        deployment TEXT PRIMARY KEY,
        revision TEXT NOT NULL,
        head TEXT,
        since REAL NOT NULL
    );
    """,
    # 3: the commit whose rollout halted, which waits instead of being retried
    # (agent/daemon/rollout.py).
    """
    ALTER TABLE applied ADD COLUMN halted_revision TEXT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
