"""The History view: recent incidents, filtered by words, and one incident's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.wire.messages import IncidentStatus

HISTORY_DAYS = 7


@dataclass(frozen=True)
class HistoryRow:
    incident_id: str
    pressed_text: str
    location: str
    team: str
    status: IncidentStatus
    status_text: str
    level: int
    ack_text: str
    resolved_text: str
    pressed_at: datetime


def build_history(
    rec: Received, ctx: Ctx, now: datetime, query: str = "", days: int = HISTORY_DAYS
) -> tuple[HistoryRow, ...]:
    """Incidents pressed in the last `days` days, newest first, filtered by words in any column."""
    t = ctx.texts
    status_text = {
        IncidentStatus.OPEN: t.status_open,
        IncidentStatus.ACKNOWLEDGED: t.status_acknowledged,
        IncidentStatus.RESOLVED: t.status_resolved,
    }
    words = query.lower().split()
    out: list[HistoryRow] = []
    for iid, st in rec.incidents.items():
        if now - st.stored_at > timedelta(days=days):
            continue
        row = HistoryRow(
            incident_id=iid,
            pressed_text=ctx.day_time(st.stored_at),
            location=(
                t.visit_location.format(name=ctx.name(st.visitor), team=ctx.team_name(st.team_id))
                if st.kind == "overdue"
                else ctx.room_label(st.room_id or "")
            ),
            team=ctx.team_name(st.team_id),
            status=st.status,
            status_text=status_text[st.status],
            level=st.level,
            ack_text=ctx.name(st.acknowledged_by) if st.acknowledged_by else "—",
            resolved_text=ctx.name(st.resolved_by) if st.resolved_by else "—",
            pressed_at=st.stored_at,
        )
        hay = " ".join(
            [
                iid,
                st.unit_id or "",
                st.room_id or "",
                st.team_id,
                st.status.value,
                row.location,
                row.team,
                row.status_text,
                row.ack_text,
                row.resolved_text,
                row.pressed_text,
            ]
        ).lower()
        if all(w in hay for w in words):
            out.append(row)
    out.sort(key=lambda r: (r.pressed_at, r.incident_id), reverse=True)
    return tuple(out)


@dataclass(frozen=True)
class TimelineLine:
    at_text: str
    what: str
    who: str
    text: str


def build_timeline(rec: Received, ctx: Ctx, incident_id: str) -> tuple[TimelineLine, ...]:
    """One incident's full history, oldest first, in words."""
    tl = rec.timelines.get(incident_id)
    if tl is None:
        return ()
    t = ctx.texts
    lines = []
    for e in sorted(tl.entries, key=lambda e: e.at):
        what = t.timeline_kinds.get(e.kind, e.kind)
        if e.level is not None:
            what += f" ({t.level.format(n=e.level)})"
        lines.append(
            TimelineLine(
                ctx.stamp(e.at),
                what,
                ctx.name(e.person_id) if e.person_id else "",
                e.text,
            )
        )
    return tuple(lines)
