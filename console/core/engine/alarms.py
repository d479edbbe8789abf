"""Alarms: presses (real, test and pager), when each escalation level is due, and firing it.

Routing: unit -> room -> team -> the team's escalation policy. Level k fires `after_s` after
the alarm was stored unless acknowledged; absent people are skipped; a level with nobody
present passes on at once; the last level (Bel 101) always notifies, repeats every
`repeat_every_s` until acknowledged.

A test press counts as a test only inside an open test window of its unit, once per button
per window and never within TEST_REPEAT_GUARD of that button's previous test; otherwise it
is a real alarm and the fact says why (`AlarmReceived.test_refused`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.core.effects import Effect, Page, PublishIncident, SendReceipt, Tx, UnitFeedback
from stilalarm.console.core.engine.responses import check_nobody_reachable, pager_on_site, still_in_danger
from stilalarm.console.core.engine.riskfold import standby_for
from stilalarm.console.core.engine.state import Campaign, EngineState, Incident, campaign_num, incident_due
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import (
    Acknowledged,
    AlarmReceived,
    CommandRejected,
    LevelSkipped,
    PressRepeated,
    TestRefusal,
    TestResult,
)
from stilalarm.inventory.kinds import Via
from stilalarm.wire.messages import EventKind, Feedback, IncidentStatus, NotifyReason, UnitEvent

TEST_REPEAT_GUARD = timedelta(seconds=60)
"""A test press of a button this soon after its previous test press is a real alarm."""

EngineTx = Tx[EngineState, Effect]
"""One engine step in progress."""


def on_unit_event(tx: EngineTx, ev: UnitEvent) -> None:
    """A unit event: an alarm, a test press or a pager acknowledgement (faults: receipt only)."""
    if ev.kind is EventKind.ALARM:
        _on_alarm(tx, ev)
    elif ev.kind is EventKind.TEST:
        _on_test_press(tx, ev)
    elif ev.kind is EventKind.PAGER_ACK:
        _on_pager_ack(tx, ev)
    else:  # faults belong to supervision; acknowledge receipt anyway
        tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))


def led_for(inc: Incident) -> Feedback:
    """What the desk LED shows while this (open or acknowledged) incident lasts."""
    if inc.status is IncidentStatus.ACKNOWLEDGED:
        return Feedback.ACKNOWLEDGED
    return Feedback.NOBODY_REACHABLE if inc.nobody_reachable else Feedback.STORED


def open_incident_of_unit(s: EngineState, unit_id: str) -> Incident | None:
    """The unit's open or acknowledged incident (the newest), if any."""
    live = [i for i in s.live.values() if i.unit_id == unit_id]
    return max(live, key=lambda i: i.stored_at) if live else None


def new_incident_id(s: EngineState, now: datetime) -> str:
    day = now.astimezone(ZoneInfo(s.site.site.timezone)).strftime("%Y%m%d")
    last_day, n = s.last_incident
    n = n + 1 if last_day == day else 1
    while f"{day}-{n:04d}" in s.incidents:
        n += 1
    return f"{day}-{n:04d}"


def _on_alarm(tx: EngineTx, ev: UnitEvent, test_refused: TestRefusal | None = None) -> None:
    """A real press (or a test press refused as a test: `test_refused` says why)."""
    s = tx.s
    assert ev.button_id is not None
    place = ev.detail if s.site.unit(ev.unit_id).via is Via.APP else ""
    joined = open_incident_of_unit(s, ev.unit_id)
    if joined is not None:
        tx.record(
            PressRepeated(
                at=tx.now,
                incident_id=joined.id,
                unit_id=ev.unit_id,
                button_id=ev.button_id,
                event_id=ev.event_id,
                pressed_at=ev.occurred_at,
                test_refused=test_refused,
                place=place,
            )
        )
        tx.emit(SendReceipt(ev.unit_id, ev.event_id, joined.id))
        tx.emit(PublishIncident(joined.id))
        inc = tx.s.live[joined.id]
        if inc.status is IncidentStatus.ACKNOWLEDGED and inc.acknowledged_by is not None and inc.unit_id:
            # Still in danger after 'ik kom': page the responder again, then escalate; keep the LED right.
            still_in_danger(tx, inc.id, joined.danger_presses)
            tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.ACKNOWLEDGED))
        return
    unit = s.site.unit(ev.unit_id)
    room = s.site.room(unit.room)
    incident_id = new_incident_id(s, tx.now)
    tx.record(
        AlarmReceived(
            at=tx.now,
            incident_id=incident_id,
            unit_id=ev.unit_id,
            button_id=ev.button_id,
            room_id=room.id,
            team_id=room.team,
            event_id=ev.event_id,
            pressed_at=ev.occurred_at,
            sent_at=ev.sent_at,
            test_refused=test_refused,
            place=place,
        )
    )
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, incident_id))
    tx.emit(UnitFeedback(ev.unit_id, incident_id, Feedback.STORED))
    escalate_due(tx, incident_id)
    tx.emit(PublishIncident(incident_id))


def test_window_for(s: EngineState, ev: UnitEvent, now: datetime) -> Campaign | TestRefusal:
    """The open test window a test press of `ev`'s button counts in, or why it is a real alarm.

    Fail open: no window of this unit open at the console's `now` ("no_window"), this button
    already tested in every open window ("already_tested"), or its previous test press less
    than TEST_REPEAT_GUARD ago by the console's or the unit's clock ("again_within_60s").
    """
    key = f"{ev.unit_id}/{ev.button_id}"
    last = s.tested_at.get(key)
    if last is not None:
        stored, pressed = last
        if now - stored < TEST_REPEAT_GUARD or abs(ev.occurred_at - pressed) < TEST_REPEAT_GUARD:
            return "again_within_60s"
    windows = [c for c in s.campaigns.values() if ev.unit_id in c.unit_ids and c.until > now]
    if not windows:
        return "no_window"
    fresh = [c for c in windows if key not in c.tested]
    if not fresh:
        return "already_tested"
    named = [c for c in fresh if c.id == ev.campaign_id]
    newest: Campaign = max(fresh, key=lambda c: campaign_num(c.id))
    return named[0] if named else newest


def _on_test_press(tx: EngineTx, ev: UnitEvent) -> None:
    assert ev.button_id is not None
    window = test_window_for(tx.s, ev, tx.now)
    if not isinstance(window, Campaign):
        _on_alarm(tx, ev, test_refused=window)
        return
    latency = (tx.now - ev.occurred_at).total_seconds() * 1000
    tx.record(
        TestResult(
            at=tx.now,
            unit_id=ev.unit_id,
            button_id=ev.button_id,
            campaign_id=window.id,
            event_id=ev.event_id,
            pressed_at=ev.occurred_at,
            latency_ms=round(latency, 1),
        )
    )
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))
    tx.emit(UnitFeedback(ev.unit_id, None, Feedback.TEST_OK))
    # Quietly tell the room's lead(s): if this "test" was a real alarm, a person still sees it.
    d = tx.s.site.index
    room = d.rooms[d.units[ev.unit_id].room]
    leads = d.teams[room.team].leads
    notice(
        tx,
        NotifyReason.INFO,
        leads,
        f"{ev.unit_id}:test:{ev.event_id}",
        "test_press",
        {"room": room.id, "unit": ev.unit_id, "button": ev.button_id, "by": window.by},
        unit_id=ev.unit_id,
        to_nobody=True,
    )


def _on_pager_ack(tx: EngineTx, ev: UnitEvent) -> None:
    s = tx.s
    unit = s.site.unit(ev.unit_id)
    person = unit.person
    tx.emit(SendReceipt(ev.unit_id, ev.event_id, None))

    def reject(code: str, detail: str) -> None:
        tx.record(
            CommandRejected(
                at=tx.now,
                unit_id=ev.unit_id,
                person_id=person,
                cmd_kind="pager_ack",
                code=code,
                detail=detail,
                event_id=ev.event_id,
            )
        )

    if person is None:
        reject("invalid", f"unit {ev.unit_id} is not a lead pager unit")
        return
    if not s.site.may_act_on_incidents(person):
        reject("not_authorised", f"{person} may not acknowledge incidents")
        return
    routed = [
        i
        for i in s.live.values()
        if i.status is IncidentStatus.OPEN and person in i.notified and i.kind == "alarm"
    ]
    if not routed and pager_on_site(tx, person, ev.event_id):  # a second press: 'ter plaatse'
        return
    if not routed:
        reject("unknown_incident", f"no open incident was routed to {person}")
        return
    newest = max(routed, key=lambda i: i.stored_at)
    acknowledge(tx, newest, person, via="pager", event_id=ev.event_id)


def escalate_due(tx: EngineTx, incident_id: str) -> None:
    """Fire every level of an open incident that is due at tx.now (at most one repeat); then tell
    the desk if nobody on the escalation can be reached."""
    _escalate(tx, incident_id)
    check_nobody_reachable(tx, incident_id)


def _escalate(tx: EngineTx, incident_id: str) -> None:
    while True:
        inc = tx.s.incidents[incident_id]
        if inc.status is not IncidentStatus.OPEN:
            return
        due = incident_due(tx.s, inc)
        if due is None or due > tx.now:
            return
        pol = tx.s.site.team(inc.team_id).escalation
        if inc.level < len(pol.levels):
            fire_level(tx, inc, inc.level + 1)
        else:
            _fire_repeat(tx, inc)
            return


def fire_level(tx: EngineTx, inc: Incident, level: int) -> None:
    """Page level `level` of `inc`; a level with nobody present (not the last) passes on at once."""
    s = tx.s
    pol = s.site.team(inc.team_id).escalation
    lv = pol.levels[level - 1]
    targets = s.site.resolve_targets(inc.team_id, lv.notify)
    away = s.unreachable
    present = tuple(p for p in targets if p not in away)
    if level == 1:  # a risky conversation's stand-by colleague is the nearest help: at once
        standby = tuple(p for p in standby_for(s, inc.room_id, tx.now) if p not in present)
        present, targets = present + standby, targets + tuple(p for p in standby if p not in targets)
    last = level == len(pol.levels)
    if not present and not last:
        tx.record(
            LevelSkipped(
                at=tx.now, incident_id=inc.id, level=level, absent=tuple(p for p in targets if p in away)
            )
        )
        fire_level(tx, tx.s.incidents[inc.id], level + 1)
        return
    # The last level (Bel 101) never stays silent: absence is a hint, not a guarantee.
    to = present or targets
    reason = NotifyReason.ALARM if level == 1 else NotifyReason.ESCALATION
    evacuate = s.site.waiting_room_for(inc.room_id) if lv.call_101 and inc.room_id else None
    _page(tx, inc, reason, to, level=level, call_101=lv.call_101, evacuate=evacuate)


def _fire_repeat(tx: EngineTx, inc: Incident) -> None:
    s = tx.s
    pol = s.site.team(inc.team_id).escalation
    lv = pol.levels[-1]
    targets = s.site.resolve_targets(inc.team_id, lv.notify)
    to = tuple(p for p in targets if p not in s.unreachable) or targets
    evacuate = s.site.waiting_room_for(inc.room_id) if lv.call_101 and inc.room_id else None
    _page(tx, inc, NotifyReason.REPEAT, to, level=inc.level, call_101=lv.call_101, evacuate=evacuate)


def _page(
    tx: EngineTx,
    inc: Incident,
    reason: NotifyReason,
    to: tuple[str, ...],
    *,
    level: int,
    call_101: bool,
    evacuate: str | None,
) -> None:
    incident_notice(tx, inc, reason, to, "alarm", {}, level=level, call_101=call_101, evacuate=evacuate)
    for p in to:
        for pager in tx.s.site.index.pagers.get(p, ()):
            tx.emit(Page(pager, inc.id, level))
    tx.emit(PublishIncident(inc.id))


def incident_notice(
    tx: EngineTx,
    inc: Incident,
    reason: NotifyReason,
    to: tuple[str, ...],
    text_key: str,
    detail: Mapping[str, str],
    *,
    level: int = 0,
    call_101: bool = False,
    evacuate: str | None = None,
) -> None:
    """A notice about `inc` (its ids keyed on the incident id)."""
    notice(
        tx,
        reason,
        to,
        inc.id,
        text_key,
        detail,
        incident_id=inc.id,
        unit_id=inc.unit_id,
        level=level,
        call_101=call_101,
        evacuate=evacuate,
    )


def stop_pagers(tx: EngineTx, inc: Incident) -> None:
    """Stop every lead pager unit that was signalling `inc`."""
    if inc.kind != "alarm":  # an overdue visit never signals a pager
        return
    for p in inc.notified:
        for pager in tx.s.site.index.pagers.get(p, ()):
            tx.emit(Page(pager, inc.id, 0))


def acknowledge(
    tx: EngineTx,
    inc: Incident,
    person: str,
    *,
    via: str,
    cmd_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> None:
    """`person` takes `inc` ("ik kom"), by command or pager: LED, the others told, pagers stopped."""
    tx.record(
        Acknowledged(
            at=tx.now,
            incident_id=inc.id,
            person_id=person,
            via="pager" if via == "pager" else "command",
            cmd_id=cmd_id,
            event_id=event_id,
        )
    )
    inc = tx.s.incidents[inc.id]
    if inc.unit_id is not None:  # an overdue visit has no desk LED
        tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.ACKNOWLEDGED))
    others = tuple(p for p in inc.notified if p != person)
    incident_notice(tx, inc, NotifyReason.ACKNOWLEDGED, others, "ack", {"person": person})
    stop_pagers(tx, inc)
    tx.emit(PublishIncident(inc.id))
