"""Retention on a cluster (docs/HA.md, Retention): the active console applies the site's
`[retention]` itself, through the replicated log, and then compacts the log below a snapshot.

Every `every_s` (first `first_s` after the console became active) the runner, in its own thread:

1. plans the purge (`stilalarm.console.retention.plan`, pure) on a read-only view of the database,
   so the writer does not read the whole log;
2. hands the plan to the writer (`PurgeNow`), in steps of at most `STEP_FACTS` facts: it appends
   one purge record per step to the log and applies it after the batch the step arrives in; every
   standby applies the same records to its own database;
3. when it removed anything: stores a compacted copy of the database (`Store.snapshot`,
   `VACUUM INTO`) as the log's newest snapshot and purges the records it holds, and the older
   snapshot, from the cluster (`ClusterLog.compact`). A standby that is behind the compacted
   part, or a new one, restores the snapshot and follows the log from there
   (`stilalarm.console.ha.run.follow`).

Nothing here acts on the alarm path: a failed run is logged and tried again at the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from stilalarm.console import retention
from stilalarm.console.ha.jetstream import ClusterLog, LogUnavailable
from stilalarm.console.shell.inbox import PurgeNow
from stilalarm.console.shell.service import ConsoleService
from stilalarm.console.store import Store, StoreError
from stilalarm.console.store.database import snapshot_of
from stilalarm.wire.messages import utcnow

log = logging.getLogger(__name__)

STEP_FACTS = 5000
"""At most this many facts per purge record: the writer applies each between batches (measured:
10,000 facts take it ~80 ms on a 2-CPU machine), so no alarm waits long behind a first, big purge."""
FIRST_S = 600.0
"""How long after becoming active the first run waits (a takeover is no time for housekeeping)."""


class RetentionRunner:
    """Runs the retention purge and the log's compaction on the active console, every `every_s`."""

    def __init__(
        self,
        svc: ConsoleService,
        clog: ClusterLog,
        every_s: float,
        *,
        first_s: float | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.svc = svc
        self.clog = clog
        self.every_s = every_s
        self.first_s = min(FIRST_S, every_s) if first_s is None else first_s
        self.clock = clock
        self.runs = 0
        self._owed = False
        """A purge went through the log but its compaction failed: the next run compacts."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        wait = self.first_s
        while not self._stop.wait(wait):
            try:
                self.run_once()
            except Exception:  # never the alarm path's business: logged, tried again next time
                log.error("retention run failed; tried again in %.0f s", self.every_s, exc_info=True)
            wait = self.every_s

    def run_once(self) -> str:
        """One purge and compaction; what it did, as logged."""
        t0 = time.monotonic()
        path = self.svc.cfg.db_path
        view = Store(path, readonly=True)
        try:
            site = self.svc.site
            plan = retention.plan(view.numbered_facts(), site.retention, self.clock(), site.visits)
            size = view.purge_size(plan)
        finally:
            view.close()
        if size == 0 and not self._owed:
            log.info("retention: nothing is older than the site's [retention] periods")
            return "nothing to purge"
        removed = 0
        for part in retention.split(plan, STEP_FACTS):  # alarms go between the steps
            req = PurgeNow(part)
            self.svc.inbox.put(req)
            while not req.done.wait(1.0):
                if self._stop.is_set() or self.svc.wait(0):
                    return "stopped before the writer purged"
            if req.error:
                log.error("retention: %s", req.error)
                return req.error
            removed += sum(req.rows.values())
        try:
            seq, data = snapshot_of(path)
            first = self.clog.compact(seq, data)
        except (StoreError, LogUnavailable) as exc:
            self._owed = True  # the next run compacts even when it has nothing to purge
            what = f"purged {len(plan.seqs)} fact(s); the log was not compacted ({exc}); tried again next run"
            log.error("retention: %s", what)
            return what
        self._owed = False
        self.runs += 1
        what = (
            f"purged {len(plan.seqs)} fact(s) and {removed} other row(s) through the log; "
            f"compacted the log below record {first} (snapshot at record {seq}, {len(data) // 1024} KiB) "
            f"in {time.monotonic() - t0:.1f} s"
        )
        log.warning("retention: %s", what)
        return what
