"""Responses to an alarm (issue 16), the parts the alarm path and the timers call.

- **Niemand bereikbaar**: when everyone on an open alarm's whole escalation is absent or has said
  'kan niet komen', the desk is told once (`Feedback.NOBODY_REACHABLE`, a distinct LED pattern) so
  the person can call 101 themselves; the escalation goes on (fail open).
- **Ter plaatse**: `on_site_within_s` after 'ik kom' without 'ter plaatse' the responder is reminded;
  `on_site_escalate_after_s` later the next level is told that help may not have arrived (the last
  level when the incident was acknowledged there).
- **Still in danger**: the first press of the desk after the acknowledgement pages the responder
  again at once; the second escalates one level.

Their notices are reminders (`NotifyReason.REMINDER`, each with its own text): the escalation's
levels (alarm, escalation, repeat) are paged once each and stay what the soak's invariants check.
The commands (`decline`, `on_site`) are in `responsecmds`. No clock: everything at `tx.now`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from stilalarm.console.core.effects import Effect, Page, PublishIncident, Tx, UnitFeedback
from stilalarm.console.core.engine.state import EngineState, Incident, on_site_due
from stilalarm.console.core.notice import notice
from stilalarm.console.responsefacts import NobodyReachable, OnSite
from stilalarm.wire.messages import Feedback, IncidentStatus, NotifyReason

EngineTx = Tx[EngineState, Effect]


def escalation_people(s: EngineState, inc: Incident) -> tuple[str, ...]:
    """Everyone the incident's escalation names, over all its levels, in order."""
    pol = s.site.team(inc.team_id).escalation
    out: list[str] = []
    for lv in pol.levels:
        out += [p for p in s.site.resolve_targets(inc.team_id, lv.notify) if p not in out]
    return tuple(out)


def level_people(s: EngineState, inc: Incident, level: int) -> tuple[str, ...]:
    """The people level `level` (1-based) of the incident's team names."""
    pol = s.site.team(inc.team_id).escalation
    return s.site.resolve_targets(inc.team_id, pol.levels[level - 1].notify)


def out_of_reach(s: EngineState, inc: Incident) -> frozenset[str]:
    """Absent (marked, or every console gone) or 'kan niet komen' for this incident."""
    return s.unreachable | frozenset(inc.declined)


def check_nobody_reachable(tx: EngineTx, incident_id: str) -> None:
    """Tell the desk once when nobody on the open alarm's whole escalation can be reached."""
    inc = tx.s.incidents.get(incident_id)
    if inc is None or inc.status is not IncidentStatus.OPEN or inc.nobody_reachable or inc.kind != "alarm":
        return
    people = escalation_people(tx.s, inc)
    if any(p not in out_of_reach(tx.s, inc) for p in people):
        return
    tx.record(NobodyReachable(at=tx.now, incident_id=inc.id, people=people[:500]))
    if inc.unit_id is not None:
        tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.NOBODY_REACHABLE))
    tx.emit(PublishIncident(inc.id))


def response_notice(
    tx: EngineTx,
    inc: Incident,
    reason: NotifyReason,
    to: tuple[str, ...],
    text_key: str,
    detail: Mapping[str, str],
    *,
    level: int = 0,
    page: bool = False,
) -> None:
    """A notice about `inc` keyed on its id and `text_key`; `page`: also signal their pager units."""
    notice(
        tx,
        reason,
        to,
        f"{inc.id}:{text_key}",
        text_key,
        detail,
        incident_id=inc.id,
        unit_id=inc.unit_id,
        level=level,
    )
    if page and inc.kind == "alarm":
        for p in to:
            for pager in tx.s.site.index.pagers.get(p, ()):
                tx.emit(Page(pager, inc.id, max(level, 1)))


def next_level_people(s: EngineState, inc: Incident) -> tuple[int, tuple[str, ...]]:
    """The level after the incident's (the last when it is there) and whom of it to tell: its
    reachable people but the acknowledger, else all of them but the acknowledger (fail open)."""
    n = len(s.site.team(inc.team_id).escalation.levels)
    level = min(max(inc.level, 0) + 1, n)
    targets = tuple(p for p in level_people(s, inc, level) if p != inc.acknowledged_by)
    present = tuple(p for p in targets if p not in s.unreachable)
    return level, present or targets


def fire_on_site_due(tx: EngineTx, inc: Incident) -> bool:
    """The on-site step due at tx.now of an acknowledged alarm, if any (True: one was due)."""
    due = on_site_due(tx.s, inc)
    if due is None or due > tx.now or inc.acknowledged_by is None:
        return False
    by = inc.acknowledged_by
    if inc.on_site_step == 0:
        response_notice(tx, inc, NotifyReason.REMINDER, (by,), "onsite_remind", {"person": by}, page=True)
    else:
        level, to = next_level_people(tx.s, inc)
        if not to:
            to = (by,)
        response_notice(tx, inc, NotifyReason.REMINDER, to, "no_show", {"person": by}, level=level, page=True)
    tx.emit(PublishIncident(inc.id))
    return True


def still_in_danger(tx: EngineTx, incident_id: str, before: int) -> None:
    """Presses after 'ik kom' (`before`: how many there were before this one): the first pages the
    responder again at once, the second escalates one level; later ones tell the responder."""
    inc = tx.s.incidents[incident_id]
    by = inc.acknowledged_by
    if by is None:
        return
    detail = {"person": by, "presses": str(inc.presses)}
    if before == 0:
        response_notice(tx, inc, NotifyReason.REMINDER, (by,), "danger", detail, level=inc.level, page=True)
    if before < 2 <= inc.danger_presses:
        level, to = next_level_people(tx.s, inc)
        response_notice(
            tx, inc, NotifyReason.REMINDER, to, "danger_escalated", detail, level=level, page=True
        )
    if before >= 1 and not before < 2 <= inc.danger_presses:
        response_notice(tx, inc, NotifyReason.INFO, (by,), "again", detail)


def pager_on_site(tx: EngineTx, person: str, event_id: uuid.UUID) -> bool:
    """A lead pager press with no open incident routed to its lead: 'ter plaatse' for the newest
    alarm that lead acknowledged and is not yet on site for (True). Already on site for all of
    them: the press only quiets the pager (a 'still in danger' page was seen; True). Else False."""
    mine = [
        i
        for i in tx.s.live.values()
        if i.status is IncidentStatus.ACKNOWLEDGED and i.acknowledged_by == person and i.kind == "alarm"
    ]
    if not mine:
        return False
    waiting = [i for i in mine if i.on_site_at is None]
    if not waiting:
        for i in mine:
            for pager in tx.s.site.index.pagers.get(person, ()):
                tx.emit(Page(pager, i.id, 0))
        return True
    inc = max(waiting, key=lambda i: i.stored_at)
    mark_on_site(tx, inc, person, via="pager", event_id=event_id)
    return True


def mark_on_site(
    tx: EngineTx,
    inc: Incident,
    person: str,
    *,
    via: str,
    cmd_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
) -> None:
    """Record 'ter plaatse' by the acknowledger; stop their pager; tell the others notified."""
    tx.record(
        OnSite(
            at=tx.now,
            incident_id=inc.id,
            person_id=person,
            via="pager" if via == "pager" else "command",
            cmd_id=cmd_id,
            event_id=event_id,
        )
    )
    inc = tx.s.incidents[inc.id]
    for pager in tx.s.site.index.pagers.get(person, ()):
        tx.emit(Page(pager, inc.id, 0))
    others = tuple(p for p in inc.notified if p != person)
    response_notice(tx, inc, NotifyReason.INFO, others, "on_site", {"person": person})
    tx.emit(PublishIncident(inc.id))
