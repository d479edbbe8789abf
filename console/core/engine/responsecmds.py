"""The response commands (issue 16): 'kan niet komen' (`decline`) and 'ter plaatse' (`on_site`).

Closed for control, open for help: only a person notified for the incident may decline it, only the
person who acknowledged it may mark it 'ter plaatse'; anything else is refused with a reason and
changes nothing. Declining never silences: when everyone notified at the current level has declined
or is absent the next level fires at once, and the last level keeps repeating.
"""

from __future__ import annotations

from stilalarm.console.core.effects import PublishIncident, Reply
from stilalarm.console.core.engine.alarms import EngineTx, fire_level
from stilalarm.console.core.engine.responses import (
    check_nobody_reachable,
    level_people,
    mark_on_site,
    out_of_reach,
    response_notice,
)
from stilalarm.console.facts import CommandRejected
from stilalarm.console.responsefacts import Declined
from stilalarm.wire.messages import DeclineCmd, IncidentStatus, NotifyReason, OnSiteCmd


def on_response_cmd(tx: EngineTx, cmd: DeclineCmd | OnSiteCmd) -> None:
    """Decide a `decline` or `on_site` command: facts, effects, and always a reply."""
    s = tx.s
    person = cmd.person_id

    def reject(code: str, text_key: str, **values: str) -> None:
        detail = f"{cmd.kind} by {person}: {code} ({cmd.incident_id}): {text_key.removeprefix('reply_')}"
        tx.record(
            CommandRejected(
                at=tx.now,
                person_id=person,
                cmd_kind=cmd.kind,
                code=code,
                detail=detail,
                cmd_id=cmd.cmd_id,
                incident_id=cmd.incident_id,
            )
        )
        tx.emit(Reply(person, cmd.cmd_id, False, code, text_key, values, incident_id=cmd.incident_id))

    inc = s.incidents.get(cmd.incident_id)
    if not s.site.may_act_on_incidents(person):
        reject("not_authorised", "reply_not_authorised", what=cmd.kind)
        return
    if inc is None:
        reject("unknown_incident", "reply_unknown_incident", incident=cmd.incident_id)
        return
    if inc.status is IncidentStatus.RESOLVED:
        reject("already_resolved", "reply_already_resolved", incident=inc.id)
        return
    if inc.kind != "alarm":
        reject("invalid", "reply_response_not_alarm", incident=inc.id)
        return
    ok = Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id)
    if isinstance(cmd, OnSiteCmd):
        if inc.status is not IncidentStatus.ACKNOWLEDGED or inc.acknowledged_by is None:
            reject("invalid", "reply_on_site_needs_ack", incident=inc.id)
            return
        if inc.acknowledged_by != person:
            reject("not_authorised", "reply_on_site_not_yours", incident=inc.id)
            return
        if inc.on_site_at is None:
            mark_on_site(tx, inc, person, via="command", cmd_id=cmd.cmd_id)
        tx.emit(ok)
        return
    if person not in inc.notified:
        reject("not_authorised", "reply_decline_not_notified", incident=inc.id)
        return
    if inc.status is IncidentStatus.ACKNOWLEDGED:
        reject("already_acknowledged", "reply_decline_acknowledged", incident=inc.id)
        return
    if person not in inc.declined:
        tx.record(Declined(at=tx.now, incident_id=inc.id, person_id=person, cmd_id=cmd.cmd_id))
        inc = tx.s.incidents[inc.id]
        others = tuple(p for p in inc.notified if p != person and p not in inc.declined)
        response_notice(tx, inc, NotifyReason.INFO, others, "declined", {"person": person})
        advance_after_decline(tx, inc.id)
        check_nobody_reachable(tx, inc.id)
        tx.emit(PublishIncident(inc.id))
    tx.emit(ok)


def advance_after_decline(tx: EngineTx, incident_id: str) -> None:
    """While everyone the current level names has declined or is absent, fire the next level now
    (not after its timer). The last level is never passed: it keeps repeating (fail open)."""
    while True:
        inc = tx.s.incidents[incident_id]
        n = len(tx.s.site.team(inc.team_id).escalation.levels)
        if inc.status is not IncidentStatus.OPEN or not 1 <= inc.level < n:
            return
        away = out_of_reach(tx.s, inc)
        if any(p not in away for p in level_people(tx.s, inc, inc.level)):
            return
        fire_level(tx, inc, inc.level + 1)
