"""Registrations ("Melding agressie", pure, time injected): the victim's part, the lead's part,
reminders to whoever owes a part, and the completed registration told to Preventie en Veiligheid.

Whoever owes a part: the registration's team leads and deputies (the lead's part of a filed
registration), and the person of a panic page (`via = app`) whose alarm was resolved without the
victim's part (`RegistrationOwed`). A desk button or desk phone identifies nobody: its victim is
not reminded, and any person may file the victim's part of its alarm. A panic-page alarm's victim's
part is its person's only (the press says who it was).

Every refusal is a `CommandRejected` fact and a reply with its reason; nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.effects import Reply
from stilalarm.console.core.engine.alarms import EngineTx
from stilalarm.console.core.engine.regowed import (
    apply_owed,
    apply_owed_filed,
    drop_owed,
    fire_owed,
    owe_victims_part,
    owed_dues,
    victim_of,
)
from stilalarm.console.core.engine.regstate import LEAD_FIELDS, REMIND_AFTER_H, RegCase, lead_fields
from stilalarm.console.core.engine.state import EngineState
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import CommandRejected, Notified, Resolved
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationFiled, RegistrationOwed
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import (
    IncidentStatus,
    NotifyReason,
    PlaceKind,
    Registration,
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
    Severity,
)

RegistrationCmd = RegistrationFileCmd | RegistrationCompleteCmd | RegistrationCorrectCmd
REMIND_KEY = "registration_remind"
DONE_KEY = "registration_done"
CORRECTED_KEY = "registration_corrected"


def _reject(tx: EngineTx, cmd: RegistrationCmd, code: str, text_key: str, **values: str) -> None:
    person = cmd.person_id
    tx.record(
        CommandRejected(
            at=tx.now,
            person_id=person,
            cmd_kind=cmd.kind,
            code=code,
            detail=f"{cmd.kind} by {person}: {code} ({cmd.registration_id}): "
            + text_key.removeprefix("reply_"),
            cmd_id=cmd.cmd_id,
            incident_id=getattr(cmd, "incident_id", None),
        )
    )
    tx.emit(Reply(person, cmd.cmd_id, False, code, text_key, values))


def _ok(tx: EngineTx, cmd: RegistrationCmd, case_: RegCase) -> None:
    tx.emit(Reply(cmd.person_id, cmd.cmd_id, True, "ok", incident_id=case_.incident_id))


def on_registration_cmd(tx: EngineTx, cmd: RegistrationCmd) -> None:
    """Decide one part of a registration: a fact and an ok, or a refusal that changes nothing."""
    if cmd.person_id not in tx.s.site.index.people:
        _reject(tx, cmd, "not_authorised", "reply_not_authorised", what=cmd.kind)
        return
    if isinstance(cmd, RegistrationFileCmd):
        _file(tx, cmd)
    elif isinstance(cmd, RegistrationCompleteCmd):
        _complete(tx, cmd)


def _file(tx: EngineTx, cmd: RegistrationFileCmd) -> None:
    s, site, person = tx.s, tx.s.site, cmd.person_id
    old = s.registrations.get(cmd.registration_id)
    if old is not None:  # a retry is answered; someone else's id is never theirs to change
        if old.victim == person:  # the form's or the CLI's retry: answered, nothing new
            _ok(tx, cmd, old)
        else:
            _reject(tx, cmd, "invalid", "reply_registration_id_taken", registration=cmd.registration_id)
        return
    lead_by_resolve = False
    room_id = cmd.room_id
    owed = s.owed.get(cmd.incident_id or "")
    resolve_reg: Registration | None = None
    if cmd.incident_id is not None and cmd.incident_id not in s.incidents and owed is not None:
        # a panic-page alarm resolved over a day ago (gone from memory): what was kept for its part
        if owed.person_id != person:
            _reject(tx, cmd, "not_authorised", "reply_registration_not_victim", incident=owed.incident_id)
            return
        team_id, room_id = owed.team_id, owed.room_id
        room = site.index.rooms.get(room_id or "")
        place = PlaceKind(room.kind.value) if room is not None else PlaceKind.HUISBEZOEK
        resolve_reg = owed.registration
        lead_by_resolve = resolve_reg is not None
        occurred = owed.occurred_at or owed.since
    elif cmd.incident_id is not None:
        inc = s.incidents.get(cmd.incident_id)
        if inc is None:
            _reject(tx, cmd, "unknown_incident", "reply_unknown_incident", incident=cmd.incident_id)
            return
        if any(c.incident_id == inc.id for c in s.registrations.values()):
            _reject(tx, cmd, "invalid", "reply_registration_incident_taken", incident=inc.id)
            return
        pressed_by = owed.person_id if owed is not None else victim_of(s, inc)
        if pressed_by is not None and pressed_by != person:  # someone else's panic-page alarm
            _reject(tx, cmd, "not_authorised", "reply_registration_not_victim", incident=inc.id)
            return
        team_id = inc.team_id
        room_id = inc.room_id
        if inc.kind == "overdue" or room_id is None:
            place = PlaceKind.HUISBEZOEK if inc.kind == "overdue" else cmd.place_kind or PlaceKind.BALIE
        else:
            place = PlaceKind(site.index.rooms[room_id].kind.value)
        resolve_reg = inc.registration
        lead_by_resolve = (
            inc.status is IncidentStatus.RESOLVED and resolve_reg is not None and not resolve_reg.false_alarm
        )
        occurred = inc.stored_at
    else:
        if room_id is not None and room_id not in site.index.rooms:
            _reject(tx, cmd, "unknown_target", "reply_unknown_target", what=f"room {room_id}")
            return
        mine = site.teams_of(person)
        # the victim's own team's lead completes it; the room's team only for someone in no team
        team = mine[0] if mine else (site.index.rooms[room_id].team if room_id is not None else None)
        if team is None:
            _reject(tx, cmd, "invalid", "reply_registration_no_team")
            return
        team_id = team
        place = cmd.place_kind or PlaceKind.BALIE
        occurred = cmd.occurred_at or tx.now
    if occurred > tx.now + timedelta(minutes=5):
        _reject(tx, cmd, "invalid", "reply_registration_future")
        return
    fact = RegistrationFiled(
        at=tx.now,
        registration_id=cmd.registration_id,
        person_id=person,
        team_id=team_id,
        incident_id=cmd.incident_id,
        place_kind=place,
        room_id=room_id,
        occurred_at=occurred,
        what_happened=cmd.what_happened,
        aggression_types=cmd.aggression_types,
        how_are_you=cmd.how_are_you,
        weapon=cmd.weapon,
        stalking=cmd.stalking,
        telephone_stalking=cmd.telephone_stalking,
        damage_belongings=cmd.damage_belongings,
        animals=cmd.animals,
        alcohol_drugs=cmd.alcohol_drugs,
        sexual_intimidation=cmd.sexual_intimidation,
        lead_by_resolve=lead_by_resolve,
        cmd_id=cmd.cmd_id,
    )
    tx.record(fact)
    case_ = tx.s.registrations[cmd.registration_id]
    if case_.complete:
        _tell_prevention(tx, case_, fact, lead_fields(resolve_reg))
    _ok(tx, cmd, case_)


def may_complete(s: EngineState, case_: RegCase, person: str) -> bool:
    """Only a lead or deputy of the registration's team completes it."""
    team = s.site.index.teams.get(case_.team_id)
    return team is not None and (person in team.leads or person in team.deputies)


def _complete(tx: EngineTx, cmd: RegistrationCompleteCmd) -> None:
    s, person = tx.s, cmd.person_id
    case_ = s.registrations.get(cmd.registration_id)
    if case_ is None:
        _reject(tx, cmd, "unknown_target", "reply_registration_unknown", registration=cmd.registration_id)
        return
    if not may_complete(s, case_, person):
        team = s.site.index.teams.get(case_.team_id)
        _reject(tx, cmd, "not_authorised", "reply_registration_not_lead", team=team.name if team else "")
        return
    if case_.complete:
        if case_.lead_by == person:  # a retry: answered, the first part stands
            _ok(tx, cmd, case_)
        else:
            _reject(tx, cmd, "already_resolved", "reply_registration_done", registration=case_.id)
        return
    if case_.weapon and (cmd.severity is Severity.BOOSHEID or not cmd.police_called):
        _reject(tx, cmd, "invalid", "reply_registration_weapon")
        return
    tx.record(
        RegistrationCompleted(
            at=tx.now,
            registration_id=case_.id,
            person_id=person,
            severity=cmd.severity,
            police_called=cmd.police_called,
            pv_number=cmd.pv_number,
            sanctions=cmd.sanctions,
            occupational_accident=cmd.occupational_accident,
            aftercare=cmd.aftercare,
            note=cmd.note,
            cmd_id=cmd.cmd_id,
        )
    )
    filed = case_.filed
    case_ = tx.s.registrations[case_.id]
    lead = cmd.model_dump(mode="json", include=set(LEAD_FIELDS))
    _tell_prevention(tx, case_, filed, lead)
    _ok(tx, cmd, case_)


def on_resolved(tx: EngineTx, before: EngineState, incident_id: str) -> None:
    """An alarm's resolve completed the registration its victim had filed: tell Preventie. A
    panic-page alarm resolved without the victim's part: its person owes it (reminded later)."""
    for c in before.registrations.values():
        if c.incident_id == incident_id:
            now = tx.s.registrations.get(c.id)
            inc = tx.s.incidents.get(incident_id)
            if not c.complete and now is not None and now.complete:
                _tell_prevention(tx, now, c.filed, lead_fields(inc.registration if inc else None))
            return
    owe_victims_part(tx, incident_id)


def _record(
    case_: RegCase, filed: RegistrationFiled | None, lead: Mapping[str, object], extra: Mapping[str, str]
) -> str:
    """The completed registration as JSON for Preventie (both parts, each with its author and time;
    `extra`: a correction's author, time and part)."""
    victim = (
        filed.model_dump(mode="json", exclude={"kind", "cmd_id", "lead_by_resolve", "at", "registration_id"})
        if filed is not None
        else {}
    )
    rec = {
        "registration_id": case_.id,
        "incident_id": case_.incident_id,
        "team_id": case_.team_id,
        "filed_at": case_.filed_at.isoformat(),
        **victim,
        "completed_by": case_.lead_by,
        "completed_at": case_.lead_at.isoformat() if case_.lead_at else None,
        **lead,
        **extra,
    }
    return json.dumps(rec, ensure_ascii=False, sort_keys=True)


def _tell_prevention(
    tx: EngineTx,
    case_: RegCase,
    filed: RegistrationFiled | None,
    lead: Mapping[str, object],
    corrected: Mapping[str, str] | None = None,
) -> None:
    """A completed registration goes to the dienst Preventie en Veiligheid (every channel they have);
    so does each correction of it after that (`corrected`: by, at, part), with the new record."""
    to = tx.s.site.people_with(Role.PREVENTION)
    team = tx.s.site.index.teams.get(case_.team_id)
    fix = dict(corrected or {})
    extra = {f"corrected_{k}": v for k, v in fix.items()}
    if fix:
        extra["correction"] = str(case_.corrections)
    notice(
        tx,
        NotifyReason.INFO,
        to,
        f"{case_.id}:corrected:{case_.corrections}" if fix else f"{case_.id}:done",
        CORRECTED_KEY if fix else DONE_KEY,
        {
            **{k: v for k, v in fix.items() if k in ("by", "part")},
            "registration": case_.id,
            "place": case_.place_kind,
            "room": case_.room_id or "",
            "team": team.name if team else case_.team_id,
            "incident": case_.incident_id or "-",
            "record": _record(case_, filed, lead, extra),
        },
    )


# --------------------------------------------------------------------------- fold


def apply_registration(
    s: EngineState, f: RegistrationFiled | RegistrationCompleted | RegistrationOwed | Resolved
) -> EngineState:
    """Fold one registration fact (and a resolve, the lead's part of its incident's registration)."""
    match f:
        case RegistrationOwed():
            return apply_owed(s, f)
        case RegistrationFiled() if f.incident_id is not None and f.incident_id in s.owed:
            o = s.owed[f.incident_id]
            return apply_owed_filed(apply_registration(drop_owed(s, f.incident_id), f), o, f)
        case RegistrationFiled():
            case_ = RegCase(
                id=f.registration_id,
                victim=f.person_id,
                team_id=f.team_id,
                filed_at=f.at,
                incident_id=f.incident_id,
                place_kind=f.place_kind.value,
                room_id=f.room_id,
                weapon=f.weapon,
                file_cmd=f.cmd_id,
                lead_by=None,
                lead_at=None,
                filed=f,
            )
            if f.lead_by_resolve and f.incident_id is not None:
                inc = s.incidents.get(f.incident_id)
                by, when = (inc.resolved_by, inc.resolved_at) if inc is not None else ("", f.at)
                lead = lead_fields(inc.registration) if inc is not None else None
                case_ = replace(case_, lead_by=by or "", lead_at=when or f.at, lead=lead)
            return replace(s, registrations={**s.registrations, case_.id: case_})
        case RegistrationCompleted() if f.registration_id in s.registrations:
            c = s.registrations[f.registration_id]
            done = replace(c, lead_by=f.person_id, lead_at=f.at, lead_cmd=f.cmd_id, lead=lead_fields(f))
            return replace(s, registrations={**s.registrations, done.id: done})
        case Resolved() if not f.registration.false_alarm:
            for c in s.registrations.values():
                if c.incident_id == f.incident_id and not c.complete:
                    done = replace(c, lead_by=f.person_id, lead_at=f.at, lead=lead_fields(f.registration))
                    return replace(s, registrations={**s.registrations, c.id: done})
    return s


def apply_reminded(s: EngineState, f: Notified) -> EngineState:
    """A registration reminder was sent: count it."""
    c = s.registrations.get(f.detail.get("registration", ""))
    if c is None:
        return s
    n = int(f.detail.get("step", c.reminders_sent + 1))
    return replace(s, registrations={**s.registrations, c.id: replace(c, reminders_sent=n)})


# --------------------------------------------------------------------------- reminders


def registration_due(c: RegCase) -> datetime | None:
    """When the registration's next reminder is due (None: complete, or every reminder sent)."""
    if c.complete or c.reminders_sent >= len(REMIND_AFTER_H):
        return None
    return c.filed_at + timedelta(hours=REMIND_AFTER_H[c.reminders_sent])


def registrations_due(s: EngineState) -> list[datetime]:
    dues = [registration_due(c) for c in s.registrations.values()]
    return [d for d in dues if d is not None] + owed_dues(s)


def fire_registrations(tx: EngineTx) -> None:
    """Remind the team's leads and deputies of each incomplete registration that is due, and the
    person of each panic-page alarm resolved without the victim's part (missed reminders while the
    console was down are sent as one)."""
    for c in list(tx.s.registrations.values()):
        due = registration_due(c)
        if due is None or due > tx.now:
            continue
        n = max(i + 1 for i, h in enumerate(REMIND_AFTER_H) if c.filed_at + timedelta(hours=h) <= tx.now)
        team = tx.s.site.index.teams.get(c.team_id)
        to = tuple(dict.fromkeys((*team.leads, *team.deputies))) if team else ()
        days = (tx.now - c.filed_at).total_seconds() / 86400
        notice(
            tx,
            NotifyReason.REMINDER,
            to,
            f"{c.id}:remind",
            REMIND_KEY,
            {"registration": c.id, "step": str(n), "days": str(round(days)), "place": c.place_kind},
            to_nobody=True,
        )
    fire_owed(tx)
