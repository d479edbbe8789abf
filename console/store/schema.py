"""The console database's schema: its tables, their version, and the version check."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stilalarm.console.store.files import StoreError, unreadable_message

SCHEMA_VERSION = 1
TABLES = ("meta", "events", "received", "incidents", "units", "outbox", "rejects")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    incident_id TEXT,
    unit_id TEXT,
    person_id TEXT,
    event_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_incident ON events (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_unit ON events (unit_id) WHERE unit_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_kind ON events (kind, at);
CREATE TABLE IF NOT EXISTS received (
    event_id TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    incident_id TEXT,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    status TEXT NOT NULL,
    level INTEGER NOT NULL,
    pressed_at TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    presses INTEGER NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    resolved_by TEXT,
    resolved_at TEXT,
    call_101 INTEGER NOT NULL,
    registration TEXT,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    unit_id TEXT PRIMARY KEY,
    online INTEGER,
    since TEXT,
    boot_id TEXT,
    faults TEXT NOT NULL,
    health TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    person_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at) WHERE delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS rejects (reason TEXT PRIMARY KEY, count INTEGER NOT NULL, last_at TEXT NOT NULL);
"""


def schema_version(db: sqlite3.Connection, path: Path) -> str | None:
    """The stored schema version; None for a database without tables. Raises StoreError for a
    file that is not a SQLite database or a database that is not the console's."""
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise StoreError(
                unreadable_message(path, f"not a console database (tables: {', '.join(sorted(tables))})")
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(unreadable_message(path, f"not a readable SQLite database ({exc})")) from None
    if row is None:
        raise StoreError(unreadable_message(path, "a console database without a schema version"))
    version = str(row[0])
    if not version.isdigit() or int(version) > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this alarm-console ({SCHEMA_VERSION}); "
            "install the newer release (a downgrade cannot read it)"
        )
    return version
