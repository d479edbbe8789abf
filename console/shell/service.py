"""The console service: MQTT in, group commit, effects out, timers.

Pipeline:

    paho network thread --(Raw)--> inbox queue --> writer thread:
        drain up to batch_max messages
        -> validate (stilalarm.console.ingest) -> dedupe by event_id -> world.step (pure cores)
        -> Tick at `now` (timers) -> ONE SQLite transaction (facts, received events,
           projections, notification outbox) -> commit (fsync)
        -> only then: the people's notifications and the pages, until the broker took them (at
           most 0.2 s, `outgoing.help_first`), then receipts, unit commands, replies, retained state

The writer thread is the only one that touches the state and the database. It
sleeps until the next message or the cores' next due time. The console and pager channels run in
threads (stilalarm.console.delivery), e-mail and Apprise in a supervised process fed from the
outbox (stilalarm.console.shell.fanout); every attempt's outcome comes back through the inbox.

Degraded mode: when a commit fails (disk full, database unwritable) the service stays up,
pages from memory and retries (stilalarm.console.shell.degraded).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import nodes
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import Notify, PublishHealth, Record, Reply, SendReceipt, SupEffect
from stilalarm.console.core.engine import UnitEventIn
from stilalarm.console.core.supervision import FaultIn, HeartbeatIn, StatusIn
from stilalarm.console.delivery.dispatcher import build_dispatcher
from stilalarm.console.delivery.render import render
from stilalarm.console.facts import Fact
from stilalarm.console.ingest import Accepted, Ignored, Raw, Rejected, classify
from stilalarm.console.sdnotify import SystemdNotifier
from stilalarm.console.shell.configs import ConfigVersions, state_path
from stilalarm.console.shell.degraded import NOT_STORED, STORE_RETRY_S, Committer
from stilalarm.console.shell.fanout import Fanout, fanout_command
from stilalarm.console.shell.inbox import (
    STOP,
    ChannelState,
    ClusterProblem,
    NodeNotice,
    Outcome,
    PurgeNow,
    RejectLog,
    StandbyNotice,
    Up,
    bookkeep,
    channel_state,
    cluster_problem,
    coalesce,
    node_notice,
    standby_notice,
)
from stilalarm.console.shell.limits import Limits
from stilalarm.console.shell.nodewatch import NodeWatch
from stilalarm.console.shell.outgoing import Outgoing, help_first
from stilalarm.console.shell.publisher import Publisher
from stilalarm.console.store import Batch, Store, unit_row
from stilalarm.console.store.records import LogSlow, StepDown
from stilalarm.console.timeline import Timelines
from stilalarm.inventory.kinds import UnitRole
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from stilalarm.wire.messages import ConsoleStatus, IncidentStatus, LinkState, encode, utcnow
from stilalarm.wire.topics import Topics, UnitChannel
from stilalarm.wire.version import VERSION
from stilalarm.wire.warm import NodeWarmer

log = logging.getLogger("console")

BACKLOG_PAUSE_S = 0.002
"""Between slices of a flooding unit's backlog the writer waits this long for other input: it
releases the GIL, so the network thread reads on and another unit's alarm is not left behind."""


@dataclass(frozen=True)
class Reload:
    """Inbox item: read the inventory again (SIGHUP, `alarm-console reload`)."""


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
        """`init`: create the database if it is missing or empty.

        Without `init`, a missing database raises `stilalarm.console.store.StoreMissing`."""
        self.cfg = cfg
        self.timelines = Timelines(site)
        self.site = site
        self.topics = Topics(site.site.id)
        self.store = Store(cfg.db_path, init=init)
        self.systemd = SystemdNotifier()
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.rejects = RejectLog()
        self.limits = Limits(cfg, site, self.topics, self.inbox, self.rejects)
        self.started_at = utcnow()
        self._stopped = threading.Event()
        self.world: core.World
        will = (self.topics.console_status(), encode(ConsoleStatus(state=LinkState.OFFLINE, version=VERSION)))
        # No in-flight window (0): with any window paho 2.2 walks every outstanding publish on each
        # PUBACK (`_update_inflight`), quadratic in a burst of receipts and notifications.
        self.link = Link(creds, will=will, on_up=lambda: self.inbox.put(Up()), max_inflight=0)
        for ch in (UnitChannel.EVENT, UnitChannel.STATUS, UnitChannel.HEARTBEAT):
            self.link.subscribe_raw(self.topics.all_units(ch), self._on_message)
        self.link.subscribe_raw(self.topics.all_person_cmds(), self._on_message)
        self.link.subscribe_raw(self.topics.all_person_webcmds(), self._on_message)
        # One pipeline for every channel; the console's and the pager's publishes go out from the
        # writer right after the commit (send_now), their workers wait for the PUBACK.
        self.delivery, mqtt, pager = build_dispatcher(
            site,
            self.link,
            on_outcome=lambda o: self.inbox.put(Outcome(o)),
            on_channel_fault=lambda ch, since, why: self.inbox.put(ChannelState(ch, "raised", since, why)),
            on_channel_recovered=lambda ch, at: self.inbox.put(ChannelState(ch, "cleared", at, "")),
            start=False,
            others=False,
        )
        self.fanout = Fanout(  # e-mail and Apprise: outbox rows, sent by a process supervised here
            site,
            fanout_command(cfg, verbose=log.isEnabledFor(logging.DEBUG)),
            on_outcome=lambda o: self.inbox.put(Outcome(o)),
            on_state=lambda ch, state, at, why: self.inbox.put(ChannelState(ch, state, at, why)),
        )
        self.outgoing = Outgoing(site, self.delivery, mqtt, self.fanout)
        self.committer = Committer(self.store, site, cfg.db_path, self.outgoing)
        self.publisher = Publisher(cfg, site, self.topics, self.link, self.timelines, self.delivery, pager)
        self.pager = pager
        self.configs = ConfigVersions(state_path(cfg.db_path))
        self.reloads = 0
        """Inventory reloads done (SIGHUP, `alarm-console reload`)."""
        self._writer = threading.Thread(target=self._run, name="writer", daemon=True)
        self.warmer: NodeWarmer | None = None
        """On a cluster: keeps every node ready for the clients' failover (wire/warm.py), and tells
        facilities of a node that does not answer (console/core/nodes.py)."""
        if len(creds.addresses) > 1:
            watch = NodeWatch(nodes.Policy(cfg.node_silent_after_s), lambda e: self.inbox.put(NodeNotice(e)))
            self.warmer = NodeWarmer(creds, cfg.warm_nodes_every_s, on_answer=watch.answer)
        self.may_act: Callable[[], bool] = lambda: True
        """Checked before anything goes out (a cluster's active console: while it holds the lease)."""
        self.on_step_down: Callable[[str], None] | None = None
        """Called (in the writer) when this console must stop acting; None: not on a cluster."""

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
        except NOT_STORED as exc:  # e.g. the disk is full: start degraded, told in the first batch
            self.committer.hold(boot, [], self.started_at, exc, tell=False)
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
        self.outgoing.resend(pending)
        self.fanout.start()
        self.link.start()
        self._writer.start()
        if self.warmer is not None:
            self.warmer.start()
        self.systemd.ready()
        log.info("console service started for site %s (db %s)", self.site.site.id, self.cfg.db_path)

    def stop(self) -> None:
        """Finish the queued work, publish 'offline' and disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.systemd.stopping()
        if self.warmer is not None:
            self.warmer.stop()
        self.fanout.stop(drain_s=2.0)  # first: the writer still records its last outcomes
        self.inbox.put(STOP)
        self._writer.join(10)
        if self.committer.degraded and not self._writer.is_alive():
            try:  # one last try; otherwise the units' retransmits bring it back after the restart
                now = utcnow()
                self.committer.store_held(now)
                self.publisher.execute(
                    list(self.committer.held_receipts), self.world, now
                )  # the link is still up
                log.warning("stored what was held before stopping and sent its receipts")
            except NOT_STORED as exc:
                log.critical(
                    "stopping with %d batch(es) NOT stored (%s); units resend their events after the restart",
                    len(self.committer.held),
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
                if self.limits.backlog:  # a flood's backlog: a short wait lets paho's thread read on
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
                items = self.limits.fair(items)
                due = core.next_due(self.world)
                until = None if due is None else time.monotonic() + (due - utcnow()).total_seconds()
                coalesce(self.inbox, items, self.cfg.batch_max, until)
                stop = any(i is STOP for i in items)
                self._process([i for i in items if i is not STOP], final=stop)
                self.systemd.watchdog()
                self._hold()
                self.publisher.beat(self.world)
                if stop:
                    return
        except StepDown as exc:
            if self.on_step_down is not None and not self._stopped.is_set():
                self.on_step_down(str(exc))
            log.critical("stopping: %s", exc)
            self._stopped.set()
        except Exception:
            log.critical(
                "writer thread failed; exiting so the supervisor restarts the service", exc_info=True
            )
            self._stopped.set()

    def _hold(self) -> None:
        """A cluster's active console whose lease is paused does nothing until the lease is renewed
        (then what it decided is still its to do: nobody else acted) or the process is replaced by
        a standby (another console took over; docs/HA.md)."""
        if self.may_act():
            return
        t0 = time.monotonic()
        log.warning("paused: the lease is not renewed; no receipt, page or state goes out until it is")
        parked = False
        while not self.may_act():
            if self._stopped.is_set():
                raise StepDown("stopping while paused")
            if not parked and not self.link.connected.is_set():
                # Another console may hold the lease and the console's MQTT session by now (same
                # client id): reconnecting would take the session back from it, every second.
                log.warning(
                    "paused and the broker connection is lost: not reconnecting until the lease is "
                    "renewed (another console may hold the session now)"
                )
                self.link.park()
                parked = True
            self.systemd.watchdog()
            time.sleep(0.02)
        if parked:
            self.link.start()
        log.warning("resumed after %.1f s paused", time.monotonic() - t0)

    def _sleep_for(self) -> float:
        due = core.next_due(self.world)
        cap = min(self.systemd.ping_interval() or 5.0, self.cfg.status_beat_s)
        if self.committer.degraded:
            cap = min(cap, STORE_RETRY_S)  # degraded: retry storing
        counts = self.limits.count_due_in(utcnow())
        if counts is not None:
            cap = min(cap, counts)  # counted presses wait for their fact (and their receipts)
        if due is None:
            return cap
        return max(0.0, min(cap, (due - utcnow()).total_seconds()))

    def _process(self, items: list[object], final: bool = False) -> None:
        t_start = time.perf_counter()
        now = utcnow()
        batch = Batch()
        effects: list[SupEffect] = []
        seen: dict[uuid.UUID, str | None] = {}
        up = False
        w = self.world
        classified = [(i, self._classify(i) if isinstance(i, Raw) else None) for i in items]
        ids = [r.event.event_id for _i, r in classified if isinstance(r, UnitEventIn | FaultIn)]
        try:
            stored_before = self.store.received_many(ids)  # one query per batch, not per event
        except sqlite3.Error as exc:  # fail open: rather a repeat press than a lost one
            log.error("cannot read the database to deduplicate %d event(s): %s", len(ids), exc)
            stored_before = {}
        reload = False
        purges: list[PurgeNow] = []
        for item, res in classified:
            if isinstance(item, Up):
                up = True
                continue
            if isinstance(item, Reload):
                reload = True
                continue
            if isinstance(item, PurgeNow):
                purges.append(item)
                continue
            if isinstance(item, Outcome):
                o = item.outcome
                durable, outboxed = self.delivery.durable(o.channel), self.fanout.handles(o.channel)
                effects += bookkeep(o, batch, now, durable=durable, outboxed=outboxed)
                continue
            if isinstance(item, ChannelState):
                effects += channel_state(self.site, item, now)
                continue
            if isinstance(item, ClusterProblem):
                effects += cluster_problem(self.site, item, now)
                continue
            if isinstance(item, StandbyNotice):
                effects += standby_notice(self.site, item, now)
                continue
            if isinstance(item, NodeNotice):
                effects += node_notice(self.site, item, now)
                continue
            assert isinstance(item, Raw) and res is not None
            if isinstance(res, Ignored):
                continue
            if isinstance(res, Rejected):
                self.rejects.add(res)
                batch.rejects[res.reason] = batch.rejects.get(res.reason, 0) + 1
                if res.reply_to is not None:
                    pid, cid = res.reply_to
                    code = (
                        "not_authorised" if res.reason in ("unknown_person", "not_authorised") else "invalid"
                    )
                    effects.append(Reply(pid, cid, False, code, f"reply_{code}", {"what": res.detail[:120]}))
                continue
            if isinstance(res, HeartbeatIn | StatusIn) and self.limits.surplus(res, now):
                continue
            if isinstance(res, HeartbeatIn):
                self.configs.observe(res.heartbeat.unit_id, res.heartbeat.config_version)
            if isinstance(res, UnitEventIn | FaultIn):
                ev = res.event
                if ev.event_id in seen:
                    effects.append(SendReceipt(ev.unit_id, ev.event_id, seen[ev.event_id], duplicate=True))
                    continue
                if ev.event_id in self.committer.held_ids:
                    continue  # held in memory, not stored: no receipt, no second step; the unit retries
                if ev.event_id in stored_before:
                    incident_id = stored_before[ev.event_id]
                    effects.append(SendReceipt(ev.unit_id, ev.event_id, incident_id, duplicate=True))
                    continue
                counted, again = self.limits.counted_before(ev)
                if counted:  # a counted press again (retransmitted, or redelivered by the broker)
                    effects += [again] if again is not None else []
                    continue
                if self.limits.over_rate(w, ev, now, batch):
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
        w, effs = self.limits.settle(w, now, final)
        effects += effs
        w, effs = core.step(w, core.Tick(time.monotonic(), self.link.connected.is_set()), now)
        effects += effs
        self.world = w
        t_step = time.perf_counter()
        self._fill_batch(batch, effects, now)
        outbox = self.committer.commit(batch, effects, now)
        t_commit = time.perf_counter()
        self._hold()  # e.g. stopped (SIGSTOP) between the commit and here: nothing goes out yet
        # ---- committed (or held in degraded mode: then without receipts, see Committer.commit) ----
        # help first: the people's notifications and the pages, taken by the broker before the rest
        help_first([*self.outgoing.send(outbox), *self.publisher.pages(effects, now)])
        self.publisher.execute(effects, w, now)
        if up:
            self.publisher.republish(w, now)
        if up or self.configs.behind():
            self.push_configs(now)
        if reload:
            self.reload(now)
        for p in purges:  # after this batch's receipts and pages went out
            self._purge(p, now)
        if log.isEnabledFor(logging.DEBUG) and items:
            t_end = time.perf_counter()
            log.debug(
                "batch of %d: core %.1f ms, store %.1f ms, publish %.1f ms",
                len(items),
                (t_step - t_start) * 1000,
                (t_commit - t_step) * 1000,
                (t_end - t_commit) * 1000,
            )

    def _purge(self, p: PurgeNow, now: datetime) -> None:
        """A retention purge, through the replicated log when there is one (writer thread only)."""
        try:
            p.rows = self.store.purge_logged(p.plan, now)
        except sqlite3.Error as exc:  # alone (no log): the next run tries again; StepDown propagates
            p.error = f"the database refused the purge ({exc})"
            log.error("retention purge not done: %s", p.error)
        except LogSlow as exc:  # applied with the next commit once the log confirms it, or not at all
            p.error = f"the log has not confirmed the purge ({exc})"
            log.error("retention purge not done: %s", p.error)
        finally:
            p.done.set()

    # -- configs and reload ----------------------------------------------------------
    def push_configs(self, now: datetime) -> int:
        """Publish every Pi unit's config, retained (the same version again when nothing changed);
        clear the retained config of units the site no longer has. Returns how many were pushed."""
        pushes = self.configs.pushes(self.site, now)
        for push in pushes:
            self.link.publish(self.topics.unit_config(push.unit_id), encode(push), qos=1, retain=True)
        for uid in self.configs.gone(self.site):
            self.link.publish(self.topics.unit_config(uid), b"", qos=1, retain=True)
            self.configs.forget(uid)
        return len(pushes)

    def reload(self, now: datetime) -> bool:
        """Read site.toml again and run on it (writer thread only). An invalid inventory is refused
        with the reason in the log and the running one is kept. The state is rebuilt from the stored
        facts with the new inventory, as a restart does (open incidents and their timers stay), the
        units' live health is kept, and the configs are pushed again."""
        from stilalarm.inventory.load import InventoryError, load_site

        t0 = time.monotonic()
        try:
            site = load_site(self.cfg.site_path)
        except InventoryError as exc:
            log.error("reload refused, the running inventory is kept: %s", exc)
            return False
        if site.site.id != self.site.site.id:
            log.error(
                "reload refused, the running inventory is kept: site id %r is not %r (a new site id "
                "means new topics: restart the service)",
                site.site.id,
                self.site.site.id,
            )
            return False
        try:
            facts = list(self.store.facts())
        except sqlite3.Error as exc:
            log.error("reload refused, the running inventory is kept: cannot read the log: %s", exc)
            return False
        old = self.world
        try:
            w = core.rebuild(site, facts, self.started_at, self.cfg.engine, self.cfg.supervision)
        except Exception:  # a fact the new inventory cannot place: keep running on the old one
            log.exception("reload refused, the running inventory is kept: the log does not fold on it")
            return False
        keep = {uid: lv for uid, lv in old.units.live.items() if uid in w.units.units}
        w = replace(w, units=replace(w.units, live=keep, mono=old.units.mono, deaf=old.units.deaf))
        timelines = Timelines(site)
        for f in facts:
            timelines.add(f)
        self.site = site
        self.timelines = timelines
        self.world = w
        for part in (self.limits, self.outgoing, self.committer, self.publisher, self.delivery, self.pager):
            if part is not None and hasattr(part, "site"):
                part.site = site
        self.fanout.router.site = site  # who gets which e-mail / Apprise message
        if self.pager is not None:  # pagers handed to another lead; a site's first pager needs a restart
            self.pager.owners = {u.id: u.person for u in site.units if u.role is UnitRole.LEAD and u.person}
        self.publisher.timelines = timelines
        # the intake's intervals are the inventory's: a unit that now beats faster must not be cut
        self.limits.intake.heartbeat_s = {u.id: u.heartbeat_s for u in site.units}
        self.reloads += 1
        open_n = sum(1 for i in w.engine.incidents.values() if i.status is not IncidentStatus.RESOLVED)
        log.info(
            "inventory reloaded from %s in %.3f s: %d units, %d people; %d open incident(s) kept",
            self.cfg.site_path,
            time.monotonic() - t0,
            len(site.units),
            len(site.people),
            open_n,
        )
        batch = Batch(units={uid: unit_row(w.units, uid) for uid in w.units.units})
        try:
            self.store.commit(batch, now)
        except sqlite3.Error as exc:
            log.error("cannot store the unit rows after the reload: %s", exc)
        self.publisher.republish(w, now)
        n = self.push_configs(now)
        log.info("pushed %d unit config(s); reload done in %.3f s", n, time.monotonic() - t0)
        return True

    def _fill_batch(self, batch: Batch, effects: list[SupEffect], now: datetime) -> None:
        """What the batch writes besides its input: facts, touched incidents and units, notifications."""
        w = self.world
        touched_units: set[str] = set()
        for e in effects:
            if isinstance(e, Record):
                f: Fact = e.fact
                batch.facts.append(f)
                touched = self.timelines.add(f)
                if touched is not None:
                    self.publisher.touched.add(touched)
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
                    batch.outbox += self.outgoing.route(render(self.site, n, pid, nid, inc), now)
        for uid in touched_units:
            batch.units[uid] = unit_row(w.units, uid)

    def _classify(self, raw: Raw) -> Accepted | Rejected | Ignored:
        try:
            return classify(self.site, self.topics, raw)
        except Exception:  # a bug, not bad input: refuse this message, keep the service up
            log.exception("internal error validating a message on %s", raw.topic)
            return Rejected("internal_error", f"internal error on {raw.topic}")

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
