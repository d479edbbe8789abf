"""Supervision's fold: `evolve` applies one recorded fact, `rebuild` folds a whole log."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core.supervision.buildings import fold_building, hold_offline
from stilalarm.console.core.supervision.state import UnitsState
from stilalarm.console.facts import (
    BuildingReachable,
    BuildingUnreachable,
    ButtonsChecked,
    Fact,
    FaultCleared,
    FaultRaised,
    Notified,
    TestResult,
    UnitOffline,
    UnitOnline,
    UnitRestarted,
)
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason


def evolve(s: UnitsState, f: Fact) -> UnitsState:
    """Apply one recorded fact (pure; facts of other kinds are ignored)."""
    out = _evolve(s, f)
    if out is not s and out.due_hint is not None and getattr(f, "unit_id", None) is not None:
        out = replace(out, due_hint=None)  # a unit changed: its deadlines may be earlier now
    return out


def _evolve(s: UnitsState, f: Fact) -> UnitsState:
    if isinstance(f, ButtonsChecked):
        return replace(s, checked_at=f.at)
    if isinstance(f, BuildingUnreachable | BuildingReachable):
        return fold_building(s, f)
    uid = getattr(f, "unit_id", None)
    if uid is None or uid not in s.units:
        return s
    r = s.units[uid]
    counted = r.window_until is not None and f.at < r.window_until
    bump = r.suppressed + 1 if counted else r.suppressed
    bw = r.building_window and counted  # a window opened by the building's notice ends with it
    match f:
        case UnitOnline():
            r = replace(
                r,
                online=True,
                since=f.at,
                boot_id=f.boot_id or r.boot_id,
                firmware=f.firmware_version or r.firmware,
                clean_shutdown=False,
                suppressed=bump,
                held_until=None,
                building_window=bw,
            )
        case UnitOffline():
            r = replace(
                r,
                online=False,
                since=f.at,
                clean_shutdown=f.why == "shutdown",
                suppressed=bump,
                building_window=bw,
            )
            r = hold_offline(s, r, f, counted)
        case UnitRestarted():
            r = replace(r, boot_id=f.new_boot_id, suppressed=bump)
        case FaultRaised():
            r = replace(r, faults=r.faults | {f.fault}, suppressed=bump)
        case FaultCleared():
            r = replace(r, faults=r.faults - {f.fault}, suppressed=bump)
        case Notified() if (
            f.incident_id is None and f.reason is NotifyReason.FAULT and f.text_key != "unprotected"
        ):
            r = replace(
                r,
                window_until=f.at + timedelta(seconds=s.policy.flap_window_s),
                suppressed=0,
                building_window=False,
                held_until=None if f.text_key.startswith("offline_") else r.held_until,
            )
        case TestResult():
            ok = {**r.button_ok, f.button_id: f.at}
            buttons = [b.id for b in s.site.unit(uid).buttons]
            oldest = min((ok[b] for b in buttons), default=None) if all(b in ok for b in buttons) else None
            r = replace(r, button_ok=ok, last_test_ok=oldest)
        case _:
            return s
    return replace(s, units={**s.units, uid: r})


def rebuild(
    site: Site, facts: Iterable[Fact], started_at: datetime, policy: SupervisionPolicy | None = None
) -> UnitsState:
    """The supervision state after folding the log; silence is counted from `started_at`."""
    s = UnitsState.initial(site, started_at, policy)
    for f in facts:
        s = evolve(s, f)
    return s
