"""How the fan-out channels word a notification (texts from `stilalarm.console.i18n`): pure functions.

Alarm texts are built from the inventory and the `Notification` (room, floor, team,
level, local time, "Bel 101", evacuation); other notices (acknowledged, reminder,
fault, info) reuse the title and body the console service already wrote for the
person, with the place and time added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.i18n import fmt_date, fmt_time, has, t
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import Person
from stilalarm.wire.messages import Notification, NotifyReason

ALARM_REASONS = frozenset({NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT})


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


def local_time(site: Site, at: datetime, lang: Language) -> tuple[str, str]:
    """(time, date) of `at` in the site's time zone, written the way `lang` does (10:42:05, 03-03-2025)."""
    tz = ZoneInfo(site.site.timezone)
    return fmt_time(at, tz, lang), fmt_date(at, tz, lang)


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
    if n.visit_id is not None:  # a home visit's notice: its own words (visittexts.py)
        from stilalarm.console.delivery.visittexts import visit_rendered

        return visit_rendered(site, n, person)
    lang = language_of(site, person)
    where = place_of(site, n, lang)
    time_s, date_s = local_time(site, n.at, lang)
    floor = f" ({where.floor})" if where.floor else ""
    footer = t("mail.footer", lang, site=site.site.name)
    if n.reason in ALARM_REASONS:
        key = "mail.subject_repeat" if n.reason is NotifyReason.REPEAT else "mail.subject_alarm"
        subject = t(key, lang, room=where.room or "?", team=where.team or "?", level=n.level)
        if n.call_101:
            subject += t("mail.subject_101", lang)
        urgent: list[str] = []
        if n.reason is NotifyReason.ESCALATION:
            urgent.append(t("escalated", lang))
        elif n.reason is NotifyReason.REPEAT:
            urgent.append(t("repeat", lang))
        if n.call_101:
            urgent.append(t("call_101", lang))
        if n.evacuate:
            urgent.append(t("evacuate", lang, room=where.evacuate))
        facts = [
            t("mail.intro", lang, room=where.room or "?", floor=floor),
            t("mail.team", lang, team=where.team or "?"),
            t("mail.level", lang, level=n.level),
            t("mail.time", lang, time=time_s, date=date_s),
        ]
        short = "\n".join([*facts, *urgent])
        lines = [*facts, "", *urgent, *([""] if urgent else []), t("mail.how_to_ack", lang)]
    else:
        subject = n.title
        facts = [n.body]
        if where.room:
            facts.append(t("mail.place", lang, room=where.room, floor=floor))
        facts.append(t("mail.time", lang, time=time_s, date=date_s))
        short = "\n".join(facts)
        lines = [*facts]
    if n.incident_id:
        lines += ["", t("mail.incident", lang, incident=n.incident_id)]
    body = "\n".join([*lines, "", "-- ", footer]) + "\n"
    return Rendered(subject=subject, body=body, short=short)


def channel_label(channel: str, lang: Language) -> str:
    """Human name of a channel ('E-mail (SMTP)', 'Pager', ...)."""
    key = f"mail.ch_{channel}"
    return t(key, lang) if has(key) else channel


def channel_fault_text(site: Site, channel: str, since: datetime, reason: str, lang: Language) -> str:
    """E.g. 'E-mail (SMTP) onbereikbaar sinds 10:42:05: connection refused'."""
    time_s, _ = local_time(site, since, lang)
    return t("mail.fault", lang, channel=channel_label(channel, lang), time=time_s, reason=reason)


def channel_recovered_text(site: Site, channel: str, at: datetime, lang: Language) -> str:
    """E.g. 'E-mail (SMTP) werkt weer sinds 10:58:12.'."""
    time_s, _ = local_time(site, at, lang)
    return t("mail.recovered", lang, channel=channel_label(channel, lang), time=time_s)
