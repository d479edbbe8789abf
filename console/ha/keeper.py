"""The lease keeper: runs the lease core (`stilalarm.console.core.lease`) against the cluster's KV
entry, in its own thread, on the monotonic clock."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from stilalarm.console.core import lease as core
from stilalarm.console.ha.jetstream import ClusterLog, LogFenced, LogUnavailable

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Keeps (or waits for) the site's lease. `on_activate(term)` and `on_deactivate(term, why)`
    run in the keeper's thread; `acting()` may be asked from any thread."""

    def __init__(
        self,
        clog: ClusterLog,
        me: str,
        times: core.LeaseTimes,
        *,
        on_activate: Callable[[int], None],
        on_deactivate: Callable[[int, str], None],
    ) -> None:
        self.clog = clog
        self._lease = core.Lease(me, times)
        self._lock = threading.Lock()
        self._on_activate = on_activate
        self._on_deactivate = on_deactivate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def release(self) -> None:
        """Stop keeping the lease and, if this console holds it, write it free (holder ''): a
        standby takes a free lease at once. Call only after the service stopped acting."""
        self.stop()
        with self._lock:
            lease = self._lease
        if lease.role is not core.Role.ACTIVE:
            return
        value = json.dumps({"holder": "", "term": lease.term}).encode()
        try:
            self.clog.lease_update(value, lease.revision)
            log.warning("lease of term %d released", lease.term)
        except (LogFenced, LogUnavailable) as exc:
            log.warning("could not release the lease (%s); a standby takes it after the ttl", exc)

    def acting(self) -> bool:
        """True while this console holds a valid lease (checked on the monotonic clock now)."""
        with self._lock:
            return core.acting(self._lease, time.monotonic())

    @property
    def term(self) -> int:
        with self._lock:
            return self._lease.term

    def holder(self) -> str:
        """Who the entry named when last read or written."""
        with self._lock:
            return self._lease.holder

    def _step(self, event: core.Event) -> list[core.Effect]:
        with self._lock:
            self._lease, effects = core.step(self._lease, event, time.monotonic())
            return effects

    def _run(self) -> None:
        pending = self._step(core.Tick())
        while not self._stop.is_set():
            if pending:
                e = pending.pop(0)
                pending = self._do(e) + pending
                continue
            with self._lock:
                wait = core.next_due(self._lease) - time.monotonic()
            self._stop.wait(max(0.01, min(wait, 0.25)))
            pending = self._step(core.Tick())

    def _do(self, e: core.Effect) -> list[core.Effect]:
        """Carry out one effect; returns the effects of its answer."""
        if isinstance(e, core.Activate):
            log.warning("lease acquired: this console is ACTIVE in term %d", e.term)
            self._on_activate(e.term)
            return []
        if isinstance(e, core.Pause):
            log.critical(
                "lease of term %d not renewed in time: PAUSED, nothing goes out (%s)", e.term, e.reason
            )
            return []
        if isinstance(e, core.Resume):
            log.warning("lease of term %d renewed: acting again (nobody else took it)", e.term)
            return []
        if isinstance(e, core.Deactivate):
            log.critical("lease lost in term %d: %s; stopping at once", e.term, e.reason)
            self._on_deactivate(e.term, e.reason)
            return []
        try:
            if isinstance(e, core.Read):
                got = self.clog.lease_get()
                if got is None:
                    return self._step(core.Observed(0, ""))
                rev, value = got
                return self._step(core.Observed(rev, _holder(value)))
            value = json.dumps({"holder": e.holder, "term": e.term}).encode()
            if e.expected == 0:
                rev = self.clog.lease_create(value)
            else:
                rev = self.clog.lease_update(value, e.expected)
            return self._step(core.Wrote(rev))
        except LogFenced:
            return self._step(core.Refused())
        except LogUnavailable as exc:
            log.warning("lease: the cluster did not answer (%s)", exc)
            return self._step(core.Failed(str(exc)))


def _holder(value: bytes) -> str:
    """Who the entry names; '' only for a released lease, '?' for a value that is not ours."""
    try:
        return str(json.loads(value)["holder"])
    except (ValueError, TypeError, KeyError):
        return "?"
