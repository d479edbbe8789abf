"""A unit's transitions (online, offline, fault, clock): record them, tell who must know.

Faults and offline units notify facilities (reason `fault`, never mixed with alarms), and
the room's team lead(s) when the room is left without a working button while the building is open
(`[site] office_hours`, closing days included); outside office hours that "onbeschermd" notice goes
to facilities only (nobody sits in the room, a lead at home can do nothing about it). Flapping does not
flood: inside a unit's flap window the facts are recorded but nobody is told (the window's
summary follows when it ends).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.core.effects import PublishHealth, SupEffect, Tx
from stilalarm.console.core.notice import notice
from stilalarm.console.core.supervision.buildings import after_offline, after_online
from stilalarm.console.core.supervision.state import UnitsState
from stilalarm.console.facts import Fact, UnitOffline, UnitOnline
from stilalarm.inventory.kinds import Role, UnitRole, Via
from stilalarm.wire.messages import NotifyReason

SupTx = Tx[UnitsState, SupEffect]
"""One supervision step in progress."""


def room_protected(s: UnitsState, room_id: str) -> bool:
    """Whether the room has a wired desk unit online, closed, able to read its pins, with at least one
    button without a fault (a desk phone's key is an extra alarm point, never the room's protection)."""
    for uid in s.site.index.units_in_room.get(room_id, ()):
        unit = s.site.unit(uid)
        r = s.units[uid]
        if (
            unit.role is not UnitRole.DESK
            or unit.via is not Via.GPIO
            or not r.online
            or "unit:tamper" in r.faults
            or "unit:pins" in r.faults
        ):
            continue
        bad = {f.split(":", 1)[0] for f in r.faults}
        if any(b.id not in bad for b in unit.buttons):
            return True
    return False


def unprotected_to(s: UnitsState, room_id: str, now: datetime) -> tuple[str, ...]:
    """Who is told that a room has no working button: its team lead(s) while the building is open,
    facilities only outside office hours and on closing days."""
    site = s.site
    if site.site.office_hours.is_open(now, ZoneInfo(site.site.timezone)):
        return site.team(site.room(room_id).team).leads
    return site.people_with(Role.FACILITIES)


def transition(tx: SupTx, uid: str, facts: list[Fact], text_key: str, detail: dict[str, str]) -> None:
    """Record transition facts of one unit, then notify facilities (unless in a flap window, or its
    offline notice waits for its building: `buildings`), and see whether its building went or came back."""
    room = tx.s.site.unit(uid).room
    was_protected = room_protected(tx.s, room)
    in_window = (w := tx.s.units[uid].window_until) is not None and tx.now < w
    for f in facts:
        tx.record(f)
    offline = any(isinstance(f, UnitOffline) for f in facts)
    held = offline and tx.s.units[uid].held_until is not None
    if not in_window and not held:
        unit_notice(tx, uid, tx.s.site.people_with(Role.FACILITIES), text_key, detail)
    now_protected = room_protected(tx.s, room)
    if was_protected and not now_protected and not in_window and tx.s.site.unit(uid).role is UnitRole.DESK:
        unit_notice(tx, uid, unprotected_to(tx.s, room, tx.now), "unprotected", {"room": room})
    if offline:
        after_offline(tx, uid)
    elif any(isinstance(f, UnitOnline) for f in facts):
        after_online(tx, uid)
    tx.emit(PublishHealth(uid))


def unit_notice(tx: SupTx, uid: str, to: tuple[str, ...], text_key: str, detail: Mapping[str, str]) -> None:
    """A fault notice about unit `uid` (its ids keyed on the unit and the text)."""
    notice(tx, NotifyReason.FAULT, to, f"{uid}:{text_key}", text_key, detail, unit_id=uid)
