"""`alarm-console db to-cluster`: a single console's database becomes the first state of a cluster's
empty log (docs/HA.md, "From one console to a cluster").

The log gets one marker record (fenced on an empty log: whoever wrote first wins), then a copy of
the database, marked as having applied that record, is stored as the log's snapshot and the marker
is compacted away. Every `serve --ha` started afterwards on a new database restores the snapshot,
exactly as a standby that joins a compacted log does, and goes on from there: the open incidents,
their escalation times, the units, the registrations are those of the single console.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from pathlib import Path

from stilalarm.console.ha.jetstream import ClusterLog, LogFenced, LogUnavailable
from stilalarm.console.store import Store
from stilalarm.console.store.database import snapshot_of
from stilalarm.console.store.records import Rows, encode
from stilalarm.wire.messages import utcnow

COMPACT_TRIES_S = 60.0
"""How long the snapshot is tried again once the marker is in the log."""


class SeedRefused(Exception):
    """The database cannot become the cluster's first state; the message says why and what to do."""


def marked(data: bytes, log_seq: int) -> bytes:
    """A copy of the database `data` that has applied the log up to `log_seq`."""
    with contextlib.closing(sqlite3.connect(":memory:")) as mem:
        mem.deserialize(data)
        mem.execute(
            "INSERT INTO meta (key, value) VALUES ('log_seq', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(log_seq),),
        )
        mem.commit()
        return mem.serialize()


def seed(clog: ClusterLog, path: Path) -> tuple[int, int]:
    """Make the single console's database at `path` the cluster's first state; (facts, the log's
    first sequence afterwards). SeedRefused when the database is a cluster console's copy already, or
    the log is not empty. LogUnavailable: the cluster did not confirm the first record (nothing was
    stored, or the next call finds the log not empty and says so)."""
    store = Store(path, readonly=True)
    try:
        if store.log_seq() > 0:
            raise SeedRefused(
                f"{path} is already a copy of a cluster's log (it applied record {store.log_seq()}); "
                "nothing to move"
            )
        facts = store.fact_count()
    finally:
        store.close()
    last = clog.last_seq()
    if last > 0:
        raise SeedRefused(
            f"the cluster's log already holds {last} record(s): a site's consoles have run on it. Only an "
            "empty log can take a single console's database; a log is emptied only by recreating the "
            "cluster's JetStream store"
        )
    try:
        marker = clog.append(encode(Rows(at=utcnow().isoformat())), 0, f"seed-{uuid.uuid4()}")
    except LogFenced:
        raise SeedRefused("another writer started the cluster's log just now; it is not empty") from None
    _seq, data = snapshot_of(path)
    data = marked(data, marker)
    deadline = time.monotonic() + COMPACT_TRIES_S
    while True:  # the marker is stored: the snapshot must follow, or the log is not empty any more
        try:
            return facts, clog.compact(marker, data)
        except LogUnavailable as exc:
            if time.monotonic() > deadline:
                raise SeedRefused(
                    f"the cluster stored the first record but not the snapshot within "
                    f"{COMPACT_TRIES_S:.0f} s ({exc}); its log is no longer empty: recreate the "
                    "cluster's JetStream store, then run this again"
                ) from None
            time.sleep(1.0)
