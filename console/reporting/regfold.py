"""Registrations ("Melding agressie") in the report records (pure): each filed registration is
attached to its alarm's record, or is a record of its own (`kind` registration) when it followed
no alarm. Its two parts fill the registration fields the reports count: forms of aggression and
the weapon from the victim's part, severity, police, sanctions, after-care and the occupational
accident from the lead's part (or from the alarm's resolve, which is the lead's part).

A record's `stored_at` is, for a registration without alarm, when it happened by the victim's word
(that is the month it counts in); who filed it and when is in its `report`.
"""

from __future__ import annotations

from dataclasses import replace

from stilalarm.console.regfacts import RegistrationCompleted, RegistrationCorrected, RegistrationFiled
from stilalarm.console.reporting.records import IncidentRecord, RegReport
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Registration

SPECIAL = (
    "weapon",
    "stalking",
    "telephone_stalking",
    "damage_belongings",
    "animals",
    "alcohol_drugs",
    "sexual_intimidation",
)


def _report(f: RegistrationFiled, c: RegistrationCompleted | None) -> RegReport:
    return RegReport(
        registration_id=f.registration_id,
        victim=f.person_id,
        filed_at=f.at,
        occurred_at=f.occurred_at,
        place_kind=f.place_kind.value,
        what_happened=f.what_happened,
        how_are_you=f.how_are_you,
        special=tuple(s for s in SPECIAL if getattr(f, s)),
        completed_by=c.person_id if c else None,
        completed_at=c.at if c else None,
        lead_note=c.note if c else "",
    )


def _registration(f: RegistrationFiled, c: RegistrationCompleted | None) -> Registration:
    """The registration fields from the two parts; without the lead's part only the victim's fields
    (built without the check that asks for a severity: the reports count it as not yet complete)."""
    if c is None:
        return Registration.model_construct(aggression_types=f.aggression_types, weapon=f.weapon)
    return Registration.model_construct(
        aggression_types=f.aggression_types,
        weapon=f.weapon,
        severity=c.severity,
        police_called=c.police_called,
        pv_number=c.pv_number,
        sanctions=c.sanctions,
        aftercare=c.aftercare,
        occupational_accident=c.occupational_accident,
        note=c.note,
    )


def _current(
    f: RegistrationFiled, c: RegistrationCompleted | None, fixes: list[RegistrationCorrected]
) -> tuple[RegistrationFiled, RegistrationCompleted | None, dict[str, object] | None]:
    """Both parts as corrected (each part's newest version; its author and time stay the first's),
    and the lead's part's newest fields when it was corrected (for a resolve's registration too)."""
    lead: dict[str, object] | None = None
    for x in fixes:
        if x.victim is not None:
            f = f.model_copy(update=x.victim.model_dump())
        elif x.lead is not None:
            lead = x.lead.model_dump()
            c = c.model_copy(update=lead) if c is not None else None
    return f, c, lead


def _corrected(rep: RegReport, fixes: list[RegistrationCorrected]) -> RegReport:
    if not fixes:
        return rep
    return replace(
        rep, corrected_by=tuple(dict.fromkeys(x.person_id for x in fixes)), corrected_at=fixes[-1].at
    )


def attach(
    site: Site,
    records: list[IncidentRecord],
    filed: list[RegistrationFiled],
    completed: dict[str, RegistrationCompleted],
    corrected: dict[str, list[RegistrationCorrected]] | None = None,
) -> list[IncidentRecord]:
    """The incident records with every filed registration attached (its parts as corrected), plus
    one record per registration without an alarm."""
    fixes_of = corrected or {}
    by_incident = {f.incident_id: f for f in filed if f.incident_id is not None}
    out = []
    for r in records:
        f = by_incident.pop(r.incident_id, None)
        if f is None:
            out.append(r)
            continue
        fixes = fixes_of.get(f.registration_id, [])
        f, c, lead = _current(f, completed.get(f.registration_id), fixes)
        reg = r.registration
        if reg is None:
            reg = _registration(f, c)
        else:
            if lead is not None and c is None:  # the resolve was the lead's part: corrected
                reg = reg.model_copy(update=lead)
            if f.weapon and not reg.weapon:
                reg = reg.model_copy(update={"weapon": True})
        rep = _report(f, c)
        if c is None and r.registration is not None and not r.registration.false_alarm:
            rep = replace(rep, completed_by=r.resolved_by, completed_at=r.resolved_at)  # the resolve
            if lead is not None:
                rep = replace(rep, lead_note=str(lead.get("note", "")))
        out.append(replace(r, report=_corrected(rep, fixes), registration=reg))
    standalone = [f for f in filed if f.incident_id is None or f.incident_id in by_incident]
    return out + [_standalone(site, f, completed.get(f.registration_id), fixes_of) for f in standalone]


def _standalone(
    site: Site,
    f: RegistrationFiled,
    c: RegistrationCompleted | None,
    fixes_of: dict[str, list[RegistrationCorrected]],
) -> IncidentRecord:
    fixes = fixes_of.get(f.registration_id, [])
    f, c, _lead = _current(f, c, fixes)
    rooms = {r.id: r for r in site.rooms}
    teams = {t.id: t for t in site.teams}
    room = rooms.get(f.room_id) if f.room_id else None
    return IncidentRecord(
        incident_id=f.registration_id,
        site_id=site.site.id,
        building=site.site.building,
        room_id=f.room_id or "",
        room_label=room.label if room else (f.room_id or f.place_kind.value),
        room_kind=f.place_kind.value,
        team_id=f.team_id,
        team_name=teams[f.team_id].name if f.team_id in teams else f.team_id,
        unit_id="",
        pressed_at=f.occurred_at,
        stored_at=f.occurred_at,
        presses=0,
        first_notified_at=None,
        levels_reached=0,
        acknowledged_by=None,
        acknowledged_at=None,
        resolved_by=None,
        resolved_at=None,
        registration=_registration(f, c),
        kind="registration",
        report=_corrected(_report(f, c), fixes),
    )
