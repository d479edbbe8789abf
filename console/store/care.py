"""Database care without the service: `check` (integrity, schema, every fact parses) and
`backup` (a consistent online copy), for `alarm-console db check` and `alarm-console backup`."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from stilalarm.console.facts import parse_fact
from stilalarm.console.store.files import (
    StoreError,
    StoreMissing,
    create_private_file,
    file_state,
    make_private_dirs,
    sidecars,
    unreadable_message,
)
from stilalarm.console.store.schema import schema_version


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
            rep.schema_version = schema_version(db, path)
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
    for leftover in (tmp, *sidecars(tmp), Path(f"{tmp}-journal")):
        leftover.unlink(missing_ok=True)
    create_private_file(tmp)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        if schema_version(src, source) is None:
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
        raise StoreError(unreadable_message(source, f"cannot be backed up ({exc})")) from None
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
