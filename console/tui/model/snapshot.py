"""Everything every screen shows at one instant, built from the received state at `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stilalarm.console.tui.model.alarms import AlarmsView, Selection, build_alarms
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.history import HISTORY_DAYS, HistoryRow, build_history
from stilalarm.console.tui.model.presence import PresenceView, build_presence
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.risks import RiskRow, build_risks
from stilalarm.console.tui.model.status import Bar, build_bar, is_stale
from stilalarm.console.tui.model.units import UnitRow, build_units


@dataclass(frozen=True)
class Snapshot:
    """Everything every screen shows at one instant."""

    now: datetime
    bar: Bar
    stale: bool
    alarms: AlarmsView
    presence: PresenceView
    units: tuple[UnitRow, ...] = ()
    history: tuple[HistoryRow, ...] = ()
    warnings: tuple[str, ...] = ()
    risks: tuple[RiskRow, ...] = ()
    """The running risky conversations (key v confirms the one I stand by for)."""


def snapshot(
    rec: Received,
    ctx: Ctx,
    now: datetime,
    sel: Selection,
    *,
    history_query: str = "",
    history_days: int = HISTORY_DAYS,
    with_units: bool = True,
    with_history: bool = True,
) -> Snapshot:
    """Build the whole view at `now` (units / history can be skipped when not on screen)."""
    presence = build_presence(rec, ctx)
    warnings = tuple(f"{tp.name}: {tp.text}" for tp in presence.teams if tp.warning)
    return Snapshot(
        now=now,
        bar=build_bar(rec, ctx, now, presence.unreachable),
        stale=is_stale(rec, now),
        alarms=build_alarms(rec, ctx, now, sel),
        presence=presence,
        units=build_units(rec, ctx, now) if with_units else (),
        history=build_history(rec, ctx, now, history_query, history_days) if with_history else (),
        warnings=warnings,
        risks=build_risks(rec, ctx, now),
    )
