"""Per-unit input limits (stilalarm.console.intake): pure, time injected."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.config import IntakePolicy
from stilalarm.console.facts import FaultCleared, FaultRaised, Notified
from stilalarm.console.intake import (
    FLOOD_FAULT,
    Intake,
    Verdict,
    counted_presses,
    flood_change,
    flood_facts,
    fresh,
    on_event,
    on_heartbeat,
)
from stilalarm.wire.messages import EventKind, NotifyReason, UnitEvent

T0 = datetime(2026, 11, 28, 10, tzinfo=UTC)
POL = IntakePolicy(event_rate_per_s=2, event_burst=5, flood_flag_after=10, flood_clear_after_s=60)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_a_burst_passes_then_the_rate_applies_and_the_bucket_refills() -> None:
    u = fresh(POL)
    verdicts = []
    for _ in range(8):
        u, v = on_event(u, POL, EventKind.FAULT, False, T0)
        verdicts.append(v)
    assert verdicts == [Verdict.PASS] * 5 + [Verdict.DEFER] * 3
    u, v = on_event(u, POL, EventKind.FAULT, False, at(0.5))  # 0.5 s at 2/s = one token
    assert v is Verdict.PASS
    u, v = on_event(u, POL, EventKind.FAULT, False, at(0.6))
    assert v is Verdict.DEFER
    u, v = on_event(u, POL, EventKind.FAULT, False, at(1000))  # refilled, capped at the burst
    assert v is Verdict.PASS and u.tokens == POL.event_burst - 1


def test_over_the_rate_a_press_joins_its_open_incident_as_a_count_and_an_alarm_is_never_dropped() -> None:
    u = fresh(POL)
    for _ in range(POL.event_burst):
        u, v = on_event(u, POL, EventKind.ALARM, True, T0)
        assert v is Verdict.PASS
    u, v = on_event(u, POL, EventKind.ALARM, True, T0)
    assert v is Verdict.COUNT
    u, v = on_event(u, POL, EventKind.TEST, True, T0)
    assert v is Verdict.COUNT
    u, v = on_event(u, POL, EventKind.ALARM, False, T0)  # no open incident: stored in full
    assert v is Verdict.STORE
    u, v = on_event(u, POL, EventKind.TEST, False, T0)  # a test press might be a real alarm
    assert v is Verdict.STORE
    for kind in (EventKind.FAULT, EventKind.FAULT_CLEARED, EventKind.PAGER_ACK):
        u, v = on_event(u, POL, kind, True, T0)
        assert v is Verdict.DEFER  # not receipted: the unit retransmits it later


def test_the_first_alarm_of_a_unit_always_passes() -> None:
    i = Intake(POL, {"balie-1": 1.0})
    assert i.event("balie-1", EventKind.ALARM, False, T0) is Verdict.PASS
    for _ in range(100):
        assert i.event("wachtzaal", EventKind.ALARM, True, T0) in (Verdict.PASS, Verdict.COUNT)
    assert i.event("balie-1", EventKind.ALARM, False, T0) is Verdict.PASS  # one unit's flood is its own


def test_heartbeats_closer_than_the_gap_are_dropped_whatever_interval_they_claim() -> None:
    u = fresh(POL)
    u, v = on_heartbeat(u, POL, 5.0, T0)
    assert v is Verdict.PASS
    u, v = on_heartbeat(u, POL, 5.0, at(1))
    assert v is Verdict.DROP
    u, v = on_heartbeat(u, POL, 5.0, at(2.5))  # half the inventory interval after the last accepted
    assert v is Verdict.PASS
    u, v = on_heartbeat(u, POL, 5.0, at(4.9))
    assert v is Verdict.DROP
    u, v = on_heartbeat(u, POL, 5.0, at(5.0))
    assert v is Verdict.PASS
    u, v = on_heartbeat(u, POL, 5.0, at(1))  # the console's clock stepped back: never stuck
    assert v is Verdict.PASS


def test_a_flooding_unit_is_flagged_once_and_cleared_after_a_quiet_spell() -> None:
    i = Intake(POL, {"balie-1": 1.0})
    changes = []
    t = 0.0
    for _ in range(200):
        i.heartbeat("balie-1", at(t))
        i.event("balie-1", EventKind.ALARM, True, at(t))
        changes += i.changes(at(t))
        t += 0.01
    assert [(c.unit_id, c.raised) for c in changes] == [("balie-1", True)]
    assert changes[0].count >= POL.flood_flag_after
    assert i.changes(at(t + 59)) == []  # not yet quiet long enough
    (cleared,) = i.changes(at(t + 61))
    assert not cleared.raised and cleared.count > changes[0].count
    assert i.changes(at(t + 1000)) == []


def test_occasional_surplus_far_apart_never_flags() -> None:
    u = fresh(POL)
    for n in range(100):  # one early heartbeat every two minutes, for hours
        u, _ = on_heartbeat(u, POL, 1.0, at(n * 120))
        u, v = on_heartbeat(u, POL, 1.0, at(n * 120 + 0.1))
        assert v is Verdict.DROP
        u, ch = flood_change(u, POL, "balie-1", at(n * 120 + 0.1))
        assert ch is None


def _press(n: int) -> UnitEvent:
    when = T0 + timedelta(seconds=n)
    return UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="balie-1",
        kind=EventKind.ALARM,
        button_id="knop",
        seq=n,
        boot_id=uuid.uuid4(),
        occurred_at=when,
        sent_at=when,
    )


def test_counted_presses_become_one_fact_with_count_first_and_last() -> None:
    evs = [_press(n) for n in (3, 1, 7, 2)]
    f = counted_presses("20261128-0001", evs, at(10))
    assert (f.count, f.pressed_at, f.last_pressed_at) == (4, at(1), at(7))
    assert f.event_id == evs[1].event_id and f.incident_id == "20261128-0001"


def test_counted_presses_are_due_once_the_first_of_them_waited_count_every_s() -> None:
    from stilalarm.console.intake import counts_due

    since = {"20261128-0001": at(10), "20261128-0002": at(10.2)}
    assert counts_due(since, 1.0, at(10.5)) == []
    assert counts_due(since, 1.0, at(11)) == ["20261128-0001"]
    assert counts_due(since, 1.0, at(11.2)) == ["20261128-0001", "20261128-0002"]
    assert counts_due(since, 1.0, at(9)) == ["20261128-0001", "20261128-0002"]  # the clock went back


def test_flood_facts_are_a_fault_and_one_notice_to_facilities() -> None:
    from stilalarm.console.intake import FloodChange

    raised = flood_facts(FloodChange("balie-1", True, 60), ("fien", "gert"), T0)
    assert isinstance(raised[0], FaultRaised) and raised[0].fault == FLOOD_FAULT
    assert isinstance(raised[1], Notified) and raised[1].reason is NotifyReason.FAULT
    assert raised[1].person_ids == ("fien", "gert") and raised[1].text_key == "flood"
    assert raised[1].detail == {"count": "60"}
    cleared = flood_facts(FloodChange("balie-1", False, 80), ("fien",), at(100))
    assert isinstance(cleared[0], FaultCleared) and cleared[1].text_key == "flood_cleared"  # type: ignore[union-attr]


def test_a_counted_press_fact_adds_its_count_to_the_incident_and_reads_in_the_timeline() -> None:
    from stilalarm.console.core import world as core
    from stilalarm.console.core.engine import UnitEventIn
    from stilalarm.console.intake import counted_presses
    from stilalarm.console.timeline import Timelines
    from stilalarm.devkit.servicerun import FAST_SITE
    from stilalarm.inventory.load import parse_site

    site = parse_site(FAST_SITE)
    w = core.World.initial(site, T0)
    w, effects = core.step(w, UnitEventIn(_press(0)), at(1))
    (iid,) = w.engine.incidents
    fact = counted_presses(iid, [_press(n) for n in range(1, 41)], at(2))
    w = core.evolve(w, fact)
    assert w.engine.incidents[iid].presses == 41
    tl = Timelines(site)
    for e in effects:
        if hasattr(e, "fact"):
            tl.add(e.fact)
    tl.add(fact)
    entries = tl.timeline(iid, 1)
    assert entries is not None
    assert any("40 keer opnieuw ingedrukt" in e.text for e in entries.entries)


def test_the_flood_notice_reads_in_dutch_and_english() -> None:
    from stilalarm.console.delivery.render import render
    from stilalarm.console.intake import FloodChange
    from stilalarm.devkit.servicerun import FAST_SITE
    from stilalarm.inventory.load import parse_site

    d = parse_site(FAST_SITE)
    raised = flood_facts(FloodChange("balie-1", True, 60), ("fien", "gert"), T0)[1]
    assert isinstance(raised, Notified)
    en = render(d, raised, "fien", raised.notification_ids[0], None)
    nl = render(d, raised, "gert", raised.notification_ids[1], None)
    assert en.title == "FAULT balie-1 — Counter 1" and "too many messages (60 over its limit)" in en.body
    assert nl.title == "STORING balie-1 — Balie 1" and "te veel berichten (60 boven zijn limiet)" in nl.body
    cleared = flood_facts(FloodChange("balie-1", False, 80), ("gert",), T0)[1]
    assert isinstance(cleared, Notified)
    back = render(d, cleared, "gert", cleared.notification_ids[0], None)
    assert back.title.startswith("Hersteld balie-1") and "80" in back.body
