"""The console service shell: MQTT in, group commit, effects out, timers.

Pipeline:

    paho network thread --(Raw)--> inbox queue --> writer thread:
        drain up to batch_max messages
        -> validate (console.ingest) -> dedupe by event_id -> world.step (pure cores)
        -> Tick at `now` (timers) -> ONE SQLite transaction (facts, received events,
           projections, notification outbox) -> commit (fsync)
        -> only then: receipts, unit commands, replies, retained state, notifications

The writer thread is the only one that touches the state and the database. It
sleeps until the next message or the cores' next due time. Delivery channels (the
console's notify topic, lead pager units, e-mail, Apprise) run in their own threads
(console.delivery); every attempt's outcome comes back through the inbox.

Degraded mode: when a commit fails (disk full, database unwritable) the service
stays up. It keeps the batch in memory (`_held`, in order), pages from memory with
"niet opgeslagen" / "not stored" in every notification, withholds the receipts of
the held unit events (their units keep retransmitting; retransmits of a held event
are dropped, not stepped again), raises one store fault to facilities and the leads,
and retries the commit every STORE_RETRY_S. When a commit succeeds it stores
everything held in one transaction, sends the withheld receipts once and says so.
A restart while degraded starts from the log (the truth): held events come back as
the units' retransmits.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, replace
from datetime import datetime

from console import i18n
from console.config import ServiceConfig
from console.core import world as core
from console.core.effects import (
    ClearIncident,
    Notify,
    Page,
    PublishHealth,
    PublishIncident,
    PublishPresence,
    Record,
    Reply,
    SendReceipt,
    SupEffect,
    Tx,
    UnitFeedback,
    UnitTestMode,
)
from console.core.engine import UnitEventIn, led_for, open_incident_of_unit
from console.core.notice import announce, notice, notified
from console.core.supervision import FaultIn, HeartbeatIn, StatusIn
from console.delivery.channel import Delivery, DeliveryOutcome, OutcomeStatus
from console.delivery.dispatcher import build_dispatcher
from console.delivery.render import render
from console.facts import ChannelFault, DeliveryAttempt, Fact, Notified
from console.ingest import Accepted, Ignored, Raw, Rejected, classify
from console.intake import Intake, Verdict, counted_presses, flood_facts
from console.sdnotify import SystemdNotifier
from console.store import Batch, OutboxRow, Store, unit_row
from console.texts import clip, local_time
from console.timeline import Timelines
from inventory.kinds import Role
from inventory.model import Site
from wire.credentials import BrokerCredentials
from wire.link import Link
from wire.messages import (
    CommandReply,
    ConsoleStatus,
    FeedbackCmd,
    IncidentStatus,
    LinkState,
    Notification,
    NotifyReason,
    PresenceState,
    Receipt,
    TestModeCmd,
    UnitEvent,
    encode,
    new_id,
    parse,
    utcnow,
)
from wire.topics import Topics, UnitChannel
from wire.version import VERSION

log = logging.getLogger("console")


@dataclass(frozen=True)
class _Outcome:
    """A delivery attempt finished (from a channel worker thread)."""

    outcome: DeliveryOutcome


@dataclass(frozen=True)
class _ChannelState:
    """A delivery channel started failing (raised) or works again (cleared)."""

    channel: str
    state: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class _Up:
    """The link (re)connected: republish the retained truth."""


_STOP = object()
BOOKKEEPING_WAIT_S = 0.02
BACKLOG_PAUSE_S = 0.002
"""Between slices of a flooding unit's backlog the writer waits this long for other input: it
releases the GIL, so the network thread reads on and another unit's alarm is not left behind."""
"""How long delivery confirmations wait for company before they are committed."""
STORE_RETRY_S = 1.0
"""Degraded mode: how often the writer retries storing what it holds."""
STORE_LOG_EVERY_S = 60.0
"""Degraded mode: how often the log repeats that nothing can be stored."""


class _RejectLog:
    """Log refused messages with their reason without flooding: 5 per reason per 10 s, then a count."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self._window: Counter[str] = Counter()
        self._since = time.monotonic()

    def add(self, r: Rejected) -> None:
        self.total[r.reason] += 1
        now = time.monotonic()
        if now - self._since > 10:
            for reason, n in self._window.items():
                if n > 5:
                    log.warning("refused %d more message(s) for %s in the last 10 s", n - 5, reason)
            self._window.clear()
            self._since = now
        self._window[r.reason] += 1
        if self._window[r.reason] <= 5:
            log.warning("refused message (%s): %s", r.reason, r.detail)


class ConsoleService:
    """Runs the console: construct, `start()`, later `stop()`."""

    def __init__(
        self,
        cfg: ServiceConfig,
        site: Site,
        creds: BrokerCredentials,
        *,
        init: bool = False,
    ) -> None:
        """`init`: create the database if it is missing or empty (otherwise `console.store.StoreMissing`)."""
        self.cfg = cfg
        self.timelines = Timelines(site)
        self._tl_touched: set[str] = set()
        self._fresh: list[Delivery] = []  # this batch's deliveries on non-durable channels
        self.site = site
        self.topics = Topics(site.site.id)
        self.store = Store(cfg.db_path, init=init)
        # Degraded mode (see the module docstring): what could not be stored yet, in order.
        self._held: Batch | None = None
        self._held_ids: dict[uuid.UUID, str | None] = {}
        self._held_receipts: list[SendReceipt] = []
        self._store_fault: tuple[datetime, str] | None = None
        self._store_fault_told = False
        self._store_retry_at = 0.0
        self._store_logged_at = 0.0
        self.systemd = SystemdNotifier()
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.rejects = _RejectLog()
        self.intake = Intake(cfg.intake, {u.id: u.heartbeat_s for u in site.units})
        self._backlog: deque[Raw] = deque()
        self.started_at = utcnow()
        self._stopped = threading.Event()
        self._first_up = True
        self._beat_at = 0.0
        self._stalls_logged = 0
        self.world: core.World
        will = (self.topics.console_status(), encode(ConsoleStatus(state=LinkState.OFFLINE, version=VERSION)))
        # A wide in-flight window: paho rescans its whole queue on every PUBACK once the window
        # is full, which turns a burst of receipts quadratic.
        self.link = Link(
            creds, client_id="console", will=will, on_up=lambda: self.inbox.put(_Up()), max_inflight=20000
        )
        for ch in (UnitChannel.EVENT, UnitChannel.STATUS, UnitChannel.HEARTBEAT):
            self.link.subscribe_raw(self.topics.all_units(ch), self._on_message)
        self.link.subscribe_raw(self.topics.all_person_cmds(), self._on_message)
        # One pipeline for every channel; the console's and the pager's publishes go out from the
        # writer right after the commit (send_now), their workers wait for the PUBACK.
        self.delivery, self._mqtt, self._pager = build_dispatcher(
            site,
            self.link,
            on_outcome=lambda o: self.inbox.put(_Outcome(o)),
            on_channel_fault=lambda ch, since, why: self.inbox.put(_ChannelState(ch, "raised", since, why)),
            on_channel_recovered=lambda ch, at: self.inbox.put(_ChannelState(ch, "cleared", at, "")),
            start=False,
        )
        self._writer = threading.Thread(target=self._run, name="writer", daemon=True)

    # -- lifecycle ----------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the state from the event log (the first step of `start`)."""
        t0 = time.monotonic()
        facts = list(self.store.facts())
        self.world = core.rebuild(self.site, facts, self.started_at, self.cfg.engine, self.cfg.supervision)
        for f in facts:
            self.timelines.add(f)
        boot = Batch(units={uid: unit_row(self.world.units, uid) for uid in self.world.units.units})
        try:
            self.store.commit(boot, self.started_at)  # every unit has a projection row from the start
        except sqlite3.Error as exc:  # e.g. the disk is full: start degraded, told in the first batch
            self._hold(boot, [], self.started_at, exc, tell=False)
        incidents = self.world.engine.incidents.values()
        open_n = sum(1 for i in incidents if i.status is not IncidentStatus.RESOLVED)
        log.info(
            "rebuilt state from %d logged facts in %.2f s: %d open incident(s)",
            len(facts),
            time.monotonic() - t0,
            open_n,
        )

    def start(self) -> None:
        """Rebuild the state from the log, connect, resume escalations, start the writer."""
        self.load()
        self.delivery.start()
        pending = self.store.undelivered()
        if pending:
            log.warning("re-sending %d notification(s) not confirmed before the last stop", len(pending))
        for row in pending:
            item = Delivery(row.notification_id, row.channel, row.person_id, row.topic, row.payload)
            self.delivery.submit(item)
        self.link.start()
        self._writer.start()
        self.systemd.ready()
        log.info("console service started for site %s (db %s)", self.site.site.id, self.cfg.db_path)

    def stop(self) -> None:
        """Finish the queued work, publish 'offline' and disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.systemd.stopping()
        self.inbox.put(_STOP)
        self._writer.join(10)
        if self._held is not None and not self._writer.is_alive():
            try:  # one last try; otherwise the units' retransmits bring it back after the restart
                now = utcnow()
                self.store.commit(self._held, now)
                self._execute(list(self._held_receipts), now)  # the link is still up
                log.warning("stored what was held before stopping and sent its receipts")
            except sqlite3.Error as exc:
                log.critical(
                    "stopping with %d fact(s) NOT stored (%s); units resend their events after the restart",
                    len(self._held.facts),
                    exc,
                )
        self.delivery.stop(drain_s=2.0)
        offline = encode(ConsoleStatus(state=LinkState.OFFLINE, at=utcnow(), version=VERSION))
        self.link.stop(last_words=(self.topics.console_status(), offline))
        self.store.close()
        log.info("console service stopped; refused messages: %s", dict(self.rejects.total) or "none")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the writer ends (it only ends on stop or a fatal error)."""
        self._writer.join(timeout)
        return not self._writer.is_alive()

    # -- network thread ----------------------------------------------------------------
    def _on_message(self, msg: object) -> None:
        m = msg  # paho MQTTMessage; keep the network thread to one queue put
        self.inbox.put(Raw(m.topic, bytes(m.payload), bool(m.retain)))  # type: ignore[attr-defined]

    # -- writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                timeout = self._sleep_for()
                if self._backlog:  # a flood's backlog: a short wait lets paho's thread read on
                    timeout = min(timeout, BACKLOG_PAUSE_S)
                try:
                    first = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
                except queue.Empty:
                    first = None
                items: list[object] = [] if first is None else [first]
                while len(items) < self.cfg.batch_max:
                    try:
                        items.append(self.inbox.get_nowait())
                    except queue.Empty:
                        break
                items = self._fair(items)
                self._coalesce_bookkeeping(items)
                stop = any(i is _STOP for i in items)
                self._process([i for i in items if i is not _STOP])
                self.systemd.watchdog()
                self._beat()
                if stop:
                    return
        except Exception:
            log.critical(
                "writer thread failed; exiting so the supervisor restarts the service", exc_info=True
            )
            self._stopped.set()

    def _coalesce_bookkeeping(self, items: list[object]) -> None:
        """A batch of only delivery outcomes waits up to
        BOOKKEEPING_WAIT_S for more, so they share one commit (one fsync) instead of one each.
        Anything else (an alarm, a command, a status) ends the wait at once."""
        if not items or not all(isinstance(i, _Outcome) for i in items):
            return
        deadline = time.monotonic() + BOOKKEEPING_WAIT_S
        while len(items) < self.cfg.batch_max and (left := deadline - time.monotonic()) > 0:
            try:
                item = self.inbox.get(timeout=left)
            except queue.Empty:
                return
            items.append(item)
            if not isinstance(item, _Outcome):
                return

    def _beat(self) -> None:
        """The service's heartbeat: ConsoleStatus(online) on console/status every status_beat_s
        (QoS0, not retained), sent from the writer loop, so a hung writer (or a stopped process)
        stops it; consoles count three missed beats as "alarmcentrale offline"."""
        if self.world.units.stalls != self._stalls_logged:
            self._stalls_logged = self.world.units.stalls
            log.warning(
                "the console service itself stood still for %.1f s; unit silence is counted from after "
                "the gap, not reported as units offline",
                self.world.units.last_stall_s,
            )
        mono = time.monotonic()
        if mono - self._beat_at < self.cfg.status_beat_s or not self.link.connected.is_set():
            return
        self._beat_at = mono
        st = ConsoleStatus(
            state=LinkState.ONLINE, at=utcnow(), version=VERSION, beat_s=self.cfg.status_beat_s
        )
        self.link.publish(self.topics.console_status(), encode(st), qos=0)

    def _sleep_for(self) -> float:
        due = core.next_due(self.world)
        cap = min(self.systemd.ping_interval() or 5.0, self.cfg.status_beat_s)
        if self._held is not None:
            cap = min(cap, STORE_RETRY_S)  # degraded: retry storing
        if due is None:
            return cap
        return max(0.0, min(cap, (due - utcnow()).total_seconds()))

    def _process(self, items: list[object]) -> None:
        t_start = time.perf_counter()
        now = utcnow()
        batch = Batch()
        effects: list[SupEffect] = []
        seen: dict[uuid.UUID, str | None] = {}
        counted: dict[str, list[UnitEvent]] = {}
        up = False
        w = self.world
        classified = [(i, self._classify(i) if isinstance(i, Raw) else None) for i in items]
        ids = [r.event.event_id for _i, r in classified if isinstance(r, UnitEventIn | FaultIn)]
        try:
            stored_before = self.store.received_many(ids)  # one query per batch, not per event
        except sqlite3.Error as exc:  # fail open: rather a repeat press than a lost one
            log.error("cannot read the database to deduplicate %d event(s): %s", len(ids), exc)
            stored_before = {}
        for item, res in classified:
            if isinstance(item, _Up):
                up = True
                continue
            if isinstance(item, _Outcome):
                o = item.outcome
                if not self.delivery.durable(o.channel):
                    effects.append(Record(_attempt_fact(o)))
                elif o.status is OutcomeStatus.DELIVERED:  # a durable channel's record is its outbox row
                    batch.delivered.append((now.isoformat(), str(o.notification_id), o.channel))
                continue
            if isinstance(item, _ChannelState):
                effects += self._channel_state(item, now)
                continue
            assert isinstance(item, Raw) and res is not None
            if isinstance(res, Ignored):
                continue
            if isinstance(res, Rejected):
                self.rejects.add(res)
                batch.rejects[res.reason] = batch.rejects.get(res.reason, 0) + 1
                if res.reply_to is not None:
                    pid, cid = res.reply_to
                    code = "not_authorised" if res.reason == "unknown_person" else "invalid"
                    effects.append(Reply(pid, cid, False, code, f"reply_{code}", {"what": res.detail[:120]}))
                continue
            if isinstance(res, HeartbeatIn | StatusIn) and self._surplus(res, now):
                continue
            if isinstance(res, UnitEventIn | FaultIn):
                ev = res.event
                if ev.event_id in seen:
                    effects.append(SendReceipt(ev.unit_id, ev.event_id, seen[ev.event_id], duplicate=True))
                    continue
                if ev.event_id in self._held_ids:
                    continue  # held in memory, not stored: no receipt, no second step; the unit retries
                if ev.event_id in stored_before:
                    incident_id = stored_before[ev.event_id]
                    effects.append(SendReceipt(ev.unit_id, ev.event_id, incident_id, duplicate=True))
                    continue
                if self._over_rate(w, ev, now, counted, seen, batch):
                    continue
                stepped = self._step(w, res, now, item)
                if stepped is None:
                    continue
                w, effs = stepped
                incident_id = next((e.incident_id for e in effs if isinstance(e, SendReceipt)), None)
                seen[ev.event_id] = incident_id
                batch.received.append(
                    (str(ev.event_id), ev.unit_id, ev.kind.value, now.isoformat(), incident_id, item.payload)
                )
                effects += effs
                continue
            stepped = self._step(w, res, now, item)
            if stepped is not None:
                w, effs = stepped
                effects += effs
        w, effs = self._limits(w, counted, now)
        effects += effs
        w, effs = core.step(w, core.Tick(time.monotonic(), self.link.connected.is_set()), now)
        effects += effs
        self.world = w
        t_step = time.perf_counter()
        self._fill_batch(batch, effects, now)
        outbox = self._commit(batch, effects, now)
        t_commit = time.perf_counter()
        # ---- committed (or held in degraded mode: then without receipts, see _commit) ----
        self._execute(effects, now)
        for row in outbox:
            out = Delivery(row.notification_id, row.channel, row.person_id, row.topic, row.payload)
            if out.channel == self._mqtt.name:
                self._mqtt.send_now(out)  # out now; the channel's worker waits for the PUBACK
            self.delivery.submit(out)
        fresh, self._fresh = self._fresh, []
        for d in fresh:
            self.delivery.submit(d)
        if up:
            self._republish(now)
        if log.isEnabledFor(logging.DEBUG) and items:
            t_end = time.perf_counter()
            log.debug(
                "batch of %d: core %.1f ms, store %.1f ms, publish %.1f ms",
                len(items),
                (t_step - t_start) * 1000,
                (t_commit - t_step) * 1000,
                (t_end - t_commit) * 1000,
            )

    # -- storing, and degraded mode when the database cannot store -------------------------
    def _commit(self, batch: Batch, effects: list[SupEffect], now: datetime) -> list[OutboxRow]:
        """Store `batch` (after anything held, in one transaction); return the notification rows
        to hand to the channels now. When the store fails, the batch is held (`_hold`) and
        `effects` lose the receipts of its unit events; when storing works again after that,
        the held receipts are added to `effects`."""
        if self._held is None:
            try:
                self.store.commit(batch, now)
            except sqlite3.Error as exc:
                return self._hold(batch, effects, now, exc)
            return batch.outbox
        if time.monotonic() < self._store_retry_at:
            return self._hold(batch, effects, now, None)
        self._store_retry_at = time.monotonic() + STORE_RETRY_S
        try:
            self.store.commit(self._held.merged(batch), now)
        except sqlite3.Error as exc:
            return self._hold(batch, effects, now, exc)
        return batch.outbox + self._store_recovered(effects, now)

    def _hold(
        self,
        batch: Batch,
        effects: list[SupEffect],
        now: datetime,
        exc: sqlite3.Error | None,
        *,
        tell: bool = True,
    ) -> list[OutboxRow]:
        """Keep a batch that could not be stored (`exc`; None: not tried, a retry is not due).
        The first time, the store fault goes out to facilities and the leads (unless not `tell`:
        at start-up, before the link is up; the first batch tells them then)."""
        if self._held is None:
            reason = f"{getattr(exc, 'sqlite_errorname', type(exc).__name__)}: {exc}"
            self._held = Batch()
            self._store_fault = (now, reason)
            self._store_fault_told = False
            self._store_retry_at = time.monotonic() + STORE_RETRY_S
            self._store_logged_at = time.monotonic()
            log.critical(
                "CANNOT STORE in %s (%s): degraded mode. Alarms are paged from memory and marked "
                "'not stored', units get no receipt and keep retransmitting; retrying every %.0f s. "
                "Free disk space on this server now.",
                self.cfg.db_path,
                reason,
                STORE_RETRY_S,
            )
        elif exc is not None and time.monotonic() - self._store_logged_at >= STORE_LOG_EVERY_S:
            self._store_logged_at = time.monotonic()
            log.critical(
                "still CANNOT STORE in %s (%s): %d fact(s) and %d unit event(s) held in memory",
                self.cfg.db_path,
                exc,
                len(self._held.facts),
                len(self._held_ids),
            )
        self._mark_not_stored(batch)
        self._held.extend(batch)
        for event_id, *_rest, incident_id, _payload in batch.received:
            self._held_ids[uuid.UUID(event_id)] = incident_id
        kept: list[SupEffect] = []
        for e in effects:
            # Every first receipt of this batch is for an event only in memory now: withhold it
            # (whatever produced it). A duplicate receipt is sent only for an event already stored.
            if isinstance(e, SendReceipt) and (not e.duplicate or e.event_id in self._held_ids):
                if not e.duplicate:
                    self._held_receipts.append(e)
                    self._held_ids[e.event_id] = e.incident_id
                continue
            kept.append(e)
        effects[:] = kept
        if self._store_fault_told or not tell:
            return batch.outbox
        self._store_fault_told = True
        return batch.outbox + self._store_notice("store_fault", NotifyReason.FAULT, now, self._held)

    def _store_recovered(self, effects: list[SupEffect], now: datetime) -> list[OutboxRow]:
        """Everything held is stored: send the withheld receipts and tell the people told of the fault."""
        held_events = len(self._held_ids)
        held_facts = len(self._held.facts) if self._held is not None else 0
        effects += self._held_receipts
        self._held, self._held_ids, self._held_receipts = None, {}, []
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
        except sqlite3.Error as exc:
            return self._hold(b, effects, now, exc)
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
            rows += self._deliveries(note, now)
        into.outbox += rows
        return rows

    def _deliveries(self, note: Notification, now: datetime) -> list[OutboxRow]:
        """Route one notification: the durable channels' rows (for the outbox, returned), the others'
        deliveries kept in `_fresh` (submitted after the commit)."""
        payload = encode(note)
        rows: list[OutboxRow] = []
        for d in self.delivery.route(note, payload):
            if self.delivery.durable(d.channel):
                rows.append(OutboxRow(d.notification_id, d.channel, d.person_id, d.address, payload, now))
            else:
                self._fresh.append(d)
        return rows

    def _mark_not_stored(self, batch: Batch) -> None:
        """Say "niet opgeslagen" / "not stored" in every notification of a batch that is only in memory."""
        marked: dict[uuid.UUID, bytes] = {}

        def mark(nid: uuid.UUID, payload: bytes) -> bytes:
            if nid not in marked:
                marked[nid] = encode(self._not_stored(parse(Notification, payload)))
            return marked[nid]

        for k, row in enumerate(batch.outbox):
            batch.outbox[k] = replace(row, payload=mark(row.notification_id, row.payload))
        self._fresh = [replace(d, payload=mark(d.notification_id, d.payload)) for d in self._fresh]

    def _not_stored(self, note: Notification) -> Notification:
        lang = self.site.language_of(note.person_id) if note.person_id in self.site.index.people else None
        lang = lang or self.site.site.language
        return note.model_copy(
            update={
                "title": clip(f"{note.title} ({i18n.t('not_stored_tag', lang)})", 200),
                "body": clip(f"{i18n.t('not_stored', lang)} {note.body}", 2000),
            }
        )

    def _classify(self, raw: Raw) -> Accepted | Rejected | Ignored:
        try:
            return classify(self.site, self.topics, raw)
        except Exception:  # a bug, not bad input: refuse this message, keep the service up
            log.exception("internal error validating a message on %s", raw.topic)
            return Rejected("internal_error", f"internal error on {raw.topic}")

    # -- per-unit input limits (console.intake) -------------------------------------
    def _fair(self, items: list[object]) -> list[object]:
        """Keep other units ahead of a flood: surplus heartbeats of known units are dropped
        unparsed, messages of noisy units go to their own backlog (skimming the inbox for more
        while it holds mostly theirs), and the batch takes at most `noisy_per_batch` of them,
        after everything else."""
        now = utcnow()
        keep: list[object] = []
        todo = deque(items)
        skimmed = 0
        while True:
            while todo:
                item = todo.popleft()
                unit = self.topics.parse_unit(item.topic) if isinstance(item, Raw) else None
                if unit is None or unit[0] not in self.intake.heartbeat_s:
                    keep.append(item)
                elif unit[1] is UnitChannel.HEARTBEAT and self.intake.heartbeat(unit[0], now) is Verdict.DROP:
                    self.rejects.total["rate_limited"] += 1
                    skimmed += 1
                elif unit[1] is not UnitChannel.HEARTBEAT and self.intake.noisy(unit[0]):
                    self._backlog.append(item)  # type: ignore[arg-type]
                    skimmed += 1
                else:
                    keep.append(item)
            if not skimmed or len(keep) >= self.cfg.batch_max or skimmed > 20 * self.cfg.batch_max:
                break
            try:  # the inbox held mostly a flood: read on, so what others sent is not left behind it
                for _ in range(self.cfg.batch_max):
                    todo.append(self.inbox.get_nowait())
            except queue.Empty:
                pass
            if not todo:
                break
        for _ in range(min(len(self._backlog), self.cfg.intake.noisy_per_batch)):
            keep.append(self._backlog.popleft())
        return keep

    def _surplus(self, res: HeartbeatIn | StatusIn, now: datetime) -> bool:
        """A status over the unit's rate: drop it here, before any disk work (counted in memory;
        a flood is flagged to facilities). Heartbeats were limited in `_fair`, unparsed."""
        if isinstance(res, HeartbeatIn):
            return False
        if self.intake.status(res.status.unit_id, now) is Verdict.DROP:
            self.rejects.total["rate_limited"] += 1
            return True
        return False

    def _over_rate(
        self,
        w: core.World,
        ev: UnitEvent,
        now: datetime,
        counted: dict[str, list[UnitEvent]],
        seen: dict[uuid.UUID, str | None],
        batch: Batch,
    ) -> bool:
        """True when a unit event over its unit's rate was taken care of here: a repeat press of
        an open incident is counted (receipted after the batch's commit), anything but a press
        waits for the unit's retransmission. An alarm with no open incident goes on in full."""
        inc = open_incident_of_unit(w.engine, ev.unit_id)
        v = self.intake.event(ev.unit_id, ev.kind, inc is not None, now)
        if v is Verdict.COUNT and inc is not None:
            counted.setdefault(inc.id, []).append(ev)
            seen[ev.event_id] = inc.id
            return True
        if v is Verdict.DEFER:
            self.rejects.total["rate_limited"] += 1
            batch.rejects["rate_limited"] = batch.rejects.get("rate_limited", 0) + 1
            return True
        return False

    def _limits(
        self, w: core.World, counted: dict[str, list[UnitEvent]], now: datetime
    ) -> tuple[core.World, list[SupEffect]]:
        """The batch's counted presses as one fact per incident (their receipts go out after the
        commit), and flood flags raised or cleared (a fault and one notice to facilities)."""
        effects: list[SupEffect] = []
        for iid, evs in counted.items():
            fact = counted_presses(iid, evs, now)
            w = core.evolve(w, fact)
            effects += [Record(fact), PublishIncident(iid)]
            effects += [SendReceipt(e.unit_id, e.event_id, iid) for e in evs]
        for ch in self.intake.changes(now):
            if ch.raised:
                log.warning(
                    "unit %s floods the console (%d messages over its limits): flagged to facilities; "
                    "its repeat presses are counted, surplus heartbeats dropped, its alarms still handled",
                    ch.unit_id,
                    ch.count,
                )
            else:
                log.warning(
                    "unit %s keeps to its limits again (%d over in all): flag cleared", ch.unit_id, ch.count
                )
            tx: Tx[core.World, SupEffect] = Tx(w, now, core.evolve)
            for f in flood_facts(ch, self.site.people_with(Role.FACILITIES), now):
                if isinstance(f, Notified):
                    announce(tx, f)
                else:
                    tx.record(f)
            w = tx.s
            effects += tx.effects
            effects.append(PublishHealth(ch.unit_id))
        return w, effects

    def _step(
        self, w: core.World, inp: core.Input, now: datetime, raw: Raw
    ) -> tuple[core.World, list[SupEffect]] | None:
        """One core step; a bug on one message must not crash-loop the service (the unit retries)."""
        try:
            return core.step(w, inp, now)
        except Exception:
            log.exception("internal error handling a message on %s; it was not stored", raw.topic)
            self.rejects.total["internal_error"] += 1
            return None

    def _fill_batch(self, batch: Batch, effects: list[SupEffect], now: datetime) -> None:
        w = self.world
        touched_units: set[str] = set()
        for e in effects:
            if isinstance(e, Record):
                f: Fact = e.fact
                batch.facts.append(f)
                touched = self.timelines.add(f)
                if touched is not None:
                    self._tl_touched.add(touched)
                iid = getattr(f, "incident_id", None)
                if iid is not None and iid in w.engine.incidents:
                    batch.incidents[iid] = w.engine.incidents[iid]
                uid = getattr(f, "unit_id", None)
                if uid is not None and uid in w.units.units:
                    touched_units.add(uid)
            elif isinstance(e, PublishHealth):
                touched_units.add(e.unit_id)
            elif isinstance(e, Notify):
                n = e.notice
                inc = w.engine.incidents.get(n.incident_id) if n.incident_id else None
                for pid, nid in zip(n.person_ids, n.notification_ids, strict=True):
                    batch.outbox += self._deliveries(render(self.site, n, pid, nid, inc), now)
        for uid in touched_units:
            batch.units[uid] = unit_row(w.units, uid)

    # -- effects (after the commit) ---------------------------------------------------
    def _execute(self, effects: list[SupEffect], now: datetime) -> None:
        t = self.topics
        pub = self.link.publish
        incidents: dict[str, None] = {}
        health: dict[str, None] = {}
        for e in effects:
            match e:
                case SendReceipt():
                    r = Receipt(
                        event_id=e.event_id,
                        unit_id=e.unit_id,
                        incident_id=e.incident_id,
                        stored_at=now,
                        duplicate=e.duplicate,
                    )
                    pub(t.unit_receipt(e.unit_id), encode(r), qos=1)
                case UnitFeedback() | UnitTestMode():
                    self._unit_command(e, now)
                case Page():
                    self._page(e, now)
                case Reply():
                    self._reply(e)
                case PublishIncident():
                    incidents[e.incident_id] = None
                case ClearIncident():
                    incidents.pop(e.incident_id, None)
                    self._tl_touched.discard(e.incident_id)
                    self.timelines.forget(e.incident_id)
                    pub(t.incident(e.incident_id), b"", qos=1, retain=True)
                    pub(t.timeline(e.incident_id), b"", qos=1, retain=True)
                case PublishPresence():
                    self._publish_presence(e.person_id, now)
                case PublishHealth():
                    health[e.unit_id] = None
                case Notify() | Record():
                    pass
        for iid in incidents:
            inc = self.world.engine.incidents.get(iid)
            if inc is not None:
                pub(t.incident(iid), encode(inc.to_wire()), qos=1, retain=True)
        touched, self._tl_touched = self._tl_touched, set()
        for iid in touched:
            self._publish_timeline(iid)
        for uid in health:
            pub(t.unitstate(uid), encode(self.world.units.health(uid)), qos=1, retain=True)

    def _page(self, e: Page, now: datetime) -> None:
        """A page for a lead pager unit: published now, confirmed and retried by the pager channel."""
        if self._pager is None:  # the engine pages only the inventory's lead units: a bug
            log.error("page for %s without a pager channel (no lead unit in the inventory)", e.unit_id)
            return
        d = self._pager.page(e.unit_id, e.incident_id, e.level, now)
        self._pager.send_now(d)
        self.delivery.submit(d)

    def _unit_command(self, e: UnitFeedback | UnitTestMode, now: datetime) -> None:
        """The wire command for a unit effect, published on the unit's command topic."""
        head: dict[str, object] = {"cmd_id": new_id(), "unit_id": e.unit_id, "issued_at": now}
        cmd: FeedbackCmd | TestModeCmd
        match e:
            case UnitFeedback():
                cmd = FeedbackCmd.model_validate(
                    {**head, "incident_id": e.incident_id, "feedback": e.feedback}
                )
            case UnitTestMode():
                cmd = TestModeCmd.model_validate(
                    {**head, "on": e.on, "until": e.until, "campaign_id": e.campaign_id, "by": e.by}
                )
        self.link.publish(self.topics.unit_cmd(e.unit_id), encode(cmd), qos=1)

    def _reply(self, e: Reply) -> None:
        lang = (
            self.site.language_of(e.person_id)
            if e.person_id in self.site.index.people
            else self.site.site.language
        )
        try:
            reason = i18n.t(e.text_key, lang, **e.values)
        except (KeyError, IndexError):
            reason = e.code
        msg = CommandReply(
            cmd_id=e.cmd_id,
            ok=e.ok,
            code=e.code,
            reason=reason[:200],
            incident_id=e.incident_id,
            campaign_id=e.campaign_id,
        )
        if not e.ok:
            log.warning("rejected command %s of %s: %s (%s)", e.cmd_id, e.person_id, e.code, reason)
        self.link.publish(self.topics.person_reply(e.person_id), encode(msg), qos=1)

    def _publish_timeline(self, incident_id: str) -> None:
        inc = self.world.engine.incidents.get(incident_id)
        if inc is None:
            return
        tl = self.timelines.timeline(incident_id, inc.to_wire().version)
        if tl is not None:
            self.link.publish(self.topics.timeline(incident_id), encode(tl), qos=1, retain=True)

    def _channel_state(self, item: _ChannelState, now: datetime) -> list[SupEffect]:
        """Record a channel fault / recovery and tell facilities, once per change."""
        fact = ChannelFault(
            at=now, channel=item.channel, state=item.state, since=item.since, reason=item.reason
        )
        to = self.site.people_with(Role.FACILITIES)
        key = "channel_fault" if item.state == "raised" else "channel_recovered"
        detail = {"channel": item.channel, "since": item.since.isoformat(), "reason": item.reason[:200]}
        tx: Tx[None, SupEffect] = Tx(None, now)  # the shell's own notice: no core folds it
        tx.record(fact)
        notice(tx, NotifyReason.FAULT, to, f"channel-{item.channel}", key, detail, to_nobody=True)
        log.warning("delivery channel %s %s: %s", item.channel, item.state, item.reason)
        return tx.effects

    def _publish_presence(self, person_id: str, now: datetime) -> None:
        eng = self.world.engine
        present = person_id not in eng.unreachable
        reason = eng.presence_reason(person_id)
        st = PresenceState(person_id=person_id, present=present, reason=reason, at=now)
        self.link.publish(self.topics.presence(person_id), encode(st), qos=1, retain=True)

    def _republish(self, now: datetime) -> None:
        """After (re)connecting: console online, every incident, unit and presence state."""
        t = self.topics
        pub = self.link.publish
        pub(
            t.console_status(),
            encode(
                ConsoleStatus(state=LinkState.ONLINE, at=now, version=VERSION, beat_s=self.cfg.status_beat_s)
            ),
            qos=1,
            retain=True,
        )
        w = self.world
        for inc in w.engine.incidents.values():
            pub(t.incident(inc.id), encode(inc.to_wire()), qos=1, retain=True)
            self._publish_timeline(inc.id)
            if self._first_up and inc.status is not IncidentStatus.RESOLVED:
                self._unit_command(UnitFeedback(inc.unit_id, inc.id, led_for(inc)), now)
        for uid in w.units.units:
            pub(t.unitstate(uid), encode(w.units.health(uid)), qos=1, retain=True)
        for pid in self.site.index.people:
            self._publish_presence(pid, now)
        self._first_up = False
        log.info("published console status and retained state (%d incidents)", len(w.engine.incidents))


def _attempt_fact(o: DeliveryOutcome) -> DeliveryAttempt:
    return DeliveryAttempt(
        at=o.at,
        notification_id=o.notification_id,
        incident_id=o.incident_id,
        person_id=o.person_id,
        channel=o.channel,
        attempt=o.attempt,
        status=o.status.value,
        reason=o.reason[:300],
    )
