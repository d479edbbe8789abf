"""The console database's side of the cluster's retention (docs/HA.md, Retention): a purge record
applied like any log record, a snapshot and its restore, and `alarm-console purge` refusing to
purge one console's copy of a cluster's log. No cluster here (tests/broker/test_cluster_retention.py
has the real one)."""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from stilalarm.console import retention
from stilalarm.console.facts import Fact
from stilalarm.console.ha.jetstream import LogUnavailable
from stilalarm.console.ha.retention import RetentionRunner
from stilalarm.console.shell.inbox import PurgeNow
from stilalarm.console.store import Batch, Store, StoreError
from stilalarm.console.store.database import snapshot_of
from stilalarm.console.store.records import PurgeRecord, RecordError, decode
from tests.unit.test_i7_core import SITE, old_and_new_log

ROOT = Path(__file__).resolve().parents[2]


class ListLog:
    """A replica that keeps the records in a list (sequence = position + 1)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, record: bytes) -> int:
        self.records.append(record)
        return len(self.records)


def logged(path: Path, facts: list[Fact], now: datetime) -> tuple[Store, ListLog]:
    """A cluster console's database at `path` whose commits (one per fact) went to a `ListLog`."""
    log = ListLog()
    store = Store(path, init=True)
    store.replica = log
    for f in facts:
        store.commit(Batch(facts=[f]), now)
    return store, log


def events(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return [tuple(r) for r in c.execute("SELECT * FROM events ORDER BY seq")]


def test_a_purge_record_does_on_the_standby_what_the_purge_did_on_the_active(tmp_path: Path) -> None:
    facts, old, _open, now = old_and_new_log()
    active, log = logged(tmp_path / "a.db", facts, now)
    plan = retention.plan(active.numbered_facts(), SITE.retention, now, SITE.visits)
    active.purge_logged(plan, now)
    assert isinstance(decode(log.records[-1]), PurgeRecord)
    standby = Store(tmp_path / "b.db", init=True)
    for seq, record in enumerate(log.records, 1):
        standby.apply(seq, record)
    standby.apply(len(log.records), log.records[-1])  # applied twice: skipped, as any record
    assert events(active.path) == events(standby.path)
    assert standby.log_seq() == active.log_seq() == len(log.records)
    assert not any(old in str(r) for r in events(standby.path))
    assert len(events(standby.path)) == len(facts) - len(plan.seqs)


def test_a_purge_record_that_does_not_match_the_database_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Databases of one log have the same fact sequences; one that does not is named in an error."""
    facts, _old, _open, now = old_and_new_log()
    active, log = logged(tmp_path / "a.db", facts, now)
    active.purge_logged(retention.plan(active.numbered_facts(), SITE.retention, now, SITE.visits), now)
    other = Store(tmp_path / "other.db", init=True)
    for seq, record in enumerate(log.records[:-1], 1):
        other.apply(seq, record)
    other.db.execute("DELETE FROM events WHERE seq = 1")  # diverged, somehow
    with caplog.at_level("ERROR"):
        other.apply(len(log.records), log.records[-1])
    assert "differs from the active console's" in caplog.text and str(other.path) in caplog.text


def test_a_snapshot_restores_another_database_and_keeps_no_deleted_row(tmp_path: Path) -> None:
    facts, old, _open, now = old_and_new_log()
    a, _log = logged(tmp_path / "a.db", facts, now)
    a.purge_logged(retention.plan(a.numbered_facts(), SITE.retention, now, SITE.visits), now)
    seq, data = snapshot_of(a.path)
    assert seq == a.log_seq() and old.encode() not in data
    assert [p.name for p in tmp_path.iterdir() if "snapshot" in p.name] == []  # its temporary file is gone
    b = Store(tmp_path / "b.db", init=True)
    b.commit(Batch(facts=facts[:1]), now)  # whatever it held is replaced
    assert b.restore(data) == seq
    assert events(a.path) == events(b.path)
    b.commit(Batch(facts=facts[:1]), now)  # and it goes on as a database of its own
    assert len(events(b.path)) == len(events(a.path)) + 1
    assert oct((tmp_path / "b.db").stat().st_mode & 0o777) == oct(0o600)


def test_a_damaged_or_foreign_snapshot_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    facts, _old, _open, now = old_and_new_log()
    b = Store(tmp_path / "b.db", init=True)
    b.commit(Batch(facts=facts[:3]), now)
    before = events(b.path)
    with pytest.raises(StoreError, match="not a console database"):
        b.restore(b"not a database at all" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE x (y)")
    with pytest.raises(StoreError, match="not a console database"):
        b.restore(other.read_bytes())
    assert events(b.path) == before


def test_a_purge_record_that_is_incomplete_is_refused() -> None:
    with pytest.raises(RecordError, match="purge record is incomplete"):
        decode(b'{"v": 2, "kind": "purge", "at": "x"}')


def test_purge_refuses_one_consoles_copy_of_a_clusters_log_but_a_dry_run_works(tmp_path: Path) -> None:
    facts, _old, _open, now = old_and_new_log()
    db = tmp_path / "ha.db"
    logged(db, facts, now)[0].close()
    site = ROOT / "examples" / "site.toml"

    def purge(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "stilalarm.console.cli",
                "purge",
                "--site",
                str(site),
                "--db",
                str(db),
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = purge()
    assert refused.returncode == 2, refused
    assert "one console's copy of a cluster's log" in refused.stderr and "--dry-run" in refused.stderr
    assert len(events(db)) == len(facts)
    dry = purge("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert len(events(db)) == len(facts)
    timer = purge("--unless-cluster")  # as stilalarm-purge.timer runs it on every console server
    assert timer.returncode == 0, timer.stderr
    assert "the active console purges through the log itself" in timer.stdout
    assert len(events(db)) == len(facts)


def test_a_big_purge_is_split_into_steps_that_together_delete_the_same() -> None:
    facts, old, _open, now = old_and_new_log()
    plan = retention.plan(enumerate(facts, 1), SITE.retention, now, SITE.visits)
    steps = retention.split(plan, 3)
    assert len(steps) == -(-len(plan.seqs) // 3) >= 2
    assert all(len(s.seqs) <= 3 for s in steps)
    assert frozenset().union(*(s.seqs for s in steps)) == plan.seqs
    assert sum(len(s.seqs) for s in steps) == len(plan.seqs)
    assert [max(s.seqs) for s in steps] == sorted(max(s.seqs) for s in steps)  # oldest first
    last = steps[-1]
    assert (last.incidents, last.notifications, last.supervision_before) == (
        plan.incidents,
        plan.notifications,
        plan.supervision_before,
    )
    assert all(s.incidents == () and s.supervision_before is None for s in steps[:-1])
    assert old in plan.incidents
    (whole,) = retention.split(plan, 10_000)
    assert whole == plan
    (empty,) = retention.split(retention.PurgePlan(seqs=frozenset(), incidents=()), 3)
    assert empty.seqs == frozenset()


class FailingOnceLog:
    """A ClusterLog stand-in whose first compaction is not confirmed."""

    def __init__(self) -> None:
        self.compactions: list[int] = []

    def compact(self, log_seq: int, data: bytes) -> int:
        self.compactions.append(log_seq)
        if len(self.compactions) == 1:
            raise LogUnavailable("compact: no answer within 3.0 s (no quorum, or unreachable)")
        return log_seq + 1


def test_the_runner_purges_through_the_writer_and_owes_a_failed_compaction(tmp_path: Path) -> None:
    facts, old, _open, now = old_and_new_log()
    db = tmp_path / "a.db"
    logged(db, facts, now)[0].close()
    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()

    def writer() -> None:  # the service's writer, as far as PurgeNow goes
        store = Store(db)
        store.replica = ListLog()
        while (item := inbox.get()) is not None:
            assert isinstance(item, PurgeNow)
            item.rows = store.purge_logged(item.plan, now)
            item.done.set()
        store.close()

    thread = threading.Thread(target=writer)
    thread.start()
    svc = SimpleNamespace(cfg=SimpleNamespace(db_path=db), site=SITE, inbox=inbox, wait=lambda _t: False)
    clog = FailingOnceLog()
    runner = RetentionRunner(svc, clog, 86400, clock=lambda: now)  # type: ignore[arg-type]
    try:
        first = runner.run_once()
        assert "not compacted" in first and clog.compactions and runner.runs == 0
        assert not any(old in str(r) for r in events(db))  # the purge itself went through
        second = runner.run_once()  # nothing left to purge, but the compaction is owed
        assert "compacted the log below record" in second and len(clog.compactions) == 2
        assert runner.run_once() == "nothing to purge" and len(clog.compactions) == 2
    finally:
        inbox.put(None)
        thread.join(10)
    assert runner.first_s == 600.0 and RetentionRunner(svc, clog, 30).first_s == 30  # type: ignore[arg-type]
