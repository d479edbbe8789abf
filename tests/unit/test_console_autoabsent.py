"""A lead whose every console is gone counts as absent: the alarm goes straight to the deputy
(pure engine, injected time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stilalarm.console.core import world as core
from stilalarm.console.core.effects import Notify, PublishPresence
from stilalarm.console.core.engine import PersonCmdIn, UnitEventIn
from stilalarm.wire.messages import ConsoleLinkCmd, EventKind, NotifyReason, UnitEvent, new_id

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def link(person: str, console: str, online: bool, at: datetime) -> PersonCmdIn:
    return PersonCmdIn(
        ConsoleLinkCmd(cmd_id=new_id(), person_id=person, issued_at=at, console_id=console, online=online)
    )


def press(at: datetime, unit: str = "spreekkamer-2") -> UnitEventIn:
    return UnitEventIn(
        UnitEvent(
            event_id=new_id(),
            unit_id=unit,
            kind=EventKind.ALARM,
            button_id="tafel",
            seq=1,
            boot_id=new_id(),
            occurred_at=at,
            sent_at=at,
        )
    )


def first_page(effects: list) -> tuple[int, tuple[str, ...]]:
    paging = (NotifyReason.ALARM, NotifyReason.ESCALATION)
    n = next(e.notice for e in effects if isinstance(e, Notify) and e.notice.reason in paging)
    return n.level, n.person_ids


def test_lead_with_no_live_console_is_skipped_and_back_when_a_console_returns(site) -> None:
    w = core.World.initial(site, T0)
    w, eff = core.step(w, link("an", "pc-1", True, T0), T0)
    assert any(isinstance(e, PublishPresence) for e in eff)
    assert "an" not in w.engine.unreachable
    w, eff = core.step(w, link("an", "pc-2", True, T0), T0)
    w, eff = core.step(w, link("an", "pc-1", False, T0), T0)  # one of two consoles gone: still reachable
    assert "an" not in w.engine.unreachable and not any(isinstance(e, PublishPresence) for e in eff)
    t1 = T0 + timedelta(seconds=5)
    w, eff = core.step(w, link("an", "pc-2", False, t1), t1)  # the last one gone (its will)
    assert "an" in w.engine.unreachable and w.engine.presence_reason("an") == "console_offline"
    assert any(isinstance(e, PublishPresence) for e in eff)
    t2 = t1 + timedelta(seconds=1)
    w, eff = core.step(w, press(t2), t2)
    assert first_page(eff) == (2, ("dirk",))  # level 1 skipped at once: straight to the deputy
    t3 = t2 + timedelta(minutes=30)
    w, _ = core.step(w, link("an", "pc-2", True, t3), t3)
    assert "an" not in w.engine.unreachable


def test_people_without_consoles_are_never_auto_absent_and_duplicates_record_nothing(site) -> None:
    w = core.World.initial(site, T0)
    assert w.engine.unreachable == frozenset() and w.engine.presence_reason("bart") == "default"
    w, _ = core.step(w, link("an", "pc-1", True, T0), T0)
    w, eff = core.step(w, link("an", "pc-1", True, T0), T0)  # reconnect of the same PC
    assert eff == []


def test_manual_absence_wins_over_a_live_console(site) -> None:
    from stilalarm.wire.messages import PresenceCmd

    w = core.World.initial(site, T0)
    w, _ = core.step(w, link("an", "pc-1", True, T0), T0)
    w, _ = core.step(
        w, PersonCmdIn(PresenceCmd(cmd_id=new_id(), person_id="an", issued_at=T0, present=False)), T0
    )
    assert "an" in w.engine.unreachable and w.engine.presence_reason("an") == "manual"
