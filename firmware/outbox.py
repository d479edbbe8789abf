"""The durable outbox: every event is on disk (fsync'd) before it is sent.

SQLite in WAL mode with `synchronous=FULL`: a committed append survives a power
cut or SIGKILL. Rows stay until the console's `Receipt` for their event id arrives
(then they are deleted). The per-unit sequence number lives in its own table, so it
keeps increasing across restarts even when the outbox is empty.

One file can hold the outboxes of many units (`unit_id` column): a Pi has one
unit per file, the simulator shares one file between all its units.

Bound (policy, documented in docs/FIRMWARE.md): receipted rows are deleted at
once. When a unit has `max_pending` or more unreceipted events, a new fault or
fault_cleared event replaces the older unreceipted fault / fault_cleared events of
the same input and fault kind (only the newest state of that input is kept).
Alarms, tests and pager acknowledgements are never dropped or coalesced: they are
always stored, whatever the count. Heartbeats and status are never in the outbox.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stilalarm.wire.messages import EventKind, UnitEvent

DEFAULT_MAX_PENDING = 500
_COALESCIBLE = (EventKind.FAULT.value, EventKind.FAULT_CLEARED.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seqs (
    unit_id  TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    unit_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    button_id  TEXT,
    fault      TEXT,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_unit ON events (unit_id, seq);
"""


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written; the message says what to check."""


@dataclass(frozen=True)
class Stored:
    """An unreceipted event and how often it was transmitted so far."""

    event: UnitEvent
    attempts: int


@dataclass(frozen=True)
class Appended:
    """Result of an append: the stored event and the ids it replaced (coalesced faults)."""

    event: UnitEvent
    coalesced: tuple[uuid.UUID, ...] = ()


class Outbox:
    """A durable, bounded store of unreceipted events (thread-safe)."""

    def __init__(self, path: str | Path, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.path = Path(path)
        self.max_pending = max_pending
        self._lock = threading.RLock()
        self._batch = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"{self.path}: SQLite refused WAL mode ({mode}); use a local file system")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(
                f"{self.path}: cannot open the outbox ({exc}); check that the state directory is "
                "writable and the disk is not full"
            ) from exc

    def close(self) -> None:
        """Close the file (everything committed is already on disk)."""
        with self._lock:
            self._db.close()

    # -- writing ------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: every append in the block joins one transaction, fsync'd once at its end.

        Appends return before they are durable: the caller must not let an event leave the machine
        before the block ends (alarm-web runs the block on its event loop, whose socket writes come
        after). The lock is held throughout, so other threads wait. Raises what the commit raises;
        then nothing of the block is on disk."""
        with self._lock:
            if self._batch:
                self._batch += 1
                try:
                    yield
                finally:
                    self._batch -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._batch = 1
            try:
                yield
            except BaseException:
                self._batch = 0
                self._db.execute("ROLLBACK")
                raise
            self._batch = 0
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def append(self, unit_id: str, build: Callable[[int], UnitEvent]) -> Appended:
        """Allocate the unit's next sequence number, build the event with it and store it durably.

        Returns only after the commit is fsync'd (inside `batch()`: at the end of the block).
        """
        with self._lock:
            db = self._db
            db.execute("SAVEPOINT append" if self._batch else "BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT next_seq FROM seqs WHERE unit_id = ?", (unit_id,)).fetchone()
                seq = int(row[0]) if row else 1
                db.execute(
                    "INSERT INTO seqs (unit_id, next_seq) VALUES (?, ?) "
                    "ON CONFLICT (unit_id) DO UPDATE SET next_seq = excluded.next_seq",
                    (unit_id, seq + 1),
                )
                ev = build(seq)
                if ev.unit_id != unit_id or ev.seq != seq:
                    raise ValueError("the built event must carry the given unit id and sequence number")
                coalesced: tuple[uuid.UUID, ...] = ()
                if ev.kind.value in _COALESCIBLE:
                    coalesced = self._coalesce(unit_id, ev)
                db.execute(
                    "INSERT INTO events (event_id, unit_id, seq, kind, button_id, fault, body, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        str(ev.event_id),
                        unit_id,
                        seq,
                        ev.kind.value,
                        ev.button_id,
                        ev.fault.value if ev.fault else None,
                        ev.model_dump_json(),
                        time.time(),
                    ),
                )
                db.execute("RELEASE append" if self._batch else "COMMIT")
            except BaseException:
                db.execute("ROLLBACK TO append" if self._batch else "ROLLBACK")
                if self._batch:
                    db.execute("RELEASE append")
                raise
            return Appended(ev, coalesced)

    def _coalesce(self, unit_id: str, ev: UnitEvent) -> tuple[uuid.UUID, ...]:
        (depth,) = self._db.execute("SELECT COUNT(*) FROM events WHERE unit_id = ?", (unit_id,)).fetchone()
        if depth < self.max_pending:
            return ()
        rows = self._db.execute(
            "SELECT event_id FROM events WHERE unit_id = ? AND kind IN (?, ?) "
            "AND button_id IS ? AND fault IS ?",
            (unit_id, *_COALESCIBLE, ev.button_id, ev.fault.value if ev.fault else None),
        ).fetchall()
        ids = tuple(uuid.UUID(r[0]) for r in rows)
        self._db.executemany("DELETE FROM events WHERE event_id = ?", [(str(i),) for i in ids])
        return ids

    def mark_sent(self, event_id: uuid.UUID, attempts: int) -> None:
        """Record how often an event was transmitted (so attempt numbers continue after a restart).

        A diagnostic only, so written without an fsync of its own (the next durable
        commit carries it): it never delays a transmission.
        """
        with self._lock:
            if self._batch:  # joins the batch's transaction, fsync'd with it
                self._db.execute(
                    "UPDATE events SET attempts = ? WHERE event_id = ?", (attempts, str(event_id))
                )
                return
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute(
                    "UPDATE events SET attempts = ? WHERE event_id = ?", (attempts, str(event_id))
                )
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def receipt(self, unit_id: str, event_id: uuid.UUID) -> UnitEvent | None:
        """The console stored `event_id`: remove it. Returns the event, or None if unknown."""
        with self._lock:
            row = self._db.execute(
                "DELETE FROM events WHERE event_id = ? AND unit_id = ? RETURNING body",
                (str(event_id), unit_id),
            ).fetchone()
        return UnitEvent.model_validate_json(row[0]) if row else None

    # -- reading ------------------------------------------------------------------
    def pending(self, unit_id: str) -> list[Stored]:
        """Every unreceipted event of the unit, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body, attempts FROM events WHERE unit_id = ? ORDER BY seq", (unit_id,)
            ).fetchall()
        return [Stored(UnitEvent.model_validate_json(b), int(a)) for b, a in rows]

    def depth(self, unit_id: str) -> int:
        """How many events of the unit are unreceipted."""
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM events WHERE unit_id = ?", (unit_id,)).fetchone()
        return int(n)

    def next_seq(self, unit_id: str) -> int:
        """The sequence number the unit's next event will get."""
        with self._lock:
            row = self._db.execute("SELECT next_seq FROM seqs WHERE unit_id = ?", (unit_id,)).fetchone()
        return int(row[0]) if row else 1
