"""The swarm's tables, as one migration (register it after the last engine migration).

``swarm_tasks`` is the history and the queue (unfinished rows are resumed at
start); ``swarm_results`` holds at most one result per idempotency key (its
primary key), which is what makes at-least-once execution record each result
once; ``swarm_attempts`` says which agent ran what, with which outcome;
``swarm_agents`` keeps every agent's lifetime and counters. The statements are
idempotent (``IF NOT EXISTS``), so registering the migration twice does no harm.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chimera_engine.store.migrations import Migration

SWARM_MIGRATION_DESCRIPTION = "swarm tasks, results, attempts and agents"

SWARM_MIGRATION_SQL = """
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


def apply_swarm_schema(conn: sqlite3.Connection) -> None:
    """Run :data:`SWARM_MIGRATION_SQL` statement by statement (inside the caller's transaction)."""
    for statement in SWARM_MIGRATION_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


def swarm_migration(version: int) -> Migration:
    """The swarm migration numbered ``version`` (6 when registered after the patch tables)."""
    return Migration(version, SWARM_MIGRATION_DESCRIPTION, apply_swarm_schema)


def with_swarm(migrations: Sequence[Migration]) -> tuple[Migration, ...]:
    """``migrations`` plus the swarm migration, unless one of them already creates it."""
    if any(m.description == SWARM_MIGRATION_DESCRIPTION for m in migrations):
        return tuple(migrations)
    latest = migrations[-1].version if migrations else 0
    return (*migrations, swarm_migration(latest + 1))
