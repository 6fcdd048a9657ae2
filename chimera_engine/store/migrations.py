"""Schema migrations, applied in order at start. ``PRAGMA user_version`` records the last one.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


_V1 = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at REAL NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    last_login REAL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_action ON audit(action);
CREATE INDEX audit_ts ON audit(ts);
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

_V2 = """
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
ALTER TABLE users ADD COLUMN password_changed_at REAL;
UPDATE users SET password_changed_at = created_at
"""

_V3 = """
CREATE TABLE module_versions (
    workspace TEXT NOT NULL,
    module TEXT NOT NULL,
    version INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at REAL NOT NULL,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    parent INTEGER,
    tools TEXT NOT NULL DEFAULT '[]',
    calls INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, module, version)
)
"""

_V4 = """
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    scopes TEXT NOT NULL DEFAULT '[]',
    rate_limit INTEGER,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    last_used_at REAL
);
CREATE TABLE capabilities (
    jti TEXT PRIMARY KEY,
    op TEXT NOT NULL,
    obj TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    single_use INTEGER NOT NULL,
    parent TEXT,
    revoked_at REAL,
    used_at REAL
)
"""

_V5 = """
CREATE TABLE patches (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    module TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    replay INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    diff TEXT NOT NULL,
    diff_hash TEXT NOT NULL,
    files TEXT NOT NULL,
    originals TEXT NOT NULL,
    tests TEXT NOT NULL,
    rationale TEXT NOT NULL DEFAULT '',
    risk TEXT NOT NULL DEFAULT 'low',
    result TEXT,
    reason TEXT NOT NULL DEFAULT '',
    applied_version INTEGER,
    decided_by TEXT NOT NULL DEFAULT '',
    signature TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX patches_state ON patches(state);
CREATE TABLE patch_events (
    id INTEGER PRIMARY KEY,
    patch_id INTEGER NOT NULL REFERENCES patches(id),
    ts REAL NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE patterns (
    id INTEGER PRIMARY KEY,
    patch_id INTEGER NOT NULL,
    module TEXT NOT NULL,
    signature TEXT NOT NULL,
    diff TEXT NOT NULL,
    tests TEXT NOT NULL,
    created_at REAL NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0
)
"""

_V6 = """
CREATE TABLE anomalies (
    id INTEGER PRIMARY KEY,
    metric TEXT NOT NULL,
    t REAL NOT NULL,
    value REAL NOT NULL,
    expected REAL NOT NULL,
    score REAL NOT NULL,
    kind TEXT NOT NULL,
    acknowledged_by TEXT NOT NULL DEFAULT '',
    acknowledged_at REAL
);
CREATE INDEX anomalies_t ON anomalies(t)
"""

# The swarm: swarm_tasks is the history and the queue (unfinished rows resume at start);
# swarm_results holds one result per idempotency key (its primary key), which makes
# at-least-once execution record each result once; swarm_attempts says which agent ran
# what, with which outcome; swarm_agents keeps each agent's lifetime and counters.
_V7 = """
CREATE TABLE IF NOT EXISTS swarm_tasks (
    id TEXT PRIMARY KEY,
    graph_id TEXT NOT NULL DEFAULT '',
    idem_key TEXT NOT NULL UNIQUE,
    tool TEXT,
    tool_version INTEGER,
    ran_version INTEGER,
    prompt TEXT,
    inputs TEXT NOT NULL,
    role TEXT NOT NULL,
    requires TEXT NOT NULL DEFAULT '[]',
    priority INTEGER NOT NULL DEFAULT 0,
    deadline REAL,
    redundancy INTEGER NOT NULL DEFAULT 1,
    consensus TEXT NOT NULL,
    depends_on TEXT NOT NULL DEFAULT '[]',
    timeout REAL,
    max_attempts INTEGER,
    retries INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    agent TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    error_code TEXT NOT NULL DEFAULT '',
    outcome TEXT,
    submitted_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS swarm_tasks_state ON swarm_tasks(state);
CREATE INDEX IF NOT EXISTS swarm_tasks_graph ON swarm_tasks(graph_id);
CREATE INDEX IF NOT EXISTS swarm_tasks_created ON swarm_tasks(created_at);
CREATE TABLE IF NOT EXISTS swarm_results (
    idem_key TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    value TEXT NOT NULL,
    agents TEXT NOT NULL DEFAULT '[]',
    recorded_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS swarm_attempts (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    replica INTEGER NOT NULL,
    agent TEXT NOT NULL,
    tool_version INTEGER,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    ms REAL
);
CREATE INDEX IF NOT EXISTS swarm_attempts_task ON swarm_attempts(task_id);
CREATE TABLE IF NOT EXISTS swarm_agents (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    capabilities TEXT NOT NULL DEFAULT '[]',
    concurrency INTEGER NOT NULL,
    backend TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    ready_at REAL,
    stopped_at REAL,
    completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    reputation REAL NOT NULL
)
"""

_V8 = """
ALTER TABLE patches ADD COLUMN derived_from INTEGER;
ALTER TABLE patches ADD COLUMN superseded_by INTEGER
"""

# Operator settings per metric key; thresholds is a JSON list, NULL = the defaults.
_V9 = """
CREATE TABLE IF NOT EXISTS metric_settings (
    metric TEXT PRIMARY KEY,
    detector TEXT NOT NULL,
    sensitivity REAL NOT NULL,
    thresholds TEXT,
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL
)
"""

# Session epochs: any change of a user's role, state or password (by any process)
# bumps that user's epoch and a database-wide users version that engines poll
# (a revoked, re-scoped or deleted API key moves that version too).
# Login throttles per (account, source) and the capability's issuing user.
_V11 = """
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;
INSERT OR IGNORE INTO meta(key, value) VALUES ('users_version', '0');
CREATE TRIGGER IF NOT EXISTS users_epoch AFTER UPDATE OF role, disabled, password_changed_at
ON users WHEN NEW.role IS NOT OLD.role OR NEW.disabled IS NOT OLD.disabled
OR NEW.password_changed_at IS NOT OLD.password_changed_at BEGIN
UPDATE users SET session_epoch = session_epoch + 1 WHERE id = NEW.id|
UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'users_version'| END;
CREATE TRIGGER IF NOT EXISTS users_version_insert AFTER INSERT ON users BEGIN
UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'users_version'| END;
CREATE TRIGGER IF NOT EXISTS users_version_delete AFTER DELETE ON users BEGIN
UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'users_version'| END;
CREATE TRIGGER IF NOT EXISTS api_keys_version_update AFTER UPDATE OF revoked_at, expires_at,
role, scopes ON api_keys BEGIN
UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'users_version'| END;
CREATE TRIGGER IF NOT EXISTS api_keys_version_change AFTER DELETE ON api_keys BEGIN
UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'users_version'| END;
CREATE TABLE IF NOT EXISTS login_throttles (
    account TEXT NOT NULL,
    source TEXT NOT NULL,
    failures INTEGER NOT NULL,
    next_allowed_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (account, source)
);
ALTER TABLE capabilities ADD COLUMN issuer_id INTEGER;
INSERT OR IGNORE INTO meta(key, value) SELECT 'audit_v2_from', COALESCE(MAX(seq), 0) + 1 FROM audit
"""


def _script_with_triggers(sql: str) -> Callable[[sqlite3.Connection], None]:
    """As :func:`_script`, where ``|`` ends a statement inside a trigger body."""

    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement.replace("|", ";"))

    return run


# Tool versions carry a judgement (served well or not) and when they went live; a
# module whose file was deleted is an event an operator decides on.
_V12 = """
ALTER TABLE module_versions ADD COLUMN verdict TEXT NOT NULL DEFAULT '';
ALTER TABLE module_versions ADD COLUMN activated_at REAL;
CREATE TABLE IF NOT EXISTS module_deletions (
    workspace TEXT NOT NULL,
    module TEXT NOT NULL,
    seen_at REAL NOT NULL,
    serving_version INTEGER,
    state TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at REAL,
    PRIMARY KEY (workspace, module, seen_at)
)
"""

# Every answer asked of a model for a patch, usable or not; NULL tokens = not reported.
_V14 = """
CREATE TABLE IF NOT EXISTS patch_attempts (
    id INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    run_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    ts REAL NOT NULL,
    module TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT '{}',
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    scripted INTEGER NOT NULL DEFAULT 0,
    prompt TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    verdict TEXT NOT NULL,
    ok INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost_usd REAL,
    latency_s REAL,
    patch_id INTEGER
);
CREATE INDEX IF NOT EXISTS patch_attempts_ts ON patch_attempts(workspace, ts);
CREATE INDEX IF NOT EXISTS patch_attempts_patch ON patch_attempts(patch_id)
"""

# Incidents: one per episode of a subject (a tool, an agent, else a metric); the
# anomalies of an episode point at it. resolved_by is "" while open, "auto" when
# the subject went back to normal, else the operator who closed it.
_V16 = """
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    opened_at REAL NOT NULL,
    last_at REAL NOT NULL,
    metrics TEXT NOT NULL,
    anomalies INTEGER NOT NULL DEFAULT 0,
    peak REAL NOT NULL DEFAULT 0,
    resolved_at REAL,
    resolved_by TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX incidents_episode ON incidents(subject, opened_at);
CREATE INDEX incidents_open ON incidents(resolved_at);
ALTER TABLE anomalies ADD COLUMN incident_id INTEGER
"""

MIGRATIONS: Sequence[Migration] = (
    Migration(1, "users, audit log and metadata", _script(_V1)),
    Migration(2, "token revocation list; password change time", _script(_V2)),
    Migration(3, "tool module versions", _script(_V3)),
    Migration(4, "API keys and capability tokens", _script(_V4)),
    Migration(5, "patch review queue and learned patterns", _script(_V5)),
    Migration(6, "anomalies and their acknowledgements", _script(_V6)),
    Migration(7, "swarm tasks, results, attempts and agents", _script(_V7)),
    Migration(8, "patch lineage: derived_from and superseded_by", _script(_V8)),
    Migration(9, "per-metric detector, sensitivity and thresholds", _script(_V9)),
    Migration(
        11, "session epochs, login throttles, capability issuers", _script_with_triggers(_V11)
    ),
    Migration(12, "tool version verdicts; module deletions", _script(_V12)),
    Migration(14, "every generation attempt of a patch", _script(_V14)),
    Migration(16, "incidents: anomalies grouped per episode", _script(_V16)),
)


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> list[int]:
    """Apply every migration newer than the database, each in its own transaction.

    Returns the versions applied. Raises ``RuntimeError`` if the database is newer
    than this program knows.
    """
    current = schema_version(conn)
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise RuntimeError(
            f"database schema version {current} is newer than this program supports ({latest})"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            migration.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
