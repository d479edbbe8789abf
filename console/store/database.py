"""`Store`: the console's database. Opening it (refusing a missing or foreign one), reading the
log and the projections, writing a batch in one transaction, the retention purge."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from stilalarm.console.core.engine import Incident
from stilalarm.console.core.supervision import UnitsState
from stilalarm.console.facts import Fact, parse_fact
from stilalarm.console.retention import PurgePlan
from stilalarm.console.store.files import (
    StoreError,
    StoreMissing,
    create_private_file,
    file_state,
    make_private,
    make_private_dirs,
    missing_message,
    sidecars,
    unreadable_message,
)
from stilalarm.console.store.records import (
    LogSlow,
    PurgeRecord,
    Replica,
    Rows,
    StepDown,
    decode,
    encode,
    encode_purge,
    rows_of,
)
from stilalarm.console.store.rows import Batch, OutboxRow, incident_row, unit_row
from stilalarm.console.store.schema import SCHEMA, SCHEMA_VERSION, TABLES, schema_version

log = logging.getLogger("stilalarm.console.store")
_Q16 = ", ".join("?" * 16)
T = TypeVar("T")


def _parse(path: Path, seq: int, kind: str, data: str | bytes) -> Fact:
    try:
        return parse_fact(data)
    except (ValidationError, ValueError) as exc:
        first = str(exc).splitlines()
        why = " ".join(first[:3])[:300]
        raise StoreError(
            unreadable_message(path, f"fact #{seq} ({kind}) in the event log cannot be read: {why}")
        ) from None


def plan_of(r: PurgeRecord) -> PurgePlan:
    """The part of a purge plan a purge record carries (what `Store.purge` deletes)."""
    return PurgePlan(
        seqs=frozenset(r.seqs),
        incidents=r.incidents,
        notifications=r.notifications,
        supervision_before=datetime.fromisoformat(r.supervision_before) if r.supervision_before else None,
    )


def snapshot_of(path: Path) -> tuple[int, bytes]:
    """(log seq, a compacted copy of the database at `path` at it): `VACUUM INTO` a private file
    beside it, so no deleted row survives in the copy's free pages. Safe while a writer writes (WAL).
    StoreError when it cannot be made."""
    tmp = path.with_name(f".{path.name}.snapshot-{uuid.uuid4().hex}")
    try:
        create_private_file(tmp)  # 0600 before a byte is written; VACUUM INTO takes an empty file
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            src.execute("VACUUM INTO ?", (str(tmp),))
        finally:
            src.close()
        data = tmp.read_bytes()
        with contextlib.closing(sqlite3.connect(":memory:")) as mem:
            mem.deserialize(data)
            row = mem.execute("SELECT value FROM meta WHERE key = 'log_seq'").fetchone()
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot make a snapshot ({exc}); check the disk and the file") from None
    finally:
        tmp.unlink(missing_ok=True)
    return (0 if row is None else int(row[0])), data


class Store:
    """The console's database. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path | str, *, readonly: bool = False, init: bool = False) -> None:
        """Open the console database. `readonly`: for views and reports (never writes).
        Otherwise a missing or empty database is refused (`StoreMissing`) unless `init`, which
        creates it (0600, parent directories 0700). A file that is not a console database raises
        `StoreError`."""
        self.path = Path(path)
        self.replica: Replica | None = None
        """The active console's replicated log (docs/HA.md); None: this database alone."""
        self._unconfirmed: tuple[bytes, Callable[[int], object], object] | None = None
        """A record the log has not confirmed yet (LogSlow): its bytes, how to write it here once
        it is, and the batch or purge plan it came from."""
        state = file_state(self.path)
        if readonly:
            if state == "missing":
                raise StoreMissing(
                    f"{self.path}: no console database; give --db or start `alarm-console serve`"
                )
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            try:
                if schema_version(self.db, self.path) is None:
                    raise StoreMissing(missing_message(self.path, "the console database is empty"))
            except StoreError:
                self.db.close()
                raise
        else:
            if state != "present" and not init:
                what = (
                    "no console database" if state == "missing" else "the console database is empty (0 bytes)"
                )
                raise StoreMissing(missing_message(self.path, what))
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
            version = schema_version(db, self.path)
            if version is None and not init:
                raise StoreMissing(missing_message(self.path, "the console database has no tables (empty)"))
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not set(TABLES) <= have:  # a new database (or an older one missing a table)
                db.executescript(SCHEMA)
                db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.DatabaseError as exc:
            raise StoreError(unreadable_message(self.path, f"cannot be opened for writing ({exc})")) from None
        for side in sidecars(self.path):
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
            raise StoreError(unreadable_message(self.path, f"the event log cannot be read ({exc})")) from None

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
                unreadable_message(self.path, f"the notification outbox cannot be read ({exc})")
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
        """Write a whole batch in one transaction (one fsync with synchronous=FULL).

        With a `replica` (the active console of a cluster, docs/HA.md) the batch is first appended
        to the replicated log and then committed here; `StepDown` when the log refuses it, or when
        this database cannot store what the log now holds (the other console takes over).
        `LogSlow` when the log has not confirmed it yet: commit the same batch object again (the
        writer keeps it held) to learn the outcome; a record still unconfirmed goes first."""
        if self._unconfirmed is not None:
            record, write, owner = self._unconfirmed
            assert self.replica is not None
            seq = self.replica.append(record)  # LogSlow: still not confirmed
            self._unconfirmed = None
            self._logged(write, seq, "record")
            if owner is b:
                return
        if b.empty():
            return
        rows = rows_of(b, now)
        if self.replica is None:
            self._write(rows, None)
            return
        self._append(encode(rows), lambda seq: self._write(rows, seq), b, "record")

    def _append(self, record: bytes, write: Callable[[int], T], owner: object, what: str) -> T:
        """Append `record` to the log, then `write` it here with its sequence (see `commit`)."""
        assert self.replica is not None
        self._unconfirmed = (record, write, owner)
        seq = self.replica.append(record)  # LogSlow: kept in _unconfirmed, tried again on commit
        self._unconfirmed = None
        return self._logged(write, seq, what)

    def _logged(self, write: Callable[[int], T], seq: int, what: str) -> T:
        try:
            return write(seq)
        except sqlite3.Error as exc:
            raise StepDown(f"the log has {what} {seq} but {self.path} cannot store it ({exc})") from exc

    def apply(self, seq: int, record: bytes) -> None:
        """Write a record read from the replicated log (a standby), with its sequence, in one
        transaction. A record already applied (`seq` not after `log_seq()`) is skipped."""
        if seq <= self.log_seq():
            return
        r = decode(record)
        if isinstance(r, PurgeRecord):
            present = self._present(r.seqs)
            if present != len(r.seqs):  # a projection of the same log has the same sequences
                log.error(
                    "purge record %d names %d fact(s), %d of them are in %s: this database differs from "
                    "the active console's; stop this console, move the database aside and start it again "
                    "(it is rebuilt from the log or its snapshot)",
                    seq,
                    len(r.seqs),
                    present,
                    self.path,
                )
            self.purge(plan_of(r), log_seq=seq)
        else:
            self._write(r, seq)

    def purge_logged(self, plan: PurgePlan, now: datetime) -> dict[str, int]:
        """The retention purge of a cluster's active console: appended to the replicated log first
        (every console applies the same purge), then done here. Without a replica: `purge`."""
        if self.replica is None:
            return self.purge(plan)
        if self._unconfirmed is not None:
            raise LogSlow("the log has not confirmed an earlier record yet; the next run purges")
        r = PurgeRecord(
            at=now.isoformat(),
            seqs=tuple(sorted(plan.seqs)),
            incidents=plan.incidents,
            notifications=plan.notifications,
            supervision_before=plan.supervision_before.isoformat() if plan.supervision_before else "",
        )
        return self._append(
            encode_purge(r), lambda seq: self.purge(plan_of(r), log_seq=seq), plan, "purge record"
        )

    def snapshot(self) -> tuple[int, bytes]:
        """(log seq, a compacted copy of this database at it): see `snapshot_of`."""
        return snapshot_of(self.path)

    def restore(self, data: bytes) -> int:
        """Replace this database's content with a snapshot's (`snapshot`); its log seq. A snapshot that
        is not a console database of this schema raises StoreError and changes nothing."""
        mem = sqlite3.connect(":memory:")
        try:
            try:
                mem.deserialize(data)
                version = schema_version(mem, Path("snapshot"))
                row = mem.execute("SELECT value FROM meta WHERE key = 'log_seq'").fetchone()
            except (sqlite3.DatabaseError, StoreError) as exc:
                why = str(exc).split(". To recover")[0]
                raise StoreError(
                    f"the log's snapshot is not a console database ({why}); nothing was restored. The "
                    "active console stores a new snapshot at its next retention run (--ha-retention-every)"
                ) from None
            if version != str(SCHEMA_VERSION) or row is None:
                raise StoreError(
                    f"the snapshot has schema {version} and log seq {row}, this console needs schema "
                    f"{SCHEMA_VERSION} and a log seq: run the same stilalarm version on every console"
                )
            self.db.execute("PRAGMA secure_delete=ON")
            mem.backup(self.db)
        finally:
            mem.close()
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass
        return self.log_seq()

    def _present(self, seqs: Sequence[int]) -> int:
        """How many of the facts `seqs` are in the event log."""
        n = 0
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            n += int(
                self.db.execute(f"SELECT count(*) FROM events WHERE seq IN ({marks})", chunk).fetchone()[0]
            )
        return n

    def log_seq(self) -> int:
        """The sequence of the last replicated-log record in this database (0: none)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'log_seq'").fetchone()
        return 0 if row is None else int(row[0])

    def _write(self, r: Rows, log_seq: int | None) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            if r.events:
                db.executemany(
                    "INSERT INTO events (at, kind, incident_id, unit_id, person_id, event_id, data) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    r.events,
                )
            if r.received:
                db.executemany("INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?, ?)", r.received)
            if r.incidents:
                db.executemany(f"INSERT OR REPLACE INTO incidents VALUES ({_Q16})", r.incidents)
            if r.units:
                db.executemany("INSERT OR REPLACE INTO units VALUES (?, ?, ?, ?, ?, ?)", r.units)
            if r.outbox:
                db.executemany("INSERT OR IGNORE INTO outbox VALUES (?, ?, ?, ?, ?, ?, NULL)", r.outbox)
            if r.delivered:
                db.executemany(
                    "UPDATE outbox SET delivered_at = ? WHERE notification_id = ? AND channel = ?",
                    r.delivered,
                )
            for reason, n in r.rejects.items():
                db.execute(
                    "INSERT INTO rejects VALUES (?, ?, ?) ON CONFLICT (reason) DO UPDATE SET "
                    "count = count + excluded.count, last_at = excluded.last_at",
                    (reason, n, r.at),
                )
            if log_seq is not None:
                self._set_log_seq(log_seq)
            db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _set_log_seq(self, seq: int) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('log_seq', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(seq),),
        )

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

    def purge_size(self, plan: PurgePlan) -> int:
        """How many rows `purge(plan)` would delete at least (read-only: a view may ask)."""
        n = len(plan.seqs) + len(plan.notifications)
        if plan.supervision_before is not None:
            sup = plan.supervision_before.isoformat()
            for sql in (
                "SELECT count(*) FROM received WHERE at < ?",
                "SELECT count(*) FROM outbox WHERE created_at < ?",
            ):
                n += int(self.db.execute(sql, (sup,)).fetchone()[0])
        return n

    def purge(self, plan: PurgePlan, *, dry_run: bool = False, log_seq: int | None = None) -> dict[str, int]:
        """Delete what `plan` names, in ONE transaction (rolled back on `dry_run`); with `log_seq`, the
        purge record's sequence in the replicated log is recorded in the same transaction.

        The one exception to the append-only log (see `stilalarm.console.retention`). Deleted pages are
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
            notes = list(plan.notifications)
            for start in range(0, len(notes), 500):  # a purged home visit's notices carry its address
                ids = notes[start : start + 500]
                marks = ",".join("?" * len(ids))
                rows["outbox"] += db.execute(
                    f"DELETE FROM outbox WHERE notification_id IN ({marks})", ids
                ).rowcount
            if sup:
                rows["received"] += db.execute("DELETE FROM received WHERE at < ?", (sup,)).rowcount
                rows["outbox"] += db.execute("DELETE FROM outbox WHERE created_at < ?", (sup,)).rowcount
            if log_seq is not None:
                self._set_log_seq(log_seq)
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
