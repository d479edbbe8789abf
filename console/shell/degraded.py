"""Storing each batch, and degraded mode when it cannot be stored.

When a commit fails (disk full, database unwritable) or, on a cluster, the replicated log has
not confirmed it within `[cluster] page_after_s` (`LogSlow`: a stream leader's election, JetStream
refusing writes), the service stays up. It keeps the batch in memory (`held`, in order), pages
from memory with "niet opgeslagen" / "not stored" in every notification, withholds the receipts
of the held unit events (their units keep retransmitting; retransmits of a held event are
dropped, not stepped again), raises one store fault to facilities and the leads, and retries
every STORE_RETRY_S: each held batch in order, in its own transaction (the log's unconfirmed
record is the same record, tried again under the same id: stored once). When everything held is
stored it sends the withheld receipts once and says so. A restart while degraded starts from
the log (the truth): held events come back as the units' retransmits.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from datetime import datetime
from pathlib import Path

from stilalarm.console import i18n
from stilalarm.console.core.effects import SendReceipt, SupEffect
from stilalarm.console.core.notice import notified
from stilalarm.console.shell.outgoing import Outgoing
from stilalarm.console.store import Batch, OutboxRow, Store
from stilalarm.console.store.records import LogSlow
from stilalarm.console.texts import clip, local_time
from stilalarm.inventory.kinds import Role
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Notification, NotifyReason

log = logging.getLogger("console")

STORE_RETRY_S = 1.0
"""Degraded mode: how often the writer retries storing what it holds."""
STORE_LOG_EVERY_S = 60.0
"""Degraded mode: how often the log repeats that nothing can be stored."""
NOT_STORED = (sqlite3.Error, LogSlow)
"""What a commit raises when its batch is not stored (yet): degraded mode."""


class Committer:
    """Commits the writer's batches to `store`; holds them in memory while it cannot."""

    def __init__(self, store: Store, site: Site, db_path: Path, outgoing: Outgoing) -> None:
        self.store = store
        self.site = site
        self.db_path = db_path
        self.outgoing = outgoing
        # What could not be stored yet: batches in order (see the module docstring).
        self.held: list[Batch] = []
        self._held_facts = 0
        self._fault_key = "store_fault"
        self.held_ids: dict[uuid.UUID, str | None] = {}
        self.held_receipts: list[SendReceipt] = []
        self._store_fault: tuple[datetime, str] | None = None
        self._store_fault_told = False
        self._store_retry_at = 0.0
        self._store_logged_at = 0.0

    def commit(self, batch: Batch, effects: list[SupEffect], now: datetime) -> list[OutboxRow]:
        """Store `batch` (after anything held, in one transaction); return the notification rows
        to hand to the channels now. When the store fails, the batch is held (`hold`) and
        `effects` lose the receipts of its unit events; when storing works again after that,
        the held receipts are added to `effects`."""
        if not self.held:
            try:
                self.store.commit(batch, now)
            except NOT_STORED as exc:
                return self.hold(batch, effects, now, exc)
            return batch.outbox
        if time.monotonic() < self._store_retry_at:
            return self.hold(batch, effects, now, None)
        self._store_retry_at = time.monotonic() + STORE_RETRY_S
        try:
            self.store_held(now)
            self.store.commit(batch, now)
        except NOT_STORED as exc:
            return self.hold(batch, effects, now, exc)
        return batch.outbox + self._store_recovered(effects, now)

    @property
    def degraded(self) -> bool:
        """Something is held in memory, not stored."""
        return bool(self.held)

    def store_held(self, now: datetime) -> None:
        """Store the held batches, oldest first, each in its own transaction (a log record each);
        raises what `Store.commit` raises, keeping what is not stored yet."""
        while self.held:
            self.store.commit(self.held[0], now)
            self.held.pop(0)

    def hold(
        self,
        batch: Batch,
        effects: list[SupEffect],
        now: datetime,
        exc: sqlite3.Error | LogSlow | None,
        *,
        tell: bool = True,
    ) -> list[OutboxRow]:
        """Keep a batch that could not be stored (`exc`; None: not tried, a retry is not due).
        The first time, the store fault goes out to facilities and the leads (unless not `tell`:
        at start-up, before the link is up; the first batch tells them then)."""
        if self._store_fault is None:  # entering degraded mode (not: held stored, this batch not)
            reason = f"{getattr(exc, 'sqlite_errorname', type(exc).__name__)}: {exc}"
            self._held_facts = 0
            self._store_fault = (now, reason)
            self._store_fault_told = False
            self._store_retry_at = time.monotonic() + STORE_RETRY_S
            self._store_logged_at = time.monotonic()
            slow = isinstance(exc, LogSlow)
            self._fault_key = "log_fault" if slow else "store_fault"
            log.critical(
                "CANNOT STORE in %s (%s): degraded mode. Alarms are paged from memory and marked "
                "'not stored', units get no receipt and keep retransmitting; retrying every %.0f s. %s",
                "the replicated log" if slow else self.db_path,
                reason,
                STORE_RETRY_S,
                "Check the cluster's nodes now." if slow else "Free disk space on this server now.",
            )
        elif exc is not None and time.monotonic() - self._store_logged_at >= STORE_LOG_EVERY_S:
            self._store_logged_at = time.monotonic()
            log.critical(
                "still CANNOT STORE (%s): %d fact(s) and %d unit event(s) held in memory",
                exc,
                self._held_facts,
                len(self.held_ids),
            )
        self.outgoing.mark_not_stored(batch)
        self.held.append(batch)
        self._held_facts += len(batch.facts)
        for event_id, *_rest, incident_id, _payload in batch.received:
            self.held_ids[uuid.UUID(event_id)] = incident_id
        kept: list[SupEffect] = []
        for e in effects:
            # Every first receipt of this batch is for an event only in memory now: withhold it
            # (whatever produced it). A duplicate receipt is sent only for an event already stored.
            if isinstance(e, SendReceipt) and (not e.duplicate or e.event_id in self.held_ids):
                if not e.duplicate:
                    self.held_receipts.append(e)
                    self.held_ids[e.event_id] = e.incident_id
                continue
            kept.append(e)
        effects[:] = kept
        if self._store_fault_told or not tell:
            return batch.outbox
        self._store_fault_told = True
        notice = Batch()  # a batch of its own: `batch` may be the log's unconfirmed record
        self.held.append(notice)
        rows = self._store_notice(self._fault_key, NotifyReason.FAULT, now, notice)
        self._held_facts += len(notice.facts)
        return batch.outbox + rows

    def _store_recovered(self, effects: list[SupEffect], now: datetime) -> list[OutboxRow]:
        """Everything held is stored: send the withheld receipts and tell the people told of the fault."""
        held_events = len(self.held_ids)
        held_facts = self._held_facts
        effects += self.held_receipts
        self.held, self.held_ids, self.held_receipts, self._held_facts = [], {}, [], 0
        since = self._store_fault[0] if self._store_fault is not None else now
        log.warning(
            "storing again after %.0f s: %d held fact(s) stored, %d withheld receipt(s) sent",
            (now - since).total_seconds(),
            held_facts,
            held_events,
        )
        told = self._store_fault_told
        self._store_fault_told = False
        if not told:
            self._store_fault = None
            return []
        b = Batch()
        rows = self._store_notice("store_recovered", NotifyReason.INFO, now, b, held=held_events)
        self._store_fault = None
        try:
            self.store.commit(b, now)
        except NOT_STORED as exc:
            return self.hold(b, effects, now, exc)
        return rows

    def _store_notice(
        self, key: str, reason: NotifyReason, now: datetime, into: Batch, held: int = 0
    ) -> list[OutboxRow]:
        """The store fault (or its end) for facilities and every lead: a `notified` fact and its
        notifications, added to `into`; returns the notification rows."""
        since, why = self._store_fault or (now, "")
        to = tuple(
            dict.fromkeys((*self.site.people_with(Role.FACILITIES), *self.site.people_with(Role.LEAD)))
        )
        detail = {"since": since.isoformat(), "reason": why[:200], "held": str(held)}
        fact = notified(now, reason, to, "console-store", key, detail)
        into.facts.append(fact)
        rows: list[OutboxRow] = []
        for pid, nid in zip(to, fact.notification_ids, strict=True):
            lang = self.site.language_of(pid)
            values = {"time": local_time(self.site, since, lang), "reason": why[:200], "held": held}
            note = Notification(
                notification_id=nid,
                person_id=pid,
                reason=reason,
                title=clip(i18n.t(f"{key}_title", lang), 200),
                body=clip(i18n.t(f"{key}_body", lang, **values), 2000),
                at=now,
            )
            rows += self.outgoing.route(note, now)
        into.outbox += rows
        return rows
