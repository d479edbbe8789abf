"""The incident engine, driven with injected time: every transition, timer races included."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from console import engine
from console.engine import (
    ClearIncident,
    EngineState,
    Notify,
    Page,
    PersonCmdIn,
    PublishIncident,
    Record,
    Reply,
    SendReceipt,
    Tick,
    UnitEventIn,
    UnitFeedback,
    UnitTestMode,
)
from console.facts import CampaignEnded, CommandRejected, LevelSkipped
from console.facts import TestResult as TestResultFact
from console.servicerun import FAST_SITE
from inventory.load import parse_site
from wire.messages import (
    AckCmd,
    AggressionType,
    EventKind,
    Feedback,
    IncidentStatus,
    NotifyReason,
    PresenceCmd,
    Registration,
    ResolveCmd,
    Severity,
    UnitEvent,
)
from wire.messages import (
    TestScope as Scope,
)
from wire.messages import (
    TestStartCmd as StartCmd,
)
from wire.messages import (
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
    return UnitEventIn(
        UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=kind,
            button_id=button,
            seq=1,
            boot_id=BOOT,
            occurred_at=T0,
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
        self.log: list[engine.Effect] = []

    def __call__(self, inp: engine.Input, t: float) -> list[engine.Effect]:
        self.s, eff = engine.step(self.s, inp, at(t))
        self.log += eff
        return eff

    @property
    def incident(self) -> engine.Incident:
        (only,) = self.s.incidents.values()
        return only

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def notices(effects: list[engine.Effect]) -> list[tuple[str, int, tuple[str, ...]]]:
    return [
        (e.notice.reason.value, e.notice.level, e.notice.person_ids) for e in effects if isinstance(e, Notify)
    ]


def test_alarm_pages_the_lead_at_once_and_is_receipted() -> None:
    r = Run()
    eff = r(press(), 0)
    inc = r.incident
    assert re.fullmatch(r"^[a-z0-9][a-z0-9-]{0,47}$", inc.id) and inc.id == "20261128-0001"
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


def test_second_press_while_acknowledged_joins_and_tells_the_lead() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
    eff = r(press(), 20)
    assert len(r.s.incidents) == 1 and r.incident.presses == 2
    assert notices(eff) == [("info", 0, ("an",))]
    assert UnitFeedback("spreekkamer-1", r.incident.id, Feedback.ACKNOWLEDGED) in eff
    assert r.incident.status is IncidentStatus.ACKNOWLEDGED


def test_press_after_resolve_opens_a_new_incident() -> None:
    r = Run()
    r(press(), 0)
    first = r.incident.id
    r(cmd(ResolveCmd, "an", incident_id=first, registration=REG), 3)
    r(press(), 10)
    assert sorted(r.s.incidents) == [first, "20261128-0002"]


def test_reminder_once_when_acknowledged_but_not_resolved() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
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


def test_resolve_without_ack_stops_escalation_and_tells_those_paged() -> None:
    r = Run()
    r(press(), 0)
    r(Tick(), 1)
    eff = r(
        cmd(ResolveCmd, "dirk", incident_id=r.incident.id, registration=Registration(false_alarm=True)), 1.5
    )
    assert notices(eff) == [("info", 0, ("an",))]
    assert r(Tick(), 2) == []


def test_resolved_incident_is_cleared_after_retention() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(ResolveCmd, "an", incident_id=inc, registration=REG), 10)
    day = 24 * 3600
    assert r(Tick(), 10 + day - 1) == []
    eff = r(Tick(), 10 + day)
    assert ClearIncident(inc) in eff and r.s.incidents == {}


def test_test_presses_never_page() -> None:
    r = Run()
    eff = r(press(kind=EventKind.TEST, campaign_id="test-x"), 0)
    assert notices(eff) == [] and r.s.incidents == {}
    (res,) = [f for f in r.facts() if isinstance(f, TestResultFact)]
    assert res.unit_id == "spreekkamer-1" and res.button_id == "knop"
    assert UnitFeedback("spreekkamer-1", None, Feedback.TEST_OK) in eff
    assert any(isinstance(e, SendReceipt) for e in eff)


def test_pager_ack_acknowledges_the_newest_incident_routed_to_that_lead() -> None:
    r = Run()
    r(press("spreekkamer-1"), 0)
    r(cmd(PresenceCmd, "chris", present=False), 0)
    r(press("balie-1"), 0.2)  # routed to chris (absent) -> bart; not to an
    older = next(i for i in r.s.incidents.values() if i.unit_id == "spreekkamer-1")
    eff = r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.5)
    assert r.s.incidents[older.id].acknowledged_by == "an"
    assert any(isinstance(e, SendReceipt) for e in eff)
    # nothing left for An: the next pager press is refused (and recorded)
    r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.6)
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
    bad = r(cmd(StartCmd, "an", scope=Scope.SITE), 0)
    assert [(e.ok, e.code) for e in bad if isinstance(e, Reply)] == [(False, "not_authorised")]
    unknown = r(cmd(StartCmd, "fien", scope=Scope.UNIT, target="nope"), 0)
    assert [(e.ok, e.code) for e in unknown if isinstance(e, Reply)] == [(False, "unknown_target")]
    r(cmd(StartCmd, "fien", scope=Scope.TEAM, target="onthaal", minutes=1), 0)
    assert engine.next_due(r.s) == at(60)
    r(Tick(), 60)
    (ended,) = [f for f in r.facts() if isinstance(f, CampaignEnded)]
    assert ended.why == "expired" and set(ended.untested) == {
        "balie-1/knop",
        "balie-1/voet",
        "wachtzaal/knop",
    }


def test_rebuilding_from_the_facts_gives_the_live_state() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(PresenceCmd, "chris", present=False), 0)
    r(press("balie-1"), 0.1)
    r(Tick(), 1)
    r(Tick(), 2)
    r(press(), 2.5)
    r(cmd(AckCmd, "an", incident_id="20261128-0001"), 3)
    r(cmd(StartCmd, "fien", scope=Scope.SITE), 4)
    r(press("wachtzaal", kind=EventKind.TEST), 5)
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
