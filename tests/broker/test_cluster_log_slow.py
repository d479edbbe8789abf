"""A commit the replicated log cannot confirm (docs/HA.md, open item 12), on 3 real nats-server
nodes with real SQLite databases: two nodes stopped (SIGSTOP: the log has no quorum), the active
console's `Store.commit` gives up waiting after the replica's bound with `LogSlow` (the writer
then pages from memory) and stores nothing here; the record keeps being tried under the same id;
when the nodes run again the same batch, committed again, is in the log once, the batches after
it follow in order, and a standby applying the log ends with the active's database."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalCluster
from stilalarm.console.ha.jetstream import ClusterLog
from stilalarm.console.ha.replica import LogReplica
from stilalarm.console.ha.run import follow
from stilalarm.console.retention import PurgePlan
from stilalarm.console.store import Batch, Store
from stilalarm.console.store.records import LogSlow, Rows, decode
from stilalarm.inventory import Site
from tests.broker.test_cluster_log import _node_of
from tests.broker.test_cluster_retention import raw_stream, same
from tests.harness import started_cluster
from tests.unit.test_i7_core import old_and_new_log

BOUND_S = 0.5


@pytest.fixture
def own(tmp_path: Path, site: Site) -> Iterator[LocalCluster]:
    with started_cluster(site, tmp_path / "cluster") as c:
        yield c


def signal_nodes(c: LocalCluster, nodes: list[int], sig: signal.Signals) -> None:
    for i in nodes:
        pid = c.pid(i)
        assert pid is not None
        os.kill(pid, sig)


def test_an_unconfirmed_commit_is_not_waited_for_and_is_stored_once_when_the_log_is_back(
    own: LocalCluster, tmp_path: Path
) -> None:
    facts, _old, _open, now = old_and_new_log()
    clog = ClusterLog(own.log_creds(), timeout_s=1.0)
    clog.start(wait_s=60)
    stopped: list[int] = []
    try:
        active = Store(tmp_path / "a.db", init=True)
        replica = LogReplica(clog, clog.last_seq(), lambda: True, wait_s=BOUND_S)
        active.replica = replica
        active.commit(Batch(facts=facts[:3]), now)
        before = active.log_seq()
        stay = _node_of(own, clog.connected_server)
        stopped = [i for i in range(len(own.nodes)) if i != stay]
        signal_nodes(own, stopped, signal.SIGSTOP)  # no quorum: nothing can be confirmed

        held = Batch(facts=facts[3:5])
        t0 = time.monotonic()
        with pytest.raises(LogSlow, match=f"within {BOUND_S:g} s"):
            active.commit(held, now)
        waited = time.monotonic() - t0
        with pytest.raises(LogSlow, match=r"yet \(tried for \d+\.\d s\)"):
            active.commit(held, now)  # on its way: the answer at once, with how long it has been tried
        print(f"\nno quorum: the commit gave up after {waited:.2f} s (bound {BOUND_S} s)")
        assert active.log_seq() == before, "nothing stored here before the log confirms"
        later = Batch(facts=facts[5:7])
        with pytest.raises(LogSlow):
            active.commit(later, now)  # the held one goes first: nothing else is appended
        with pytest.raises(LogSlow):
            active.purge_logged(PurgePlan(seqs=frozenset(), incidents=()), now)
        assert active.log_seq() == before

        signal_nodes(own, stopped, signal.SIGCONT)
        stopped = []
        t1 = time.monotonic()
        while True:  # what the writer does in degraded mode: the held batch again, every second
            try:
                active.commit(held, now)
                break
            except LogSlow:
                assert time.monotonic() - t1 < 90, "the log did not confirm within 90 s of the nodes' return"
                time.sleep(0.2)
        print(f"nodes running again: the held record confirmed after {time.monotonic() - t1:.2f} s")
        active.commit(later, now)
        active.commit(Batch(facts=facts[7:]), now)

        records = [decode(r) for r in raw_stream(own.log_creds(), clog.stream)]
        logged = [e[6] for r in records if isinstance(r, Rows) for e in r.events]
        assert len(logged) == len(set(logged)) == len(facts), "every fact in the log exactly once"
        here = [r[0] for r in active.db.execute("SELECT data FROM events ORDER BY seq")]
        assert logged == here, "in the log's order"
        standby = Store(tmp_path / "b.db", init=True)
        while follow(standby, clog, 0):
            pass
        same(active.path, standby.path)
    finally:
        if stopped:
            signal_nodes(own, stopped, signal.SIGCONT)
        clog.close()
