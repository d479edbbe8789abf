"""`LogReplica`'s bound follows the site (docs/HA.md, item 12): the active console reads
`[cluster] page_after_s` from its current inventory, so a reload (SIGHUP) changes how long the
next record is waited for. The log here is a stand-in whose appends answer only when released
(the real log's behaviour is tested on real nodes in tests/broker/test_cluster_log_slow.py)."""

from __future__ import annotations

import threading
import time
from typing import cast

import pytest

from stilalarm.console.ha.jetstream import ClusterLog, LogUnavailable
from stilalarm.console.ha.replica import LogReplica
from stilalarm.console.store.records import LogSlow


class HeldLog:
    """Appends wait until `release` is set (then they are stored after `after`)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def append(self, record: bytes, after: int, record_id: str) -> int:
        if not self.release.wait(10):
            raise LogUnavailable("held")
        return after + 1


def outcome(replica: LogReplica, record: bytes) -> int:
    """The record's sequence once the log stored it, asking again as the writer does."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return replica.append(record)
        except LogSlow:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_the_bound_is_read_for_each_new_record() -> None:
    held = HeldLog()
    bound = [0.05]
    replica = LogReplica(cast(ClusterLog, held), 0, lambda: True, lambda: bound[0])
    with pytest.raises(LogSlow, match=r"within 0\.05 s"):
        replica.append(b"first")
    bound[0] = 0.1  # the site reloaded with another page_after_s
    with pytest.raises(LogSlow, match="yet"):
        replica.append(b"first")  # already on its way: its outcome at once, not the new bound
    held.release.set()
    assert outcome(replica, b"first") == 1
    held.release.clear()
    with pytest.raises(LogSlow, match=r"within 0\.1 s"):
        replica.append(b"second")
    held.release.set()
    assert outcome(replica, b"second") == 2


def test_a_number_is_a_fixed_bound() -> None:
    replica = LogReplica(cast(ClusterLog, HeldLog()), 0, lambda: True, 0.05)
    assert replica.wait_s == 0.05
    replica.bound_by(lambda: 0.2)
    assert replica.wait_s == 0.2
