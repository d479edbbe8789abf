"""Person commands: acknowledge, resolve, presence, console links, test windows, after-care.

Control is closed, help is open: anyone allowed to act on incidents may acknowledge ("ik
kom"), but an incident is resolved (also as a false alarm) only once someone has
acknowledged it, and only by the person who acknowledged it or a lead or deputy of its team.
A test window covers one unit or one room, at most TEST_WINDOW_MAX_MIN minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.core.effects import PublishIncident, PublishPresence, Reply, UnitFeedback, UnitTestMode
from stilalarm.console.core.engine.alarms import EngineTx, acknowledge, stop_pagers
from stilalarm.console.core.engine.regcorrect import on_correct_cmd
from stilalarm.console.core.engine.registrations import on_registration_cmd, on_resolved
from stilalarm.console.core.engine.responsecmds import on_response_cmd
from stilalarm.console.core.engine.risk import RiskCmd, on_risk_cmd
from stilalarm.console.core.engine.state import AftercareCase, Campaign, EngineState, Incident, campaign_num
from stilalarm.console.core.engine.visits import on_visit_cmd
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import (
    AftercareDone,
    CampaignEnded,
    CampaignStarted,
    CommandRejected,
    ConsoleLinked,
    PresenceChanged,
    Resolved,
)
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import (
    TEST_WINDOW_MAX_MIN,
    AckCmd,
    AftercareDoneCmd,
    ConsoleLinkCmd,
    DeclineCmd,
    Feedback,
    IncidentStatus,
    NotifyReason,
    OnSiteCmd,
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
    ResolveCmd,
    RiskAnnounceCmd,
    RiskCancelCmd,
    RiskConfirmCmd,
    TestScope,
    TestStartCmd,
    TestStopCmd,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
)
from stilalarm.wire.messages import PresenceCmd as PresenceCmdMsg

PersonCmd = (
    AckCmd
    | DeclineCmd
    | OnSiteCmd
    | ResolveCmd
    | PresenceCmdMsg
    | TestStartCmd
    | TestStopCmd
    | AftercareDoneCmd
    | ConsoleLinkCmd
    | VisitStartCmd
    | VisitEndCmd
    | VisitAnswerCmd
    | RegistrationFileCmd
    | RegistrationCompleteCmd
    | RegistrationCorrectCmd
    | RiskCmd
)
"""Every command a person can send."""


def on_person_cmd(tx: EngineTx, cmd: PersonCmd) -> None:
    """Decide one person's command: facts, effects and always a reply (except console links)."""
    s = tx.s
    person = cmd.person_id

    def reject(code: str, text_key: str, incident_id: str | None = None, **values: str) -> None:
        detail = f"{cmd.kind} by {person}: {code}" + (f" ({incident_id})" if incident_id else "")
        detail += f": {text_key.removeprefix('reply_')}"
        tx.record(
            CommandRejected(
                at=tx.now,
                person_id=person,
                cmd_kind=cmd.kind,
                code=code,
                detail=detail,
                cmd_id=cmd.cmd_id,
                incident_id=incident_id,
            )
        )
        tx.emit(Reply(person, cmd.cmd_id, False, code, text_key, values, incident_id=incident_id))

    match cmd:
        case AckCmd() | ResolveCmd():
            if not s.site.may_act_on_incidents(person):
                reject("not_authorised", "reply_not_authorised", cmd.incident_id, what=cmd.kind)
                return
            inc = s.incidents.get(cmd.incident_id)
            if inc is None:
                reject(
                    "unknown_incident", "reply_unknown_incident", cmd.incident_id, incident=cmd.incident_id
                )
                return
            if inc.status is IncidentStatus.RESOLVED:
                reject("already_resolved", "reply_already_resolved", inc.id, incident=inc.id)
                return
            if isinstance(cmd, AckCmd):
                if inc.status is IncidentStatus.ACKNOWLEDGED:
                    if inc.acknowledged_by == person:
                        tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
                    else:
                        by = inc.acknowledged_by or ""
                        name = s.site.person(by).name if by in s.site.index.people else by
                        reject(
                            "already_acknowledged",
                            "reply_already_acknowledged",
                            inc.id,
                            incident=inc.id,
                            name=name,
                        )
                    return
                acknowledge(tx, inc, person, via="command", cmd_id=cmd.cmd_id)
                tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
                return
            refusal = _resolve_refusal(s, inc, person)
            if refusal is not None:
                team = s.site.team(inc.team_id)
                reject("not_authorised", refusal, inc.id, incident=inc.id, team=team.name)
                return
            before = tx.s
            tx.record(
                Resolved(
                    at=tx.now,
                    incident_id=inc.id,
                    person_id=person,
                    registration=cmd.registration,
                    cmd_id=cmd.cmd_id,
                )
            )
            inc = tx.s.incidents[inc.id]
            on_resolved(tx, before, inc.id)
            if inc.unit_id is not None:
                tx.emit(UnitFeedback(inc.unit_id, inc.id, Feedback.OFF))
            stop_pagers(tx, inc)
            tx.emit(PublishIncident(inc.id))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=inc.id))
        case ConsoleLinkCmd():
            # No reply: it is also the console's last will. Recorded only when it changes something.
            if person not in s.site.index.people:
                return
            live = s.consoles.get(person, frozenset())
            if (cmd.console_id in live) == cmd.online and person in s.consoles:
                return
            was = person in s.unreachable
            tx.record(
                ConsoleLinked(at=tx.now, person_id=person, console_id=cmd.console_id, online=cmd.online)
            )
            if (person in tx.s.unreachable) != was or person not in s.consoles:
                tx.emit(PublishPresence(person))
        case PresenceCmdMsg():
            if person not in s.site.index.people:
                reject("not_authorised", "reply_not_authorised", what="presence")
                return
            if (person not in s.absent) != cmd.present:
                tx.record(
                    PresenceChanged(at=tx.now, person_id=person, present=cmd.present, cmd_id=cmd.cmd_id)
                )
                tx.emit(PublishPresence(person))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok"))
        case TestStartCmd():
            if not s.site.may_run_tests(person):
                reject("not_authorised", "reply_not_authorised", what="test")
                return
            if cmd.scope not in (TestScope.UNIT, TestScope.ROOM):
                # A real alarm must never be lost to a test: no window for a team or the whole site.
                reject("invalid", "reply_test_one_place", what=cmd.scope.value)
                return
            units = s.site.units_in_scope(cmd.scope.value, cmd.target)
            if not units:
                reject("unknown_target", "reply_unknown_target", what=f"{cmd.scope.value} {cmd.target or ''}")
                return
            # One window at a time per person: opening the next one closes the previous one.
            for old in [c for c in s.campaigns.values() if c.by == person]:
                end_campaign(tx, old, "stopped", person)
            day = tx.now.astimezone(ZoneInfo(s.site.site.timezone)).strftime("%Y%m%d")
            last_day, n = s.last_campaign
            cid = f"test-{day}-{(n + 1) if last_day == day else 1}"
            until = tx.now + timedelta(minutes=min(cmd.minutes, TEST_WINDOW_MAX_MIN))
            tx.record(
                CampaignStarted(
                    at=tx.now,
                    campaign_id=cid,
                    person_id=person,
                    scope=cmd.scope,
                    target=cmd.target,
                    unit_ids=units,
                    until=until,
                    cmd_id=cmd.cmd_id,
                )
            )
            for u in units:
                tx.emit(UnitTestMode(u, True, until, cid, person))
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", campaign_id=cid))
        case TestStopCmd():
            if not s.site.may_run_tests(person):
                reject("not_authorised", "reply_not_authorised", what="test")
                return
            if cmd.campaign_id is not None:
                camp = s.campaigns.get(cmd.campaign_id)
            else:
                camp = max(s.campaigns.values(), key=lambda c: campaign_num(c.id), default=None)
            if camp is None:
                reject("unknown_target", "reply_unknown_target", what=cmd.campaign_id or "test")
                return
            end_campaign(tx, camp, "stopped", person)
            tx.emit(Reply(person, cmd.cmd_id, True, "ok", campaign_id=camp.id))
        case AftercareDoneCmd():
            _on_aftercare_done(tx, cmd, reject)
        case VisitStartCmd() | VisitEndCmd() | VisitAnswerCmd():
            on_visit_cmd(tx, cmd)
        case RegistrationFileCmd() | RegistrationCompleteCmd():
            on_registration_cmd(tx, cmd)
        case RegistrationCorrectCmd():
            on_correct_cmd(tx, cmd)
        case DeclineCmd() | OnSiteCmd():
            on_response_cmd(tx, cmd)
        case RiskAnnounceCmd() | RiskConfirmCmd() | RiskCancelCmd():
            on_risk_cmd(tx, cmd)


def _resolve_refusal(s: EngineState, inc: Incident, person: str) -> str | None:
    """Why `person` may not resolve `inc` (a text key), or None if they may.

    Resolving (also as a false alarm) stops the escalation, so it is closed for control:
    only after someone acknowledged, and only by that person or a lead or deputy of the team.
    """
    if inc.status is not IncidentStatus.ACKNOWLEDGED or inc.acknowledged_by is None:
        return "reply_resolve_needs_ack"
    team = s.site.team(inc.team_id)
    if person != inc.acknowledged_by and person not in team.leads and person not in team.deputies:
        return "reply_resolve_not_yours"
    return None


def _on_aftercare_done(tx: EngineTx, cmd: AftercareDoneCmd, reject: Callable[..., None]) -> None:
    """The resolver (or any lead / prevention person) records that after-care was given."""
    s = tx.s
    person = cmd.person_id
    case_ = s.aftercare.get(cmd.incident_id)
    if case_ is None:
        if cmd.incident_id in s.live:
            reject("invalid", "reply_not_resolved", cmd.incident_id, incident=cmd.incident_id)
        else:
            reject("unknown_incident", "reply_no_aftercare", cmd.incident_id, incident=cmd.incident_id)
        return
    roles = set(s.site.person(person).roles) if person in s.site.index.people else set()
    if person != case_.resolver and not {Role.LEAD, Role.PREVENTION} & roles:
        reject("not_authorised", "reply_not_authorised", cmd.incident_id, what="aftercare")
        return
    if case_.done_by is None:
        tx.record(
            AftercareDone(
                at=tx.now, incident_id=case_.incident_id, person_id=person, note=cmd.note, cmd_id=cmd.cmd_id
            )
        )
    tx.emit(Reply(person, cmd.cmd_id, True, "ok", incident_id=case_.incident_id))


def end_campaign(tx: EngineTx, camp: Campaign, why: str, person: str | None) -> None:
    """Close a test window (stopped by `person`, or expired): tested and untested buttons."""
    buttons = [f"{u}/{b.id}" for u in camp.unit_ids for b in tx.s.site.unit(u).buttons]
    tx.record(
        CampaignEnded(
            at=tx.now,
            campaign_id=camp.id,
            person_id=person,
            why="stopped" if why == "stopped" else "expired",
            tested=tuple(b for b in buttons if b in camp.tested),
            untested=tuple(b for b in buttons if b not in camp.tested),
        )
    )
    for u in camp.unit_ids:
        tx.emit(UnitTestMode(u, False, None, camp.id, person))


# --------------------------------------------------------------------------- after-care reminders


def aftercare_due(s: EngineState, c: AftercareCase) -> datetime | None:
    """When the case's next reminder is due (None: done, or every reminder sent)."""
    steps = s.site.aftercare.remind_after_h
    if c.done_by is not None or c.reminders_sent >= len(steps):
        return None
    return c.resolved_at + timedelta(hours=steps[c.reminders_sent])


def remind_aftercare(tx: EngineTx, c: AftercareCase) -> None:
    """One after-care reminder to the resolver; reminders missed while down are sent as one."""
    steps = tx.s.site.aftercare.remind_after_h
    n = max(i + 1 for i, h in enumerate(steps) if c.resolved_at + timedelta(hours=h) <= tx.now)
    d = tx.s.site.index
    room = d.rooms.get(c.room_id) if c.room_id is not None else None
    team = c.team_id or (room.team if room is not None else "")
    to = (c.resolver,) if c.resolver in d.people else d.teams[team].leads if team in d.teams else ()
    days = (tx.now - c.resolved_at).total_seconds() / 86400
    notice(
        tx,
        NotifyReason.REMINDER,
        to,
        f"{c.incident_id}:aftercare",
        "aftercare",
        {"step": str(n), "room": c.room_id or "", "days": str(round(days)), "incident": c.incident_id},
        incident_id=c.incident_id,
        unit_id=c.unit_id,
        to_nobody=True,  # the fact counts the reminder as sent
    )
