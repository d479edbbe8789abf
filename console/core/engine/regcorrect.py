"""Corrections of a registration's part (pure, time injected; docs/REGISTRATION.md).

Who may correct: the victim's part only its author; the lead's part its author or another lead or
deputy of the registration's team, once it is in. The dienst Preventie en Veiligheid corrects
nothing it did not write (it receives the corrections). A correction is a new fact
(`RegistrationCorrected`): the earlier versions stay in the log with their author and time, the
export and the record show the newest. A correction of a registration that was complete (so
already sent to Preventie) is sent to Preventie too, with the new record, through the same tracked
delivery. Refusals (unknown registration, someone else, the weapon rule) change nothing; a
correction that changes nothing (a retry) is answered ok and records nothing.
"""

from __future__ import annotations

from dataclasses import replace

from stilalarm.console.core.engine.alarms import EngineTx
from stilalarm.console.core.engine.registrations import _ok, _reject, _tell_prevention, may_complete
from stilalarm.console.core.engine.regstate import RegCase, lead_fields
from stilalarm.console.core.engine.state import EngineState
from stilalarm.console.regfacts import RegistrationCorrected
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import RegistrationCorrectCmd, Severity


def may_correct(s: EngineState, case_: RegCase, person: str, part: str) -> bool:
    """The victim's part: its author. The lead's part: its author, or a lead or deputy of the team
    who is not Preventie (Preventie receives the registration, it does not write it)."""
    if part == "victim":
        return person == case_.victim
    if person == case_.lead_by:
        return True
    p = s.site.index.people.get(person)
    return p is not None and Role.PREVENTION not in p.roles and may_complete(s, case_, person)


def on_correct_cmd(tx: EngineTx, cmd: RegistrationCorrectCmd) -> None:
    """Decide one correction: a fact (and Preventie told when it was complete), or a refusal."""
    s, person, part = tx.s, cmd.person_id, cmd.part
    case_ = s.registrations.get(cmd.registration_id)
    if person not in s.site.index.people:
        _reject(tx, cmd, "not_authorised", "reply_not_authorised", what=cmd.kind)
        return
    if case_ is None:
        _reject(tx, cmd, "unknown_target", "reply_registration_unknown", registration=cmd.registration_id)
        return
    if part == "lead" and not case_.complete:
        _reject(tx, cmd, "invalid", "reply_registration_correct_incomplete", registration=case_.id)
        return
    if not may_correct(s, case_, person, part):
        _reject(tx, cmd, "not_authorised", f"reply_registration_correct_{part}", registration=case_.id)
        return
    if cmd.lead is not None and case_.weapon:
        if cmd.lead.severity is Severity.BOOSHEID or not cmd.lead.police_called:
            _reject(tx, cmd, "invalid", "reply_registration_weapon")
            return
    if _unchanged(case_, cmd):  # a retry, or nothing to correct: answered, nothing recorded
        _ok(tx, cmd, case_)
        return
    tx.record(
        RegistrationCorrected(
            at=tx.now,
            registration_id=case_.id,
            person_id=person,
            incident_id=case_.incident_id,
            victim=cmd.victim,
            lead=cmd.lead,
            cmd_id=cmd.cmd_id,
        )
    )
    case_ = tx.s.registrations[case_.id]
    if case_.complete:  # it went to Preventie: the correction does too
        fix = {"by": person, "at": tx.now.isoformat(), "part": part}
        _tell_prevention(tx, case_, case_.filed, case_.lead or {}, fix)
    _ok(tx, cmd, case_)


def _unchanged(case_: RegCase, cmd: RegistrationCorrectCmd) -> bool:
    if cmd.victim is not None:
        filed = case_.filed
        now = filed.model_dump(include=set(type(cmd.victim).model_fields)) if filed else None
        return now == cmd.victim.model_dump()
    return dict(case_.lead or {}) == lead_fields(cmd.lead)


def apply_correction(s: EngineState, f: RegistrationCorrected) -> EngineState:
    """Fold a correction: the part's new version, counted."""
    c = s.registrations.get(f.registration_id)
    if c is None:
        return s
    if f.victim is not None and c.filed is not None:
        filed = c.filed.model_copy(update=f.victim.model_dump())
        c = replace(c, filed=filed, weapon=filed.weapon)
    elif f.lead is not None:
        c = replace(c, lead=lead_fields(f.lead))
    c = replace(c, corrections=c.corrections + 1)
    return replace(s, registrations={**s.registrations, c.id: c})
