"""Every text the fan-out channels send, in Dutch (default) and English: pure functions.

Alarm texts are built from the inventory and the `Notification` (room, floor, team,
level, local time, "Bel 101", evacuation); other notices (acknowledged, reminder,
fault, info) reuse the title and body the console service already wrote for the
person, with the place and time added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from inventory.model import Language, Person, Site
from wire.messages import Notification, NotifyReason

ALARM_REASONS = frozenset({NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT})

_T: dict[str, dict[Language, str]] = {
    "subject_alarm": {
        Language.NL: "ALARM {room} ({team}) — niveau {level}",
        Language.EN: "ALARM {room} ({team}) — level {level}",
    },
    "subject_repeat": {
        Language.NL: "HERHALING ALARM {room} ({team}) — niveau {level}",
        Language.EN: "REPEAT ALARM {room} ({team}) — level {level}",
    },
    "subject_101": {Language.NL: " — BEL 101", Language.EN: " — CALL 101"},
    "intro": {
        Language.NL: "Agressie-alarm in {room}{floor}.",
        Language.EN: "Aggression alarm in {room}{floor}.",
    },
    "team": {Language.NL: "Team: {team}", Language.EN: "Team: {team}"},
    "level": {Language.NL: "Niveau: {level}", Language.EN: "Level: {level}"},
    "time": {Language.NL: "Tijd: {time} ({date})", Language.EN: "Time: {time} ({date})"},
    "place": {Language.NL: "Plaats: {room}{floor}", Language.EN: "Place: {room}{floor}"},
    "not_acked": {
        Language.NL: "Nog niemand heeft bevestigd.",
        Language.EN: "Nobody has acknowledged yet.",
    },
    "repeat": {
        Language.NL: "HERHALING: nog steeds niet bevestigd.",
        Language.EN: "REPEAT: still not acknowledged.",
    },
    "call_101": {Language.NL: "Bel 101.", Language.EN: "Call 101 (police)."},
    "evacuate": {
        Language.NL: "Evacueer de wachtzaal ({room}).",
        Language.EN: "Evacuate the waiting room ({room}).",
    },
    "how_to_ack": {
        Language.NL: 'Gaat u ter plaatse? Bevestig met "Ik kom" in de stilalarm-console.',
        Language.EN: 'Going there? Acknowledge with "I\'m coming" in the stilalarm console.',
    },
    "incident": {Language.NL: "Incident: {incident}", Language.EN: "Incident: {incident}"},
    "footer": {
        Language.NL: "stilalarm · {site}. Automatisch bericht; antwoorden wordt niet gelezen.",
        Language.EN: "stilalarm · {site}. Automatic message; replies are not read.",
    },
    "fault": {
        Language.NL: "{channel} onbereikbaar sinds {time}: {reason}",
        Language.EN: "{channel} unreachable since {time}: {reason}",
    },
    "recovered": {
        Language.NL: "{channel} werkt weer sinds {time}.",
        Language.EN: "{channel} works again since {time}.",
    },
    "ch_email": {Language.NL: "E-mail (SMTP)", Language.EN: "E-mail (SMTP)"},
    "ch_apprise": {Language.NL: "Chat/push (Apprise)", Language.EN: "Chat/push (Apprise)"},
    "ch_pager": {Language.NL: "Pager", Language.EN: "Pager"},
}


def text(key: str, lang: Language, **values: object) -> str:
    """The text `key` in `lang` with `values` filled in (falls back to Dutch)."""
    entry = _T[key]
    return entry.get(lang, entry[Language.NL]).format(**values)


@dataclass(frozen=True)
class Rendered:
    """A notification as words: a subject, a full body (e-mail) and a short body (chat, push)."""

    subject: str
    body: str
    short: str


@dataclass(frozen=True)
class Place:
    """Where an alarm is, in words; empty strings when the notification names no room."""

    room: str = ""
    floor: str = ""
    team: str = ""
    evacuate: str = ""


def language_of(site: Site, person: Person) -> Language:
    """The language texts to `person` are written in."""
    return person.language or site.site.language


def local_time(site: Site, at: datetime) -> tuple[str, str]:
    """(HH:MM:SS, DD-MM-YYYY) of `at` in the site's time zone."""
    local = at.astimezone(ZoneInfo(site.site.timezone))
    return local.strftime("%H:%M:%S"), local.strftime("%d-%m-%Y")


def _room_label(site: Site, room_id: str, lang: Language) -> str:
    try:
        room = site.room(room_id)
    except KeyError:
        return room_id
    return room.label_en if lang is Language.EN and room.label_en else room.label


def place_of(site: Site, n: Notification, lang: Language) -> Place:
    """Room, floor, team and waiting room of a notification, from the inventory (ids if unknown)."""
    room_id = n.room_id
    if room_id is None and n.unit_id is not None:
        try:
            room_id = site.unit(n.unit_id).room
        except KeyError:
            room_id = None
    evacuate = _room_label(site, n.evacuate, lang) if n.evacuate else ""
    if room_id is None:
        return Place(evacuate=evacuate)
    try:
        room = site.room(room_id)
    except KeyError:
        return Place(room=room_id, evacuate=evacuate)
    try:
        team = site.team(room.team).name
    except KeyError:
        team = room.team
    return Place(room=_room_label(site, room_id, lang), floor=room.floor, team=team, evacuate=evacuate)


def render(site: Site, n: Notification, person: Person) -> Rendered:
    """Subject and bodies of `n` for `person`, in their language."""
    lang = language_of(site, person)
    where = place_of(site, n, lang)
    time_s, date_s = local_time(site, n.at)
    floor = f" ({where.floor})" if where.floor else ""
    footer = text("footer", lang, site=site.site.name)
    if n.reason in ALARM_REASONS:
        key = "subject_repeat" if n.reason is NotifyReason.REPEAT else "subject_alarm"
        subject = text(key, lang, room=where.room or "?", team=where.team or "?", level=n.level)
        if n.call_101:
            subject += text("subject_101", lang)
        urgent: list[str] = []
        if n.reason is NotifyReason.ESCALATION:
            urgent.append(text("not_acked", lang))
        elif n.reason is NotifyReason.REPEAT:
            urgent.append(text("repeat", lang))
        if n.call_101:
            urgent.append(text("call_101", lang))
        if n.evacuate:
            urgent.append(text("evacuate", lang, room=where.evacuate))
        facts = [
            text("intro", lang, room=where.room or "?", floor=floor),
            text("team", lang, team=where.team or "?"),
            text("level", lang, level=n.level),
            text("time", lang, time=time_s, date=date_s),
        ]
        short = "\n".join([*facts, *urgent])
        lines = [*facts, "", *urgent, *([""] if urgent else []), text("how_to_ack", lang)]
    else:
        subject = n.title
        facts = [n.body]
        if where.room:
            facts.append(text("place", lang, room=where.room, floor=floor))
        facts.append(text("time", lang, time=time_s, date=date_s))
        short = "\n".join(facts)
        lines = [*facts]
    if n.incident_id:
        lines += ["", text("incident", lang, incident=n.incident_id)]
    body = "\n".join([*lines, "", "-- ", footer]) + "\n"
    return Rendered(subject=subject, body=body, short=short)


def channel_label(channel: str, lang: Language) -> str:
    """Human name of a channel ('E-mail (SMTP)', 'Pager', ...)."""
    key = f"ch_{channel}"
    return text(key, lang) if key in _T else channel


def channel_fault_text(site: Site, channel: str, since: datetime, reason: str, lang: Language) -> str:
    """E.g. 'E-mail (SMTP) onbereikbaar sinds 10:42:05: connection refused'."""
    time_s, _ = local_time(site, since)
    return text("fault", lang, channel=channel_label(channel, lang), time=time_s, reason=reason)


def channel_recovered_text(site: Site, channel: str, at: datetime, lang: Language) -> str:
    """E.g. 'E-mail (SMTP) werkt weer sinds 10:58:12.'."""
    time_s, _ = local_time(site, at)
    return text("recovered", lang, channel=channel_label(channel, lang), time=time_s)
