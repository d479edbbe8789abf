"""A missing, empty or damaged console database, file modes, `db check` and `backup`
(issue #11, finding 9), with the real `alarm-console` processes and a real mosquitto.

- `serve` refuses a missing or empty database unless `--init` (exit 3, a message that says
  what to do), and creates nothing.
- A file that is not a database, or one unreadable fact row, stops start-up with a message that
  names the file, what is wrong and how to recover: no traceback.
- Under umask 022 the database, its -wal/-shm files, new parent directories and backups are
  owner-only.
- `alarm-console backup` of a database that a running `serve` is writing gives a file that
  `alarm-console db check` accepts and that holds the incidents.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import UnitEvent
from tests.harness import wait_until

SITE = parse_site(FAST_SITE)
CLI = str(Path(sys.executable).parent / "alarm-console")
UNITS = ("spreekkamer-1", "balie-1", "wachtzaal")


def umask_022() -> None:
    os.umask(0o022)


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`alarm-console ARGS` under umask 022 (a login shell's default)."""
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=timeout, check=False, preexec_fn=umask_022
    )


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@dataclass
class Site:
    dir: Path
    site_file: Path
    broker: LocalBroker

    def serve(self, db: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        """`serve` that is expected to refuse (it exits by itself)."""
        return run(
            "serve",
            "--site",
            str(self.site_file),
            "--db",
            str(db),
            "--broker-dir",
            str(self.broker.dir),
            *extra,
        )

    def service(self, db: Path, *, init: bool) -> ServiceProcess:
        return ServiceProcess(self.site_file, db, self.broker.dir, self.dir / f"{db.name}.log", init=init)


@pytest.fixture
def fast(tmp_path: Path) -> Iterator[Site]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    try:
        yield Site(tmp_path, site_file, broker)
    finally:
        broker.kill()


def refused_clearly(r: subprocess.CompletedProcess[str], db: Path, *words: str) -> None:
    out = r.stdout + r.stderr
    assert r.returncode == 3, out
    assert "Traceback" not in out, out
    assert str(db) in r.stderr, out
    for w in words:
        assert w in r.stderr, (w, out)


def test_serve_refuses_a_missing_or_empty_database_unless_told_to_initialise(fast: Site) -> None:
    db = fast.dir / "var" / "lib" / "console.db"
    r = fast.serve(db)
    refused_clearly(r, db, "no console database", "db init", "--init", "backup")
    assert not db.parent.exists()  # nothing created

    empty = fast.dir / "empty.db"
    empty.touch()
    r = fast.serve(empty)
    refused_clearly(r, empty, "empty", "db init", "--init", "backup")
    assert empty.stat().st_size == 0  # left as it was

    # told to: --init on the first run creates the log, and the next start needs no flag
    svc = fast.service(empty, init=True)
    svc.start()
    try:
        svc.wait_ready()
    finally:
        assert svc.terminate() == 0
    svc.start()  # a restart: no --init
    try:
        svc.wait_ready()
    finally:
        assert svc.terminate() == 0
    assert run("db", "check", "--db", str(empty)).returncode == 0


def test_a_corrupt_file_or_one_unreadable_row_stops_start_up_with_a_message_not_a_traceback(
    fast: Site,
) -> None:
    junk = fast.dir / "junk.db"
    junk.write_bytes(os.urandom(64 * 1024))
    r = fast.serve(junk)
    refused_clearly(r, junk, "not a readable SQLite database", "db check", "backup")
    chk = run("db", "check", "--db", str(junk))
    assert chk.returncode == 1 and "DAMAGED" in chk.stderr and "Traceback" not in chk.stderr, chk
    reports_refuse_clearly(fast, junk, "not a readable SQLite database")

    # a real log with a real alarm in it, then one row goes bad
    db = fast.dir / "console.db"
    svc = fast.service(db, init=True)
    svc.start()
    unit: ScriptedUnit | None = None
    try:
        svc.wait_ready()
        unit = ScriptedUnit(fast.broker.creds("unit-balie-1"), "balie-1").start()
        ev = unit.press()
        wait_until(lambda: unit is not None and unit.receipt_for(ev.event_id) is not None, 15, "receipt")
    finally:
        if unit is not None:
            unit.stop()
        assert svc.terminate() == 0
    assert run("db", "check", "--db", str(db)).returncode == 0
    con = sqlite3.connect(db)
    (seq,) = con.execute("SELECT seq FROM events WHERE kind = 'alarm_received'").fetchone()
    con.execute('UPDATE events SET data = \'{"kind": "alarm_received", "at": \' WHERE seq = ?', (seq,))
    con.commit()
    con.close()

    r = fast.serve(db)
    refused_clearly(r, db, f"fact #{seq} (alarm_received)", "cannot be read", "db check", "backup")
    chk = run("db", "check", "--db", str(db))
    assert chk.returncode == 1 and f"fact #{seq} (alarm_received)" in chk.stderr, chk
    assert "Traceback" not in chk.stdout + chk.stderr
    reports_refuse_clearly(fast, db, f"fact #{seq} (alarm_received)")


def reports_refuse_clearly(fast: Site, db: Path, why: str) -> None:
    """The prevention service's export, the board's report and purge on a damaged log: the file
    and the problem in a message, a non-zero exit, never a traceback."""
    site = ("--site", str(fast.site_file), "--db", str(db))
    for args in (
        ("export", "--since", "2026-01-01", *site),
        ("report", "--month", "2026-12", *site),
        ("purge", "--dry-run", *site),
    ):
        r = run(*args)
        out = r.stdout + r.stderr
        assert r.returncode != 0, (args, out)
        assert "Traceback" not in out, (args, out)
        assert str(db) in r.stderr and why in r.stderr, (args, out)


def test_database_wal_files_and_new_directories_are_owner_only_under_umask_022(fast: Site) -> None:
    db = fast.dir / "state" / "stilalarm" / "console.db"
    log = fast.dir / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                CLI,
                *("serve", "--init", "--site", str(fast.site_file), "--db", str(db)),
                *("--broker-dir", str(fast.broker.dir)),
            ],
            stdout=out,
            stderr=out,
            preexec_fn=umask_022,
            start_new_session=True,
        )
    try:
        wait_until(lambda: "published console status" in log.read_text(), 20, "serve ready")
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: oct(mode(p)) for p in (db, wal, shm)} == {p.name: oct(0o600) for p in (db, wal, shm)}
        assert oct(mode(db.parent)) == oct(0o700) and oct(mode(db.parent.parent)) == oct(0o700)
    finally:
        proc.terminate()
        assert proc.wait(15) == 0, log.read_text()
    # a database written under an old umask is made private when the service opens it
    os.chmod(db, 0o644)
    r = run("db", "init", "--db", str(db))
    assert r.returncode == 0 and "already a console database" in r.stdout, r
    assert oct(mode(db)) == oct(0o600)


def test_backup_of_a_live_database_while_alarms_are_stored_passes_db_check(fast: Site) -> None:
    db = fast.dir / "console.db"
    svc = fast.service(db, init=True)
    svc.start()
    units: list[ScriptedUnit] = []
    stop = threading.Event()
    try:
        svc.wait_ready()
        units = [ScriptedUnit(fast.broker.creds(f"unit-{u}"), u).start() for u in UNITS]
        first = [u.press() for u in units]
        for u, ev in zip(units, first, strict=True):
            wait_until(lambda u=u, ev=ev: u.receipt_for(ev.event_id) is not None, 15, f"receipt {u.unit_id}")
        incidents = set()
        for u, ev in zip(units, first, strict=True):
            r = u.receipt_for(ev.event_id)
            assert r is not None and r.incident_id is not None
            incidents.add(r.incident_id)
        assert len(incidents) == 3
        pressed: list[tuple[ScriptedUnit, UnitEvent]] = []

        def keep_pressing() -> None:  # repeat presses: facts keep being written during the backups
            while not stop.is_set():
                for u in units:
                    pressed.append((u, u.press()))
                stop.wait(0.02)

        presser = threading.Thread(target=keep_pressing, daemon=True)
        presser.start()
        wait_until(lambda: len(pressed) > 30, 15, "presses under way")
        out = fast.dir / "backups"
        results = []
        for _ in range(3):
            n_before = len(pressed)
            results.append(run("backup", "--db", str(db), "--dir", str(out), "--keep", "2"))
            wait_until(lambda n=n_before: len(pressed) > n + 3, 15, "more presses between backups")
        stop.set()
        presser.join(5)
        for res in results:
            assert res.returncode == 0 and "checked" in res.stdout, res
        files = sorted(out.glob("console-*.db"))
        assert 1 <= len(files) <= 2  # --keep 2 (two backups may share a second)
        assert oct(mode(out)) == oct(0o700)
        for f in files:
            assert oct(mode(f)) == oct(0o600)
            chk = run("db", "check", "--db", str(f))
            assert chk.returncode == 0 and "ok" in chk.stdout, chk
            con = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
            held = {r[0] for r in con.execute("SELECT incident_id FROM incidents")}
            repeats = con.execute("SELECT count(*) FROM events WHERE kind = 'press_repeated'").fetchone()[0]
            con.close()
            assert incidents <= held, (incidents, held)
            assert repeats > 0  # taken while presses were being stored
            assert not Path(f"{f}-wal").exists() and not Path(f"{f}-journal").exists()  # one file
        single = fast.dir / "one.db"
        res = run("backup", "--db", str(db), "--out", str(single))
        assert res.returncode == 0 and oct(mode(single)) == oct(0o600), res
        # the service went on storing and receipting throughout
        last = units[0].press()
        wait_until(lambda: units[0].receipt_for(last.event_id) is not None, 15, "a receipt after the backups")
        assert "Traceback" not in svc.log()
    finally:
        stop.set()
        for u in units:
            u.stop()
        svc.terminate()
