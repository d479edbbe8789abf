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

The database holds personal data: it, its `-wal`/`-shm` files and backups are created
0600 (missing parent directories 0700) whatever the caller's umask. A missing or empty
database is never created silently (`init=True`, from `serve --init` or `db init`, does),
and a database that cannot be read stops start-up with a `StoreError` that names the
file, what is wrong and how to recover. `check` and `backup` serve `alarm-console db
check` and `alarm-console backup`.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from console.core.engine import Incident
from console.core.supervision import UnitsState
from console.facts import Fact, column, fact_json, parse_fact
from console.retention import PurgePlan

log = logging.getLogger("console.store")

SCHEMA_VERSION = 1
FILE_MODE = 0o600
"""The database, its -wal/-shm files and backups: owner only (personal data)."""
DIR_MODE = 0o700
"""Directories the store creates for them."""
_TABLES = ("meta", "events", "received", "incidents", "units", "outbox", "rejects")
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

    def extend(self, later: Batch) -> None:
        """Append a later batch (the service holds batches it could not store, in order)."""
        self.facts += later.facts
        self.received += later.received
        self.incidents.update(later.incidents)
        self.units.update(later.units)
        self.outbox += later.outbox
        self.delivered += later.delivered
        for reason, n in later.rejects.items():
            self.rejects[reason] = self.rejects.get(reason, 0) + n

    def merged(self, later: Batch) -> Batch:
        """A new batch with this one's content followed by `later`'s (neither is changed)."""
        out = Batch(
            list(self.facts),
            list(self.received),
            dict(self.incidents),
            dict(self.units),
            list(self.outbox),
            list(self.delivered),
            dict(self.rejects),
        )
        out.extend(later)
        return out

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


# --------------------------------------------------------------------------- errors and files


class StoreError(Exception):
    """The database cannot be used as it is. The message names the file, says what is wrong
    and how to recover; `alarm-console serve` prints it and exits without a traceback."""


class StoreMissing(StoreError, FileNotFoundError):
    """There is no database file (or it is empty) and nobody asked to initialise one."""


def _how_to_recover(path: Path) -> str:
    return (
        f"To recover: stop the service, keep the damaged file aside (mv {path} {path}.damaged), restore "
        "the newest backup (`alarm-console backup`, see hardware/installation.md) to "
        f"{path}, and check it with `alarm-console db check --db {path}`."
    )


def _missing_message(path: Path, what: str) -> str:
    return (
        f"{path}: {what}. The console refuses to start an empty event log on its own: the history "
        "and the incident numbering would be lost without a word. If the log should be there, "
        f"restore the newest backup to {path} (see hardware/installation.md). On a new "
        f"installation only, create it once with `alarm-console db init --db {path}` "
        "(or `alarm-console serve --init`)."
    )


def _unreadable_message(path: Path, what: str) -> str:
    return f"{path}: {what}. {_how_to_recover(path)}"


def file_state(path: Path) -> str:
    """'missing', 'empty' (0 bytes and no write-ahead log with data) or 'present'."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "missing"
    if size > 0:
        return "present"
    wal = Path(f"{path}-wal")
    return "present" if wal.exists() and wal.stat().st_size > 0 else "empty"


def make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents 0700 (whatever the umask); leave existing ones."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for m in reversed(missing):
        try:
            m.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(m, DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 (whatever the umask); an existing one is made private."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        make_private(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def make_private(path: Path) -> None:
    """Take group and other permissions off an existing file (a log written under an old umask)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & ~0o077)
        except PermissionError:
            log.warning("%s is readable by others (mode %o) and this user cannot change it", path, mode)
            return
        log.warning("%s was readable by others (mode %o); made it owner-only (personal data)", path, mode)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return Path(f"{path}-wal"), Path(f"{path}-shm")


def _schema_version(db: sqlite3.Connection, path: Path) -> str | None:
    """The stored schema version; None for a database without tables. Raises StoreError for a
    file that is not a SQLite database or a database that is not the console's."""
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if "meta" not in tables:
            raise StoreError(
                _unreadable_message(path, f"not a console database (tables: {', '.join(sorted(tables))})")
            )
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreError(_unreadable_message(path, f"not a readable SQLite database ({exc})")) from None
    if row is None:
        raise StoreError(_unreadable_message(path, "a console database without a schema version"))
    version = str(row[0])
    if not version.isdigit() or int(version) > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this alarm-console ({SCHEMA_VERSION}); "
            "install the newer release (a downgrade cannot read it)"
        )
    return version


def _parse(path: Path, seq: int, kind: str, data: str | bytes) -> Fact:
    try:
        return parse_fact(data)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()
        why = " ".join(first[:3])[:300]
        raise StoreError(
            _unreadable_message(path, f"fact #{seq} ({kind}) in the event log cannot be read: {why}")
        ) from None


class Store:
    """The console's database. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path | str, *, readonly: bool = False, init: bool = False) -> None:
        """Open the console database. `readonly`: for views and reports (never writes).
        Otherwise a missing or empty database is refused (`StoreMissing`) unless `init`, which
        creates it (0600, parent directories 0700). A file that is not a console database raises
        `StoreError`."""
        self.path = Path(path)
        state = file_state(self.path)
        if readonly:
            if state == "missing":
                raise StoreMissing(
                    f"{self.path}: no console database; give --db or start `alarm-console serve`"
                )
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            try:
                if _schema_version(self.db, self.path) is None:
                    raise StoreMissing(_missing_message(self.path, "the console database is empty"))
            except StoreError:
                self.db.close()
                raise
        else:
            if state != "present" and not init:
                what = (
                    "no console database" if state == "missing" else "the console database is empty (0 bytes)"
                )
                raise StoreMissing(_missing_message(self.path, what))
            if state == "missing":
                make_private_dirs(self.path.parent)
                create_private_file(self.path)
            else:
                make_private(self.path)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                self._open_for_writing(init)
            except BaseException:
                self.db.close()
                raise
        self.db.row_factory = sqlite3.Row

    def _open_for_writing(self, init: bool) -> None:
        db = self.db
        try:
            version = _schema_version(db, self.path)
            if version is None and not init:
                raise StoreMissing(_missing_message(self.path, "the console database has no tables (empty)"))
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not set(_TABLES) <= have:  # a new database (or an older one missing a table)
                db.executescript(_SCHEMA)
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                _unreadable_message(self.path, f"cannot be opened for writing ({exc})")
            ) from None
        for side in _sidecars(self.path):
            make_private(side)

    def close(self) -> None:
        self.db.close()

    # -- reading -------------------------------------------------------------
    def facts(self) -> Iterator[Fact]:
        """Every fact, in log order. A row that cannot be read raises `StoreError` (naming it)."""
        for _seq, fact in self.numbered_facts():
            yield fact

    def numbered_facts(self) -> Iterator[tuple[int, Fact]]:
        """Every fact with its log `seq`, in log order (for the retention purge)."""
        try:
            for seq, kind, data in self.db.execute("SELECT seq, kind, data FROM events ORDER BY seq"):
                yield int(seq), _parse(self.path, seq, kind, data)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                _unreadable_message(self.path, f"the event log cannot be read ({exc})")
            ) from None

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
        try:
            rows = self.db.execute(
                "SELECT notification_id, channel, person_id, topic, payload, created_at FROM outbox "
                "WHERE delivered_at IS NULL ORDER BY created_at"
            ).fetchall()
            return [
                OutboxRow(uuid.UUID(r[0]), r[1], r[2], r[3], bytes(r[4]), datetime.fromisoformat(r[5]))
                for r in rows
            ]
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:
            raise StoreError(
                _unreadable_message(self.path, f"the notification outbox cannot be read ({exc})")
            ) from None

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
        rows = self.db.execute(
            "SELECT seq, kind, data FROM events WHERE incident_id = ? ORDER BY seq", (incident_id,)
        )
        return [_parse(self.path, r[0], r[1], r[2]) for r in rows]

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
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Roll back the open transaction, if any. SQLite rolls back by itself on some errors
        (SQLITE_FULL on a full disk): a second ROLLBACK would raise "cannot rollback - no
        transaction is active" and hide the real error."""
        if not self.db.in_transaction:
            return
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            log.error("rollback failed after a failed write (%s); the transaction is abandoned", exc)

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
            self._rollback()
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
            self._rollback()
            raise


# --------------------------------------------------------------------------- check and backup


@dataclass
class CheckReport:
    """What `check` found: `problems` is empty for a healthy database."""

    path: Path
    problems: list[str] = field(default_factory=list)
    facts: int = 0
    bad_facts: int = 0
    incidents: int = 0
    schema_version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def check(path: Path, *, max_listed: int = 20) -> CheckReport:
    """Check a console database without changing it: SQLite's `integrity_check`, the schema,
    and that every fact row of the event log parses. Raises `StoreMissing` if there is no file."""
    path = Path(path)
    state = file_state(path)
    if state == "missing":
        raise StoreMissing(f"{path}: no such file")
    rep = CheckReport(path)
    if state == "empty":
        rep.problems.append("the file is empty (0 bytes): no event log")
        return rep
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        try:
            rep.schema_version = _schema_version(db, path)
        except StoreError as exc:
            rep.problems.append(str(exc).split(". To recover")[0])
            return rep
        if rep.schema_version is None:
            rep.problems.append("the database has no tables: no event log")
            return rep
        try:
            integrity = [str(r[0]) for r in db.execute("PRAGMA integrity_check(100)")]
        except sqlite3.DatabaseError as exc:
            integrity = [str(exc)]
        if integrity != ["ok"]:
            rep.problems += [f"integrity: {line}" for line in integrity]
        try:
            for seq, kind, data in db.execute("SELECT seq, kind, data FROM events ORDER BY seq"):
                rep.facts += 1
                try:
                    parse_fact(data)
                except (ValidationError, ValueError) as exc:
                    rep.bad_facts += 1
                    if rep.bad_facts <= max_listed:
                        why = " ".join(str(exc).splitlines()[:3])[:200]
                        rep.problems.append(f"fact #{seq} ({kind}) cannot be read: {why}")
            rep.incidents = int(db.execute("SELECT count(*) FROM incidents").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            rep.problems.append(f"reading the event log failed after {rep.facts} facts: {exc}")
        if rep.bad_facts > max_listed:
            rep.problems.append(f"... and {rep.bad_facts - max_listed} more unreadable fact(s)")
        return rep
    finally:
        db.close()


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where, and what it holds."""

    path: Path
    facts: int
    incidents: int
    size: int


def backup(source: Path, dest: Path) -> BackupResult:
    """Copy a (live) console database to `dest` with SQLite's online backup API.

    Safe while `serve` writes: the copy is one consistent snapshot (one backup step under a
    read transaction; in WAL mode readers never block the writer). The copy is a single
    self-contained file (rollback journal mode), written 0600 to a temporary name, checked
    (`quick_check`), synced and then renamed over `dest`. Raises `StoreError` if the source
    cannot be read or the copy does not check out (then nothing is left at `dest`)."""
    source, dest = Path(source), Path(dest)
    if file_state(source) != "present":
        raise StoreMissing(f"{source}: no console database to back up (missing or empty)")
    make_private_dirs(dest.parent)
    tmp = dest.with_name(f".{dest.name}.partial")
    for leftover in (tmp, *_sidecars(tmp), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    create_private_file(tmp)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        if _schema_version(src, source) is None:
            raise StoreMissing(f"{source}: the console database is empty; nothing to back up")
        out = sqlite3.connect(tmp)
        try:
            src.backup(out)  # pages=-1: the whole database in one step = one snapshot
            out.execute("PRAGMA journal_mode=DELETE")
            verdict = out.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise StoreError(
                    f"{dest}: the backup of {source} does not check out ({verdict}); none written"
                )
            facts = int(out.execute("SELECT count(*) FROM events").fetchone()[0])
            incidents = int(out.execute("SELECT count(*) FROM incidents").fetchone()[0])
        finally:
            out.close()
    except sqlite3.DatabaseError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(_unreadable_message(source, f"cannot be backed up ({exc})")) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    fd = os.open(tmp, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    dfd = os.open(dest.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return BackupResult(dest, facts, incidents, dest.stat().st_size)
