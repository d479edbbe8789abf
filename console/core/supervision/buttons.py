"""The daily button check: overdue and faulty buttons, to facilities and to team leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.core.notice import notice
from stilalarm.console.core.supervision.state import UnitsState
from stilalarm.console.core.supervision.transitions import SupTx
from stilalarm.console.facts import ButtonsChecked
from stilalarm.console.reporting.buttontests import TestState
from stilalarm.inventory.kinds import Role, UnitRole, Via
from stilalarm.inventory.policies import ButtonTestPolicy
from stilalarm.wire.messages import NotifyReason


def next_slot(after: datetime, pol: ButtonTestPolicy, tz: ZoneInfo) -> datetime:
    """The first check time after `after`: notify_at local time, then every notify_overdue_every_h."""
    local = after.astimezone(tz)
    hh, mm = (int(x) for x in pol.notify_at.split(":"))
    slot = datetime(local.year, local.month, local.day, hh, mm, tzinfo=tz)
    step = timedelta(hours=pol.notify_overdue_every_h)
    while slot > after:
        slot -= step
    while slot <= after:
        slot += step
    return slot.astimezone(UTC)


def check_due(s: UnitsState) -> datetime:
    """When the daily button check runs next (restart-safe: counted from the last recorded check)."""
    site = s.site
    return next_slot(s.checked_at or s.started_at, site.tests, ZoneInfo(site.site.timezone))


def check_buttons(tx: SupTx) -> None:
    """The daily check: facilities get one summary of overdue and faulty buttons, each team lead
    one notice about their own rooms. Recorded (`buttons_checked`), so a restart does not repeat it."""
    s = tx.s
    overdue: list[str] = []
    faulty: list[str] = []
    rooms: dict[str, set[str]] = {}  # team -> rooms with an overdue or faulty desk button
    faulty_rooms: set[str] = set()
    for uid, unit in s.site.index.units.items():
        if unit.via is Via.APP:
            continue  # a person's panic page: not a button in the building facilities test
        r = s.units[uid]
        bad = {f.split(":", 1)[0] for f in r.faults}
        for b in unit.buttons:
            late = s.button_state(uid, b.id, tx.now) is TestState.OVERDUE
            broken = b.id in bad
            if late:
                overdue.append(f"{uid}/{b.id}")
            if broken:
                faulty.append(f"{uid}/{b.id}")
            if (late or broken) and unit.role is UnitRole.DESK:
                rooms.setdefault(s.site.room(unit.room).team, set()).add(unit.room)
            if broken and unit.role is UnitRole.DESK:
                faulty_rooms.add(unit.room)
    tx.record(ButtonsChecked(at=tx.now, overdue=tuple(overdue), faulty=tuple(faulty)))
    if not overdue and not faulty:
        return
    reason = NotifyReason.FAULT if faulty else NotifyReason.INFO
    detail = {
        "overdue": str(len(overdue)),
        "faulty": str(len(faulty)),
        "buttons": ", ".join([*faulty, *(b for b in overdue if b not in faulty)])[:1500],
    }
    _daily_notice(tx, s.site.people_with(Role.FACILITIES), reason, "tests_overdue", detail)
    if not s.site.tests.notify_leads:
        return
    per_lead: dict[str, set[str]] = {}
    for team_id, team_rooms in rooms.items():
        for lead in s.site.team(team_id).leads:
            per_lead.setdefault(lead, set()).update(team_rooms)
    for lead, lead_rooms in sorted(per_lead.items()):
        why = NotifyReason.FAULT if lead_rooms & faulty_rooms else NotifyReason.INFO
        _daily_notice(tx, (lead,), why, "rooms_untested", {"rooms": ",".join(sorted(lead_rooms))})


def _daily_notice(
    tx: SupTx, to: tuple[str, ...], reason: NotifyReason, text_key: str, detail: dict[str, str]
) -> None:
    notice(tx, reason, to, f"tests:{text_key}", text_key, detail)
