"""Retention on the cluster with real processes (docs/HA.md, Retention): a 3-node NATS cluster on
loopback, a log written by a former active with a six-year-old resolved incident and a recent open
one, and two `alarm-console serve --ha`; and a single console's database moved into a cluster.

The active purges by itself through the log and compacts it: afterwards neither the log nor its
snapshot holds the old incident. A standby started on a new database restores the snapshot, ends
with the active's database, and after a kill -9 of the active takes over with the open incident.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from stilalarm.broker_config.local import BrokerError, LocalCluster, find_nats_server
from stilalarm.console.cli.serve import pid_path
from stilalarm.console.ha.jetstream import ClusterLog
from stilalarm.console.ha.replica import LogReplica
from stilalarm.console.store import Batch, Store
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.wire.messages import AckCmd, EventKind, utcnow
from stilalarm.wire.streams import stream_name
from tests.broker.test_cluster_retention import raw_stream
from tests.e2e.test_console_failover import HA_SITE, SITE, TTL, active_line, facts, log_seq
from tests.harness import wait_until
from tests.unit.test_i7_core import REG, Sim, base, resolved


def stored_log(clog: ClusterLog) -> bytes:
    """Every message still in the facts stream, as stored (read by sequence)."""
    return b"".join(raw_stream(clog.creds, stream_name(clog.creds.site_id)))


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    """The HA test site's site.toml; a missing nats-server fails the test, never skips it."""
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    path = tmp_path / "site.toml"
    path.write_text(HA_SITE)
    return path


def test_the_active_purges_and_compacts_and_a_new_standby_starts_from_the_snapshot(
    tmp_path: Path, site_file: Path
) -> None:
    now = utcnow()
    sim = Sim(now - timedelta(days=6 * 365))
    old = resolved(sim, REG, at=now - timedelta(days=6 * 365))  # past registrations_days (5 years)
    sim.event("balie-1", EventKind.ALARM, now - timedelta(seconds=20))
    still_open = max(sim.w.engine.live)
    sim.cmd(AckCmd(incident_id=still_open, **base("chris", now)), now - timedelta(seconds=10))

    cluster = LocalCluster(SITE, tmp_path / "cluster")
    a = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
    b = ServiceProcess(site_file, tmp_path / "b.db", cluster.dir, tmp_path / "b.log")
    clog = ClusterLog(cluster.log_creds())
    try:
        cluster.start()
        clog.start(wait_s=60)
        former = Store(tmp_path / "former.db", init=True)  # the log a former active wrote
        former.replica = LogReplica(clog, clog.last_seq(), lambda: True)
        for f in sim.facts:
            former.commit(Batch(facts=[f]), now)
        former.close()
        assert old.encode() in stored_log(clog)

        a.start(["--ha", "a", "--ha-ttl", TTL, "--ha-retention-every", "2"])
        wait_until(lambda: active_line("a") in a.log(), 60, f"a active:\n{a.log()}")
        wait_until(lambda: "retention: purged" in a.log(), 60, f"a purges:\n{a.log()}")
        assert clog.first_seq() > 1  # compacted
        assert old.encode() not in stored_log(clog)
        snap = clog.get_snapshot()
        assert snap is not None and old.encode() not in snap[1] and still_open.encode() in snap[1]
        assert not any(old in data for _k, data in facts(a.db))

        # on the nodes' disks: gone from the log's own store files at once; the Raft logs of its
        # group keep it until nats-server compacts them (every 2 min: measured, docs/HA.md)
        stored = [
            p for p in cluster.dir.glob("nodes/*/jetstream/**/streams/STILALARM_FACTS_*/**/*") if p.is_file()
        ]
        assert stored and not [p for p in stored if old.encode() in p.read_bytes()]
        raft = [p for p in cluster.dir.glob("nodes/*/jetstream/**/*.blk") if old.encode() in p.read_bytes()]
        print(f"\nthe old incident is still in {len(raft)} Raft log file(s) right after the compaction")

        b.start(["--ha", "b", "--ha-ttl", TTL])
        wait_until(lambda: "standby b " in b.log(), 60, f"b standby:\n{b.log()}")
        wait_until(lambda: "restored the log's snapshot" in b.log(), 30, f"b restores:\n{b.log()}")
        wait_until(lambda: log_seq(b.db) == log_seq(a.db), 30, "b follows a")
        assert facts(b.db) == facts(a.db)
        assert any(still_open in data for _k, data in facts(b.db))

        a.kill()
        wait_until(lambda: active_line("b") in b.log(), 30, f"b takes over:\n{b.log()}")
        assert "1 open incident(s)" in b.log(), b.log()
    finally:
        for p in (a, b):
            p.kill()
        clog.close()
        cluster.kill()


def to_cluster(db: Path, cluster: LocalCluster) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *(sys.executable, "-m", "stilalarm.console.cli", "db", "to-cluster"),
            *("--db", str(db), "--broker-dir", str(cluster.dir)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_single_consoles_database_moves_into_an_empty_cluster_log(tmp_path: Path, site_file: Path) -> None:
    """`alarm-console db to-cluster`: the single console's facts become the cluster's first state; a
    console started on a new database takes over with its open incident (docs/HA.md)."""
    now = utcnow()
    sim = Sim(now - timedelta(days=2))
    done = resolved(sim, REG, at=now - timedelta(days=1))
    sim.event("balie-1", EventKind.ALARM, now - timedelta(seconds=20))
    still_open = max(sim.w.engine.live)
    sim.cmd(AckCmd(incident_id=still_open, **base("chris", now)), now - timedelta(seconds=10))
    single = tmp_path / "single.db"
    store = Store(single, init=True)
    for f in sim.facts:
        store.commit(Batch(facts=[f]), now)
    store.close()
    before = facts(single)

    cluster = LocalCluster(SITE, tmp_path / "cluster")
    a = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
    try:
        cluster.start()
        pid_path(single).write_text(str(os.getpid()))  # as if its serve still ran
        running = to_cluster(single, cluster)
        assert running.returncode == 1 and "still runs on it; stop it first" in running.stderr, running
        pid_path(single).unlink()
        moved = to_cluster(single, cluster)
        assert moved.returncode == 0, moved.stderr
        assert f"{len(before)} facts are now the cluster's first state" in moved.stdout
        again = to_cluster(single, cluster)
        assert again.returncode == 1 and "already holds" in again.stderr, again
        assert facts(single) == before  # the single console's file is left as it was

        a.start(["--ha", "a", "--ha-ttl", TTL])
        wait_until(lambda: active_line("a") in a.log(), 60, f"a active:\n{a.log()}")
        assert "restored the log's snapshot" in a.log()
        assert "1 open incident(s)" in a.log(), a.log()
        assert facts(tmp_path / "a.db")[: len(before)] == before
        assert any(done in data for _k, data in facts(tmp_path / "a.db"))
    finally:
        a.kill()
        cluster.kill()
