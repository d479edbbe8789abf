"""The console's pure view-model: sorting, banner, explicit ack choice, bar, units, history, presence."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stilalarm.console.tui.model.alarms import Selection, ack_target, build_alarms, move, pick
from stilalarm.console.tui.model.context import Ctx, elapsed_text
from stilalarm.console.tui.model.history import build_history, build_timeline
from stilalarm.console.tui.model.presence import build_presence
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.replies import registration_error, reply_text
from stilalarm.console.tui.model.snapshot import snapshot
from stilalarm.console.tui.model.status import build_bar, is_stale
from stilalarm.console.tui.model.units import build_units
from stilalarm.console.tui.texts import EN, NL, Texts
from stilalarm.inventory import Site
from stilalarm.wire.messages import (
    CommandReply,
    ConsoleStatus,
    IncidentState,
    IncidentTimeline,
    LinkState,
    Notification,
    PresenceState,
    Registration,
    TimelineEntry,
    UnitHealth,
)

NOW = datetime(2026, 11, 28, 13, 0, 0, tzinfo=UTC)  # 14:00 in Brussels


def inc(
    iid: str,
    room: str = "spreekkamer-2",
    team: str = "sociale-dienst",
    *,
    status: str = "open",
    level: int = 1,
    ago: float = 10,
    notified: tuple[str, ...] = ("an",),
    version: int = 1,
    **kw: object,
) -> IncidentState:
    at = NOW - timedelta(seconds=ago)
    return IncidentState.model_validate(
        dict(
            incident_id=iid,
            unit_id=room,
            room_id=room,
            team_id=team,
            status=status,
            level=level,
            pressed_at=at,
            stored_at=at,
            presses=1,
            notified=notified,
            version=version,
            **kw,
        )
    )


def note(iid: str, reason: str = "alarm", person: str = "an", **kw: object) -> Notification:
    return Notification.model_validate(
        dict(
            notification_id=uuid.uuid4(),
            person_id=person,
            reason=reason,
            incident_id=iid,
            title="Alarm",
            body="Alarm",
            at=NOW - timedelta(seconds=5),
            **kw,
        )
    )


def online(rec: Received) -> Received:
    return rec.connected().with_console(ConsoleStatus(state=LinkState.ONLINE, at=NOW))


@pytest.fixture
def ctx(site: Site) -> Ctx:
    return Ctx(site, "an", NL)


def with_all(*states: IncidentState) -> Received:
    rec = online(Received())
    for st in states:
        rec = rec.with_incident(st)
    return rec


# --------------------------------------------------------------------------- sorting and rows


def test_sorted_open_before_acknowledged_then_higher_level_then_older(ctx: Ctx) -> None:
    rec = with_all(
        inc("ack-old-l3", status="acknowledged", level=3, ago=500, acknowledged_by="an"),
        inc("open-l1-new", level=1, ago=5),
        inc("open-l1-old", level=1, ago=50),
        inc("open-l2", level=2, ago=1),
        inc("resolved", status="resolved", level=3, ago=20, resolved_by="an"),
    )
    view = build_alarms(rec, ctx, NOW, Selection())
    assert [r.incident_id for r in view.rows] == ["open-l2", "open-l1-old", "open-l1-new", "ack-old-l3"]
    assert [r.number for r in view.rows] == [1, 2, 3, 4]
    assert view.open_count == 3


def test_row_says_where_in_words_how_long_who_was_notified_and_who_comes(ctx: Ctx) -> None:
    rec = with_all(
        inc("i-1", ago=75, level=2, notified=("an", "dirk")),
        inc(
            "i-2", "balie-1", "burgerzaken", status="acknowledged", acknowledged_by="bart", notified=("bart",)
        ),
    )
    first, second = build_alarms(rec, ctx, NOW, Selection()).rows
    assert first.location == "Spreekkamer 2 — Sociale dienst"
    assert "spreekkamer-2" in first.detail and "1e verdieping" in first.detail
    assert first.elapsed_text == "1:15"
    assert first.level_text == "niveau 2"
    assert first.notified_text == "An Peeters, Dirk Maes"
    assert first.status_text == "OPEN" and first.for_me
    assert second.location == "Balie 1 — Burgerzaken"
    assert second.ack_text == "Bart Janssens komt" and second.status_text == "BEVESTIGD"
    assert not second.for_me


def test_english_labels(site: Site) -> None:
    view = build_alarms(with_all(inc("i-1")), Ctx(site, "fien", EN), NOW, Selection())
    assert view.rows[0].location == "Interview room 2 — Sociale dienst"


def test_elapsed_text_ticks() -> None:
    assert elapsed_text(NL, 0) == "0 s"
    assert elapsed_text(NL, 59.9) == "59 s"
    assert elapsed_text(NL, 65) == "1:05"
    assert elapsed_text(NL, 3725) == "1:02:05"
    assert elapsed_text(NL, -3) == "0 s"  # clock skew never shows a negative time


def test_highest_version_wins_and_empty_payload_clears(ctx: Ctx) -> None:
    rec = with_all(inc("i-1", version=3, level=2))
    rec = rec.with_incident(inc("i-1", version=2, level=1))  # late, older: ignored
    assert rec.incidents["i-1"].level == 2
    rec = rec.with_incident(inc("i-1", version=4, status="acknowledged", acknowledged_by="an"))
    assert rec.incidents["i-1"].status.value == "acknowledged"
    rec = rec.without_incident("i-1")
    assert build_alarms(rec, ctx, NOW, Selection()).rows == ()


def test_a_former_active_consoles_state_never_replaces_the_actives(ctx: Ctx) -> None:
    """Fencing (docs/HA.md): the state of a console that lost the lease (an older term) is
    ignored, even with a higher version; the newer term wins even with a lower one."""
    rec = with_all(inc("i-1", version=5, level=2, term=8))
    rec = rec.with_incident(inc("i-1", version=9, level=1, term=7))  # the old active, late
    assert rec.incidents["i-1"].level == 2
    rec = rec.with_incident(inc("i-1", version=6, level=3, term=9))
    assert rec.incidents["i-1"].level == 3


# --------------------------------------------------------------------------- banner


def test_banner_for_an_alarm_routed_to_me_via_notified(ctx: Ctx) -> None:
    view = build_alarms(with_all(inc("i-1", notified=("an",))), ctx, NOW, Selection())
    assert view.banner is not None
    assert view.banner.incident_id == "i-1"
    assert "Spreekkamer 2 — Sociale dienst" in view.banner.headline
    assert view.banner.call_101 is None and view.banner.evacuate is None
    assert "IK KOM" in view.banner.instruction and not view.banner.must_pick


def test_no_banner_when_not_routed_to_me_but_the_alarm_is_listed(ctx: Ctx) -> None:
    view = build_alarms(with_all(inc("i-1", notified=("bart",))), ctx, NOW, Selection())
    assert view.banner is None
    assert [r.incident_id for r in view.rows] == ["i-1"]


def test_banner_from_a_notification_before_the_state_arrives(ctx: Ctx) -> None:
    rec = online(Received()).with_notification(note("i-9", room_id="balie-2", unit_id="balie-2", level=1))
    view = build_alarms(rec, ctx, NOW, Selection())
    assert view.rows[0].provisional and view.rows[0].location == "Balie 2 — Burgerzaken"
    assert view.banner is not None and view.banner.incident_id == "i-9"


def test_non_routing_notifications_do_not_raise_a_banner(ctx: Ctx) -> None:
    rec = online(Received()).with_notification(note("i-9", reason="reminder"))
    assert build_alarms(rec, ctx, NOW, Selection()).banner is None


def test_banner_stays_until_acknowledged(ctx: Ctx) -> None:
    rec = with_all(inc("i-1", notified=("bart",))).with_notification(
        note("i-1", reason="escalation", level=2)
    )
    assert build_alarms(rec, ctx, NOW, Selection()).banner is not None
    rec = rec.with_incident(inc("i-1", status="acknowledged", acknowledged_by="bart", version=2))
    view = build_alarms(rec, ctx, NOW, Selection())
    assert view.banner is None
    assert view.rows[0].status_text == "BEVESTIGD"  # still listed until resolved


def test_level_3_says_call_101_and_evacuate(ctx: Ctx) -> None:
    rec = with_all(inc("i-1", "balie-1", "burgerzaken", level=3, call_101=True, evacuate="wachtzaal"))
    banner = build_alarms(rec, ctx, NOW, Selection()).banner
    assert banner is not None
    assert banner.call_101 == "BEL 101"
    assert banner.evacuate == "Evacueer de wachtzaal (Wachtzaal)"
    assert banner.level == 3


def test_level_3_without_evacuate_and_in_english(site: Site) -> None:
    rec = with_all(inc("i-1", level=3, call_101=True, notified=("fien",)))
    banner = build_alarms(rec, Ctx(site, "fien", EN), NOW, Selection()).banner
    assert banner is not None and banner.call_101 == "CALL 101" and banner.evacuate is None


def test_call_101_from_an_escalation_notification_ahead_of_the_state(ctx: Ctx) -> None:
    rec = with_all(inc("i-1", level=2)).with_notification(
        note("i-1", reason="escalation", level=3, call_101=True)
    )
    banner = build_alarms(rec, ctx, NOW, Selection()).banner
    assert banner is not None and banner.call_101 == "BEL 101" and banner.level == 3


# --------------------------------------------------------------------------- explicit choice


def test_one_open_alarm_ack_acts_on_it(ctx: Ctx) -> None:
    view = build_alarms(with_all(inc("i-1")), ctx, NOW, Selection())
    assert ack_target(view, NL).incident_id == "i-1"


def test_two_open_alarms_need_an_explicit_pick(ctx: Ctx) -> None:
    rec = with_all(inc("old", ago=60), inc("new", "balie-1", "burgerzaken", ago=5))
    view = build_alarms(rec, ctx, NOW, Selection())
    assert view.banner is not None and view.banner.must_pick
    assert "2 OPEN ALARMEN" in view.banner.instruction
    decision = ack_target(view, NL)
    assert decision.incident_id is None and "kies eerst" in decision.message
    view = build_alarms(rec, ctx, NOW, pick(view, 2))
    assert view.selection == Selection("new", True)
    assert view.banner is not None and not view.banner.must_pick
    assert "GEKOZEN: #2 Balie 1" in view.banner.instruction
    assert ack_target(view, NL).incident_id == "new"


def test_pick_follows_the_incident_not_the_row_when_the_order_changes(ctx: Ctx) -> None:
    rec = with_all(inc("a", ago=60), inc("b", ago=30))
    view = build_alarms(rec, ctx, NOW, Selection())
    sel = pick(view, 2)
    assert sel.incident_id == "b"
    # a more urgent alarm arrives and pushes "b" down to row 3: the choice stays on "b"
    rec = rec.with_incident(inc("c", level=3, ago=1))
    view = build_alarms(rec, ctx, NOW, sel)
    assert view.rows[0].incident_id == "c" and view.selected is not None
    assert view.selected.incident_id == "b" and view.selected.number == 3
    assert ack_target(view, NL).incident_id == "b"


def test_a_new_alarm_cancels_an_implicit_default(ctx: Ctx) -> None:
    rec = with_all(inc("a"))
    view = build_alarms(rec, ctx, NOW, Selection())
    assert ack_target(view, NL).incident_id == "a"
    view = build_alarms(rec.with_incident(inc("b", ago=1)), ctx, NOW, view.selection)
    assert ack_target(view, NL).incident_id is None


def test_arrow_moves_are_explicit_and_clamped(ctx: Ctx) -> None:
    view = build_alarms(with_all(inc("a", ago=60), inc("b", ago=30)), ctx, NOW, Selection())
    assert move(view, 1) == Selection("b", True)
    assert move(view, -5) == Selection("a", True)
    assert pick(view, 7) == view.selection  # no row 7: unchanged


def test_ack_on_an_acknowledged_row_says_who_comes(ctx: Ctx) -> None:
    rec = with_all(inc("a"), inc("b", status="acknowledged", acknowledged_by="bart", ago=99))
    view = build_alarms(rec, ctx, NOW, Selection())
    view = build_alarms(rec, ctx, NOW, pick(view, 2))
    decision = ack_target(view, NL)
    assert decision.incident_id is None and "Bart Janssens" in decision.message


def test_nothing_to_ack(ctx: Ctx) -> None:
    assert ack_target(build_alarms(with_all(), ctx, NOW, Selection()), NL).incident_id is None


def test_explicit_pick_of_a_vanished_incident_falls_back(ctx: Ctx) -> None:
    view = build_alarms(with_all(inc("a")), ctx, NOW, Selection("gone", True))
    assert view.selection == Selection("a", False)


# --------------------------------------------------------------------------- red bar, stale


def test_bar_connecting_lost_offline_unknown_ok(ctx: Ctx) -> None:
    rec = Received()
    bar = build_bar(rec, ctx, NOW)
    assert bar.alarm and "GEEN VERBINDING" in bar.text
    rec = online(rec)
    assert not build_bar(rec, ctx, NOW).alarm and not is_stale(rec)
    down = rec.disconnected(NOW)
    bar = build_bar(down, ctx, NOW)
    assert bar.alarm and "VERBINDING VERBROKEN sinds 14:00:00" in bar.text and is_stale(down)
    off = rec.with_console(ConsoleStatus(state=LinkState.OFFLINE, at=NOW))
    assert build_bar(off, ctx, NOW).alarm and "ALARMCENTRALE OFFLINE" in build_bar(off, ctx, NOW).text
    assert is_stale(off)
    unknown = rec.with_console(None)
    assert build_bar(unknown, ctx, NOW).alarm and "onbekend" in build_bar(unknown, ctx, NOW).text


def test_resync_after_reconnect_drops_what_was_cleared_meanwhile(ctx: Ctx) -> None:
    rec = with_all(inc("stays"), inc("cleared", ago=30)).with_notification(note("cleared"))
    rec = rec.with_unit(UnitHealth(unit_id="balie-1", online=True))
    rec = rec.disconnected(NOW).connected()  # new generation: retained state is delivered again
    rec = rec.with_incident(inc("stays")).with_unit(UnitHealth(unit_id="balie-1", online=True))
    rec = rec.with_console(ConsoleStatus(state=LinkState.ONLINE, at=NOW))
    # before pruning, the old state is still shown (no flicker)
    assert set(rec.incidents) == {"stays", "cleared"}
    rec = rec.pruned()
    assert set(rec.incidents) == {"stays"} and set(rec.units) == {"balie-1"}
    assert "cleared" not in rec.routed and rec.console is not None


def test_resync_forgets_a_console_status_no_longer_retained() -> None:
    rec = online(Received()).disconnected(NOW).connected().pruned()
    assert rec.console is None


# --------------------------------------------------------------------------- units


def test_units_merge_inventory_with_health_and_mark_overdue_tests(ctx: Ctx) -> None:
    rec = online(Received())
    rec = rec.with_unit(
        UnitHealth(
            unit_id="balie-1",
            online=True,
            last_heartbeat=NOW - timedelta(seconds=3),
            firmware_version="1.2.0",
            last_test_ok=NOW - timedelta(days=2),
        )
    )
    rec = rec.with_unit(
        UnitHealth(
            unit_id="balie-2", online=False, faults=("cut knop",), last_test_ok=NOW - timedelta(days=8)
        )
    )
    rec = rec.with_unit(
        UnitHealth(unit_id="balie-3", online=True, test_mode=True, test_until=NOW + timedelta(minutes=15))
    )
    rows = {r.unit_id: r for r in build_units(rec, ctx, NOW)}
    assert len(rows) == len(ctx.site.units)  # every unit, even without health
    b1, b2, b3 = rows["balie-1"], rows["balie-2"], rows["balie-3"]
    assert b1.state_text == "ONLINE" and b1.heartbeat_text == "13:59:57" and b1.firmware == "1.2.0"
    assert not b1.overdue and b1.last_test_text == "26/11/2026"
    assert b2.state_text == "OFFLINE" and b2.faults_text == "cut knop" and b2.overdue
    assert "TE LAAT" in b2.last_test_text
    assert b3.test_mode and b3.test_text == "TEST tot 14:15:00" and b3.overdue  # never tested
    assert rows["onthaal"].online is None and rows["onthaal"].state_text == "? GEEN DATA"
    assert rows["pager-an"].unit_text == "pager-an (pager)"


# --------------------------------------------------------------------------- history


def test_history_window_filter_and_order(ctx: Ctx) -> None:
    rec = with_all(
        inc("new", ago=60),
        inc("resolved", "balie-1", "burgerzaken", status="resolved", resolved_by="bart", ago=3600),
        inc("ancient", ago=8 * 86400),
    )
    rows = build_history(rec, ctx, NOW)
    assert [r.incident_id for r in rows] == ["new", "resolved"]  # newest first, 7 days
    assert rows[1].status_text == "AFGEHANDELD" and rows[1].resolved_text == "Bart Janssens"
    assert [r.incident_id for r in build_history(rec, ctx, NOW, "burgerzaken")] == ["resolved"]
    assert [r.incident_id for r in build_history(rec, ctx, NOW, "afgehandeld bart")] == ["resolved"]
    assert [r.incident_id for r in build_history(rec, ctx, NOW, "OPEN")] == ["new"]
    assert build_history(rec, ctx, NOW, "nobody-matches") == ()
    assert len(build_history(rec, ctx, NOW, days=30)) == 3


def test_timeline_in_words_oldest_first(ctx: Ctx) -> None:
    entries = (
        TimelineEntry(at=NOW - timedelta(seconds=30), kind="acknowledged", person_id="an"),
        TimelineEntry(at=NOW - timedelta(seconds=60), kind="pressed", text="knop tafel"),
        TimelineEntry(at=NOW - timedelta(seconds=59), kind="notified", person_id="an", level=1),
        TimelineEntry(at=NOW - timedelta(seconds=20), kind="something-new"),
    )
    rec = Received().with_timeline(IncidentTimeline(incident_id="i-1", entries=entries, version=1))
    lines = build_timeline(rec, ctx, "i-1")
    assert [ln.what for ln in lines] == ["knop ingedrukt", "verwittigd (niveau 1)", "Ik kom", "something-new"]
    assert lines[0].at_text == "28/11 13:59:00" and lines[0].text == "knop tafel"
    assert lines[2].who == "An Peeters"
    assert build_timeline(rec, ctx, "unknown") == ()


# --------------------------------------------------------------------------- presence


def test_people_without_state_count_as_present(ctx: Ctx) -> None:
    pv = build_presence(Received(), ctx)
    assert pv.me_present and pv.unreachable == 0
    sd = next(tp for tp in pv.teams if tp.team_id == "sociale-dienst")
    assert sd.reachable == ("An Peeters", "Dirk Maes") and "bereikbaar" in sd.text


def test_warning_when_a_team_has_nobody_reachable(ctx: Ctx) -> None:
    rec = Received()
    for pid in ("an", "dirk"):
        rec = rec.with_presence(PresenceState(person_id=pid, present=False, at=NOW))
    pv = build_presence(rec, ctx)
    sd = next(tp for tp in pv.teams if tp.team_id == "sociale-dienst")
    assert sd.warning and sd.text == "⚠ NIEMAND BEREIKBAAR"
    assert not pv.me_present and "AFWEZIG" in pv.me_text
    bz = next(tp for tp in pv.teams if tp.team_id == "burgerzaken")
    assert not bz.warning  # bart is still there
    snap = snapshot(online(rec), ctx, NOW, Selection())
    assert snap.warnings == ("Sociale dienst: ⚠ NIEMAND BEREIKBAAR",)
    assert "1 team(s)" in snap.bar.text and not snap.bar.alarm


# --------------------------------------------------------------------------- replies, registration, texts


def test_rejected_reply_shows_the_reason_or_the_code_in_words() -> None:
    rej = CommandReply(cmd_id=uuid.uuid4(), ok=False, code="already_acknowledged", reason="Bart komt al")
    assert reply_text(rej, "x", NL) == "GEWEIGERD: Bart komt al"
    bare = CommandReply(cmd_id=uuid.uuid4(), ok=False, code="not_authorised")
    assert reply_text(bare, "x", EN) == "REJECTED: you are not allowed to do this"
    ok = CommandReply(cmd_id=uuid.uuid4(), ok=True, code="ok")
    assert "Ik kom" in reply_text(ok, "Ik kom", NL)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, "Kies minstens één soort agressie"),
        ({"aggression_types": ("verbaal",)}, "Kies de ernst"),
        ({"false_alarm": True, "pv_number": "PV-1"}, "Een PV-nummer kan alleen"),
    ],
)
def test_registration_errors_are_shown_in_the_persons_language(
    fields: dict[str, object], expected: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        Registration.model_validate(fields)
    assert registration_error(exc.value, NL).startswith(expected)


def test_both_languages_fill_every_text() -> None:
    for t in (NL, EN):
        for name in Texts.__dataclass_fields__:
            assert getattr(t, name), f"{t.lang}: {name} is empty"
    assert NL.aggression.keys() == EN.aggression.keys() and NL.sanctions.keys() == EN.sanctions.keys()
    assert (
        NL.timeline_kinds.keys() == EN.timeline_kinds.keys()
        and NL.reply_codes.keys() == EN.reply_codes.keys()
    )


def test_snapshot_can_skip_offscreen_tables(ctx: Ctx) -> None:
    snap = snapshot(with_all(inc("a")), ctx, NOW, Selection(), with_units=False, with_history=False)
    assert snap.units == () and snap.history == () and len(snap.alarms.rows) == 1
    full = snapshot(with_all(inc("a")), ctx, NOW, Selection())
    assert len(full.units) == len(ctx.site.units) and len(full.history) == 1
