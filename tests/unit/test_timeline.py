"""The incident timeline folded from facts (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.facts import (
    Acknowledged,
    AlarmReceived,
    DeliveryAttempt,
    LevelSkipped,
    Notified,
    Resolved,
)
from stilalarm.console.timeline import MAX_ENTRIES, Timelines
from stilalarm.wire.messages import NotifyReason, Registration

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _alarm() -> AlarmReceived:
    return AlarmReceived(
        at=T0 + timedelta(milliseconds=4),
        incident_id="i-1",
        unit_id="spreekkamer-2",
        button_id="tafel",
        room_id="spreekkamer-2",
        team_id="sociale-dienst",
        event_id=uuid.uuid4(),
        pressed_at=T0,
        sent_at=T0,
    )


def _notified(
    level: int, to: tuple[str, ...], reason: NotifyReason, at: datetime, call_101: bool = False
) -> Notified:
    return Notified(
        at=at,
        reason=reason,
        incident_id="i-1",
        level=level,
        person_ids=to,
        notification_ids=tuple(uuid.uuid4() for _ in to),
        call_101=call_101,
        text_key="alarm",
    )


def test_timeline_tells_the_whole_story(site) -> None:
    tl = Timelines(site)
    facts = [
        _alarm(),
        _notified(1, ("an",), NotifyReason.ALARM, T0 + timedelta(milliseconds=5)),
        LevelSkipped(at=T0 + timedelta(seconds=30), incident_id="i-1", level=2, absent=("dirk",)),
        _notified(3, ("an", "bart"), NotifyReason.ESCALATION, T0 + timedelta(seconds=30), call_101=True),
        DeliveryAttempt(
            at=T0 + timedelta(seconds=31),
            notification_id=uuid.uuid4(),
            incident_id="i-1",
            person_id="an",
            channel="email",
            attempt=1,
            status="failed",
            reason="timeout",
        ),
        Acknowledged(at=T0 + timedelta(seconds=42), incident_id="i-1", person_id="bart", via="pager"),
        Resolved(
            at=T0 + timedelta(minutes=9),
            incident_id="i-1",
            person_id="bart",
            registration=Registration(aggression_types=("verbaal",), severity="agressie"),
        ),
    ]
    touched = [tl.add(f) for f in facts]
    assert touched == ["i-1"] * len(facts)
    out = tl.timeline("i-1", version=7)
    assert out is not None and out.version == 7
    kinds = [e.kind for e in out.entries]
    assert kinds == [
        "pressed",
        "stored",
        "notified",
        "skipped",
        "escalated",
        "delivery_failed",
        "acknowledged",
        "resolved",
    ]
    texts = [e.text for e in out.entries]
    assert texts[1] == "opgeslagen door de alarmcentrale, 4 ms na het begin van de druk"
    assert texts[2] == "niveau 1: An Peeters"
    assert "Dirk Maes" in texts[3] and texts[4].endswith("bel 101")
    assert texts[6] == "ik kom: Bart Janssens, 42 s na de druk (via pieper)"
    assert texts[7] == "afgehandeld door Bart Janssens: verbaal, agressie"
    assert out.entries[0].at == T0


def test_long_escalations_keep_head_and_newest(site) -> None:
    tl = Timelines(site)
    tl.add(_alarm())
    for i in range(400):
        tl.add(_notified(3, ("an",), NotifyReason.REPEAT, T0 + timedelta(seconds=60 * i)))
    out = tl.timeline("i-1", 1)
    assert out is not None and len(out.entries) == MAX_ENTRIES
    assert out.entries[0].kind == "pressed"
    assert out.entries[-1].at == T0 + timedelta(seconds=60 * 399)
    tl.forget("i-1")
    assert tl.timeline("i-1", 1) is None
