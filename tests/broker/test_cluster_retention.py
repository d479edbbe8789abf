"""Retention on the cluster (docs/HA.md, Retention), on 3 real nats-server nodes with real SQLite
databases: the active's purge goes through the log to every console, the log is compacted below a
snapshot, and afterwards neither the log nor the snapshot holds what was purged; a new console and
one that was away restore the snapshot and end with the same database as the active.

The consoles here are `Store`s driven in-process as `serve --ha` drives them (`LogReplica` for the
active, `follow` for the standbys); tests/e2e/test_cluster_retention.py runs the real processes."""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import nats
import pytest
from nats.js import api

from stilalarm.broker_config.local import LocalCluster
from stilalarm.console import retention
from stilalarm.console.core.notice import notified
from stilalarm.console.facts import Fact
from stilalarm.console.ha.jetstream import (
    ClusterLog,
    ClusterLogCredentials,
    LogGap,
    LogUnavailable,
)
from stilalarm.console.ha.replica import LogReplica
from stilalarm.console.ha.run import follow
from stilalarm.console.ha.seed import marked
from stilalarm.console.store import Batch, Store
from stilalarm.console.store.database import snapshot_of
from stilalarm.console.store.records import RecordError, decode
from stilalarm.inventory import Site
from stilalarm.wire.messages import NotifyReason
from stilalarm.wire.streams import facts_subject, snapshot_stream, stream_name
from tests.harness import started_cluster
from tests.unit.test_i7_core import SITE, old_and_new_log


@pytest.fixture
def clog(cluster: LocalCluster) -> Iterator[ClusterLog]:
    c = ClusterLog(cluster.log_creds())
    c.start(wait_s=60)
    yield c
    c.close()


def rows(db: Path, table: str, order: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return [tuple(r) for r in c.execute(f"SELECT * FROM {table} ORDER BY {order}")]


def same(a: Path, b: Path) -> None:
    """Two consoles' databases hold the same log and projections."""
    for table, order in (("events", "seq"), ("received", "event_id"), ("incidents", "incident_id")):
        assert rows(a, table, order) == rows(b, table, order), table
    assert rows(a, "outbox", "notification_id, channel") == rows(b, "outbox", "notification_id, channel")
    assert Store(a, readonly=True).log_seq() == Store(b, readonly=True).log_seq()


def raw_stream(creds: ClusterLogCredentials, stream: str) -> list[bytes]:
    """Every message still stored in `stream`, read by sequence as the console-log login."""

    async def go() -> list[bytes]:
        nc = await nats.connect(creds.servers, user=creds.username, password=creds.password)
        try:
            js = nc.jetstream()
            st = (await js.stream_info(stream)).state
            out = []
            for seq in range(max(1, st.first_seq), st.last_seq + 1):
                try:
                    out.append((await js.get_msg(stream, seq)).data or b"")
                except nats.js.errors.NotFoundError:
                    continue
            return out
        finally:
            await nc.close()

    return asyncio.run(go())


def commit_each(store: Store, facts: list[Fact], now: datetime) -> None:
    for f in facts:  # one record per fact: a log of many records
        store.commit(Batch(facts=[f]), now)


def test_a_log_that_denies_purges_starts_but_is_not_compacted(tmp_path: Path, site: Site) -> None:
    """A log created before compaction existed (deny_purge, which NATS cannot lift) still works as a
    log; compaction refuses, saying why and what to do, and stores no snapshot."""
    with started_cluster(site, tmp_path / "cluster") as c:
        creds = c.log_creds()

        async def make() -> None:
            nc = await nats.connect(creds.servers, user=creds.username, password=creds.password)
            try:
                await nc.jetstream().add_stream(
                    api.StreamConfig(
                        name=stream_name(creds.site_id),
                        subjects=[facts_subject(creds.site_id)],
                        storage=api.StorageType.FILE,
                        num_replicas=3,
                        deny_delete=True,
                        deny_purge=True,
                    )
                )
            finally:
                await nc.close()

        asyncio.run(make())
        old = ClusterLog(creds)
        old.start(wait_s=60)
        try:
            seq = old.append(b"{}", 0, "r1")
            with pytest.raises(LogUnavailable, match=r"cannot be compacted.*new log"):
                old.compact(seq, b"not a database")
            assert old.get_snapshot() is None and old.first_seq() == 1
        finally:
            old.close()


def test_purge_through_the_log_then_compaction_leaves_nothing_behind(
    cluster: LocalCluster, clog: ClusterLog, tmp_path: Path
) -> None:
    facts, old, still_open, now = old_and_new_log()
    active = Store(tmp_path / "a.db", init=True)
    active.replica = LogReplica(clog, clog.last_seq(), lambda: True)
    standby = Store(tmp_path / "b.db", init=True)
    away = Store(tmp_path / "away.db", init=True)
    commit_each(active, facts[:5], now)
    while follow(away, clog, 0):  # a console that follows the first records, then is away
        pass
    commit_each(active, facts[5:], now)
    while follow(standby, clog, 0):
        pass
    same(active.path, standby.path)
    assert any(old in str(r) for r in rows(standby.path, "events", "seq"))

    # the active purges through the log; the standby applies the same purge
    plan = retention.plan(active.numbered_facts(), SITE.retention, now, SITE.visits)
    assert plan.seqs and plan.incidents == (old,)
    removed = active.purge_logged(plan, now)
    assert follow(standby, clog, 0) == 1
    same(active.path, standby.path)
    kept = rows(standby.path, "events", "seq") + rows(standby.path, "incidents", "incident_id")
    assert not any(old in str(r) for r in kept)
    assert any(still_open in str(r) for r in rows(standby.path, "events", "seq"))
    assert set(removed) == {"received", "outbox", "incidents"}

    # compaction: the snapshot holds the purged database; the log keeps only what follows it
    seq, data = snapshot_of(active.path)
    assert seq == active.log_seq() == clog.last_seq()
    assert old.encode() not in data  # VACUUM INTO: no deleted row in free pages
    first = clog.compact(seq, data)
    assert first == seq + 1 == clog.first_seq()
    creds = cluster.log_creds()
    assert raw_stream(creds, stream_name(creds.site_id)) == []  # nothing after the snapshot yet
    (snap,) = [zlib.decompress(b"".join(raw_stream(creds, snapshot_stream(creds.site_id))))]
    assert snap == data and old.encode() not in snap

    # the log goes on after the snapshot
    later = [notified(now, NotifyReason.INFO, ("an",), f"k{i}", "store_fault_title", {}) for i in range(3)]
    commit_each(active, later, now)

    # a new console: restores the snapshot, then follows
    new = Store(tmp_path / "new.db", init=True)
    with pytest.raises(LogGap):
        clog.read(0)
    while follow(new, clog, 0):
        pass
    same(active.path, new.path)
    # the console that was away: its records were compacted away; it restores as well
    assert 0 < away.log_seq() < first - 1
    while follow(away, clog, 0):
        pass
    same(active.path, away.path)
    while follow(standby, clog, 0):  # the standby was current: it just follows on
        pass
    same(active.path, standby.path)

    # a second compaction replaces the first snapshot
    seq2, data2 = snapshot_of(active.path)
    assert clog.compact(seq2, data2) == seq2 + 1
    assert zlib.decompress(b"".join(raw_stream(creds, snapshot_stream(creds.site_id)))) == data2
    got = clog.get_snapshot()
    assert got is not None and got[0] == seq2

    # a stale compactor (a former active, SIGSTOPped mid-run, resumes with its older snapshot)
    # stores it after the newer one: the newer one stays the newest, the log is not cut further,
    # and a new console still ends with the active's database
    commit_each(active, [notified(now, NotifyReason.INFO, ("an",), "k9", "store_fault_title", {})], now)
    assert clog.compact(seq, data) == seq2 + 1  # the very same older snapshot (deduplicated)
    stale = marked(data, seq - 1)  # an older one with other bytes: stored after the newer one
    assert clog.compact(seq - 1, stale) == seq2 + 1
    assert len(raw_stream(creds, snapshot_stream(creds.site_id))) >= 2  # the newer one, then the stale
    got = clog.get_snapshot()
    assert got is not None and got == (seq2, data2)
    late = Store(tmp_path / "late.db", init=True)
    while follow(late, clog, 0):
        pass
    same(active.path, late.path)
    late.close()
    for s in (active, standby, new, away):
        s.close()


def test_a_record_of_a_kind_this_version_does_not_know_is_refused_with_advice() -> None:
    """A purge record round-trips; a record of version 2 that is not one is refused, with the advice to
    run one version on every console (as a console of the previous version refuses a purge record)."""
    from stilalarm.console.store.records import PurgeRecord, encode_purge

    record = encode_purge(PurgeRecord("2026-12-04T00:00:00+00:00", (1, 2), ("i",), (), ""))
    assert isinstance(decode(record), PurgeRecord)
    broken = record.replace(b'"kind":"purge"', b'"kind":"other"')
    with pytest.raises(RecordError, match="run the same stilalarm version on every console"):
        decode(broken)
