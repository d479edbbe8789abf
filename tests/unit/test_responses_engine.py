"""Responses (issue 16) in the pure engine, with injected time: 'kan niet komen', 'niemand
bereikbaar', 'ter plaatse' with its reminder and the next level, 'still in danger', and the races."""

from __future__ import annotations

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, Page, PublishIncident, Reply, UnitFeedback
from stilalarm.console.core.engine import Tick
from stilalarm.console.facts import CommandRejected
from stilalarm.console.responsefacts import Declined, NobodyReachable, OnSite
from stilalarm.wire.messages import (
    AckCmd,
    DeclineCmd,
    EventKind,
    Feedback,
    IncidentStatus,
    OnSiteCmd,
    PresenceCmd,
    ResolveCmd,
)
from tests.unit.test_console_engine import REG, Run, at, cmd, notices, press

# FAST_SITE: levels an (0 s), dirk (1 s), an + chris + els + dirk with 101 (2 s); repeat every 5 s;
# remind unresolved after 60 s; on site within 120 s (default), next level 60 s after that.


def keys(effects: list[Effect]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (e.notice.reason.value, e.notice.text_key, e.notice.person_ids)
        for e in effects
        if isinstance(e, Notify)
    ]


def replies(effects: list[Effect]) -> list[tuple[bool, str, str]]:
    return [(e.ok, e.code, e.text_key) for e in effects if isinstance(e, Reply)]


# --------------------------------------------------------------------------- kan niet komen


def test_decline_by_the_lead_fires_the_deputy_at_once() -> None:
    r = Run()
    r(press(), 0)
    eff = r(cmd(DeclineCmd, "an", incident_id=r.incident.id), 0.2)
    assert replies(eff) == [(True, "ok", "reply_ok")]
    assert notices(eff) == [("escalation", 2, ("dirk",))]  # not waiting for the 1 s timer
    assert r.incident.declined == ("an",) and r.incident.level == 2
    assert next(f for f in r.facts() if isinstance(f, Declined)).person_id == "an"
    assert r.incident.to_wire().declined == ("an",)
    assert engine.next_due(r.s) == at(2)  # the next level keeps its own time
    assert notices(r(Tick(), 1)) == []  # level 2 is not fired twice


def test_decline_is_idempotent_and_changes_nothing_the_second_time() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(DeclineCmd, "an", incident_id=r.incident.id), 0.2)
    before = r.s
    eff = r(cmd(DeclineCmd, "an", incident_id=r.incident.id), 0.3)
    assert replies(eff) == [(True, "ok", "reply_ok")] and notices(eff) == []
    assert r.s.incidents == before.incidents


def test_declining_never_silences_the_last_level() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(DeclineCmd, "an", incident_id=inc), 0.1)  # -> dirk at once
    eff = r(cmd(DeclineCmd, "dirk", incident_id=inc), 0.2)  # -> level 3 at once
    assert ("escalation", 3, ("an", "chris", "els", "dirk")) in notices(eff)
    for p in ("chris", "els"):
        r(cmd(DeclineCmd, p, incident_id=inc), 0.3)
    # everyone declined: the desk is told, the escalation goes on repeating (fail open)
    assert [f for f in r.facts() if isinstance(f, NobodyReachable)]
    assert UnitFeedback("spreekkamer-1", inc, Feedback.NOBODY_REACHABLE) in r.log
    assert r.incident.status is IncidentStatus.OPEN and r.incident.nobody_reachable
    assert notices(r(Tick(), 7)) == [("repeat", 3, ("an", "chris", "els", "dirk"))]
    assert engine.led_for(r.incident) is Feedback.NOBODY_REACHABLE


def test_everyone_absent_tells_the_desk_nobody_reachable_once() -> None:
    r = Run()
    for p in ("an", "bart", "chris", "dirk", "els"):
        r(cmd(PresenceCmd, p, present=False), 0)
    eff = r(press(), 0)
    assert UnitFeedback("spreekkamer-1", r.incident.id, Feedback.NOBODY_REACHABLE) in eff
    assert notices(eff) == [("escalation", 3, ("an", "chris", "els", "dirk"))]  # the last level anyway
    eff = r(Tick(), 5)
    assert notices(eff) and not [e for e in eff if isinstance(e, UnitFeedback)]  # told once
    # someone takes it after all: the LED says 'acknowledged'
    eff = r(cmd(AckCmd, "chris", incident_id=r.incident.id), 6)
    assert UnitFeedback("spreekkamer-1", r.incident.id, Feedback.ACKNOWLEDGED) in eff


def test_one_reachable_person_is_enough_no_nobody_reachable() -> None:
    r = Run()
    for p in ("an", "chris", "dirk"):
        r(cmd(PresenceCmd, p, present=False), 0)
    r(press(), 0)  # els (reception) is still reachable
    assert not r.incident.nobody_reachable
    assert not [e for e in r.log if isinstance(e, UnitFeedback) and e.feedback is Feedback.NOBODY_REACHABLE]


def test_decline_refusals_change_nothing() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    before = r.s.incidents
    # chris was not notified (level 3 has not fired), fien may not act, unknown incident
    assert replies(r(cmd(DeclineCmd, "chris", incident_id=inc), 0.1)) == [
        (False, "not_authorised", "reply_decline_not_notified")
    ]
    assert replies(r(cmd(DeclineCmd, "fien", incident_id=inc), 0.1)) == [
        (False, "not_authorised", "reply_not_authorised")
    ]
    assert replies(r(cmd(DeclineCmd, "an", incident_id="20261128-9999"), 0.1)) == [
        (False, "unknown_incident", "reply_unknown_incident")
    ]
    assert r.s.incidents == before
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    assert replies(r(cmd(DeclineCmd, "an", incident_id=inc), 0.6)) == [
        (False, "already_acknowledged", "reply_decline_acknowledged")
    ]
    codes = [f.code for f in r.facts() if isinstance(f, CommandRejected)]
    assert codes == ["not_authorised", "not_authorised", "unknown_incident", "already_acknowledged"]


# --------------------------------------------------------------------------- ter plaatse


def test_ack_then_no_on_site_reminds_then_tells_the_next_level() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)  # acknowledged at level 1
    r(Tick(), 60.5)  # the 'not resolved' reminder (60 s in FAST_SITE)
    assert engine.next_due(r.s) == at(120.5)
    eff = r(Tick(), 120.5)
    assert keys(eff) == [("reminder", "onsite_remind", ("an",))]
    assert Page("pager-an", inc, 1) in eff  # the pager signals again
    assert r(Tick(), 180.4) == []
    eff = r(Tick(), 180.5)
    assert keys(eff) == [("reminder", "no_show", ("dirk",))]  # level 2: help may not have arrived
    assert r.incident.on_site_step == 2 and "dirk" in r.incident.notified
    assert r(Tick(), 900) == []  # once


def test_on_site_stops_the_reminders() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    eff = r(cmd(OnSiteCmd, "an", incident_id=inc), 30)
    assert replies(eff) == [(True, "ok", "reply_ok")]
    assert next(f for f in r.facts() if isinstance(f, OnSite)).via == "command"
    assert r.incident.to_wire().on_site_at == at(30)
    assert [k for k in keys(r(Tick(), 1000)) if k[1] in ("onsite_remind", "no_show")] == []


def test_on_site_exactly_at_the_reminder_wins() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    r(Tick(), 60.5)
    r(cmd(OnSiteCmd, "an", incident_id=inc), 120.5)  # an input before the timers at the same now
    assert keys(r(Tick(), 120.5)) == []


def test_missed_while_down_both_on_site_steps_fire_together() -> None:
    r = Run()
    r(press(), 0)
    r(cmd(AckCmd, "an", incident_id=r.incident.id), 0.5)
    eff = r(Tick(), 500)
    assert [k[1] for k in keys(eff)] == ["onsite_remind", "no_show", "remind"]


def test_ack_at_the_last_level_tells_the_last_level_again() -> None:
    r = Run()
    r(press(), 0)
    r(Tick(), 2)
    r(cmd(AckCmd, "chris", incident_id=r.incident.id), 3)
    eff = r(Tick(), 183)
    assert ("reminder", "no_show", ("an", "els", "dirk")) in keys(eff)


def test_pager_second_press_is_on_site() -> None:
    r = Run()
    r(press(), 0)
    r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 0.5)
    assert r.incident.acknowledged_by == "an"
    eff = r(press("pager-an", kind=EventKind.PAGER_ACK, button="ik-kom"), 40)
    assert r.incident.on_site_at == at(40)
    assert next(f for f in r.facts() if isinstance(f, OnSite)).via == "pager"
    assert Page("pager-an", r.incident.id, 0) in eff


def test_on_site_refusals_change_nothing() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    assert replies(r(cmd(OnSiteCmd, "an", incident_id=inc), 0.2)) == [
        (False, "invalid", "reply_on_site_needs_ack")
    ]
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    before = r.s.incidents
    assert replies(r(cmd(OnSiteCmd, "dirk", incident_id=inc), 1)) == [
        (False, "not_authorised", "reply_on_site_not_yours")
    ]
    assert replies(r(cmd(OnSiteCmd, "an", incident_id="20261128-9999"), 1)) == [
        (False, "unknown_incident", "reply_unknown_incident")
    ]
    assert r.s.incidents == before


# --------------------------------------------------------------------------- still in danger


def test_new_press_after_ack_realerts_then_escalates_one_level() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    eff = r(press(), 10)
    assert keys(eff) == [("reminder", "danger", ("an",))]
    assert Page("pager-an", inc, 1) in eff
    assert UnitFeedback("spreekkamer-1", inc, Feedback.ACKNOWLEDGED) in eff
    eff = r(press(), 11)
    assert keys(eff) == [("reminder", "danger_escalated", ("dirk",))]
    assert r.incident.status is IncidentStatus.ACKNOWLEDGED
    eff = r(press(), 12)
    assert keys(eff) == [("info", "again", ("an",))]


def test_press_just_before_the_resolve_joins_it_press_just_after_opens_a_new_one() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(AckCmd, "an", incident_id=inc), 0.5)
    r(press(), 30)  # same now as the resolve, but first: still in danger, the lead is paged
    eff = r(cmd(ResolveCmd, "an", incident_id=inc, registration=REG), 30)
    assert replies(eff) == [(True, "ok", "reply_ok")]
    assert r.s.incidents[inc].presses == 2 and r.s.incidents[inc].danger_presses == 1
    eff = r(press(), 30)  # after the resolve at the same now: a new incident, paged from level 1
    assert len(r.s.incidents) == 2
    assert notices(eff) == [("alarm", 1, ("an",))]


def test_ack_arriving_exactly_when_a_level_fires_wins() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(DeclineCmd, "an", incident_id=inc), 0.5)  # dirk at once, level 3 due at 2 s
    eff = r(cmd(AckCmd, "dirk", incident_id=inc), 2)
    assert PublishIncident(inc) in eff
    assert notices(r(Tick(), 2)) == []  # the level due at the same now is not fired
    assert r.incident.level == 2


def test_decline_then_rebuild_gives_the_same_state() -> None:
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(DeclineCmd, "an", incident_id=inc), 0.2)
    r(cmd(AckCmd, "dirk", incident_id=inc), 0.5)
    r(cmd(OnSiteCmd, "dirk", incident_id=inc), 5)
    r(press(), 6)
    rebuilt = engine.rebuild(r.s.site, r.facts())  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()


# --------------------------------------------------------------------------- texts, timeline, export


def _story() -> Run:
    """An declines, Dirk acknowledges, no 'ter plaatse' in time, the desk presses twice, Dirk
    reports on site, and resolves."""
    r = Run()
    r(press(), 0)
    inc = r.incident.id
    r(cmd(DeclineCmd, "an", incident_id=inc), 0.2)
    r(cmd(AckCmd, "dirk", incident_id=inc), 0.5)
    r(Tick(), 120.5)
    r(Tick(), 180.5)
    r(press(), 190)
    r(press(), 191)
    r(cmd(OnSiteCmd, "dirk", incident_id=inc), 200)
    r(cmd(ResolveCmd, "dirk", incident_id=inc, registration=REG), 300)
    return r


def test_response_notices_render_their_own_words_in_dutch_and_english() -> None:
    from stilalarm.console.delivery.render import render
    from stilalarm.console.facts import Notified

    r = _story()
    inc = r.s.incidents[next(iter(r.s.incidents))]
    got: dict[str, str] = {}
    for f in r.facts():
        if isinstance(f, Notified) and f.text_key in (
            "onsite_remind",
            "no_show",
            "danger",
            "danger_escalated",
        ):
            n = render(r.s.site, f, f.person_ids[0], f.notification_ids[0], inc)
            got[f.text_key] = f"{n.title} | {n.body}"
            en = render(r.s.site, f, "fien", f.notification_ids[0], inc)  # fien reads English
            assert "{" not in en.title + en.body and en.title != n.title
    assert got["onsite_remind"].startswith("Nog niet ter plaatse? — Spreekkamer 1")
    assert got["no_show"].startswith("Hulp mogelijk niet aangekomen") and "Dirk Maes" in got["no_show"]
    assert got["danger"].startswith("NOG STEEDS IN GEVAAR") and "(2×)" in got["danger"]
    assert "Ga ter plaatse of bel 101" in got["danger_escalated"]


def test_timeline_and_export_show_the_responses() -> None:
    from stilalarm.console.reporting import export
    from stilalarm.console.reporting.fold import build
    from stilalarm.console.timeline import Timelines

    r = _story()
    tl = Timelines(r.s.site)
    for f in r.facts():
        tl.add(f)  # type: ignore[arg-type]
    inc = next(iter(r.s.incidents))
    line = tl.timeline(inc, 1)
    assert line is not None
    text = " | ".join(e.text for e in line.entries)
    assert "kan niet komen: An Peeters" in text
    assert "herinnering: Dirk Maes nog niet ter plaatse" in text
    assert "hulp mogelijk niet aankwam" in text and "opnieuw gedrukt na 'ik kom'" in text
    assert "ter plaatse: Dirk Maes, 200 s na de druk" in text
    (rec,) = build(r.s.site, r.facts()).incidents  # type: ignore[arg-type]
    (row,) = export.rows([rec], export.ZoneInfo("Europe/Brussels"))
    assert row["declined_by"] == "an" and row["declines"] == 1
    assert row["on_site_seconds"] == 200.0 and row["nobody_reachable"] == "nee"
    assert row["presses_after_ack"] == 2
    assert list(row)[-7:-2] == [  # then the registration's corrections (docs/EXPORT.md)
        "declined_by",
        "declines",
        "on_site_seconds",
        "nobody_reachable",
        "presses_after_ack",
    ]


def test_the_monthly_report_counts_the_responses() -> None:
    from stilalarm.console.reporting import monthly
    from stilalarm.console.reporting.fold import build

    r = _story()
    recs = build(r.s.site, r.facts())  # type: ignore[arg-type]
    f = monthly.compute(r.s.site, "2026-11", recs.incidents, recs.offline, recs.tests, at(400))
    assert (f.declines, f.nobody_reachable, f.on_site_median_s) == (1, 0, 200.0)
    assert "kan niet komen: 1 · niemand bereikbaar: 0 · ter plaatse (mediaan): 200 s" in monthly.render_text(
        f
    )
