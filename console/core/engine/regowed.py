"""The victim's part of a panic-page alarm (pure, time injected): the press says who it was.

A unit with `via = app` is one person's panic page (their token in `[[web.tokens]]`), so its alarm
has a known victim: only that person files the victim's part of it, and when the alarm is resolved
without it, that person owes it (`RegistrationOwed`) and is reminded REMIND_AFTER_H after the
resolve until they file it. Desk buttons and desk phones identify nobody: their victims are never
reminded, and any person may file the victim's part of their alarms. The engine forgets a resolved
alarm a day after its resolve; what the owed part needs of it is kept here (`OwedPart`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.engine.alarms import EngineTx
from stilalarm.console.core.engine.regstate import REMIND_AFTER_H, OwedPart, lead_fields
from stilalarm.console.core.engine.state import EngineState, Incident
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import Notified
from stilalarm.console.regfacts import RegistrationFiled, RegistrationOwed
from stilalarm.inventory.kinds import Via
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason

VICTIM_REMIND_KEY = "registration_remind_victim"


def panic_page_person(site: Site, unit_id: str) -> str | None:
    """The person whose panic page a web unit (via = app) is, from its live token; else None."""
    if site.web is None:
        return None
    return next((tk.person for tk in site.web.tokens if tk.unit == unit_id and not tk.revoked), None)


def victim_of(s: EngineState, inc: Incident) -> str | None:
    """Who raised the alarm, when the press says so: the person of a panic page. None for desk
    buttons and desk phones (unattributed) and for overdue visits."""
    if inc.kind != "alarm" or inc.unit_id is None:
        return None
    unit = s.site.index.units.get(inc.unit_id)
    if unit is None or unit.via is not Via.APP:
        return None
    return panic_page_person(s.site, inc.unit_id)


def owe_victims_part(tx: EngineTx, incident_id: str) -> None:
    """Just resolved (not a false alarm) without a victim's part: a panic page's person owes it."""
    inc = tx.s.incidents.get(incident_id)
    if inc is None or inc.registration is None or inc.registration.false_alarm:
        return
    person = victim_of(tx.s, inc)
    if person is not None and incident_id not in tx.s.owed:
        tx.record(RegistrationOwed(at=tx.now, incident_id=inc.id, person_id=person, team_id=inc.team_id))


# --------------------------------------------------------------------------- fold


def apply_owed(s: EngineState, f: RegistrationOwed) -> EngineState:
    inc = s.incidents.get(f.incident_id)  # recorded right after its resolve: still in memory
    owed = OwedPart(
        f.incident_id,
        f.person_id,
        f.team_id,
        since=f.at,
        resolved_by=(inc.resolved_by or "") if inc else "",
        room_id=inc.room_id if inc else None,
        occurred_at=inc.stored_at if inc else None,
        registration=inc.registration if inc else None,
    )
    return replace(s, owed={**s.owed, f.incident_id: owed})


def drop_owed(s: EngineState, incident_id: str) -> EngineState:
    return replace(s, owed={k: v for k, v in s.owed.items() if k != incident_id})


def apply_owed_filed(s: EngineState, o: OwedPart, f: RegistrationFiled) -> EngineState:
    """The owed part is filed (folded already, without `o`): its alarm may have left memory, so
    the resolve kept in `o` is the lead's part."""
    if f.lead_by_resolve and f.incident_id not in s.incidents and f.registration_id in s.registrations:
        lead = lead_fields(o.registration)
        c = replace(s.registrations[f.registration_id], lead_by=o.resolved_by, lead_at=o.since, lead=lead)
        s = replace(s, registrations={**s.registrations, c.id: c})
    return s


def apply_victim_reminded(s: EngineState, f: Notified) -> EngineState:
    """A victim's reminder was sent: count it; after the last one the alarm is no longer followed."""
    o = s.owed.get(f.detail.get("owed", ""))
    if o is None:
        return s
    n = int(f.detail.get("step", o.reminders_sent + 1))
    if n >= len(REMIND_AFTER_H):
        return drop_owed(s, o.incident_id)
    return replace(s, owed={**s.owed, o.incident_id: replace(o, reminders_sent=n)})


# --------------------------------------------------------------------------- reminders


def owed_due(o: OwedPart) -> datetime | None:
    """When the panic-page person's next reminder is due (None: every reminder sent)."""
    if o.reminders_sent >= len(REMIND_AFTER_H):
        return None
    return o.since + timedelta(hours=REMIND_AFTER_H[o.reminders_sent])


def owed_dues(s: EngineState) -> list[datetime]:
    return [d for d in (owed_due(o) for o in s.owed.values()) if d is not None]


def fire_owed(tx: EngineTx) -> None:
    """Remind each panic page's person of the victim's part they owe, when due (missed reminders
    while the console was down are sent as one)."""
    for o in list(tx.s.owed.values()):
        due = owed_due(o)
        if due is None or due > tx.now:
            continue
        n = max(i + 1 for i, h in enumerate(REMIND_AFTER_H) if o.since + timedelta(hours=h) <= tx.now)
        days = (tx.now - o.since).total_seconds() / 86400
        notice(
            tx,
            NotifyReason.REMINDER,
            (o.person_id,),
            f"{o.incident_id}:remind_victim",
            VICTIM_REMIND_KEY,
            {
                "owed": o.incident_id,
                "incident": o.incident_id,
                "step": str(n),
                "days": str(round(days)),
                "room": o.room_id or "",
            },
            to_nobody=True,
        )
