"""Per-unit input limits on the writer's side (the decisions are `stilalarm.console.intake`'s).

A flooding unit must not delay anyone else's alarm: surplus heartbeats are dropped unparsed,
a noisy unit's messages wait in its own backlog and a batch takes only a few of them, repeat
presses of an open incident are counted (one fact per incident at most every
`IntakePolicy.count_every_s`, however the flood is spread over batches), and a flood is flagged
to facilities.
"""

from __future__ import annotations

import logging
import queue
import uuid
from collections import OrderedDict, deque
from datetime import datetime

from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import PublishHealth, PublishIncident, Record, SendReceipt, SupEffect, Tx
from stilalarm.console.core.engine import open_incident_of_unit
from stilalarm.console.core.notice import announce
from stilalarm.console.core.supervision import HeartbeatIn, StatusIn
from stilalarm.console.facts import Notified
from stilalarm.console.ingest import Raw
from stilalarm.console.intake import Intake, Verdict, counted_presses, counts_due, flood_facts
from stilalarm.console.shell.inbox import RejectLog
from stilalarm.console.store import Batch
from stilalarm.inventory.kinds import Role
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import UnitEvent, utcnow
from stilalarm.wire.topics import Topics, UnitChannel

log = logging.getLogger("console")

COUNTED_REMEMBERED = 50_000
"""Event ids of written counted presses kept in memory, so that a retransmission (or the
broker's redelivery) of one is receipted again, not counted twice."""


class Limits:
    """The writer's side of the per-unit input limits: fair batches, counted presses, flood flags."""

    def __init__(
        self,
        cfg: ServiceConfig,
        site: Site,
        topics: Topics,
        inbox: queue.SimpleQueue[object],
        rejects: RejectLog,
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.topics = topics
        self.inbox = inbox
        self.rejects = rejects
        self.intake = Intake(cfg.intake, {u.id: u.heartbeat_s for u in site.units})
        self.backlog: deque[Raw] = deque()
        self.counting: dict[str, list[UnitEvent]] = {}
        """Counted presses per incident not written yet (no receipt yet: the unit retransmits)."""
        self.counting_since: dict[str, datetime] = {}
        self.pending_ids: set[uuid.UUID] = set()
        self.written: OrderedDict[uuid.UUID, str] = OrderedDict()
        """Counted presses written (event id -> incident), the newest `COUNTED_REMEMBERED`."""

    def fair(self, items: list[object]) -> list[object]:
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
                    self.backlog.append(item)  # type: ignore[arg-type]
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
        for _ in range(min(len(self.backlog), self.cfg.intake.noisy_per_batch)):
            keep.append(self.backlog.popleft())
        return keep

    def surplus(self, res: HeartbeatIn | StatusIn, now: datetime) -> bool:
        """A status over the unit's rate: drop it here, before any disk work (counted in memory;
        a flood is flagged to facilities). Heartbeats were limited in `fair`, unparsed."""
        if isinstance(res, HeartbeatIn):
            return False
        if self.intake.status(res.status.unit_id, now) is Verdict.DROP:
            self.rejects.total["rate_limited"] += 1
            return True
        return False

    def counted_before(self, ev: UnitEvent) -> tuple[bool, SendReceipt | None]:
        """Whether `ev` is a counted press already (then not stepped again), and the receipt to
        send again if its count is written (none while it waits: its receipt follows the fact)."""
        if ev.event_id in self.pending_ids:
            return True, None
        iid = self.written.get(ev.event_id)
        if iid is None:
            return False, None
        return True, SendReceipt(ev.unit_id, ev.event_id, iid, duplicate=True)

    def over_rate(self, w: core.World, ev: UnitEvent, now: datetime, batch: Batch) -> bool:
        """True when a unit event over its unit's rate was taken care of here: a repeat press of
        an open incident is counted (receipted once its count is written, see `settle`),
        anything but a press waits for the unit's retransmission. An alarm with no open incident
        goes on in full."""
        inc = open_incident_of_unit(w.engine, ev.unit_id)
        v = self.intake.event(ev.unit_id, ev.kind, inc is not None, now)
        if v is Verdict.COUNT and inc is not None:
            self.counting.setdefault(inc.id, []).append(ev)
            self.counting_since.setdefault(inc.id, now)
            self.pending_ids.add(ev.event_id)
            return True
        if v is Verdict.DEFER:
            self.rejects.total["rate_limited"] += 1
            batch.rejects["rate_limited"] = batch.rejects.get("rate_limited", 0) + 1
            return True
        return False

    def count_due_in(self, now: datetime) -> float | None:
        """Seconds until counted presses are due to be written (None: none waiting)."""
        if not self.counting_since:
            return None
        every = self.cfg.intake.count_every_s
        return max(0.0, min(every - (now - t).total_seconds() for t in self.counting_since.values()))

    def settle(self, w: core.World, now: datetime, final: bool = False) -> tuple[core.World, list[SupEffect]]:
        """Counted presses that waited `count_every_s` (all of them when `final`) as one fact per
        incident (their receipts go out after the commit), and flood flags raised or cleared (a
        fault and one notice to facilities)."""
        effects: list[SupEffect] = []
        every = self.cfg.intake.count_every_s
        due = list(self.counting_since) if final else counts_due(self.counting_since, every, now)
        for iid in due:
            evs = self.counting.pop(iid)
            del self.counting_since[iid]
            for e in evs:
                self.pending_ids.discard(e.event_id)
                self.written[e.event_id] = iid
            while len(self.written) > COUNTED_REMEMBERED:
                self.written.popitem(last=False)
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
