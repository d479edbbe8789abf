"""The fold of home-visit facts into the engine's state (`fold.evolve` hands them here).

A visit lives in `EngineState.visits` from `visit_started` until a day after it is closed (so a
retried command is answered, not redone); its overdue incident lives with the other incidents.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.engine.state import EngineState, Incident, Visit
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitFact, VisitStarted
from stilalarm.wire.messages import IncidentStatus

KEEP_CLOSED = timedelta(days=1)
"""A closed visit stays in the state this long (answers retries; its incident has its own expiry)."""

EVENING_REMINDER = "visit_evening"
"""The text key of the evening rule's reminder to the colleague (a `Notified` fact with detail visit)."""


def apply_visit(s: EngineState, f: VisitFact) -> EngineState:
    """Apply one visit fact (pure)."""
    match f:
        case VisitStarted():
            v = Visit(
                id=f.visit_id,
                visitor=f.person_id,
                team_id=f.team_id,
                colleague=f.colleague,
                mobile=f.mobile,
                planned_end=f.planned_end,
                started_at=f.at,
                evening=f.evening,
            )
            kept = {k: x for k, x in s.visits.items() if not _gone(x, f.at)}
            return replace(s, visits={**kept, v.id: v})
        case VisitDetails() if f.visit_id in s.visits:
            v = replace(s.visits[f.visit_id], client_name=f.client_name, address=f.address)
            return replace(s, visits={**s.visits, v.id: v})
        case OverdueRaised():
            v0 = s.visits.get(f.visit_id)
            inc = Incident(
                id=f.incident_id,
                unit_id=None,
                button_id=None,
                room_id=None,
                team_id=f.team_id,
                status=IncidentStatus.OPEN,
                pressed_at=f.planned_end,
                stored_at=f.at,
                kind="overdue",
                visit_id=f.visit_id,
                visitor=f.person_id,
                visit_private=(v0.client_name, v0.address, v0.mobile) if v0 else ("", "", ""),
            )
            day, _, n = f.incident_id.partition("-")
            num = int(n) if n.isdigit() else 0
            newest = max(s.last_incident, (day, num))
            s = replace(s, live={**s.live, inc.id: inc}, last_incident=newest)
            if v0 is not None:
                s = replace(s, visits={**s.visits, v0.id: replace(v0, incident_id=f.incident_id)})
            return s
        case VisitEnded():
            return close_visit(s, f.visit_id, f.at, f.person_id)
        case _:
            return s


def close_visit(s: EngineState, visit_id: str | None, at: datetime, by: str) -> EngineState:
    """The visit is closed (checked in, reached, or its incident resolved); a second close is ignored.
    Its private part leaves the memory at once (the log keeps it until the purge)."""
    v = s.visits.get(visit_id or "")
    if v is None or v.closed_at is not None:
        return s
    closed = replace(v, closed_at=at, closed_by=by, client_name="", address="", mobile="")
    return replace(s, visits={**s.visits, v.id: closed})


def mark_reminded(s: EngineState, visit_id: str) -> EngineState:
    """The evening reminder for this visit was sent."""
    v = s.visits.get(visit_id)
    if v is None or v.reminded:
        return s
    return replace(s, visits={**s.visits, v.id: replace(v, reminded=True)})


def _gone(v: Visit, now: datetime) -> bool:
    return v.closed_at is not None and v.closed_at + KEEP_CLOSED < now
