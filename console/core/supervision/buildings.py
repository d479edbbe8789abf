"""A building's link, supervised as one: every Pi unit of a building offline is one notice.

A building with at least two Pi units (`[[buildings]]`, rooms' `building`) is **unreachable** when all
of them are offline: its link to the broker is taken as lost. The units' own outboxes keep every alarm
until the console's receipt, so nothing is lost meanwhile; what facilities need is one notice, not one
per unit. So a unit's offline notice to facilities waits `hold_s` (the fold keeps it in `held_until`):

- the rest of the building goes offline within that time: `building_unreachable` is recorded and
  facilities get one notice (the building, how many units, since when); the waiting unit notices
  are folded into it, and each unit's flap window opens as if it had been told (`building_window`);
- the time runs out first (one unit died, the building is fine): the unit's notice goes out as
  always, `hold_s` late;
- the unit comes back first: its offline notice goes out then (and opens its flap window, as today).

When a unit of an unreachable building is back, `building_reachable` is recorded and facilities are
told once. The building's units that come back within their flap window are not told about one by one;
one still offline at its window's end is. The rooms' "onbeschermd" notices to leads are unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.effects import SupEffect, Tx
from stilalarm.console.core.notice import notice
from stilalarm.console.core.supervision.state import BuildingRecord, UnitRecord, UnitsState
from stilalarm.console.facts import BuildingReachable, BuildingUnreachable, UnitOffline
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import NotifyReason


def supervised(s: UnitsState, uid: str) -> BuildingRecord | None:
    """The supervised building of a unit (None: a web unit, no building, or one with a single Pi)."""
    b = s.site.building_of(uid)
    return s.buildings.get(b) if b is not None else None


def hold_s(s: UnitsState, building_id: str) -> float:
    """How long a unit's offline notice waits for the rest of its building."""
    longest = max(s.site.unit(u).heartbeat_s for u in s.site.index.pis_in_building[building_id])
    return max(s.policy.building_hold_s, 2 * longest)


def hold_offline(s: UnitsState, r: UnitRecord, f: UnitOffline, in_window: bool) -> UnitRecord:
    """Fold: the offline unit's notice waits for its building (unless it is in its flap window)."""
    b = supervised(s, r.unit_id)
    if b is None or in_window or b.unreachable:
        return replace(r, held_until=None)
    return replace(
        r,
        held_until=f.at + timedelta(seconds=hold_s(s, b.building_id)),
        held_key=f"offline_{f.why}",
        held_last=f.last_heard,
    )


def window_due(r: UnitRecord) -> datetime | None:
    """When the unit's flap window ends with something to tell (None: nothing to tell)."""
    if r.window_until is None:
        return None
    if r.building_window:  # back with its building: nothing; still (or again) offline: told
        return r.window_until if r.online is False else None
    return r.window_until if r.suppressed else None


def fold_building(s: UnitsState, f: BuildingUnreachable | BuildingReachable) -> UnitsState:
    """Fold a building fact (the units' waiting notices are folded into the unreachable one)."""
    if f.building_id not in s.buildings:
        return s
    if isinstance(f, BuildingReachable):
        return replace(
            s, buildings={**s.buildings, f.building_id: BuildingRecord(f.building_id)}, due_hint=None
        )
    units = dict(s.units)
    window = f.at + timedelta(seconds=s.policy.flap_window_s)
    for uid in f.unit_ids:
        r = units.get(uid)
        if r is not None and r.held_until is not None:
            units[uid] = replace(r, held_until=None, window_until=window, suppressed=0, building_window=True)
    rec = BuildingRecord(f.building_id, unreachable=True, since=f.since)
    return replace(s, units=units, buildings={**s.buildings, f.building_id: rec}, due_hint=None)


def after_offline(tx: Tx[UnitsState, SupEffect], uid: str) -> None:
    """A unit went offline: when it was the last of its building, record and tell the building's outage."""
    b = supervised(tx.s, uid)
    if b is None or b.unreachable:
        return
    pis = tx.s.site.index.pis_in_building[b.building_id]
    if any(tx.s.units[u].online is not False for u in pis):
        return
    held = [r.since for u in pis if (r := tx.s.units[u]).held_until is not None and r.since is not None]
    since = min(held, default=tx.now)
    tx.record(BuildingUnreachable(at=tx.now, building_id=b.building_id, unit_ids=pis, since=since))
    detail = {"building": b.building_id, "units": str(len(pis)), "since": since.isoformat()}
    _tell(tx, b.building_id, "building_unreachable", detail)


def after_online(tx: Tx[UnitsState, SupEffect], uid: str) -> None:
    """A unit came back: when its building was unreachable, it is reachable again (told once)."""
    b = supervised(tx.s, uid)
    if b is None or not b.unreachable:
        return
    since = b.since or tx.now
    tx.record(BuildingReachable(at=tx.now, building_id=b.building_id, unit_id=uid, since=since))
    pis = tx.s.site.index.pis_in_building[b.building_id]
    detail = {"building": b.building_id, "units": str(len(pis)), "since": since.isoformat()}
    _tell(tx, b.building_id, "building_reachable", detail)


def _tell(tx: Tx[UnitsState, SupEffect], building_id: str, text_key: str, detail: dict[str, str]) -> None:
    to = tx.s.site.people_with(Role.FACILITIES)
    notice(tx, NotifyReason.FAULT, to, f"building:{building_id}:{text_key}", text_key, detail)
