"""Home visits in the pure engine, time injected (no sleeps): registering, check-in, the overdue
incident's escalation colleague -> lead -> everyone, the colleague's answers, who may act, the
evening rule, and that a rebuild from the log gives the same state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, PublishIncident, Record, Reply, UnitFeedback
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick
from stilalarm.console.facts import CommandRejected, LevelSkipped, Resolved
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitNoAnswer, VisitStarted
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import (
    AckCmd,
    AggressionType,
    IncidentStatus,
    PresenceCmd,
    Registration,
    ResolveCmd,
    Severity,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
    encode,
)

SITE = parse_site(VISIT_SITE)  # overdue 1.2 s after the end, the lead 3 s later, everyone 3 s after
EVENING_SITE = parse_site(
    VISIT_SITE.replace("[1, 2, 3, 4, 5, 6, 7]", "[1, 2, 3, 4, 5]").replace(
        'start = "00:00", end = "24:00"', 'start = "08:00", end = "17:00"'
    )
)
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Brussels
EVERYONE = ("an", "chris", "els", "dirk")  # sociale-dienst's last level: all leads, reception, prevention
ADDRESS = "Kerkstraat 12, 3550 Heusden-Zolder"


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def cmd(kind: type, person: str, **kw: object) -> PersonCmdIn:
    return PersonCmdIn(kind(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, **kw))


def start(person: str = "hanne", visit: str = "v-1", end_s: float = 60, **kw: object) -> PersonCmdIn:
    kw.setdefault("client_name", "Jan Klant")
    kw.setdefault("address", ADDRESS)
    kw.setdefault("mobile", "0470 12 34 56")
    return cmd(VisitStartCmd, person, visit_id=visit, planned_end=at(end_s), **kw)


class Run:
    def __init__(self, site: Site = SITE) -> None:
        self.s = EngineState.initial(site)
        self.log: list[Effect] = []

    def __call__(self, inp: engine.Input, t: float | datetime) -> list[Effect]:
        now = t if isinstance(t, datetime) else at(t)
        self.s, eff = engine.step(self.s, inp, now)
        self.log += eff
        return eff

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]

    @property
    def incident(self) -> engine.Incident:
        (only,) = self.s.incidents.values()
        return only


def notices(effects: list[Effect]) -> list[tuple[str, int, tuple[str, ...], str]]:
    return [
        (e.notice.reason.value, e.notice.level, e.notice.person_ids, e.notice.text_key)
        for e in effects
        if isinstance(e, Notify)
    ]


def reply(effects: list[Effect]) -> Reply:
    (r,) = [e for e in effects if isinstance(e, Reply)]
    return r


def test_start_registers_the_visit_with_the_team_lead_as_default_colleague() -> None:
    r = Run()
    eff = r(start(), 0)
    rep = reply(eff)
    assert rep.ok and rep.visit_id == "v-1" and rep.text_key == "reply_visit_started"
    started, details = r.facts()
    assert isinstance(started, VisitStarted) and isinstance(details, VisitDetails)
    assert (started.person_id, started.team_id, started.colleague, started.evening) == (
        "hanne",
        "sociale-dienst",
        "an",
        False,
    )
    assert details.address == ADDRESS and details.client_name == "Jan Klant"
    assert "Kerkstraat" not in started.model_dump_json()  # the private part is a fact of its own
    assert notices(eff) == [] and r.s.incidents == {}
    assert engine.next_due(r.s) == at(60 + 1.2)


def test_a_retry_is_answered_and_changes_nothing_and_nobody_else_takes_the_id() -> None:
    r = Run()
    r(start(), 0)
    n = len(r.facts())
    again = reply(r(start(), 1))
    assert again.ok and again.visit_id == "v-1" and len(r.facts()) == n
    other = reply(r(start("ilse"), 2))
    assert not other.ok and other.code == "invalid" and r.s.visits["v-1"].visitor == "hanne"


def test_a_visit_ended_in_time_raises_nothing() -> None:
    r = Run()
    r(start(), 0)
    eff = r(cmd(VisitEndCmd, "hanne", visit_id="v-1"), 50)
    assert reply(eff).ok
    assert [type(f) for f in r.facts()][-1] is VisitEnded
    assert engine.next_due(r.s) is None
    for t in (61.2, 65, 3600):
        assert r(Tick(), t) == []
    assert r.s.incidents == {}


def test_overdue_escalates_colleague_then_lead_then_everyone_then_repeats() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    assert r(Tick(), 61.1) == []
    eff = r(Tick(), 61.2)
    assert notices(eff) == [("alarm", 1, ("ilse",), "visit_overdue")]
    inc = r.incident
    raised = next(f for f in r.facts() if isinstance(f, OverdueRaised))
    assert (raised.visit_id, raised.person_id, raised.planned_end) == ("v-1", "hanne", at(60))
    assert inc.kind == "overdue" and inc.visitor == "hanne" and inc.unit_id is None
    assert inc.visit_private == ("Jan Klant", ADDRESS, "0470 12 34 56")  # for the notices only
    wire = encode(inc.to_wire()).decode()
    assert "Kerkstraat" not in wire and "Jan Klant" not in wire and '"kind":"overdue"' in wire
    assert PublishIncident(inc.id) in eff and not any(isinstance(e, UnitFeedback) for e in eff)
    assert r(Tick(), 64.1) == []
    eff = r(Tick(), 64.2)  # no answer from the colleague within 3 s: the team lead, police instruction
    assert notices(eff) == [("escalation", 2, ("an",), "visit_police")]
    assert next(e for e in eff if isinstance(e, Notify)).notice.call_101
    eff = r(Tick(), 67.2)  # nobody took it up within 3 s: everyone
    assert notices(eff) == [("escalation", 3, EVERYONE, "visit_police")]
    eff = r(Tick(), 72.2)  # the team's repeat (5 s)
    assert notices(eff) == [("repeat", 3, EVERYONE, "visit_police")]
    assert (
        r.incident.level == 3 and r.incident.call_101 and r.incident.notified == ("ilse", "an", *EVERYONE[1:])
    )
    assert len([f for f in r.facts() if isinstance(f, OverdueRaised)]) == 1  # one incident


def test_no_answer_from_the_colleague_escalates_at_once() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    r(Tick(), 61.2)
    eff = r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=False), 62)
    assert reply(eff).ok and reply(eff).incident_id == r.incident.id
    assert notices(eff) == [("escalation", 2, ("an",), "visit_police")]
    assert any(isinstance(f, VisitNoAnswer) for f in r.facts())
    assert r(Tick(), 64.2) == []  # level 2 is not fired twice
    assert notices(r(Tick(), 65)) == [("escalation", 3, EVERYONE, "visit_police")]
    again = r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=False), 65.5)
    assert reply(again).ok and notices(again) == []


def test_reached_all_ok_closes_the_visit_and_its_incident_as_no_incident() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    r(Tick(), 61.2)
    r(Tick(), 64.2)  # the lead was told too
    eff = r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=True), 65)
    assert reply(eff).ok
    inc = r.incident
    assert inc.status is IncidentStatus.RESOLVED and inc.resolved_by == "ilse"
    assert inc.registration == Registration(false_alarm=True, note="huisbezoek: bereikt, alles ok")
    assert inc.visit_private == ("", "", "")  # shown only while it is open
    assert notices(eff) == [("info", 0, ("an",), "visit_closed")]  # everyone told, but the one who reached
    ended = next(f for f in r.facts() if isinstance(f, VisitEnded))
    assert (ended.how, ended.incident_id) == ("reached", inc.id)
    assert r.s.visits["v-1"].closed_at == at(65)
    assert engine.next_due(r.s) == inc.resolved_at + timedelta(seconds=r.s.policy.resolved_retention_s)


def test_reached_before_it_is_overdue_changes_nothing_and_no_answer_raises_it_early() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    eff = r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=True), 10)
    assert reply(eff).ok and reply(eff).text_key == "reply_visit_goes_on" and r.s.incidents == {}
    assert r.s.visits["v-1"].closed_at is None
    eff = r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=False), 20)
    assert [n[:3] for n in notices(eff)] == [("alarm", 1, ("ilse",)), ("escalation", 2, ("an",))]
    assert next(f for f in r.facts() if isinstance(f, OverdueRaised)).early
    assert [n[:2] for n in notices(r(Tick(), 23))] == [("escalation", 3)]
    r(Tick(), 61.2)
    assert len([f for f in r.facts() if isinstance(f, OverdueRaised)]) == 1  # not raised a second time


def test_only_the_visitor_the_colleague_and_the_teams_leads_and_deputies_may_act() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    for outsider in ("chris", "els", "fien", "bart"):  # other team's lead, reception, facilities, deputy
        eff = r(cmd(VisitEndCmd, outsider, visit_id="v-1"), 1)
        assert reply(eff).code == "not_authorised"
        eff = r(cmd(VisitAnswerCmd, outsider, visit_id="v-1", reached=True), 1)
        assert reply(eff).code == "not_authorised"
    assert r.s.visits["v-1"].closed_at is None
    assert all(f.code == "not_authorised" for f in r.facts() if isinstance(f, CommandRejected))
    assert reply(r(cmd(VisitEndCmd, "an", visit_id="nope"), 1)).code == "unknown_target"
    assert reply(r(cmd(VisitAnswerCmd, "hanne", visit_id="v-1", reached=False), 1)).code == "invalid"
    assert reply(r(cmd(VisitEndCmd, "dirk", visit_id="v-1"), 2)).ok  # the team's deputy checks her in
    assert r.s.visits["v-1"].closed_by == "dirk"


def test_start_is_refused_with_a_reason_when_it_cannot_be_protected() -> None:
    r = Run()
    bad = {
        "reply_visit_end_past": start(end_s=-1),
        "reply_visit_end_far": start(end_s=13 * 3600),
        "reply_visit_colleague_self": start(colleague="hanne"),
        "reply_visit_not_your_team": start(team="onthaal"),
    }
    for key, inp in bad.items():
        assert reply(r(inp, 0)).text_key == key
    assert reply(r(start(colleague="nobody"), 0)).code == "unknown_target"
    assert reply(r(start("fien"), 0)).text_key == "reply_visit_no_team"  # facilities, no team
    assert r.s.visits == {}


def test_an_absent_colleague_is_skipped_and_the_lead_is_told_at_once() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    r(cmd(PresenceCmd, "ilse", present=False), 1)
    eff = r(Tick(), 61.2)
    assert notices(eff) == [("escalation", 2, ("an",), "visit_police")]
    assert [f.level for f in r.facts() if isinstance(f, LevelSkipped)] == [1]


def test_a_lead_takes_it_up_and_a_late_check_in_leaves_the_registration_to_the_lead() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    r(Tick(), 61.2)
    r(Tick(), 64.2)
    iid = r.incident.id
    assert reply(r(cmd(AckCmd, "an", incident_id=iid), 65)).ok
    assert r(Tick(), 80) == []  # taken up: no level 3
    eff = r(cmd(VisitEndCmd, "hanne", visit_id="v-1"), 90)
    assert reply(eff).ok and r.incident.status is IncidentStatus.ACKNOWLEDGED
    assert ("info", 0, ("ilse", "an"), "visit_closed") in notices(eff)
    reg = Registration(
        aggression_types=(AggressionType.VERBAAL,), severity=Severity.BOOSHEID, note="bedreigd"
    )
    assert reply(r(cmd(ResolveCmd, "an", incident_id=iid, registration=reg), 100)).ok
    assert r.incident.registration == reg and r.incident.visit_private == ("", "", "")


def test_evening_rule_needs_a_named_colleague_who_is_reminded_at_office_end() -> None:
    r = Run(EVENING_SITE)
    late_end = datetime(2026, 11, 25, 17, 30, tzinfo=UTC)  # 18:30 in Brussels, after 17:00
    refused = reply(
        r(
            cmd(
                VisitStartCmd,
                "hanne",
                visit_id="v-2",
                client_name="",
                address=ADDRESS,
                planned_end=late_end,
                mobile="+32 470 12 34 56",
            ),
            0,
        )
    )
    assert refused.code == "invalid" and refused.text_key == "reply_visit_evening_colleague"
    eff = r(
        cmd(
            VisitStartCmd,
            "hanne",
            visit_id="v-2",
            address=ADDRESS,
            planned_end=late_end,
            mobile="+32 470 12 34 56",
            colleague="ilse",
        ),
        0,
    )
    assert reply(eff).ok and reply(eff).text_key == "reply_visit_evening"
    assert r.s.visits["v-2"].evening and notices(eff) == []
    office_end = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # 17:00 in Brussels
    assert engine.next_due(r.s) == office_end
    eff = r(Tick(), office_end)
    assert notices(eff) == [("reminder", 0, ("ilse",), "visit_evening")]
    assert r(Tick(), office_end + timedelta(minutes=5)) == []  # reminded once
    # after hours the leads' consoles are closed: the escalation still reaches people (fail open)
    for p in ("an", "chris", "els", "dirk"):
        r(
            PersonCmdIn(
                __import__("stilalarm.wire.messages", fromlist=["ConsoleLinkCmd"]).ConsoleLinkCmd(
                    cmd_id=uuid.uuid4(), person_id=p, issued_at=T0, console_id="pc", online=False
                )
            ),
            office_end,
        )
    eff = r(Tick(), late_end + timedelta(seconds=1.2))
    assert notices(eff) == [("alarm", 1, ("ilse",), "visit_overdue")]  # told though her console is off
    eff = r(Tick(), late_end + timedelta(seconds=4.2))
    assert [(n[0], n[1], n[2]) for n in notices(eff)] == [("escalation", 3, EVERYONE)]  # the lead is away
    assert [f.level for f in r.facts() if isinstance(f, LevelSkipped)] == [2]


def test_evening_visit_registered_after_hours_reminds_at_once() -> None:
    r = Run(EVENING_SITE)
    t = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # a Saturday
    eff = r(
        cmd(
            VisitStartCmd,
            "hanne",
            visit_id="v-3",
            address=ADDRESS,
            planned_end=t + timedelta(hours=1),
            mobile="0470123456",
            colleague="ilse",
        ),
        t,
    )
    assert notices(eff) == [("reminder", 0, ("ilse",), "visit_evening")] and reply(eff).ok


def test_rebuild_from_the_log_gives_the_same_state() -> None:
    r = Run()
    r(start(colleague="ilse"), 0)
    r(start("hanne", "v-2", end_s=30), 0)
    r(cmd(VisitEndCmd, "hanne", visit_id="v-2"), 10)
    r(Tick(), 61.2)
    r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=False), 62)
    r(Tick(), 66)
    rebuilt = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    r(cmd(VisitAnswerCmd, "an", visit_id="v-1", reached=True), 70)
    assert any(isinstance(f, Resolved) for f in r.facts())
    assert engine.rebuild(SITE, r.facts()).comparable() == r.s.comparable()  # type: ignore[arg-type]
