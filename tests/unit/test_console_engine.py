"""The incident engine, driven with injected time: every transition, timer races included."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stilalarm.console.core import engine
from stilalarm.console.core.effects import (
    ClearIncident,
    Effect,
    Notify,
    Page,
    PublishIncident,
    Record,
    Reply,
    SendReceipt,
    UnitFeedback,
    UnitTestMode,
)
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick, UnitEventIn
from stilalarm.console.facts import AlarmReceived, CampaignEnded, CommandRejected, LevelSkipped, PressRepeated
from stilalarm.console.facts import TestResult as TestResultFact
from stilalarm.console.texts import notice_text
from stilalarm.console.timeline import Timelines
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    ID_PATTERN,
    AckCmd,
    AggressionType,
    EventKind,
    Feedback,
    IncidentStatus,
    NotifyReason,
    OnSiteCmd,
    PresenceCmd,
    Registration,
    ResolveCmd,
    Severity,
    UnitEvent,
)
from stilalarm.wire.messages import (
    TestScope as Scope,
)
from stilalarm.wire.messages import (
    TestStartCmd as StartCmd,
)
from stilalarm.wire.messages import (
    TestStopCmd as StopCmd,
)

SITE = parse_site(FAST_SITE)  # levels at 0 / 1 / 2 s, repeat every 5 s, remind after 60 s
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
BOOT = uuid.uuid4()


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def press(
    unit: str = "spreekkamer-1", kind: EventKind = EventKind.ALARM, button: str = "knop", **kw: object
) -> UnitEventIn:
    kw.setdefault("occurred_at", T0)
    return UnitEventIn(
        UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=kind,
            button_id=button,
            seq=1,
            boot_id=BOOT,
            sent_at=T0,
            **kw,  # type: ignore[arg-type]
        )
    )


def cmd(kind: type, person: str, **kw: object) -> PersonCmdIn:
    return PersonCmdIn(kind(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, **kw))


REG = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.BOOSHEID, note="rustig")


class Run:
    """Feeds inputs to the engine, keeps the state and every effect."""

    def __init__(self) -> None:
        self.s = EngineState.initial(SITE)
        self.log: list[Effect] = []

    def __call__(self, inp: engine.Input, t: float) -> list[Effect]:
        self.s, eff = engine.step(self.s, inp, at(t))
        self.log += eff
        return eff

    @property
    def incident(self) -> engine.Incident:
        (only,) = self.s.incidents.values()
        return only

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def notices(effects: list[Effect]) -> list[tuple[str, int, tuple[str, ...]]]:
    return [
        (e.notice.reason.value, e.notice.level, e.notice.person_ids) for e in effects if isinstance(e, Notify)
    ]


def test_alarm_pages_the_lead_at_once_and_is_receipted() -> None:
    r = Run()
    eff = r(press(), 0)
    inc = r.incident
    assert re.fullmatch(ID_PATTERN, inc.id) and inc.id == "20261128-0001"
    assert notices(eff) == [("alarm", 1, ("an",))]
    assert SendReceipt("spreekkamer-1", r.log[0].fact.event_id, inc.id) in eff  # type: ignore[union-attr]
    assert UnitFeedback("spreekkamer-1", inc.id, Feedback.STORED) in eff
    assert PublishIncident(inc.id) in eff
    assert Page("pager-an", inc.id, 1) in eff  # An's pager unit signals
    assert inc.status is IncidentStatus.OPEN and inc.level == 1 and inc.notified == ("an",)
    assert engine.next_due(r.s) == at(1)


def test_escalation_deputy_then_everyone_with_101_then_repeats() -> None:
    r = Run()
    r(press(), 0)
    assert r(Tick(), 0.999) == []
    assert notices(r(Tick(), 1)) == [("escalation", 2, ("dirk",))]
    eff = r(Tick(), 2)
    assert notices(eff) == [("escalation", 3, ("an", "chris", "els", "dirk"))]
    n = next(e.notice for e in eff if isinstance(e, Notify))
    assert n.call_101 and n.evacuate is None  # spreekkamer has no waiting room
    assert r.incident.call_101 and r.incident.level == 3
    assert r(Tick(), 6.9) == []
    assert notices(r(Tick(), 7)) == [("repeat", 3, ("an", "chris", "els", "dirk"))]
    assert engine.next_due(r.s) == at(12)
    assert notices(r(Tick(), 12)) == [("repeat", 3, ("an", "chris", "els", "dirk"))]


def test_waiting_room_is_evacuated_at_the_101_level() -> None:
    r = Run()
    r(press("balie-1"), 0)
    eff = r(Tick(), 2)  # two levels due at once: both fire, in order
    assert [(x[0], x[1]) for x in notices(eff)] == [("escalation", 2), ("escalation", 3)]
    assert [e.notice.evacuate for e in eff if isinstance(e, Notify)] == [None, "wachtzaal"]
    assert r.incident.evacuate == "wachtzaal"
    # an alarm in the waiting room itself evacuates it too
    r2 = Run()
    r2(press("wachtzaal"), 0)
    r2(Tick(), 2)
    assert r2.incident.evacuate == "wachtzaal"


def test_ack_arriving_exactly_when_a_level_is_due_wins() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    eff = r(cmd(AckCmd, "an", incident_id=inc), 1)  # level 2 is due at exactly this instant
    eff += r(Tick(), 1)
    assert notices(eff) == []  # the deputy is not paged
    assert UnitFeedback("spreekkamer-1", inc, Feedback.ACKNOWLEDGED) in eff
    assert Page("pager-an", inc, 0) in eff
    assert any(isinstance(e, Reply) and e.ok for e in eff)
    assert r.incident.status is IncidentStatus.ACKNOWLEDGED and r.incident.acknowledged_by == "an"
    assert r(Tick(), 30) == []  # nothing more until the reminder


def test_ack_tells_the_others_who_were_paged() -> None:
    r = Run()
    r(press(), 0)
    r(Tick(), 1)
    eff = r(cmd(AckCmd, "dirk", incident_id=r.incident.id), 1.5)
    assert notices(eff) == [("acknowledged", 0, ("an",))]
    assert r.incident.acknowledged_at == at(1.5)


def test_alarm_after_lead_goes_absent_goes_straight_to_deputy() -> None:
    r = Run()
    r(cmd(PresenceCmd, "an", present=False), 0)
    eff = r(press(), 0)
    assert notices(eff) == [("escalation", 2, ("dirk",))]
    assert [f.level for f in r.facts() if isinstance(f, LevelSkipped)] == [1]
    assert engine.next_due(r.s) == at(2)  # level 3 keeps its own time


def test_lead_going_absent_after_the_alarm_changes_nothing_already_sent() -> None:
    r = Run()
    eff = r(press(), 0)
    eff += r(cmd(PresenceCmd, "an", present=False), 0)
    assert notices(eff) == [("alarm", 1, ("an",))]
    assert notices(r(Tick(), 1)) == [("escalation", 2, ("dirk",))]
    # at level 3 the absent lead is left out
    assert notices(r(Tick(), 2)) == [("escalation", 3, ("chris", "els", "dirk"))]


def test_nobody_present_at_a_level_goes_to_the_next_at_once() -> None:
    r = Run()
    r(cmd(PresenceCmd, "an", present=False), 0)
    r(cmd(PresenceCmd, "dirk", present=False), 0)
    eff = r(press(), 0)
    assert notices(eff) == [("escalation", 3, ("chris", "els"))]
    assert [f.level for f in r.facts() if isinstance(f, LevelSkipped)] == [1, 2]


def test_last_level_never_stays_silent_even_when_everyone_is_absent() -> None:
    r = Run()
    for p in ("an", "chris", "dirk", "els"):
        r(cmd(PresenceCmd, p, present=False), 0)
    eff = r(press(), 0)
    assert notices(eff) == [("escalation", 3, ("an", "chris", "els", "dirk"))]


def test_present_again_is_paged_again() -> None:
    r = Run()
    r(cmd(PresenceCmd, "an", present=False), 0)
    r(cmd(PresenceCmd, "an", present=True), 0)
    assert notices(r(press(), 0)) == [("alarm", 1, ("an",))]


def test_second_press_while_open_joins_without_paging_again() -> None:
    r = Run()
    r(press(), 0)
    second = press(button="knop")
    eff = r(second, 0.5)
    assert notices(eff) == []
    assert len(r.s.incidents) == 1 and r.incident.presses == 2
    assert SendReceipt("spreekkamer-1", second.event.event_id, r.incident.id) in eff
    assert engine.next_due(r.s) == at(1)  # the escalation clock is not reset


def test_second_press_while_acknowledged_joins_and_pages_the_lead_again() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
    eff = r(press(), 20)
    assert len(r.s.incidents) == 1 and r.incident.presses == 2
    assert notices(eff) == [("reminder", 1, ("an",))]  # 'still in danger' (test_responses_engine.py)
    assert UnitFeedback("spreekkamer-1", r.incident.id, Feedback.ACKNOWLEDGED) in eff
    assert r.incident.status is IncidentStatus.ACKNOWLEDGED


def test_press_after_resolve_opens_a_new_incident() -> None:
    r = Run()
    r(press(), 0)
    first = r.incident.id
    r(cmd(AckCmd, "an", incident_id=first), 2)
    r(cmd(ResolveCmd, "an", incident_id=first, registration=REG), 3)
    r(press(), 10)
    assert sorted(r.s.incidents) == [first, "20261128-0002"]


def test_reminder_once_when_acknowledged_but_not_resolved() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
    r(cmd(OnSiteCmd, "an", incident_id=r.incident.id), 1)  # on site: no on-site reminders
    assert engine.next_due(r.s) == at(60.5)
    assert r(Tick(), 60) == []
    eff = r(Tick(), 60.5)
    assert notices(eff) == [("reminder", 0, ("an",))]
    assert r.incident.reminded
    assert r(Tick(), 600) == []


def test_resolve_closes_turns_led_off_and_stores_registration() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    eff = r(cmd(ResolveCmd, "an", incident_id=inc, registration=REG), 100)
    assert UnitFeedback("spreekkamer-1", inc, Feedback.OFF) in eff
    assert r.incident.status is IncidentStatus.RESOLVED and r.incident.registration == REG
    assert r.incident.resolved_by == "an" and r.incident.resolved_at == at(100)
    again = r(cmd(ResolveCmd, "an", incident_id=inc, registration=REG), 101)
    assert [(e.ok, e.code) for e in again if isinstance(e, Reply)] == [(False, "already_resolved")]
    ack = r(cmd(AckCmd, "dirk", incident_id=inc), 102)
    assert [(e.ok, e.code) for e in ack if isinstance(e, Reply)] == [(False, "already_resolved")]


FALSE_ALARM = Registration(false_alarm=True)


def refused(eff: list[Effect]) -> list[tuple[str, str]]:
    return [(e.code, e.text_key) for e in eff if isinstance(e, Reply) and not e.ok]


@pytest.mark.parametrize("person", ["els", "an", "dirk", "chris"])
@pytest.mark.parametrize("reg", [REG, FALSE_ALARM], ids=["registration", "false_alarm"])
def test_nobody_resolves_before_someone_acknowledged_and_the_escalation_goes_on(
    person: str, reg: Registration
) -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    eff = r(cmd(ResolveCmd, person, incident_id=inc, registration=reg), 0.001)  # ms after the press
    assert refused(eff) == [("not_authorised", "reply_resolve_needs_ack")]
    (rej,) = [f for f in r.facts() if isinstance(f, CommandRejected)]
    assert (rej.person_id, rej.cmd_kind, rej.incident_id) == (person, "resolve", inc)
    assert "resolve_needs_ack" in rej.detail
    assert r.incident.status is IncidentStatus.OPEN and r.incident.resolved_by is None
    assert not any(isinstance(e, UnitFeedback) for e in eff)  # the desk LED still says "stored"
    assert notices(r(Tick(), 1)) == [("escalation", 2, ("dirk",))]  # the deputy level still fires
    assert notices(r(Tick(), 2)) == [("escalation", 3, ("an", "chris", "els", "dirk"))]  # and Bel 101
    assert r.incident.call_101


@pytest.mark.parametrize("person", ["els", "chris"])  # reception; a lead of another team
@pytest.mark.parametrize("reg", [REG, FALSE_ALARM], ids=["registration", "false_alarm"])
def test_after_an_ack_only_the_acknowledger_or_a_lead_or_deputy_of_the_team_may_resolve(
    person: str, reg: Registration
) -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    eff = r(cmd(ResolveCmd, person, incident_id=inc, registration=reg), 1)
    assert refused(eff) == [("not_authorised", "reply_resolve_not_yours")]
    (reply,) = [e for e in eff if isinstance(e, Reply)]
    assert reply.values["team"] == "Sociale dienst" and reply.incident_id == inc
    assert [f.code for f in r.facts() if isinstance(f, CommandRejected)] == ["not_authorised"]
    assert r.incident.status is IncidentStatus.ACKNOWLEDGED


@pytest.mark.parametrize(
    ("acker", "resolver"),
    [
        ("els", "els"),  # reception acknowledged (someone is there): may resolve it
        ("chris", "chris"),  # a lead of another team who came to help
        ("els", "an"),  # the team's lead
        ("els", "dirk"),  # the team's deputy
        ("an", "dirk"),
    ],
)
def test_acknowledger_and_team_lead_or_deputy_may_resolve(acker: str, resolver: str) -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, acker, incident_id=inc), 0.5)  # who may acknowledge is unchanged: anyone who may act
    eff = r(cmd(ResolveCmd, resolver, incident_id=inc, registration=FALSE_ALARM), 1)
    assert [(e.ok, e.code) for e in eff if isinstance(e, Reply)] == [(True, "ok")]
    assert r.incident.status is IncidentStatus.RESOLVED and r.incident.resolved_by == resolver
    assert UnitFeedback("spreekkamer-1", inc, Feedback.OFF) in eff


def test_a_pager_ack_lets_its_lead_resolve() -> None:
    r = Run()
    r(press(), 0)
    r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.5)
    eff = r(cmd(ResolveCmd, "an", incident_id=r.incident.id, registration=REG), 1)
    assert [(e.ok, e.code) for e in eff if isinstance(e, Reply)] == [(True, "ok")]


def test_facilities_still_may_not_resolve_even_after_an_ack() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
    eff = r(cmd(ResolveCmd, "fien", incident_id=r.incident.id, registration=FALSE_ALARM), 1)
    assert refused(eff) == [("not_authorised", "reply_not_authorised")]


def test_resolved_incident_is_cleared_after_retention() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 5)
    r(cmd(ResolveCmd, "an", incident_id=inc, registration=REG), 10)
    day = 24 * 3600
    assert r(Tick(), 10 + day - 1) == []
    eff = r(Tick(), 10 + day)
    assert ClearIncident(inc) in eff and r.s.incidents == {}


def test_test_press_in_an_open_window_never_pages_but_tells_the_room_lead_quietly() -> None:
    r = Run()
    r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="spreekkamer-1"), 0)
    eff = r(press(kind=EventKind.TEST, campaign_id="test-x"), 5)
    assert r.s.incidents == {}
    (res,) = [f for f in r.facts() if isinstance(f, TestResultFact)]
    assert res.unit_id == "spreekkamer-1" and res.button_id == "knop" and res.campaign_id == "test-20261128-1"
    assert UnitFeedback("spreekkamer-1", None, Feedback.TEST_OK) in eff
    assert any(isinstance(e, SendReceipt) and e.incident_id is None for e in eff)
    assert notices(eff) == [("info", 0, ("an",))]  # the room's team lead; never an alarm reason
    (n,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert n.incident_id is None and n.text_key == "test_press" and n.detail["room"] == "spreekkamer-1"
    nl = notice_text(SITE, n.text_key, n.detail, Language.NL)
    en = notice_text(SITE, n.text_key, n.detail, Language.EN)
    assert nl is not None and nl[0] == "TEST in Spreekkamer 1 (technische dienst)" and "Fien" in nl[1]
    assert en is not None and en[0] == "TEST at Interview room 1 (facilities)"


def test_test_event_without_an_open_window_is_a_real_alarm_and_the_fact_says_why() -> None:
    r = Run()
    eff = r(press(kind=EventKind.TEST, campaign_id="test-x"), 0)  # nobody opened a window
    assert notices(eff) == [("alarm", 1, ("an",))]
    (alarm,) = [f for f in r.facts() if isinstance(f, AlarmReceived)]
    assert alarm.test_refused == "no_window"
    assert SendReceipt("spreekkamer-1", alarm.event_id, r.incident.id) in eff
    assert UnitFeedback("spreekkamer-1", r.incident.id, Feedback.STORED) in eff
    assert not [f for f in r.facts() if isinstance(f, TestResultFact)]
    tl = Timelines(SITE)
    for f in r.facts():
        tl.add(f)  # type: ignore[arg-type]
    line = tl.timeline(r.incident.id, 1)
    assert line is not None
    assert "behandeld als echt alarm: geen testvenster open" in " | ".join(e.text for e in line.entries)


@pytest.mark.parametrize(
    ("window", "t"),
    [
        ((Scope.UNIT, "wachtzaal"), 5),  # a window of another unit
        ((Scope.ROOM, "balie-1"), 5),  # of another room
        ((Scope.UNIT, "spreekkamer-1"), 301),  # over (5 minutes by default), even before the tick ends it
    ],
)
def test_test_event_outside_its_units_window_is_a_real_alarm(window: tuple[Scope, str], t: float) -> None:
    r = Run()
    r(cmd(StartCmd, "fien", scope=window[0], target=window[1]), 0)
    eff = r(press(kind=EventKind.TEST), t)
    assert notices(eff)[0] == ("alarm", 1, ("an",))
    assert [f.test_refused for f in r.facts() if isinstance(f, AlarmReceived)] == ["no_window"]


def test_second_test_press_of_a_button_is_a_real_alarm() -> None:
    r = Run()
    r(cmd(StartCmd, "fien", scope=Scope.ROOM, target="balie-1", minutes=15), 0)
    r(press("balie-1", kind=EventKind.TEST, button="knop"), 5)
    eff = r(press("balie-1", kind=EventKind.TEST, button="knop"), 20)  # within 60 s: real
    assert notices(eff)[0] == ("alarm", 1, ("chris",))
    # the other button still tests, even with the open incident of its unit
    r(press("balie-1", kind=EventKind.TEST, button="voet"), 25)
    assert [f.button_id for f in r.facts() if isinstance(f, TestResultFact)] == ["knop", "voet"]
    assert [f.test_refused for f in r.facts() if isinstance(f, AlarmReceived)] == ["again_within_60s"]
    # later in the same window the tested button is still live: a press joins as a real press
    r(press("balie-1", kind=EventKind.TEST, button="knop", occurred_at=at(200)), 200)
    assert [f.test_refused for f in r.facts() if isinstance(f, PressRepeated)] == ["already_tested"]


def test_reopening_a_window_does_not_rearm_a_button_within_60_s() -> None:
    r = Run()
    r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 0)
    ev = press("wachtzaal", kind=EventKind.TEST)
    r(ev, 5)
    r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 10)  # a fresh window, same unit
    eff = r(press("wachtzaal", kind=EventKind.TEST), 30)
    assert notices(eff)[0] == ("alarm", 1, ("chris",))
    assert [f.test_refused for f in r.facts() if isinstance(f, AlarmReceived)] == ["again_within_60s"]
    # the unit's clock says so too, even if the console stored the first one long ago
    r2 = Run()
    r2(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 0)
    r2(press("wachtzaal", kind=EventKind.TEST), 5)  # pressed at T0 (the unit's clock)
    r2(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 100)
    r2(press("wachtzaal", kind=EventKind.TEST, occurred_at=at(30)), 120)  # delivered late
    assert [f.test_refused for f in r2.facts() if isinstance(f, AlarmReceived)] == ["again_within_60s"]


@pytest.mark.parametrize(("scope", "target"), [(Scope.SITE, None), (Scope.TEAM, "onthaal")])
def test_no_window_for_a_team_or_the_whole_site(scope: Scope, target: str | None) -> None:
    r = Run()
    eff = r(cmd(StartCmd, "fien", scope=scope, target=target, minutes=15), 0)
    assert refused(eff) == [("invalid", "reply_test_one_place")]
    assert not any(isinstance(e, UnitTestMode) for e in eff) and r.s.campaigns == {}
    assert [f.code for f in r.facts() if isinstance(f, CommandRejected)] == ["invalid"]
    assert notices(r(press("balie-1", kind=EventKind.TEST), 5))[0] == ("alarm", 1, ("chris",))


def test_windows_last_5_minutes_by_default_and_15_at_most() -> None:
    r = Run()
    eff = r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 0)
    assert [(e.unit_id, e.on, e.until) for e in eff if isinstance(e, UnitTestMode)] == [
        ("wachtzaal", True, at(300))
    ]
    with pytest.raises(ValidationError, match="less than or equal to 15"):
        StartCmd(cmd_id=uuid.uuid4(), person_id="fien", issued_at=T0, scope=Scope.UNIT, minutes=240)


def test_opening_the_next_window_closes_your_previous_one() -> None:
    r = Run()
    r(cmd(StartCmd, "gert", scope=Scope.UNIT, target="spreekkamer-1"), 0)
    r(cmd(StartCmd, "fien", scope=Scope.ROOM, target="balie-1"), 0)
    eff = r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="wachtzaal"), 60)
    assert [(e.unit_id, e.on) for e in eff if isinstance(e, UnitTestMode)] == [
        ("balie-1", False),
        ("wachtzaal", True),
    ]
    assert sorted(c.by for c in r.s.campaigns.values()) == ["fien", "gert"]  # gert's stays open
    assert notices(r(press("balie-1", kind=EventKind.TEST), 70))[0] == ("alarm", 1, ("chris",))


def test_pager_ack_acknowledges_the_newest_incident_routed_to_that_lead() -> None:
    r = Run()
    r(press("spreekkamer-1"), 0)
    r(cmd(PresenceCmd, "chris", present=False), 0)
    r(press("balie-1"), 0.2)  # routed to chris (absent) -> bart; not to an
    older = next(i for i in r.s.incidents.values() if i.unit_id == "spreekkamer-1")
    eff = r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.5)
    assert r.s.incidents[older.id].acknowledged_by == "an"
    assert any(isinstance(e, SendReceipt) for e in eff)
    # the next press is 'ter plaatse' for it (docs/CONSOLE.md); after that a press only quiets the
    # pager; once it is resolved nothing is left for An: a further press is refused (and recorded)
    r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.6)
    assert r.s.incidents[older.id].on_site_at == at(0.6)
    eff = r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.7)
    assert Page("pager-an", older.id, 0) in eff and not [
        f for f in r.facts() if isinstance(f, CommandRejected)
    ]
    r(cmd(ResolveCmd, "an", incident_id=older.id, registration=REG), 0.8)
    r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.9)
    assert [f.code for f in r.facts() if isinstance(f, CommandRejected)] == ["unknown_incident"]


def test_pager_ack_from_a_desk_unit_is_refused() -> None:
    r = Run()
    r(press(), 0)
    r(press("balie-1", kind=EventKind.PAGER_ACK, button="knop"), 0.1)
    assert r.s.incidents[r.incident.id].status is IncidentStatus.OPEN
    assert [f.code for f in r.facts() if isinstance(f, CommandRejected)] == ["invalid"]


@pytest.mark.parametrize(
    ("person", "incident", "code"),
    [
        ("fien", None, "not_authorised"),  # facilities may not act on aggression alarms
        ("zed", None, "not_authorised"),  # not in the inventory
        ("an", "20261128-9999", "unknown_incident"),
    ],
)
def test_unauthorised_and_unknown_commands_are_refused(person: str, incident: str | None, code: str) -> None:
    r = Run()
    r(press(), 0)
    eff = r(cmd(AckCmd, person, incident_id=incident or r.incident.id), 0.5)
    assert [(e.ok, e.code) for e in eff if isinstance(e, Reply)] == [(False, code)]
    assert [f.code for f in r.facts() if isinstance(f, CommandRejected)] == [code]
    assert r.incident.status is IncidentStatus.OPEN


def test_ack_by_someone_else_after_ack_is_refused_same_person_is_ok() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    assert [(e.ok, e.code) for e in r(cmd(AckCmd, "an", incident_id=inc), 0.6) if isinstance(e, Reply)] == [
        (True, "ok")
    ]
    refused = [e for e in r(cmd(AckCmd, "dirk", incident_id=inc), 0.7) if isinstance(e, Reply)]
    assert [(e.ok, e.code) for e in refused] == [(False, "already_acknowledged")]
    assert refused[0].values["name"] == "An Peeters"


def test_test_campaign_start_press_stop_records_untested_buttons() -> None:
    r = Run()
    eff = r(cmd(StartCmd, "fien", scope=Scope.ROOM, target="balie-1", minutes=10), 0)
    (reply,) = [e for e in eff if isinstance(e, Reply)]
    cid = reply.campaign_id
    assert reply.ok and cid == "test-20261128-1"
    assert [(e.unit_id, e.on, e.until) for e in eff if isinstance(e, UnitTestMode)] == [
        ("balie-1", True, at(600))
    ]
    r(press("balie-1", kind=EventKind.TEST, button="knop", campaign_id=cid), 5)
    eff = r(cmd(StopCmd, "fien"), 60)
    (ended,) = [f for f in r.facts() if isinstance(f, CampaignEnded)]
    assert ended.tested == ("balie-1/knop",) and ended.untested == ("balie-1/voet",)
    assert [(e.unit_id, e.on) for e in eff if isinstance(e, UnitTestMode)] == [("balie-1", False)]
    assert r.s.campaigns == {}


def test_test_campaign_expires_and_authorisation() -> None:
    r = Run()
    bad = r(cmd(StartCmd, "an", scope=Scope.UNIT, target="balie-1"), 0)
    assert [(e.ok, e.code) for e in bad if isinstance(e, Reply)] == [(False, "not_authorised")]
    unknown = r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="nope"), 0)
    assert [(e.ok, e.code) for e in unknown if isinstance(e, Reply)] == [(False, "unknown_target")]
    r(cmd(StartCmd, "fien", scope=Scope.ROOM, target="balie-1", minutes=1), 0)
    assert engine.next_due(r.s) == at(60)
    r(Tick(), 60)
    (ended,) = [f for f in r.facts() if isinstance(f, CampaignEnded)]
    assert ended.why == "expired" and set(ended.untested) == {"balie-1/knop", "balie-1/voet"}


def test_rebuilding_from_the_facts_gives_the_live_state() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(PresenceCmd, "chris", present=False), 0)
    r(press("balie-1"), 0.1)
    r(Tick(), 1)
    r(Tick(), 2)
    r(press(), 2.5)
    r(cmd(AckCmd, "an", incident_id="20261128-0001"), 3)
    r(cmd(StartCmd, "fien", scope=Scope.ROOM, target="wachtzaal"), 4)
    r(press("wachtzaal", kind=EventKind.TEST), 5)
    r(press("wachtzaal", kind=EventKind.TEST), 6)  # within 60 s: an alarm
    r(cmd(ResolveCmd, "an", incident_id="20261128-0001", registration=REG), 9)
    r(Tick(), 12)
    rebuilt = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    assert engine.next_due(rebuilt) == engine.next_due(r.s)


def test_rebuilt_state_resumes_the_escalation_without_repeating_levels() -> None:
    r = Run()
    r(press(), 0)
    r(Tick(), 1)  # lead and deputy notified; then the service dies
    s = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    s, eff = engine.step(s, Tick(), at(1.5))
    assert notices(eff) == []
    s, eff = engine.step(s, Tick(), at(30))  # down long: level 3 at once, exactly once
    assert notices(eff) == [("escalation", 3, ("an", "chris", "els", "dirk"))]
    assert [e.notice.reason for e in eff if isinstance(e, Notify)] == [NotifyReason.ESCALATION]
