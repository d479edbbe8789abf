"""Issue 7, pure: records from the log, daily overdue/faulty notices, after-care reminders,
retention purge. Time is injected everywhere; nothing sleeps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stilalarm.console import retention
from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import engine, supervision
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import Notify, PublishHealth, Record, Reply
from stilalarm.console.core.engine import PersonCmdIn, UnitEventIn
from stilalarm.console.core.supervision import FaultIn, StatusIn
from stilalarm.console.delivery.render import render
from stilalarm.console.facts import AftercareDone, ButtonsChecked, Fact, Notified
from stilalarm.console.reporting import buttontests, export
from stilalarm.console.reporting import fold as recs
from stilalarm.console.reporting.records import TestOutcome
from stilalarm.console.shell.service import ConsoleService
from stilalarm.console.store import Batch, Store
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.messages import (
    AckCmd,
    AftercareDoneCmd,
    EventKind,
    FaultKind,
    LinkState,
    NotifyReason,
    PresenceCmd,
    Registration,
    ResolveCmd,
    UnitEvent,
    UnitStatus,
)
from stilalarm.wire.messages import TestScope as Scope
from stilalarm.wire.messages import TestStartCmd as StartCmd
from stilalarm.wire.messages import TestStopCmd as StopCmd

SITE = parse_site(FAST_SITE)
T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)  # Monday 10:00 in Brussels (ISO week 2026-W48)
CREDS = BrokerCredentials(site_id="fast", username="console", password="x" * 16, host="127.0.0.1", port=1)
ALL_BUTTONS = buttontests.site_buttons(SITE)


class Sim:
    """The whole functional core driven with injected time; keeps the log and the effects."""

    def __init__(self, started_at: datetime = T0, facts: list[Fact] | None = None) -> None:
        self.w = core.rebuild(SITE, facts or [], started_at)
        self.facts: list[Fact] = list(facts or [])
        self.effects: list[object] = []
        self.boot = uuid.uuid4()

    def __call__(self, inp: core.Input | core.Tick, t: datetime) -> list[object]:
        self.w, eff = core.step(self.w, inp, t)
        self.w, tick = core.step(self.w, core.Tick(), t)  # as the service: timers after each batch
        out: list[object] = [*eff, *tick]
        self.facts += [e.fact for e in out if isinstance(e, Record)]
        self.effects += out
        return out

    def event(
        self, unit: str, kind: EventKind, t: datetime, button: str = "knop", **kw: object
    ) -> list[object]:
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=kind,
            button_id=button,
            seq=1,
            boot_id=self.boot,
            occurred_at=t - timedelta(milliseconds=40),
            sent_at=t,
            **kw,
        )
        inp = FaultIn(ev) if kind in (EventKind.FAULT, EventKind.FAULT_CLEARED) else UnitEventIn(ev)
        opened: list[object] = []
        windows = self.w.engine.campaigns.values()
        if kind is EventKind.TEST and not any(unit in c.unit_ids and c.until > t for c in windows):
            # a test counts only in an open window of its unit: facilities (gert) open one first
            opened = self.cmd(StartCmd(scope=Scope.UNIT, target=unit, **base("gert", t)), t)
        return opened + self(inp, t)

    def cmd(self, cmd: Any, t: datetime) -> list[object]:
        return self(PersonCmdIn(cmd), t)


def base(person: str, t: datetime) -> dict[str, Any]:
    return {"cmd_id": uuid.uuid4(), "person_id": person, "issued_at": t}


def notices(effects: list[object], key: str) -> list[Notified]:
    return [e.notice for e in effects if isinstance(e, Notify) and e.notice.text_key == key]


def replies(effects: list[object]) -> list[Reply]:
    return [e for e in effects if isinstance(e, Reply)]


REG = Registration.model_validate(
    {
        "aggression_types": ["verbaal", "fysiek"],
        "severity": "agressie",
        "weapon": True,
        "police_called": True,
        "pv_number": "PV-77",
        "sanctions": ["waarschuwing"],
        "aftercare": ["opvang"],
        "occupational_accident": True,
        "staff_member": "Jan",
        "note": "roepen en duwen",
    }
)


def incident_of(sim: Sim) -> str:
    return max(sim.w.engine.incidents)


# --------------------------------------------------------------------------- records


def test_records_from_the_log_incident_tests_and_offline() -> None:
    sim = Sim()
    t = T0
    sim(
        StatusIn(UnitStatus(unit_id="balie-1", state=LinkState.ONLINE, boot_id=sim.boot, reason="connected")),
        t,
    )
    # an incident: lead absent -> straight to the deputy, acked, resolved with after-care
    sim.cmd(PresenceCmd(present=False, **base("an", t)), t)
    sim.event("spreekkamer-1", EventKind.ALARM, t + timedelta(seconds=1))
    inc = incident_of(sim)
    sim.event("spreekkamer-1", EventKind.ALARM, t + timedelta(seconds=3))  # pressed again
    sim.cmd(AckCmd(incident_id=inc, **base("dirk", t)), t + timedelta(seconds=12))
    sim.cmd(ResolveCmd(incident_id=inc, registration=REG, **base("dirk", t)), t + timedelta(minutes=9))
    # windows: balie-1 (knop tested, voet cut) by fien; spreekkamer-1 by gert, still open
    c0 = t + timedelta(hours=1)
    sim.cmd(StartCmd(scope=Scope.ROOM, target="balie-1", **base("fien", c0)), c0)
    sim.cmd(StartCmd(scope=Scope.UNIT, target="spreekkamer-1", **base("gert", c0)), c0)
    camps = sorted(sim.w.engine.campaigns)
    sim.event("balie-1", EventKind.TEST, c0 + timedelta(minutes=1), campaign_id=camps[0])
    sim.event("balie-1", EventKind.FAULT, c0 + timedelta(minutes=2), button="voet", fault=FaultKind.CUT)
    sim.cmd(StopCmd(campaign_id=camps[0], **base("fien", c0)), c0 + timedelta(minutes=5))
    # offline for 2 hours
    off = t + timedelta(hours=3)
    sim(
        StatusIn(UnitStatus(unit_id="balie-1", state=LinkState.OFFLINE, boot_id=sim.boot, reason="lost")), off
    )
    sim(
        StatusIn(UnitStatus(unit_id="balie-1", state=LinkState.ONLINE, boot_id=sim.boot, reason="connected")),
        off + timedelta(hours=2),
    )

    r = recs.build(SITE, sim.facts)
    (i,) = r.incidents
    assert i.incident_id == inc and i.room_label == "Spreekkamer 1" and i.room_kind == "spreekkamer"
    assert i.team_name == "Sociale dienst" and i.presses == 2
    assert i.stored_at == t + timedelta(seconds=1) and i.pressed_at == i.stored_at - timedelta(
        milliseconds=40
    )
    assert i.first_notified_at == t + timedelta(seconds=1)  # the deputy, level 2 (level 1 skipped)
    assert i.levels_reached == 3  # acknowledged after level 3 (2 s)
    assert (i.acknowledged_by, i.acknowledged_at) == ("dirk", t + timedelta(seconds=12))
    assert (i.resolved_by, i.resolved_at, i.registration) == ("dirk", t + timedelta(minutes=9), REG)
    assert i.aftercare_reminded_at == () and i.aftercare_done_by is None

    by_key = {(x.campaign_id, x.unit_id, x.button_id): x for x in r.tests}
    knop = by_key[(camps[0], "balie-1", "knop")]
    assert knop.outcome is TestOutcome.OK and knop.started_by == "fien" and knop.led_confirmed
    assert knop.tested_at == c0 + timedelta(minutes=1) and knop.latency_ms == 40.0
    voet = by_key[(camps[0], "balie-1", "voet")]
    assert voet.outcome is TestOutcome.FAILED and voet.faults == ("voet:cut",) and not voet.led_confirmed
    running = by_key[(camps[1], "spreekkamer-1", "knop")]  # campaign still running: not tested so far
    assert running.outcome is TestOutcome.NOT_TESTED and running.started_by == "gert"
    assert len(r.tests) == 3

    (span,) = [x for x in r.offline if x.unit_id == "balie-1"]  # the others were never seen
    # no heartbeats in this test: silent after 3 s, back online with the status 5 h later
    assert (span.start, span.end) == (t + timedelta(seconds=3), off + timedelta(hours=2))

    rep = buttontests.week_report(SITE, "2026-W48", r.tests)
    assert (
        rep.summary() == f"1/{len(ALL_BUTTONS)} knoppen getest, 1 defect, {len(ALL_BUTTONS) - 2} niet getest"
    )


# --------------------------------------------------------------------------- test state, daily notices


def local(day: int, hh: int, mm: int = 0) -> datetime:
    """A Brussels wall-clock time in November 2026 (UTC+1), as UTC."""
    return datetime(2026, 11, day, hh - 1, mm, tzinfo=UTC)


def test_button_state_and_last_test_ok_need_every_button() -> None:
    sim = Sim()
    eff = sim.event("balie-1", EventKind.TEST, T0)
    assert PublishHealth("balie-1") in eff  # the retained UnitHealth shows the new last test
    units = sim.w.units
    assert units.button_state("balie-1", "knop", T0) is buttontests.TestState.OK
    assert units.button_state("balie-1", "voet", T0) is buttontests.TestState.OVERDUE
    assert units.health("balie-1").last_test_ok is None  # voet never tested: the unit is overdue
    sim.event("balie-1", EventKind.TEST, T0 + timedelta(minutes=1), button="voet")
    assert sim.w.units.health("balie-1").last_test_ok == T0  # the oldest of the two
    assert (
        sim.w.units.button_state("balie-1", "knop", T0 + timedelta(days=6, hours=1))
        is buttontests.TestState.DUE
    )


def test_overdue_and_faulty_buttons_notified_once_a_day_restart_safe() -> None:
    sim = Sim(started_at=T0)
    # every button tested today except the wachtzaal's; voet of balie-1 gets cut
    for unit, button in ALL_BUTTONS:
        if unit != "wachtzaal":
            sim.event(unit, EventKind.TEST, T0 + timedelta(minutes=1), button=button)
    sim.event("balie-1", EventKind.FAULT, T0 + timedelta(minutes=2), button="voet", fault=FaultKind.CUT)
    assert supervision.check_due(sim.w.units) == local(24, 8, 30)  # the next 08:30 local
    assert notices(sim(core.Tick(), local(24, 8, 29)), "tests_overdue") == []

    eff = sim(core.Tick(), local(24, 8, 30))
    (fac,) = notices(eff, "tests_overdue")
    assert fac.person_ids == ("fien", "gert") and fac.reason is NotifyReason.FAULT
    assert fac.detail["overdue"] == "1" and fac.detail["faulty"] == "1"
    assert fac.detail["buttons"] == "balie-1/voet, wachtzaal/knop"
    (lead,) = notices(eff, "rooms_untested")  # onthaal: balie-1 (faulty) and wachtzaal (untested)
    assert lead.person_ids == ("chris",) and lead.detail["rooms"] == "balie-1,wachtzaal"
    assert notices(eff, "rooms_untested")[0].reason is NotifyReason.FAULT
    assert [f for f in sim.facts if isinstance(f, ButtonsChecked)][-1].faulty == ("balie-1/voet",)
    # the texts: facilities in their language, the lead with room labels
    fien = render(sim.w.engine.site, fac, "fien", fac.notification_ids[0], None)
    gert = render(sim.w.engine.site, fac, "gert", fac.notification_ids[1], None)
    assert fien.title == "Button test: 1 overdue, 1 faulty" and "wachtzaal/knop" in fien.body
    assert gert.title == "Knoppentest: 1 te laat, 1 defect"
    chris = render(sim.w.engine.site, lead, "chris", lead.notification_ids[0], None)
    assert "Balie 1, Wachtzaal" in chris.body and chris.reason is NotifyReason.FAULT

    # not again the same day, however often the timers run
    for m in (1, 60, 600):
        assert notices(sim(core.Tick(), local(24, 8, 30) + timedelta(minutes=m)), "tests_overdue") == []
    # a restart (rebuild from the log) later that day does not notify again
    again = Sim(started_at=local(24, 12), facts=sim.facts)
    assert again.w.comparable() == sim.w.comparable()
    assert notices(again(core.Tick(), local(24, 12)), "tests_overdue") == []
    assert supervision.check_due(again.w.units) == local(25, 8, 30)
    # down over the next check time: it runs once at the start, then at 08:30 again
    late = Sim(started_at=local(25, 11), facts=sim.facts)
    assert len(notices(late(core.Tick(), local(25, 11)), "tests_overdue")) == 1
    assert notices(late(core.Tick(), local(25, 11, 5)), "tests_overdue") == []
    assert supervision.check_due(late.w.units) == local(26, 8, 30)


def test_no_daily_notice_when_every_button_is_tested_and_sound() -> None:
    sim = Sim()
    for unit, button in ALL_BUTTONS:
        sim.event(unit, EventKind.TEST, T0, button=button)
    eff = sim(core.Tick(), local(24, 8, 30))
    assert notices(eff, "tests_overdue") == notices(eff, "rooms_untested") == []
    assert [f for f in sim.facts if isinstance(f, ButtonsChecked)][-1].overdue == ()  # the check is recorded
    # a week later, everything is overdue again
    eff = sim(core.Tick(), local(24, 8, 30) + timedelta(days=7))
    assert notices(eff, "tests_overdue")[0].detail["overdue"] == str(len(ALL_BUTTONS))
    assert notices(eff, "tests_overdue")[0].reason is NotifyReason.INFO


# --------------------------------------------------------------------------- after-care


def resolved(sim: Sim, reg: Registration, by: str = "an", at: datetime = T0) -> str:
    sim.event("spreekkamer-1", EventKind.ALARM, at)
    inc = incident_of(sim)
    sim.cmd(AckCmd(incident_id=inc, **base(by, at)), at + timedelta(minutes=4))
    sim.cmd(ResolveCmd(incident_id=inc, registration=reg, **base(by, at)), at + timedelta(minutes=5))
    return inc


def test_aftercare_reminders_after_a_day_and_a_week_then_none() -> None:
    sim = Sim()
    inc = resolved(sim, REG)
    r0 = T0 + timedelta(minutes=5)
    assert engine.next_due(sim.w.engine) is not None
    assert notices(sim(core.Tick(), r0 + timedelta(hours=23, minutes=59)), "aftercare") == []
    (first,) = notices(sim(core.Tick(), r0 + timedelta(hours=24)), "aftercare")
    assert first.person_ids == ("an",) and first.reason is NotifyReason.REMINDER and first.incident_id == inc
    assert first.detail["step"] == "1"
    text = render(sim.w.engine.site, first, "an", first.notification_ids[0], None)
    assert text.title == "Nazorg — Spreekkamer 1" and inc in text.body and "1 dag" in text.body
    assert notices(sim(core.Tick(), r0 + timedelta(days=3)), "aftercare") == []
    (second,) = notices(sim(core.Tick(), r0 + timedelta(days=7)), "aftercare")
    assert second.detail["step"] == "2"
    assert notices(sim(core.Tick(), r0 + timedelta(days=30)), "aftercare") == []
    rec = recs.build(SITE, sim.facts).incidents[0]
    assert rec.aftercare_reminded_at == (r0 + timedelta(days=1), r0 + timedelta(days=7))


def test_aftercare_done_stops_reminders_and_only_resolver_or_lead_may() -> None:
    sim = Sim()
    inc = resolved(sim, REG)
    r0 = T0 + timedelta(minutes=5)
    assert len(notices(sim(core.Tick(), r0 + timedelta(days=1)), "aftercare")) == 1
    no = replies(sim.cmd(AftercareDoneCmd(incident_id=inc, **base("fien", r0)), r0 + timedelta(days=2)))
    assert [(x.ok, x.code) for x in no] == [(False, "not_authorised")]
    unknown = AftercareDoneCmd(incident_id="20261123-0099", **base("an", r0))
    assert [(x.ok, x.code) for x in replies(sim.cmd(unknown, r0 + timedelta(days=2)))] == [
        (False, "unknown_incident")
    ]
    done = AftercareDoneCmd(incident_id=inc, note="gebeld, gaat goed", **base("an", r0))
    assert [(x.ok, x.code) for x in replies(sim.cmd(done, r0 + timedelta(days=2)))] == [(True, "ok")]
    again = AftercareDoneCmd(incident_id=inc, **base("chris", r0))
    assert [(x.ok, x.code) for x in replies(sim.cmd(again, r0 + timedelta(days=3)))] == [(True, "ok")]
    assert len([f for f in sim.facts if isinstance(f, AftercareDone)]) == 1  # recorded once
    assert notices(sim(core.Tick(), r0 + timedelta(days=8)), "aftercare") == []
    # a restart keeps it done
    assert notices(Sim(T0, sim.facts)(core.Tick(), r0 + timedelta(days=8)), "aftercare") == []
    rec = recs.build(SITE, sim.facts).incidents[0]
    assert (rec.aftercare_done_by, rec.aftercare_done_at, rec.aftercare_note) == (
        "an",
        r0 + timedelta(days=2),
        "gebeld, gaat goed",
    )
    row = export.rows([rec], ZoneInfo("Europe/Brussels"))[0]
    assert row["aftercare_done_by"] == "an" and row["aftercare_note"] == "gebeld, gaat goed"
    assert row["aftercare_reminders"] == "2026-11-24 10:05:00"


def test_aftercare_follow_up_rule_and_down_time() -> None:
    sim = Sim()
    light = Registration.model_validate({"aggression_types": ["verbaal"], "severity": "boosheid"})
    i1 = resolved(sim, light)
    i2 = resolved(sim, Registration(false_alarm=True), at=T0 + timedelta(minutes=10))
    i3 = resolved(
        sim,
        Registration.model_validate({"aggression_types": ["fysiek"], "severity": "geweld"}),
        by="chris",
        at=T0 + timedelta(minutes=20),
    )
    assert set(sim.w.engine.aftercare) == {i3}  # boosheid without after-care and false alarms: no follow-up
    assert i1 not in sim.w.engine.aftercare and i2 not in sim.w.engine.aftercare
    # the console was down for 10 days: one reminder (the latest one due), not two
    late = Sim(T0, sim.facts)
    (one,) = notices(late(core.Tick(), T0 + timedelta(days=10)), "aftercare")
    assert one.person_ids == ("chris",) and one.detail["step"] == "2"
    assert notices(late(core.Tick(), T0 + timedelta(days=11)), "aftercare") == []
    # not yet resolved: refused
    sim.event("balie-1", EventKind.ALARM, T0 + timedelta(hours=1))
    open_inc = max(sim.w.engine.live)
    cmd = AftercareDoneCmd(incident_id=open_inc, **base("chris", T0))
    assert [(x.ok, x.code) for x in replies(sim.cmd(cmd, T0 + timedelta(hours=1)))] == [(False, "invalid")]


# --------------------------------------------------------------------------- retention


def old_and_new_log() -> tuple[list[Fact], str, str, datetime]:
    """Six years of log: an old resolved incident, an old open one, supervision detail, tests."""
    sim = Sim()
    old = resolved(sim, REG)
    sim.event("balie-1", EventKind.ALARM, T0 + timedelta(minutes=30))
    still_open = max(sim.w.engine.live)
    sim.cmd(AckCmd(incident_id=still_open, **base("chris", T0)), T0 + timedelta(minutes=31))
    up = UnitStatus(unit_id="wachtzaal", state=LinkState.ONLINE, boot_id=sim.boot, reason="connected")
    sim(StatusIn(up), T0 + timedelta(minutes=40))
    sim.event("wachtzaal", EventKind.FAULT, T0 + timedelta(minutes=41), fault=FaultKind.SHORT)  # stays
    sim.event("spreekkamer-1", EventKind.FAULT, T0 + timedelta(minutes=42), fault=FaultKind.CUT)
    sim.event("spreekkamer-1", EventKind.FAULT_CLEARED, T0 + timedelta(minutes=43), fault=FaultKind.CUT)
    sim.cmd(PresenceCmd(present=False, **base("bart", T0)), T0 + timedelta(minutes=44))
    sim.cmd(StartCmd(scope=Scope.ROOM, target="balie-1", **base("fien", T0)), T0 + timedelta(hours=1))
    sim.event("balie-1", EventKind.TEST, T0 + timedelta(hours=1, minutes=1))
    sim.cmd(StopCmd(**base("fien", T0)), T0 + timedelta(hours=1, minutes=5))
    now = T0 + timedelta(days=6 * 365)
    recent = now - timedelta(days=10)
    sim.event("spreekkamer-1", EventKind.ALARM, recent)
    new = max(sim.w.engine.live)
    sim.cmd(AckCmd(incident_id=new, **base("an", recent)), recent + timedelta(minutes=1))
    sim.cmd(
        ResolveCmd(incident_id=new, registration=REG, **base("an", recent)), recent + timedelta(minutes=2)
    )
    return sim.facts, old, still_open, now


def test_purge_plan_keeps_what_the_state_and_the_registrations_need() -> None:
    facts, old, still_open, now = old_and_new_log()
    p = retention.plan(enumerate(facts), SITE.retention, now)
    kept = [f for i, f in enumerate(facts) if i not in p.seqs]
    assert p.incidents == (old,)
    assert all(getattr(f, "incident_id", None) != old for f in kept)
    assert any(getattr(f, "incident_id", None) == still_open for f in kept)  # open: never purged
    before, after = core.rebuild(SITE, facts, now), core.rebuild(SITE, kept, now)
    for uid in before.units.units:
        b, a = before.units.units[uid], after.units.units[uid]
        assert (a.online, a.since, a.boot_id, a.faults, a.last_test_ok, a.button_ok) == (
            b.online,
            b.since,
            b.boot_id,
            b.faults,
            b.last_test_ok,
            b.button_ok,
        ), uid
    assert after.units.units["wachtzaal"].faults == frozenset({"knop:short"})
    assert after.engine.absent == before.engine.absent == frozenset({"bart"})
    assert set(after.engine.live) == set(before.engine.live) == {still_open}
    assert {k for k in after.engine.aftercare} == set(before.engine.aftercare) - {old}
    assert p.kinds["fault_raised"] == 1 and p.kinds["fault_cleared"] == 1  # the cleared cut
    assert p.kinds["campaign_started"] == 1 and p.kinds["campaign_ended"] == 1
    assert "test_result" not in p.kinds  # balie-1/knop's only (newest) test press is kept


def test_purge_in_the_store_then_the_service_rebuilds(tmp_path: Path) -> None:
    facts, old, still_open, now = old_and_new_log()
    db = tmp_path / "c.db"
    store = Store(db, init=True)
    store.commit(Batch(facts=list(facts)), now)
    store.close()
    store = Store(db)
    dry = retention.plan(store.numbered_facts(), SITE.retention, now)
    store.purge(dry, dry_run=True)
    assert store.fact_count() == len(facts)  # a dry run changes nothing
    p = retention.plan(store.numbered_facts(), SITE.retention, now)
    store.purge(p)
    assert store.fact_count() == len(facts) - len(p.seqs) and p.seqs
    assert store.incident_facts(old) == []
    out = retention.describe(p, {"received": 0}, dry_run=False)
    assert old in out and "removed" in out
    store.close()
    svc = ConsoleService(ServiceConfig(site_path=Path("x"), db_path=db), SITE, CREDS)
    svc.load()
    assert set(svc.world.engine.live) == {still_open}
    assert svc.world.units.units["wachtzaal"].faults == frozenset({"knop:short"})
    assert svc.world.comparable() == core.rebuild(SITE, svc.store.facts(), svc.started_at).comparable()
    svc.store.close()
