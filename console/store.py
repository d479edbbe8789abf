"""SQLite store: the append-only event log, projections, the notification outbox.

Tables (schema version 1):

- `events`     the log: one row per fact (`console.facts`), never updated; deleted only by the
                retention purge (`console.retention`, `alarm-console purge`).
- `received`   every accepted unit event once, by `event_id` (idempotency; raw payload kept).
- `incidents`  projection: one row per incident (all of them, also after retention).
- `units`      projection: one row per unit (online, faults, last health).
- `outbox`     notifications created with their fact; `delivered_at` set once a channel confirmed.
- `rejects`    counts of refused messages per reason.

Writes happen in ONE thread (the service's writer) in one transaction per batch;
WAL with `synchronous=FULL` makes a commit durable before receipts go out.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.engine import Incident
from console.facts import Fact, column, fact_json, parse_fact
from console.retention import PurgePlan
from console.supervision import UnitsState

SCHEMA_VERSION = 1
_Q16 = ", ".join("?" * 16)

_SCHEMA = """
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


@dataclass(frozen=True)
class OutboxRow:
    """One notification for one channel, stored with the fact that created it."""

    notification_id: uuid.UUID
    channel: str
    person_id: str
    topic: str
    payload: bytes
    created_at: datetime


@dataclass
class Batch:
    """Everything one group commit writes."""

    facts: list[Fact] = field(default_factory=list)
    received: list[tuple[str, str, str, str, str | None, bytes]] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    units: dict[str, tuple[int | None, str | None, str | None, str, str]] = field(default_factory=dict)
    outbox: list[OutboxRow] = field(default_factory=list)
    delivered: list[tuple[str, str, str]] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (
            self.facts
            or self.received
            or self.incidents
            or self.units
            or self.outbox
            or self.delivered
            or self.rejects
        )


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.isoformat()


def incident_row(i: Incident) -> tuple[Any, ...]:
    """The `incidents` projection row of an incident."""
    return (
        i.id,
        i.unit_id,
        i.room_id,
        i.team_id,
        i.status.value,
        i.level,
        i.pressed_at.isoformat(),
        i.stored_at.isoformat(),
        i.presses,
        i.acknowledged_by,
        _iso(i.acknowledged_at),
        i.resolved_by,
        _iso(i.resolved_at),
        int(i.call_101),
        i.registration.model_dump_json() if i.registration else None,
        i.to_wire().model_dump_json(),
    )


def unit_row(s: UnitsState, unit_id: str) -> tuple[int | None, str | None, str | None, str, str]:
    """The `units` projection row of a unit (without the id)."""
    r = s.units[unit_id]
    return (
        None if r.online is None else int(r.online),
        _iso(r.since),
        None if r.boot_id is None else str(r.boot_id),
        json.dumps(sorted(r.faults)),
        s.health(unit_id).model_dump_json(),
    )


class Store:
    """The console's database. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise FileNotFoundError(
                    f"{self.path}: no console database; give --db or start `alarm-console serve`"
                )
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            self.db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    # -- reading -------------------------------------------------------------
    def facts(self) -> Iterator[Fact]:
        """Every fact, in log order."""
        for (data,) in self.db.execute("SELECT data FROM events ORDER BY seq"):
            yield parse_fact(data)

    def numbered_facts(self) -> Iterator[tuple[int, Fact]]:
        """Every fact with its log `seq`, in log order (for the retention purge)."""
        for seq, data in self.db.execute("SELECT seq, data FROM events ORDER BY seq"):
            yield int(seq), parse_fact(data)

    def fact_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM events").fetchone()[0])

    def received(self, event_id: uuid.UUID) -> tuple[bool, str | None]:
        """(already stored, incident id) for a unit event id."""
        row = self.db.execute(
            "SELECT incident_id FROM received WHERE event_id = ?", (str(event_id),)
        ).fetchone()
        return (False, None) if row is None else (True, row[0])

    def received_many(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """{event id: incident id} for those of `event_ids` already stored."""
        found: dict[uuid.UUID, str | None] = {}
        for start in range(0, len(event_ids), 500):
            chunk = [str(e) for e in event_ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT event_id, incident_id FROM received WHERE event_id IN ({marks})", chunk
            )
            found.update({uuid.UUID(r[0]): r[1] for r in rows})
        return found

    def undelivered(self) -> list[OutboxRow]:
        """Notifications recorded but never confirmed by their channel (re-sent on start)."""
        rows = self.db.execute(
            "SELECT notification_id, channel, person_id, topic, payload, created_at FROM outbox "
            "WHERE delivered_at IS NULL ORDER BY created_at"
        ).fetchall()
        return [
            OutboxRow(uuid.UUID(r[0]), r[1], r[2], r[3], bytes(r[4]), datetime.fromisoformat(r[5]))
            for r in rows
        ]

    def incidents(self, *, open_only: bool = False) -> list[dict[str, Any]]:
        """Incident projection rows, newest first."""
        where = "WHERE status != 'resolved'" if open_only else ""
        rows = self.db.execute(f"SELECT * FROM incidents {where} ORDER BY stored_at DESC").fetchall()
        return [dict(r) for r in rows]

    def units(self) -> list[dict[str, Any]]:
        """Unit projection rows, by id."""
        return [dict(r) for r in self.db.execute("SELECT * FROM units ORDER BY unit_id").fetchall()]

    def rejects(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT reason, count FROM rejects")}

    def incident_facts(self, incident_id: str) -> list[Fact]:
        """The log of one incident."""
        rows = self.db.execute("SELECT data FROM events WHERE incident_id = ? ORDER BY seq", (incident_id,))
        return [parse_fact(r[0]) for r in rows]

    # -- writing ---------------------------------------------------------------
    def commit(self, b: Batch, now: datetime) -> None:
        """Write a whole batch in one transaction (one fsync with synchronous=FULL)."""
        if b.empty():
            return
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if b.facts:
                db.executemany(
                    "INSERT INTO events (at, kind, incident_id, unit_id, person_id, event_id, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            f.at.isoformat(),
                            f.kind,
                            column(f, "incident_id"),
                            column(f, "unit_id"),
                            column(f, "person_id"),
                            column(f, "event_id"),
                            fact_json(f),
                        )
                        for f in b.facts
                    ],
                )
            if b.received:
                db.executemany("INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?, ?)", b.received)
            if b.incidents:
                db.executemany(
                    f"INSERT OR REPLACE INTO incidents VALUES ({_Q16})",
                    [incident_row(i) for i in b.incidents.values()],
                )
            if b.units:
                db.executemany(
                    "INSERT OR REPLACE INTO units VALUES (?, ?, ?, ?, ?, ?)",
                    [(uid, *row) for uid, row in b.units.items()],
                )
            if b.outbox:
                db.executemany(
                    "INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    [
                        (
                            str(o.notification_id),
                            o.channel,
                            o.person_id,
                            o.topic,
                            o.payload,
                            o.created_at.isoformat(),
                        )
                        for o in b.outbox
                    ],
                )
            if b.delivered:
                db.executemany(
                    "UPDATE outbox SET delivered_at = ? WHERE notification_id = ? AND channel = ?",
                    b.delivered,
                )
            for reason, n in b.rejects.items():
                db.execute(
                    "INSERT INTO rejects VALUES (?, ?, ?) ON CONFLICT (reason) DO UPDATE SET "
                    "count = count + excluded.count, last_at = excluded.last_at",
                    (reason, n, now.isoformat()),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def purge(self, plan: PurgePlan, *, dry_run: bool = False) -> dict[str, int]:
        """Delete what `plan` names, in ONE transaction (rolled back on `dry_run`).

        The one exception to the append-only log (see `console.retention`). Deleted pages are
        overwritten (`secure_delete`) and the WAL is truncated afterwards, so the data is gone
        from the file too. Returns the rows removed from the other tables."""
        db = self.db
        db.execute("PRAGMA secure_delete=ON")
        sup = plan.supervision_before.isoformat() if plan.supervision_before else ""
        db.execute("BEGIN IMMEDIATE")
        try:
            seqs = sorted(plan.seqs)
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                db.execute(f"DELETE FROM events WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            rows = {"received": 0, "outbox": 0, "incidents": 0}
            for start in range(0, len(plan.incidents), 500):
                ids = list(plan.incidents[start : start + 500])
                marks = ",".join("?" * len(ids))
                rows["received"] += db.execute(
                    f"DELETE FROM received WHERE incident_id IN ({marks})", ids
                ).rowcount
                rows["incidents"] += db.execute(
                    f"DELETE FROM incidents WHERE incident_id IN ({marks}) AND status = 'resolved'", ids
                ).rowcount
            if sup:
                rows["received"] += db.execute("DELETE FROM received WHERE at < ?", (sup,)).rowcount
                rows["outbox"] += db.execute("DELETE FROM outbox WHERE created_at < ?", (sup,)).rowcount
            db.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if not dry_run:
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError:
                pass  # busy (a reader): the next checkpoint drops the old pages
        return rows

    def replace_projections(self, incidents: Sequence[Incident], units: UnitsState) -> None:
        """Rewrite the projection tables (after a rebuild from the log)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM incidents")
            db.execute("DELETE FROM units")
            db.executemany(
                f"INSERT INTO incidents VALUES ({_Q16})",
                [incident_row(i) for i in incidents],
            )
            db.executemany(
                "INSERT INTO units VALUES (?, ?, ?, ?, ?, ?)",
                [(uid, *unit_row(units, uid)) for uid in units.units],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
