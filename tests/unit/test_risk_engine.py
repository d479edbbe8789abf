"""Risky conversations (risicogesprek) in the pure engine, time injected: announcing, confirming,
cancelling, who may, the outside-hours warning, and an alarm from the room reaching the stand-by
colleague at once with level 1 (and only during the window)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stilalarm.console.core import engine
from stilalarm.console.core.effects import ClearRisk, Effect, Notify, PublishRisk, Record, Reply
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick, UnitEventIn
from stilalarm.console.core.engine.riskfold import running_risks, standby_for
from stilalarm.console.facts import CommandRejected
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed
from stilalarm.console.texts import notice_text
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import (
    EventKind,
    PresenceCmd,
    RiskAnnounceCmd,
    RiskCancelCmd,
    RiskConfirmCmd,
    UnitEvent,
)

SITE = parse_site(
    VISIT_SITE
)  # always open; hanne and ilse: staff of the sociale dienst (lead an, deputy dirk)
HOURS_SITE = parse_site(
    VISIT_SITE.replace(
        'start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7]', 'start = "08:00", end = "17:00"'
    )
)
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Brussels
EVENING = datetime(2026, 11, 25, 17, 30, 0, tzinfo=UTC)  # 18:30 in Brussels
RULE = (
    "Risicovolle gesprekken mogen uitsluitend tijdens de normale openingsuren gepland worden of bij "
    "aanwezigheid van andere collega's"
)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def cmd(kind: type, person: str, **kw: object) -> PersonCmdIn:
    return PersonCmdIn(kind(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, **kw))


def announce(
    person: str = "hanne", risk: str = "r-1", start: datetime = T0, minutes: float = 60, **kw: object
) -> PersonCmdIn:
    kw.setdefault("room", "spreekkamer-1")
    kw.setdefault("standby", "ilse")
    return cmd(
        RiskAnnounceCmd,
        person,
        risk_id=risk,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        **kw,
    )


def press(unit: str = "spreekkamer-1") -> UnitEventIn:
    return UnitEventIn(
        UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=EventKind.ALARM,
            button_id="knop",
            seq=1,
            boot_id=uuid.uuid4(),
            occurred_at=T0,
            sent_at=T0,
        )
    )


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


def notices(effects: list[Effect]) -> list[tuple[int, tuple[str, ...], str]]:
    return [
        (e.notice.level, e.notice.person_ids, e.notice.text_key) for e in effects if isinstance(e, Notify)
    ]


def retained(effects: list[Effect]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The retained-state effects: ("publish" | "clear", risk id, whose copies)."""
    return [
        ("publish" if isinstance(e, PublishRisk) else "clear", e.risk_id, e.to)
        for e in effects
        if isinstance(e, PublishRisk | ClearRisk)
    ]


def reply(effects: list[Effect]) -> Reply:
    (r,) = [e for e in effects if isinstance(e, Reply)]
    return r


def test_announce_tells_the_standby_colleague_and_the_leads_and_confirm_tells_the_announcer() -> None:
    r = Run()
    eff = r(announce(), 0)
    rep = reply(eff)
    assert rep.ok and rep.text_key == "reply_risk_announced" and rep.values["risk"] == "r-1"
    assert rep.values["from"] == "25/11 10:00" and rep.values["until"] == "25/11 11:00"
    (fact,) = [f for f in r.facts() if isinstance(f, RiskAnnounced)]
    assert (fact.person_id, fact.room_id, fact.team_id, fact.standby, fact.outside_hours) == (
        "hanne",
        "spreekkamer-1",
        "sociale-dienst",
        "ilse",
        False,
    )
    assert notices(eff) == [(0, ("ilse",), "risk_standby"), (0, ("an", "dirk"), "risk_announced")]
    eff = r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 1)
    assert reply(eff).ok and reply(eff).text_key == "reply_risk_confirmed"
    assert notices(eff) == [(0, ("hanne", "ilse", "an", "dirk"), "risk_confirmed")]
    assert r.s.risks["r-1"].confirmed_by == "ilse"
    # a second confirm (a retry) is answered ok and changes nothing
    eff = r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 2)
    assert reply(eff).ok and notices(eff) == [] and not [e for e in eff if isinstance(e, Record)]
    # a retried announcement likewise
    eff = r(announce(), 3)
    assert reply(eff).ok and notices(eff) == [] and not [e for e in eff if isinstance(e, Record)]


def test_an_alarm_in_the_room_reaches_the_standby_colleague_at_once_with_level_1() -> None:
    r = Run()
    r(announce(), 0)
    r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 1)
    eff = r(press(), 120)
    assert notices(eff) == [(1, ("an", "ilse"), "alarm")]
    (inc,) = r.s.incidents.values()
    assert inc.notified == ("an", "ilse") and inc.level == 1


def test_an_unconfirmed_standby_colleague_is_told_too_but_not_outside_the_window_or_room() -> None:
    r = Run()
    r(announce(start=at(600)), 0)  # from 10:10 to 11:10
    assert standby_for(r.s, "spreekkamer-1", at(599)) == ()
    assert standby_for(r.s, "spreekkamer-1", at(600)) == ("ilse",)  # help is open: not yet confirmed
    assert standby_for(r.s, "spreekkamer-1", at(600 + 3600)) == ()  # the window is over
    assert standby_for(r.s, "balie-1", at(700)) == ()
    eff = r(press(), 0)
    assert notices(eff) == [(1, ("an",), "alarm")]


def test_a_cancelled_conversation_or_an_absent_standby_changes_nothing_for_alarms() -> None:
    r = Run()
    r(announce(), 0)
    r(cmd(PresenceCmd, "ilse", present=False), 1)
    assert standby_for(r.s, "spreekkamer-1", at(2)) == ()
    r(cmd(PresenceCmd, "ilse", present=True), 3)
    eff = r(cmd(RiskCancelCmd, "hanne", risk_id="r-1"), 4)
    assert reply(eff).ok and reply(eff).text_key == "reply_risk_cancelled"
    assert notices(eff) == [(0, ("hanne", "ilse", "an", "dirk"), "risk_cancelled")]
    assert running_risks(r.s, at(5)) == ()
    eff = r(press(), 5)
    assert notices(eff) == [(1, ("an",), "alarm")]
    eff = r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 6)
    assert not reply(eff).ok and reply(eff).text_key == "reply_risk_cancelled_already"


@pytest.mark.parametrize(
    ("person", "kind", "key"),
    [
        ("els", RiskConfirmCmd, "reply_risk_not_yours"),
        ("hanne", RiskConfirmCmd, "reply_risk_confirm_self"),
        ("chris", RiskCancelCmd, "reply_risk_not_yours"),  # a lead, but of another team
        ("els", RiskCancelCmd, "reply_risk_not_yours"),
    ],
)
def test_only_the_announcer_the_standby_and_the_rooms_leads_may_act(
    person: str, kind: type, key: str
) -> None:
    r = Run()
    r(announce(), 0)
    before = r.s.risks["r-1"]
    eff = r(cmd(kind, person, risk_id="r-1"), 1)
    rep = reply(eff)
    assert not rep.ok and rep.code == "not_authorised" and rep.text_key == key
    assert [type(f) for f in [e.fact for e in eff if isinstance(e, Record)]] == [CommandRejected]
    assert r.s.risks["r-1"] == before


def test_a_lead_or_deputy_of_the_room_may_confirm_and_cancel() -> None:
    r = Run()
    r(announce(), 0)
    assert reply(r(cmd(RiskConfirmCmd, "dirk", risk_id="r-1"), 1)).ok
    assert reply(r(cmd(RiskCancelCmd, "an", risk_id="r-1"), 2)).ok
    kinds = [type(f) for f in r.facts() if isinstance(f, RiskAnnounced | RiskConfirmed | RiskCancelled)]
    assert kinds == [RiskAnnounced, RiskConfirmed, RiskCancelled]
    risk = r.s.risks["r-1"]
    assert (risk.confirmed_by, risk.cancelled_by) == ("dirk", "an")


@pytest.mark.parametrize(
    ("kw", "code", "key"),
    [
        ({"room": "nergens"}, "unknown_target", "reply_unknown_target"),
        ({"standby": "niemand"}, "unknown_target", "reply_unknown_target"),
        ({"standby": "hanne"}, "invalid", "reply_risk_standby_self"),
        ({"minutes": -5}, "invalid", "reply_risk_window"),
        ({"minutes": 300}, "invalid", "reply_risk_window"),
        ({"start": T0 - timedelta(hours=2)}, "invalid", "reply_risk_past"),
        ({"start": T0 + timedelta(days=20)}, "invalid", "reply_risk_far"),
    ],
)
def test_bad_announcements_are_refused_with_a_reason_and_change_nothing(
    kw: dict[str, object], code: str, key: str
) -> None:
    r = Run()
    eff = r(announce(**kw), 0)  # type: ignore[arg-type]
    rep = reply(eff)
    assert (rep.ok, rep.code, rep.text_key) == (False, code, key)
    assert r.s.risks == {} and notices(eff) == []
    assert [type(e.fact) for e in eff if isinstance(e, Record)] == [CommandRejected]


def test_someone_elses_risk_id_is_refused() -> None:
    r = Run()
    r(announce(), 0)
    rep = reply(r(announce(person="ilse", standby="hanne"), 1))
    assert not rep.ok and rep.text_key == "reply_risk_id_taken"
    assert r.s.risks["r-1"].person_id == "hanne"


def test_outside_office_hours_with_nobody_else_present_is_accepted_with_the_rule_quoted() -> None:
    from stilalarm.console.i18n import t

    r = Run(HOURS_SITE)
    eff = r(announce(start=EVENING), T0)
    rep = reply(eff)
    assert rep.ok and rep.text_key == "reply_risk_outside_hours"
    assert RULE in t(rep.text_key, "nl", **rep.values)
    assert next(f for f in r.facts() if isinstance(f, RiskAnnounced)).outside_hours
    assert notices(eff) == [
        (0, ("ilse",), "risk_standby"),
        (0, ("an", "dirk"), "risk_announced"),
        (0, ("an", "dirk"), "risk_outside_hours"),
    ]
    # still protected: help is open
    assert standby_for(r.s, "spreekkamer-1", EVENING + timedelta(minutes=5)) == ("ilse",)


def test_outside_office_hours_with_colleagues_present_or_inside_hours_is_no_warning() -> None:
    r = Run(HOURS_SITE)
    assert reply(r(announce(start=EVENING, colleagues_present=True), T0)).text_key == "reply_risk_announced"
    assert reply(r(announce(risk="r-2", start=T0), T0)).text_key == "reply_risk_announced"
    # ending after closing (16:30 to 17:30 local) is partly outside: warned
    rep = reply(r(announce(risk="r-3", start=T0 + timedelta(hours=6, minutes=30)), T0))
    assert rep.text_key == "reply_risk_outside_hours"


def test_a_rebuild_from_the_log_gives_the_same_conversations() -> None:
    r = Run()
    r(announce(), 0)
    r(announce(risk="r-2", person="ilse", standby="hanne"), 1)
    r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 2)
    r(cmd(RiskCancelCmd, "an", risk_id="r-2"), 3)
    rebuilt = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    assert [x.id for x in running_risks(rebuilt, at(4))] == ["r-1"]


def test_the_notices_read_with_names_room_labels_and_local_times_in_dutch_and_english() -> None:
    from stilalarm.console.delivery.render import render

    r = Run()
    eff = r(announce(), 0)
    standby = next(e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == "risk_standby")
    n = render(SITE, standby, "ilse", standby.notification_ids[0], None)
    assert n.title == "Stand-by gevraagd: risicogesprek in Spreekkamer 1"
    assert "Hanne" in n.body and "25/11 10:00 tot 25/11 11:00" in n.body and "risk confirm r-1" in n.body
    assert n.risk is not None and n.risk.risk_id == "r-1"
    assert (n.risk.standby, n.risk.state) == ("ilse", "announced")
    assert n.risk.ends_at == at(3600)
    title, body = notice_text(SITE, "risk_announced", dict(standby.detail), Language("en"))
    assert title == "Risky conversation in Interview room 1, 25/11 10:00 to 25/11 11:00"
    assert "Stand-by: Ilse" in body


def test_every_risk_reply_fits_a_command_reply_with_the_rule_whole() -> None:
    from stilalarm.console.i18n import raw, t

    values = {
        "risk": "r-20261202-abcdef12",
        "room_name": "Bureau teamverantwoordelijken",
        "standby_name": "Ilse Jacobs-Vandenbroucke",
        "from": "02/12 15:00",
        "until": "02/12 16:00",
        "hours": "4",
        "days": "14",
    }
    for key in _risk_reply_keys():
        for lang in ("nl", "en"):
            assert raw(key, lang)
            assert len(t(key, lang, **values)) <= 200, (key, lang)  # CommandReply.reason is 200 at most
    assert RULE + "." in t("reply_risk_outside_hours", "nl")


def _risk_reply_keys() -> list[str]:
    from stilalarm.console.i18n import messages

    return [k for k in messages("nl") if k.startswith("reply_risk_")]


def test_the_purge_drops_a_conversation_only_after_its_window_and_the_supervision_days() -> None:
    from stilalarm.console.retention import plan

    r = Run()
    r(announce(start=T0 + timedelta(days=10)), 0)  # announced ten days ahead
    r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 1)
    facts = list(enumerate(r.facts()))
    days = SITE.retention.supervision_days
    risk_kinds = {"risk_announced", "risk_confirmed"}
    early = plan(facts, SITE.retention, T0 + timedelta(days=days + 1))
    assert not risk_kinds & set(early.kinds)  # old enough, but the window ended less long ago
    late = plan(facts, SITE.retention, T0 + timedelta(days=days + 11))
    assert risk_kinds <= set(late.kinds)


# --------------------------------------------------------------------------- retained state, reminder

EVERYONE = ("hanne", "ilse", "an", "dirk")
"""Who is told of r-1 and holds a retained copy: the announcer, the stand-by, the room's lead and deputy."""


def test_a_running_conversation_is_retained_for_everyone_told_until_cancelled() -> None:
    r = Run()
    assert retained(r(announce(start=at(600)), 0)) == [("publish", "r-1", EVERYONE)]
    assert r.s.risks["r-1"].to_wire().confirmed is False
    assert retained(r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 1)) == [("publish", "r-1", EVERYONE)]
    assert r.s.risks["r-1"].to_wire().confirmed is True
    assert retained(r(cmd(RiskConfirmCmd, "an", risk_id="r-1"), 2)) == []  # a retry: nothing new
    assert retained(r(announce(start=at(600)), 3)) == []
    assert retained(r(cmd(RiskCancelCmd, "els", risk_id="r-1"), 4)) == []  # refused: nothing changes
    assert retained(r(cmd(RiskCancelCmd, "hanne", risk_id="r-1"), 5)) == [("clear", "r-1", EVERYONE)]
    assert engine.next_due(r.s) is None  # cancelled: no reminder, no end
    eff = r(Tick(), 600)
    assert notices(eff) == [] and retained(eff) == []


def test_the_retained_state_says_only_what_the_list_needs() -> None:
    r = Run()
    r(announce(start=EVENING), T0)  # outside hours: the warning stays with the leads' notice
    wire = r.s.risks["r-1"].to_wire().model_dump(exclude={"v"})
    assert set(wire) == {"risk_id", "room_id", "person_id", "standby", "starts_at", "ends_at", "confirmed"}


def test_the_standby_colleague_is_reminded_at_the_start_and_the_state_cleared_at_the_end() -> None:
    r = Run()
    r(announce(start=at(600)), 0)  # 10:10 to 11:10
    assert engine.next_due(r.s) == at(600)
    assert notices(r(Tick(), 599)) == []
    eff = r(Tick(), 600)
    assert notices(eff) == [(0, ("ilse",), "risk_start_unconfirmed")]
    (n,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert n.reason.value == "reminder" and n.detail["risk"] == "r-1"
    assert retained(eff) == []
    assert engine.next_due(r.s) == at(600 + 3600)
    assert notices(r(Tick(), 601)) == []  # once
    r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 700)
    assert notices(r(Tick(), 701)) == []  # confirming later does not remind again
    eff = r(Tick(), 600 + 3600)
    assert notices(eff) == [(0, (), "risk_ended")]  # a fact to nobody: the mark
    assert retained(eff) == [("clear", "r-1", EVERYONE)]
    assert engine.next_due(r.s) is None
    eff = r(Tick(), 600 + 3601)
    assert retained(eff) == [] and notices(eff) == []
    # after the end a late confirm or cancel does not bring the retained state back
    r2 = Run()
    r2(announce(start=at(600)), 0)
    r2(Tick(), 600)
    r2(Tick(), 600 + 3600)
    assert retained(r2(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 600 + 3700)) == []


def test_a_confirmed_standby_is_reminded_without_the_unconfirmed_words_and_reads_well() -> None:
    from stilalarm.console.delivery.render import render

    r = Run()
    r(announce(start=at(600)), 0)
    r(cmd(RiskConfirmCmd, "ilse", risk_id="r-1"), 1)
    eff = r(Tick(), 600)
    (n,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert (n.person_ids, n.text_key) == (("ilse",), "risk_start")
    msg = render(SITE, n, "ilse", n.notification_ids[0], None)
    assert msg.title == "Nu stand-by: risicogesprek in Spreekkamer 1"
    assert "Hanne Wouters" in msg.body and "25/11 10:10 tot 25/11 11:10" in msg.body
    assert "nog niet bevestigd" not in msg.title + msg.body
    assert msg.risk is not None and msg.risk.state == "confirmed"
    title, _body = notice_text(SITE, "risk_start", dict(n.detail), Language("en"))
    assert title == "Stand by now: risky conversation in Interview room 1"


def test_an_unconfirmed_standby_is_told_so_in_the_reminder() -> None:
    from stilalarm.console.delivery.render import render

    r = Run()
    r(announce(start=at(600)), 0)
    (n,) = [e.notice for e in r(Tick(), 600) if isinstance(e, Notify)]
    msg = render(SITE, n, "ilse", n.notification_ids[0], None)
    assert "nog niet bevestigd" in msg.title and "risk confirm r-1" in msg.body
    title, body = notice_text(SITE, "risk_start_unconfirmed", dict(n.detail), Language("en"))
    assert "not yet confirmed" in title and "Hanne Wouters" in body


def test_cancelled_exactly_at_the_start_is_not_reminded() -> None:
    """The input at `now` comes before the timers at the same `now` (the service's batch does so)."""
    r = Run()
    r(announce(start=at(600)), 0)
    eff = r(cmd(RiskCancelCmd, "hanne", risk_id="r-1"), 600)
    assert notices(eff) == [(0, EVERYONE, "risk_cancelled")] and retained(eff) == [("clear", "r-1", EVERYONE)]
    assert notices(r(Tick(), 600)) == []
    assert not [n for n in notices(r.log) if n[2].startswith("risk_start")]
    # the other order at the same instant: reminded, then the cancel tells everyone (the stand-by too)
    r2 = Run()
    r2(announce(start=at(600)), 0)
    assert notices(r2(Tick(), 600)) == [(0, ("ilse",), "risk_start_unconfirmed")]
    eff = r2(cmd(RiskCancelCmd, "hanne", risk_id="r-1"), 600)
    assert notices(eff) == [(0, EVERYONE, "risk_cancelled")]
    assert notices(r2(Tick(), 600 + 3600)) == []  # no end mark needed: cancelled already cleared it


def test_announced_after_the_start_reminds_at_once_and_once() -> None:
    r = Run()
    eff = r(announce(start=at(-600)), 0)  # started ten minutes ago
    assert reply(eff).ok and retained(eff) == [("publish", "r-1", EVERYONE)]
    assert engine.next_due(r.s) == at(-600)  # due already: the service's tick in the same batch fires it
    assert notices(r(Tick(), 0)) == [(0, ("ilse",), "risk_start_unconfirmed")]
    assert notices(r(Tick(), 0)) == [] and notices(r(Tick(), 60)) == []
    assert notices(r(announce(start=at(-600)), 61)) == []  # a retried announcement
    assert notices(r(Tick(), 62)) == []


def test_after_a_restart_the_reminder_and_the_end_are_not_repeated() -> None:
    r = Run()
    r(announce(start=at(600)), 0)
    r(announce(risk="r-2", start=at(600), minutes=30, room="balie-1"), 1)
    r(Tick(), 600)  # both reminded
    r(Tick(), 600 + 1800)  # r-2 over
    rebuilt = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    assert rebuilt.risks["r-1"].reminded and rebuilt.risks["r-2"].ended
    again = Run()
    again.s = rebuilt
    assert notices(again(Tick(), 600 + 1801)) == [] and retained(again.log) == []
    assert engine.next_due(again.s) == at(600 + 3600)
    eff = again(Tick(), 600 + 3600)
    assert retained(eff) == [("clear", "r-1", EVERYONE)]


def test_a_console_down_for_the_whole_window_clears_it_without_a_late_reminder() -> None:
    r = Run()
    r(announce(start=at(600)), 0)
    rebuilt = engine.rebuild(SITE, r.facts())  # type: ignore[arg-type]
    again = Run()
    again.s = rebuilt
    eff = again(Tick(), 600 + 3600 + 300)  # back after the window
    assert notices(eff) == [(0, (), "risk_ended")] and retained(eff) == [("clear", "r-1", EVERYONE)]
