"""A unit that comes back online during its incident gets its LED state again (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stilalarm.console.core import world as core
from stilalarm.console.core.effects import UnitFeedback
from stilalarm.console.core.engine import UnitEventIn
from stilalarm.console.core.supervision import StatusIn
from stilalarm.wire.messages import (
    EventKind,
    Feedback,
    LinkState,
    UnitEvent,
    UnitStatus,
    new_id,
)

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _online(unit: str, at: datetime) -> StatusIn:
    return StatusIn(
        UnitStatus(unit_id=unit, state=LinkState.ONLINE, boot_id=new_id(), reason="connected", at=at)
    )


def test_unit_back_online_during_incident_gets_led_again(site) -> None:
    w = core.World.initial(site, T0)
    w, _ = core.step(w, _online("spreekkamer-2", T0), T0)
    press = UnitEvent(
        event_id=new_id(),
        unit_id="spreekkamer-2",
        kind=EventKind.ALARM,
        button_id="tafel",
        seq=1,
        boot_id=new_id(),
        occurred_at=T0,
        sent_at=T0,
    )
    w, _ = core.step(w, UnitEventIn(press), T0)
    # the unit restarts (new boot) two seconds later: it must show "stored" again
    t1 = T0 + timedelta(seconds=2)
    w, effects = core.step(w, _online("spreekkamer-2", t1), t1)
    fb = [e for e in effects if isinstance(e, UnitFeedback)]
    assert len(fb) == 1 and fb[0].unit_id == "spreekkamer-2" and fb[0].feedback is Feedback.STORED
    # a unit without an incident gets nothing
    _w, effects = core.step(w, _online("balie-1", t1), t1)
    assert not [e for e in effects if isinstance(e, UnitFeedback)]
