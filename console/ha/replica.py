"""The replicated log as the active console's `Replica`: every commit is appended, fenced by the
log's last sequence, before the console's own database writes it (docs/HA.md)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from stilalarm.console.ha.jetstream import ClusterLog, LogFenced, LogUnavailable
from stilalarm.console.store.records import StepDown

log = logging.getLogger(__name__)

RETRY_S = 0.1
"""How often an append that got no answer is tried again (the same record id: stored once)."""


class LogReplica:
    """Appends records after `last_seq`; retries an unanswered append with the same record id, each
    try only while `acting()` (a paused lease waits); raises `StepDown` when the log refuses it
    (another console wrote)."""

    def __init__(self, clog: ClusterLog, last_seq: int, acting: Callable[[], bool]) -> None:
        self.clog = clog
        self.last_seq = last_seq
        self._acting = acting

    def append(self, record: bytes) -> int:
        record_id = str(uuid.uuid4())
        t0 = time.monotonic()
        warned = False
        while True:
            if not self._acting():  # paused: the keeper resumes us, or replaces this process
                time.sleep(RETRY_S)
                continue
            try:
                seq = self.clog.append(record, self.last_seq, record_id)
            except LogFenced as exc:
                raise StepDown(f"the log refused the append: another console wrote first ({exc})") from None
            except LogUnavailable as exc:
                if not warned:
                    log.warning("the log did not confirm an append (%s); retrying, receipts wait", exc)
                    warned = True
                time.sleep(RETRY_S)
                continue
            if warned:
                log.warning("the log confirmed the append after %.1f s", time.monotonic() - t0)
            self.last_seq = seq
            return seq
