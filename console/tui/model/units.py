"""The Units view: every unit of the inventory with its health, faults and weekly test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.texts import Texts

TEST_OVERDUE = timedelta(days=7)
"""A unit without a successful test for this long is marked overdue (weekly test)."""


@dataclass(frozen=True)
class UnitRow:
    unit_id: str
    room_id: str
    unit_text: str
    room_text: str
    online: bool | None
    state_text: str
    heartbeat_text: str
    faults_text: str
    firmware: str
    test_mode: bool
    test_text: str
    last_test_text: str
    overdue: bool
    config_text: str = "—"
    """The config version the unit reports, with a mark when it is not the current inventory's."""
    config_stale: bool = False
    """The unit did not take the console's current config (its heartbeat says another version)."""
    os_text: str = ""
    """The unit's OS, kernel and Python, for the detail line."""


def build_units(rec: Received, ctx: Ctx, now: datetime) -> tuple[UnitRow, ...]:
    """Every unit of the inventory merged with the console's UnitHealth (inventory order)."""
    t = ctx.texts
    out: list[UnitRow] = []
    for u in ctx.site.units:
        h = rec.units.get(u.id)
        online = None if h is None else h.online
        last_ok = h.last_test_ok if h is not None else None
        overdue = last_ok is None or now - last_ok > TEST_OVERDUE
        test_mode = h is not None and h.test_mode
        out.append(
            UnitRow(
                unit_id=u.id,
                room_id=u.room,
                unit_text=u.id + (f" {t.u_pager}" if u.role.value == "lead" else ""),
                room_text=ctx.room_label(u.room),
                online=online,
                state_text=t.u_unknown if online is None else (t.u_online if online else t.u_offline),
                heartbeat_text=ctx.time(h.last_heartbeat) if h is not None else "—",
                faults_text=", ".join(h.faults) if h is not None and h.faults else "—",
                firmware=(h.firmware_version if h is not None else "") or "—",
                test_mode=test_mode,
                test_text=t.u_test_until.format(t=ctx.time(h.test_until))
                if h is not None and test_mode
                else "—",
                last_test_text=ctx.day(last_ok) + (f" {t.u_overdue}" if overdue else ""),
                overdue=overdue,
                config_text=_config_text(h.config_version, h.config_current, t) if h is not None else "—",
                config_stale=h is not None and h.config_current is False,
                os_text=" · ".join(x for x in (h.os_name, h.kernel, h.python) if x) if h is not None else "",
            )
        )
    return tuple(out)


def _config_text(version: str | None, current: bool | None, t: Texts) -> str:
    short = (version or "").rsplit("-", 1)[-1][:8] or "—"
    return f"{short} {t.u_config_stale}" if current is False else short


def firmware_versions(rows: tuple[UnitRow, ...]) -> dict[str, int]:
    """Firmware version -> how many units report it (units not heard from are left out)."""
    out: dict[str, int] = {}
    for r in rows:
        if r.firmware != "—":
            out[r.firmware] = out.get(r.firmware, 0) + 1
    return out


def versions_summary(rows: tuple[UnitRow, ...], t: Texts) -> str:
    """'' when every unit runs one firmware and the current config; else what differs."""
    fw = firmware_versions(rows)
    stale = sum(1 for r in rows if r.config_stale)
    if len(fw) <= 1 and not stale:
        return ""
    mix = ", ".join(f"{v} ×{n}" for v, n in sorted(fw.items(), key=lambda kv: (-kv[1], kv[0])))
    return t.u_versions.format(firmware=mix or "—", stale=stale)


def units_summary(rows: tuple[UnitRow, ...], t: Texts) -> str:
    return t.u_summary.format(
        n=len(rows),
        offline=sum(1 for r in rows if r.online is False),
        faults=sum(1 for r in rows if r.faults_text != "—"),
        overdue=sum(1 for r in rows if r.overdue),
    )
