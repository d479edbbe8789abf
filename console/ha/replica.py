"""The replicated log as the active console's `Replica`: every commit is appended, fenced by the
log's last sequence, before the console's own database writes it (docs/HA.md).

An append is tried in a thread of its own until the log confirms or refuses it; the writer waits
for it at most `wait_s` (site.toml's `[cluster] page_after_s`, 2 s by default). Then it gets
`LogSlow` and pages from memory (degraded mode) while the same record keeps being tried with the
same record id (so it is stored at most once and the fencing holds); the writer learns the outcome
by calling `append` again with that record."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from stilalarm.console.ha.jetstream import ClusterLog, LogFenced, LogUnavailable
from stilalarm.console.store.records import LogSlow, StepDown
from stilalarm.inventory.policies import PAGE_AFTER_S

log = logging.getLogger(__name__)

RETRY_S = 0.1
"""How often an append that got no answer is tried again (the same record id: stored once)."""


@dataclass
class _Append:
    """One record on its way into the log."""

    record: bytes
    record_id: str
    after: int
    done: threading.Event = field(default_factory=threading.Event)
    seq: int = 0
    refused: str = ""
    started: float = field(default_factory=time.monotonic)


class LogReplica:
    """Appends records after `last_seq`, one at a time; each try only while `acting()` (a paused
    lease waits). `append` raises `StepDown` when the log refuses a record (another console
    wrote) and `LogSlow` when it is not confirmed within `wait_s`."""

    def __init__(
        self,
        clog: ClusterLog,
        last_seq: int,
        acting: Callable[[], bool],
        wait_s: float | Callable[[], float] = PAGE_AFTER_S,
    ) -> None:
        self.clog = clog
        self.last_seq = last_seq
        self._wait = wait_s if callable(wait_s) else (lambda: wait_s)
        self._acting = acting
        self._pending: _Append | None = None

    @property
    def wait_s(self) -> float:
        """The bound now (a callable follows the site's `page_after_s` across reloads)."""
        return self._wait()

    def bound_by(self, wait_s: Callable[[], float]) -> None:
        """Take the bound from `wait_s` from now on (the service's current site, after a SIGHUP too)."""
        self._wait = wait_s

    def append(self, record: bytes) -> int:
        """Store `record` after the last one; its sequence. Waits up to `wait_s` for a new record;
        a record already on its way (the same bytes again) is not waited for: its outcome, or
        `LogSlow` at once."""
        return self._outcome(record, self.wait_s)

    def append_waiting(self, record: bytes) -> int:
        """`append`, waiting until the log answers (a takeover's marker: nothing to page yet)."""
        return self._outcome(record, None)

    def _outcome(self, record: bytes, wait: float | None) -> int:
        p = self._pending
        if p is None:
            p = _Append(record, str(uuid.uuid4()), self.last_seq)
            self._pending = p
            threading.Thread(target=self._drive, args=(p,), name="log-append", daemon=True).start()
        elif p.record != record:
            raise LogSlow("an earlier record is not confirmed by the log yet; it goes first")
        elif wait is not None:
            wait = 0.0
        if not p.done.wait(wait):
            if wait == 0.0:  # on its way since an earlier call: say how long, not the bound
                raise LogSlow(
                    f"the log has not confirmed record {p.record_id} after {p.after} yet "
                    f"(tried for {time.monotonic() - p.started:.1f} s)"
                )
            raise LogSlow(f"the log has not confirmed record {p.record_id} after {p.after} within {wait:g} s")
        self._pending = None
        if p.refused:
            raise StepDown(f"the log refused the append: another console wrote first ({p.refused})")
        self.last_seq = p.seq
        return p.seq

    def _drive(self, p: _Append) -> None:
        """Try `p` until the log confirms or refuses it (thread `log-append`)."""
        t0 = time.monotonic()
        warned = False
        while True:
            if not self._acting():  # paused: the keeper resumes us, or replaces this process
                time.sleep(RETRY_S)
                continue
            try:
                p.seq = self.clog.append(p.record, p.after, p.record_id)
            except LogFenced as exc:
                p.refused = str(exc) or "fenced"
                break
            except LogUnavailable as exc:
                if not warned:
                    log.warning("the log did not confirm an append (%s); retrying, receipts wait", exc)
                    warned = True
                time.sleep(RETRY_S)
                continue
            if warned:
                log.warning("the log confirmed the append after %.1f s", time.monotonic() - t0)
            break
        p.done.set()
