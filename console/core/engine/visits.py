"""Home visits (huisbezoek): registering, checking in, the colleague's answer, and the overdue
incident with its escalation. Pure, like the rest of the engine: time comes in as `tx.now`.

- `visit_start` (by the visitor): team (given, or the visitor's own), colleague (given, or the
  team's lead; a visit planned past office hours must name one: the evening rule), mobile,
  planned end. Idempotent by visit id.
- At planned end + `grace_min` without check-in the visit is **overdue**: an incident of kind
  overdue opens. Level 1: the agreed colleague, "Bel <naam> op <gsm>" and the address. Level 2
  (the colleague's "geen antwoord", or no answer within `answer_timeout_min`): the team's leads,
  "Verwittig de politie (101): vraag een plaatsbezoek op <adres>". Level 3 (`everyone_after_min`
  later, nobody took it up): everyone of the team's last escalation level, the same instruction,
  repeated like an alarm's last level until someone acknowledges.
- `visit_end` (check-in) or "bereikt, alles ok" closes the visit; an open overdue incident is then
  resolved at once as "no incident" (false alarm, note says how). One that a lead already took up
  stays for that lead's registration.
- Control is closed: only the visitor, the colleague and the team's leads and deputies may end or
  answer a visit. Help is open: the colleague is always told (unless they marked themselves
  absent), a level with nobody present passes on at once, the last level is never silent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.core.effects import PublishIncident, Reply
from stilalarm.console.core.engine.alarms import EngineTx, incident_notice, new_incident_id
from stilalarm.console.core.engine.state import EngineState, Incident, Visit, overdue_level_due
from stilalarm.console.core.engine.visitfold import EVENING_REMINDER
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import CommandRejected, LevelSkipped, Resolved
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitNoAnswer, VisitStarted
from stilalarm.inventory.visits import evening, evening_reminder_at, minutes
from stilalarm.wire.messages import (
    IncidentStatus,
    NotifyReason,
    Registration,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
)

VisitCmd = VisitStartCmd | VisitEndCmd | VisitAnswerCmd
"""The commands about home visits."""

CLOSE_NOTES = {"checked_in": "huisbezoek: afgemeld, alles ok", "reached": "huisbezoek: bereikt, alles ok"}
"""The registration note of an overdue visit closed without incident (the protocol's words)."""

LAST_LEVEL = 3


# --------------------------------------------------------------------------- commands


def on_visit_cmd(tx: EngineTx, cmd: VisitCmd) -> None:
    """Decide one visit command: facts, effects and always a reply."""
    match cmd:
        case VisitStartCmd():
            _start(tx, cmd)
        case VisitEndCmd():
            v = _visit_to_act_on(tx, cmd)
            if v is not None:
                if v.closed_at is None:
                    _close(tx, v, cmd.person_id, "checked_in", cmd.cmd_id)
                _ok(tx, cmd, tx.s.visits[v.id])
        case VisitAnswerCmd():
            v = _visit_to_act_on(tx, cmd)
            if v is not None:
                _answer(tx, cmd, v)


def _reject(tx: EngineTx, cmd: VisitCmd, code: str, text_key: str, **values: str) -> None:
    tx.record(
        CommandRejected(
            at=tx.now,
            person_id=cmd.person_id,
            cmd_kind=cmd.kind,
            code=code,
            detail=f"{cmd.kind} {cmd.visit_id} by {cmd.person_id}: {code}: {text_key.removeprefix('reply_')}",
            cmd_id=cmd.cmd_id,
        )
    )
    tx.emit(Reply(cmd.person_id, cmd.cmd_id, False, code, text_key, values, visit_id=cmd.visit_id))


def _ok(tx: EngineTx, cmd: VisitCmd, v: Visit, text_key: str = "reply_ok") -> None:
    tx.emit(Reply(cmd.person_id, cmd.cmd_id, True, "ok", text_key, incident_id=v.incident_id, visit_id=v.id))


def default_colleague(s: EngineState, team_id: str, visitor: str) -> str | None:
    """The visit's colleague when the visitor names none: the team's first lead, else its first
    deputy, who is not the visitor."""
    team = s.site.team(team_id)
    return next((p for p in (*team.leads, *team.deputies) if p != visitor), None)


def _start(tx: EngineTx, cmd: VisitStartCmd) -> None:
    s, site, person = tx.s, tx.s.site, cmd.person_id
    old = s.visits.get(cmd.visit_id)
    if old is not None:  # a retry (or someone else's id: never theirs to change)
        if old.visitor == person:
            _ok(tx, cmd, old)
        else:
            _reject(tx, cmd, "invalid", "reply_visit_id_taken", visit=cmd.visit_id)
        return
    mine = site.teams_of(person)
    if cmd.team is not None and cmd.team not in site.index.teams:
        _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"team {cmd.team}")
        return
    if cmd.team is not None and cmd.team not in mine:
        _reject(tx, cmd, "not_authorised", "reply_visit_not_your_team", team=site.team(cmd.team).name)
        return
    team_id = cmd.team or (mine[0] if mine else None)
    if team_id is None:
        _reject(tx, cmd, "invalid", "reply_visit_no_team")
        return
    if cmd.planned_end <= tx.now:
        _reject(tx, cmd, "invalid", "reply_visit_end_past")
        return
    if cmd.planned_end > tx.now + timedelta(hours=site.visits.max_hours):
        _reject(tx, cmd, "invalid", "reply_visit_end_far", hours=f"{site.visits.max_hours:g}")
        return
    tz = ZoneInfo(site.site.timezone)
    hours = site.site.office_hours
    late = evening(hours, tz, cmd.planned_end)
    colleague = cmd.colleague
    if colleague is not None and colleague not in site.index.people:
        _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"colleague {colleague}")
        return
    if colleague == person:
        _reject(tx, cmd, "invalid", "reply_visit_colleague_self")
        return
    if colleague is None and late:
        _reject(tx, cmd, "invalid", "reply_visit_evening_colleague", end=hours.end)
        return
    colleague = colleague or default_colleague(s, team_id, person)
    if colleague is None:
        _reject(tx, cmd, "invalid", "reply_visit_no_colleague")
        return
    tx.record(
        VisitStarted(
            at=tx.now,
            visit_id=cmd.visit_id,
            person_id=person,
            team_id=team_id,
            colleague=colleague,
            mobile=cmd.mobile,
            planned_end=cmd.planned_end,
            evening=late,
            cmd_id=cmd.cmd_id,
        )
    )
    tx.record(
        VisitDetails(at=tx.now, visit_id=cmd.visit_id, client_name=cmd.client_name, address=cmd.address)
    )
    v = tx.s.visits[cmd.visit_id]
    if late and visit_due(tx.s, v) <= tx.now:
        _evening_reminder(tx, v)
    _ok(tx, cmd, tx.s.visits[v.id], "reply_visit_evening" if late else "reply_visit_started")


def _visit_to_act_on(tx: EngineTx, cmd: VisitEndCmd | VisitAnswerCmd) -> Visit | None:
    """The visit, if it exists and the sender may act on it (else rejected)."""
    v = tx.s.visits.get(cmd.visit_id)
    if v is None:
        _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"visit {cmd.visit_id}")
        return None
    team = tx.s.site.index.teams.get(v.team_id)
    staff = (v.visitor, v.colleague, *(team.leads if team else ()), *(team.deputies if team else ()))
    if cmd.person_id not in staff:
        _reject(tx, cmd, "not_authorised", "reply_visit_not_yours")
        return None
    return v


def _answer(tx: EngineTx, cmd: VisitAnswerCmd, v: Visit) -> None:
    person = cmd.person_id
    if cmd.reached:
        if v.closed_at is None and v.incident_id is not None:
            _close(tx, v, person, "reached", cmd.cmd_id)
        # reached before it is overdue: the visit goes on, the visitor still checks in
        _ok(tx, cmd, tx.s.visits[v.id], "reply_ok" if v.incident_id else "reply_visit_goes_on")
        return
    if person == v.visitor:
        _reject(tx, cmd, "invalid", "reply_visit_visitor_no_answer")
        return
    if v.closed_at is not None:
        _reject(tx, cmd, "already_resolved", "reply_visit_closed", visit=v.id)
        return
    if v.incident_id is None:  # worried before it is due and cannot reach the visitor: raise it now
        raise_overdue(tx, v, early=True)
        v = tx.s.visits[v.id]
    inc = tx.s.incidents[v.incident_id or ""]
    if inc.status is IncidentStatus.OPEN and inc.level < 2:
        tx.record(
            VisitNoAnswer(at=tx.now, visit_id=v.id, incident_id=inc.id, person_id=person, cmd_id=cmd.cmd_id)
        )
        _fire(tx, tx.s.incidents[inc.id], 2)
    _ok(tx, cmd, tx.s.visits[v.id])


def _close(tx: EngineTx, v: Visit, person: str, how: str, cmd_id: uuid.UUID | None) -> None:
    """Check-in or reached: the visit is over. Its open overdue incident is resolved as no incident;
    one a lead already took up stays with that lead for the registration. Everyone told is told."""
    inc = tx.s.incidents.get(v.incident_id) if v.incident_id else None
    tx.record(
        VisitEnded(
            at=tx.now,
            visit_id=v.id,
            person_id=person,
            how="reached" if how == "reached" else "checked_in",
            incident_id=inc.id if inc is not None else None,
            cmd_id=cmd_id,
        )
    )
    if inc is None or inc.status is IncidentStatus.RESOLVED:
        return
    if inc.status is IncidentStatus.OPEN:
        reg = Registration(false_alarm=True, note=CLOSE_NOTES[how])
        tx.record(Resolved(at=tx.now, incident_id=inc.id, person_id=person, registration=reg, cmd_id=cmd_id))
    inc = tx.s.incidents[inc.id]
    everyone = dict.fromkeys([*inc.notified, *([inc.acknowledged_by] if inc.acknowledged_by else [])])
    told = tuple(p for p in everyone if p != person)
    incident_notice(tx, inc, NotifyReason.INFO, told, "visit_closed", {"by": person, "how": how})
    tx.emit(PublishIncident(inc.id))


# --------------------------------------------------------------------------- the overdue incident


def raise_overdue(tx: EngineTx, v: Visit, *, early: bool = False) -> None:
    """The visit is overdue: open its incident and tell the colleague (level 1)."""
    iid = new_incident_id(tx.s, tx.now)
    tx.record(
        OverdueRaised(
            at=tx.now,
            incident_id=iid,
            visit_id=v.id,
            person_id=v.visitor,
            team_id=v.team_id,
            planned_end=v.planned_end,
            early=early,
        )
    )
    escalate_overdue(tx, iid)
    tx.emit(PublishIncident(iid))


def escalate_overdue(tx: EngineTx, incident_id: str) -> None:
    """Fire every level of an open overdue incident that is due at tx.now (at most one repeat)."""
    while True:
        inc = tx.s.incidents[incident_id]
        if inc.status is not IncidentStatus.OPEN or overdue_level_due(tx.s, inc) > tx.now:
            return
        if inc.level < LAST_LEVEL:
            _fire(tx, inc, inc.level + 1)
        else:
            to = _present(tx.s, _targets(tx.s, inc, LAST_LEVEL), tx.s.unreachable) or _targets(
                tx.s, inc, LAST_LEVEL
            )
            incident_notice(
                tx, inc, NotifyReason.REPEAT, to, "visit_police", {}, level=inc.level, call_101=True
            )
            tx.emit(PublishIncident(inc.id))
            return


def _fire(tx: EngineTx, inc: Incident, level: int) -> None:
    s = tx.s
    targets = _targets(s, inc, level)
    # The colleague agreed to it: told whatever their console says, unless they marked themselves absent.
    away = s.absent if level == 1 else s.unreachable
    present = _present(s, targets, away)
    if not present and level < LAST_LEVEL:
        tx.record(LevelSkipped(at=tx.now, incident_id=inc.id, level=level, absent=targets))
        _fire(tx, tx.s.incidents[inc.id], level + 1)
        return
    to = present or targets  # the last level never stays silent
    reason = NotifyReason.ALARM if level == 1 else NotifyReason.ESCALATION
    key = "visit_overdue" if level == 1 else "visit_police"
    incident_notice(tx, inc, reason, to, key, {}, level=level, call_101=level >= 2)
    tx.emit(PublishIncident(inc.id))


def _present(s: EngineState, targets: Iterable[str], away: frozenset[str]) -> tuple[str, ...]:
    return tuple(p for p in targets if p not in away)


def _targets(s: EngineState, inc: Incident, level: int) -> tuple[str, ...]:
    """Level 1: the colleague; 2: the team's leads; 3: the team's last escalation level; never the
    visitor, unless nobody else is there on level 1 or 3."""
    site = s.site
    team = site.team(inc.team_id)
    v = s.visits.get(inc.visit_id or "")
    if level == 2:  # may be nobody (the visitor is the only lead): then it passes on at once
        return tuple(p for p in team.leads if p != inc.visitor)
    if level == 1:
        ids: tuple[str, ...] = (v.colleague,) if v is not None else team.leads
    else:
        ids = site.resolve_targets(team.id, team.escalation.levels[-1].notify) or team.leads
    return tuple(p for p in ids if p != inc.visitor) or ids  # never nobody


# --------------------------------------------------------------------------- timers


def visit_due(s: EngineState, v: Visit) -> datetime:
    """When an open visit has work: the evening reminder, or becoming overdue."""
    overdue = v.planned_end + minutes(s.site.visits.grace_min)
    if v.evening and not v.reminded:
        tz = ZoneInfo(s.site.site.timezone)
        return min(overdue, evening_reminder_at(s.site.site.office_hours, tz, v.started_at))
    return overdue


def visits_due(s: EngineState) -> list[datetime]:
    """The due times of every open visit without an incident yet."""
    return [visit_due(s, v) for v in s.visits.values() if v.closed_at is None and v.incident_id is None]


def fire_visits(tx: EngineTx) -> None:
    """Evening reminders and overdue visits due at tx.now (oldest first)."""
    for v in sorted(tx.s.visits.values(), key=lambda x: (x.planned_end, x.id)):
        if v.closed_at is not None or v.incident_id is not None or visit_due(tx.s, v) > tx.now:
            continue
        if v.evening and not v.reminded:
            _evening_reminder(tx, v)
        v = tx.s.visits[v.id]
        if v.incident_id is None and v.planned_end + minutes(tx.s.site.visits.grace_min) <= tx.now:
            raise_overdue(tx, v)


def _evening_reminder(tx: EngineTx, v: Visit) -> None:
    overdue = v.planned_end + minutes(tx.s.site.visits.grace_min)
    notice(
        tx,
        NotifyReason.REMINDER,
        (v.colleague,),
        f"{v.id}:evening",
        EVENING_REMINDER,
        {
            "visit": v.id,
            "visitor": v.visitor,
            "mobile": v.mobile,
            "planned_end": v.planned_end.isoformat(),
            "overdue_at": overdue.isoformat(),
        },
        to_nobody=True,
    )
