"""Everything the console publishes, after the commit: receipts, unit commands, command replies,
pages, retained incidents and timelines, unit and presence states, each person's copies of the
running risky conversations, and its own status (the retained online / offline and the heartbeat)."""

from __future__ import annotations

import logging
import time
from datetime import datetime

import paho.mqtt.client as mqtt

from stilalarm.console import i18n
from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import (
    ClearIncident,
    ClearRisk,
    Notify,
    Page,
    PublishHealth,
    PublishIncident,
    PublishPresence,
    PublishRisk,
    Record,
    Reply,
    SendReceipt,
    SupEffect,
    UnitFeedback,
    UnitTestMode,
)
from stilalarm.console.core.engine import Incident, led_for
from stilalarm.console.core.engine.registrations import REMIND_KEY
from stilalarm.console.core.engine.regtodo import todo_items, todo_message
from stilalarm.console.core.engine.risk import everyone_of
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.mqtt import PagerChannel
from stilalarm.console.facts import Notified, Resolved
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationFiled
from stilalarm.console.timeline import Timelines
from stilalarm.inventory.model import Site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    CommandReply,
    ConsoleStatus,
    FeedbackCmd,
    IncidentState,
    IncidentStatus,
    LinkState,
    PresenceState,
    Receipt,
    TestModeCmd,
    encode,
    new_id,
    utcnow,
)
from stilalarm.wire.topics import Topics
from stilalarm.wire.version import VERSION

log = logging.getLogger("console")


class Publisher:
    """Carries out a batch's effects on the link (`execute`), republishes the retained truth after
    a (re)connect (`republish`) and sends the service's heartbeat (`beat`)."""

    def __init__(
        self,
        cfg: ServiceConfig,
        site: Site,
        topics: Topics,
        link: Link,
        timelines: Timelines,
        delivery: Dispatcher,
        pager: PagerChannel | None,
    ) -> None:
        self.cfg = cfg
        self.site = site
        self.topics = topics
        self.link = link
        self.timelines = timelines
        self.delivery = delivery
        self.pager = pager
        self.touched: set[str] = set()  # incidents whose timeline this batch changed
        self._first_up = True
        self._beat_at = 0.0
        self._stalls_logged = 0
        self._todo: dict[str, tuple[object, ...]] = {}  # person -> the registration list last published
        self.term = 0
        """The lease term on a cluster (docs/HA.md), carried by the published state; 0: one console."""
        self.instance = ""
        """This console's name on a cluster ('' alone)."""

    def pages(self, effects: list[SupEffect], now: datetime) -> list[mqtt.MQTTMessageInfo]:
        """Publish a batch's pages to the lead pager units (before `execute`); returns the publishes."""
        return [info for e in effects if isinstance(e, Page) if (info := self._page(e, now)) is not None]

    def execute(self, effects: list[SupEffect], world: core.World, now: datetime) -> None:
        """Carry out the effects of a committed batch (or of one held in memory, without receipts),
        but its pages (`pages`): receipts, commands and replies in their order, the retained state last."""
        t = self.topics
        pub = self.link.publish
        incidents: dict[str, None] = {}
        health: dict[str, None] = {}
        todo = False
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
                    self.unit_command(e, now)
                case Reply():
                    self._reply(e)
                case PublishIncident():
                    incidents[e.incident_id] = None
                case ClearIncident():
                    incidents.pop(e.incident_id, None)
                    self.touched.discard(e.incident_id)
                    self.timelines.forget(e.incident_id)
                    pub(t.incident(e.incident_id), b"", qos=1, retain=True)
                    pub(t.timeline(e.incident_id), b"", qos=1, retain=True)
                case PublishPresence():
                    self._publish_presence(world, e.person_id, now)
                case PublishHealth():
                    health[e.unit_id] = None
                case Record(fact=RegistrationFiled() | RegistrationCompleted() | Resolved()):
                    todo = True  # a registration filed or completed: the leads' lists change
                case Record(fact=Notified(text_key=key)) if key == REMIND_KEY:
                    todo = True  # a reminder: the lists count it
                case PublishRisk():
                    self._publish_risk(world, e.risk_id, e.to)
                case ClearRisk():
                    for pid in e.to:
                        pub(t.risk(pid, e.risk_id), b"", qos=1, retain=True)
                case Notify() | Record() | Page():
                    pass
        for iid in incidents:
            inc = world.engine.incidents.get(iid)
            if inc is not None:
                pub(t.incident(iid), encode(self._state(inc)), qos=1, retain=True)
        touched, self.touched = self.touched, set()
        for iid in touched:
            self._publish_timeline(world, iid)
        for uid in health:
            pub(t.unitstate(uid), encode(world.units.health(uid)), qos=1, retain=True)
        if todo:
            self.publish_todo(world, now)

    def publish_todo(self, world: core.World, now: datetime, *, every: bool = False) -> None:
        """Each person's registrations to complete, retained on their own topic (only they read it),
        when it changed (`every`: all of them, after a (re)connect); an empty list clears the topic."""
        for pid in self.site.index.people:
            items, more = todo_items(world.engine, pid)
            key = (*items, more)
            if not every and self._todo.get(pid, ()) == key:
                continue
            self._todo[pid] = key
            payload = encode(todo_message(pid, items, more, now)) if items or more else b""
            self.link.publish(self.topics.person_registrations(pid), payload, qos=1, retain=True)

    def _page(self, e: Page, now: datetime) -> mqtt.MQTTMessageInfo | None:
        """A page for a lead pager unit: published now, confirmed and retried by the pager channel."""
        if self.pager is None:  # the engine pages only the inventory's lead units: a bug
            log.error("page for %s without a pager channel (no lead unit in the inventory)", e.unit_id)
            return None
        d = self.pager.page(e.unit_id, e.incident_id, e.level, now)
        info = self.pager.send_now(d)
        self.delivery.submit(d)
        return info

    def unit_command(self, e: UnitFeedback | UnitTestMode, now: datetime) -> None:
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
            visit_id=e.visit_id,
        )
        if not e.ok:
            log.warning("rejected command %s of %s: %s (%s)", e.cmd_id, e.person_id, e.code, reason)
        self.link.publish(self.topics.person_reply(e.person_id), encode(msg), qos=1)

    def _publish_timeline(self, world: core.World, incident_id: str) -> None:
        inc = world.engine.incidents.get(incident_id)
        if inc is None:
            return
        tl = self.timelines.timeline(incident_id, inc.to_wire().version)
        if tl is not None:
            self.link.publish(self.topics.timeline(incident_id), encode(tl), qos=1, retain=True)

    def _publish_presence(self, world: core.World, person_id: str, now: datetime) -> None:
        eng = world.engine
        present = person_id not in eng.unreachable
        reason = eng.presence_reason(person_id)
        st = PresenceState(person_id=person_id, present=present, reason=reason, at=now)
        self.link.publish(self.topics.presence(person_id), encode(st), qos=1, retain=True)

    def _publish_risk(self, world: core.World, risk_id: str, to: tuple[str, ...]) -> None:
        r = world.engine.risks.get(risk_id)
        if r is None:
            return
        body = encode(r.to_wire())
        for pid in to:
            self.link.publish(self.topics.risk(pid, risk_id), body, qos=1, retain=True)

    def _state(self, inc: Incident) -> IncidentState:
        st = inc.to_wire()
        return st if not self.term else st.model_copy(update={"term": self.term})

    def republish(self, world: core.World, now: datetime) -> None:
        """After (re)connecting: console online, every incident, unit and presence state, and the
        risky conversations the engine still holds: running ones published, the others cleared
        (ended or cancelled while the console was away)."""
        t = self.topics
        pub = self.link.publish
        pub(
            t.console_status(),
            encode(
                ConsoleStatus(
                    state=LinkState.ONLINE,
                    at=now,
                    version=VERSION,
                    beat_s=self.cfg.status_beat_s,
                    term=self.term,
                    instance=self.instance,
                )
            ),
            qos=1,
            retain=True,
        )
        w = world
        for inc in w.engine.incidents.values():
            pub(t.incident(inc.id), encode(self._state(inc)), qos=1, retain=True)
            self._publish_timeline(w, inc.id)
            if self._first_up and inc.status is not IncidentStatus.RESOLVED and inc.unit_id is not None:
                self.unit_command(UnitFeedback(inc.unit_id, inc.id, led_for(inc)), now)
        for uid in w.units.units:
            pub(t.unitstate(uid), encode(w.units.health(uid)), qos=1, retain=True)
        for pid in self.site.index.people:
            self._publish_presence(w, pid, now)
        self.publish_todo(w, now, every=True)
        for r in w.engine.risks.values():
            to = everyone_of(w.engine, r)
            if r.running(now):
                self._publish_risk(w, r.id, to)
            else:
                for pid in to:
                    pub(t.risk(pid, r.id), b"", qos=1, retain=True)
        self._first_up = False
        log.info("published console status and retained state (%d incidents)", len(w.engine.incidents))

    def beat(self, world: core.World) -> None:
        """The service's heartbeat: ConsoleStatus(online) on console/status every status_beat_s
        (QoS0, not retained), sent from the writer loop, so a hung writer (or a stopped process)
        stops it; consoles count three missed beats as "alarmcentrale offline"."""
        if world.units.stalls != self._stalls_logged:
            self._stalls_logged = world.units.stalls
            log.warning(
                "the console service itself stood still for %.1f s; unit silence is counted from after "
                "the gap, not reported as units offline",
                world.units.last_stall_s,
            )
        mono = time.monotonic()
        if mono - self._beat_at < self.cfg.status_beat_s or not self.link.connected.is_set():
            return
        self._beat_at = mono
        st = ConsoleStatus(
            state=LinkState.ONLINE,
            at=utcnow(),
            version=VERSION,
            beat_s=self.cfg.status_beat_s,
            term=self.term,
            instance=self.instance,
        )
        self.link.publish(self.topics.console_status(), encode(st), qos=0)
