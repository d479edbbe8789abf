"""The fan-out process's attempt journal: attempt ids that never repeat, also across a crash.

Before each attempt on e-mail or Apprise, the fan-out process writes "attempt n of
(notification, channel) started" to its own small SQLite file next to the console database
(fsync'd: `synchronous=FULL`), and the attempt's outcome when it has one. Not the console
database: the alarm path's writer never waits for a lock held by the fan-out process.

After a crash, an attempt that started without an outcome was interrupted: it is reported as
failed ("interrupted: fan-out process restarted"), and the next attempt of the message gets
the next number. A message that already got its final outcome (delivered, gave up) is not
sent again when the service hands it over once more; its outcome is reported again instead.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from stilalarm.console.delivery.channel import Channel, Clock, Delivery, DeliveryOutcome, OutcomeStatus
from stilalarm.console.store.files import create_private_file, make_private, make_private_dirs, sidecars
from stilalarm.inventory.people import ChannelKind, Person
from stilalarm.wire.messages import Notification

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: fan-out process restarted"
"""The reason of an attempt that a crash or kill of the fan-out process cut short."""
KEEP_DAYS = 7
"""Finished messages stay in the journal this long (a resubmission later is sent as new)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    person_id TEXT NOT NULL,
    incident_id TEXT,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (notification_id, channel, attempt)
);
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (state) WHERE state = 'started';
CREATE TABLE IF NOT EXISTS finals (
    notification_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    person_id TEXT NOT NULL,
    incident_id TEXT,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (notification_id, channel)
);
"""

Key = tuple[uuid.UUID, str]


def journal_path(db_path: Path) -> Path:
    """The journal beside the console database: `console.db` -> `console.fanout.db`."""
    return db_path.with_name(f"{db_path.stem}.fanout.db")


@dataclass(frozen=True)
class History:
    """What the journal knows of one (notification, channel)."""

    last: int  # the highest attempt number used (0: none)
    interrupted: int  # attempts cut short by a restart
    final: DeliveryOutcome | None  # delivered or gave up


class Journal:
    """The attempt journal (thread-safe: the workers' attempt threads and the outcome callback)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            make_private_dirs(path.parent)
            create_private_file(path)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        for side in sidecars(path):
            make_private(side)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def recover(self, now: datetime) -> list[DeliveryOutcome]:
        """Mark every attempt that started without an outcome as interrupted; their `failed`
        outcomes (to report). Forgets finished messages older than KEEP_DAYS."""
        with self._lock:
            rows = self.db.execute(
                "SELECT notification_id, channel, attempt, person_id, incident_id FROM attempts "
                "WHERE state = 'started' ORDER BY at"
            ).fetchall()
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE attempts SET state = 'interrupted' WHERE state = 'started'")
            old = (now - timedelta(days=KEEP_DAYS)).isoformat()
            self.db.execute(
                "DELETE FROM attempts WHERE (notification_id, channel) IN "
                "(SELECT notification_id, channel FROM finals WHERE at < ?)",
                (old,),
            )
            self.db.execute("DELETE FROM finals WHERE at < ?", (old,))
            self.db.execute("COMMIT")
        return [
            DeliveryOutcome(uuid.UUID(r[0]), r[4], r[3], r[1], r[2], OutcomeStatus.FAILED, INTERRUPTED, now)
            for r in rows
        ]

    def history(self, key: Key) -> History:
        nid, channel = str(key[0]), key[1]
        with self._lock:
            last, interrupted = self.db.execute(
                "SELECT coalesce(max(attempt), 0), coalesce(sum(state = 'interrupted'), 0) FROM attempts "
                "WHERE notification_id = ? AND channel = ?",
                (nid, channel),
            ).fetchone()
            f = self.db.execute(
                "SELECT person_id, incident_id, attempt, status, reason, at FROM finals "
                "WHERE notification_id = ? AND channel = ?",
                (nid, channel),
            ).fetchone()
        final = None
        if f is not None:
            at = datetime.fromisoformat(f[5])
            final = DeliveryOutcome(key[0], f[1], f[0], channel, f[2], OutcomeStatus(f[3]), f[4], at)
        return History(int(last), int(interrupted), final)

    def started(self, item: Delivery, attempt: int, now: datetime) -> None:
        """Attempt `attempt` of `item` starts now (durable before the caller sends)."""
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, 'started', ?)",
                (
                    str(item.notification_id),
                    item.channel,
                    attempt,
                    item.person_id,
                    item.incident_id,
                    now.isoformat(),
                ),
            )

    def outcome(self, o: DeliveryOutcome) -> None:
        """Record an attempt's outcome, and the message's final one (delivered, gave up)."""
        nid = str(o.notification_id)
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "UPDATE attempts SET state = ? WHERE notification_id = ? AND channel = ? AND attempt = ? "
                "AND state = 'started'",
                (o.status.value, nid, o.channel, o.attempt),
            )
            if o.status is not OutcomeStatus.FAILED:
                self.db.execute(
                    "INSERT OR REPLACE INTO finals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        nid,
                        o.channel,
                        o.person_id,
                        o.incident_id,
                        o.attempt,
                        o.status.value,
                        o.reason,
                        o.at.isoformat(),
                    ),
                )
            self.db.execute("COMMIT")


class JournaledChannel:
    """A channel whose every attempt is journaled before it is sent, with its id in what is sent.

    The attempt numbers follow the worker's: both continue from the journal's last number
    (`resume`), and the worker calls `send` once per attempt."""

    def __init__(self, inner: Channel, journal: Journal, clock: Clock) -> None:
        self.inner = inner
        self.journal = journal
        self._clock = clock
        self._last: dict[Key, int] = {}
        self._lock = threading.Lock()

    @property
    def kind(self) -> ChannelKind:
        return self.inner.kind

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def durable(self) -> bool:
        return self.inner.durable

    @property
    def attempt_timeout_s(self) -> float:
        return self.inner.attempt_timeout_s

    @property
    def self_bounded(self) -> bool:
        return self.inner.self_bounded

    def applies(self, notification: Notification, person: Person) -> bool:
        return self.inner.applies(notification, person)

    def address(self, person: Person) -> str:
        return self.inner.address(person)

    def resume(self, key: Key, last: int) -> None:
        """The next attempt of `key` is number `last + 1`."""
        with self._lock:
            self._last[key] = last

    def forget(self, key: Key) -> None:
        with self._lock:
            self._last.pop(key, None)

    def send(self, item: Delivery) -> None:
        key = (item.notification_id, item.channel)
        with self._lock:
            n = self._last.get(key, 0) + 1
            self._last[key] = n
        try:
            self.journal.started(item, n, self._clock.now())
        except sqlite3.Error as exc:  # fail open: send anyway (its id may repeat after a crash)
            log.error("cannot journal attempt %d of %s on %s (%s); sending anyway", n, key[0], key[1], exc)
        self.inner.send(replace(item, attempt_id=f"{item.notification_id}/{n}"))
