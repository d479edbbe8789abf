"""Every human text the console service sends, in Dutch (default) and English.

Pure functions: they take the inventory, ids and times, and return strings. The
shell picks the language per recipient with `Site.language_of`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from inventory.model import Language, Site

_T: dict[str, dict[Language, str]] = {
    # --- aggression alarms ------------------------------------------------------
    "alarm_title": {Language.NL: "ALARM {room} — {team}", Language.EN: "ALARM {room} — {team}"},
    "alarm_body": {
        Language.NL: "Agressie-alarm in {room}{floor}, team {team}. Gedrukt om {time}. Niveau {level}.",
        Language.EN: "Aggression alarm in {room}{floor}, team {team}. Pressed at {time}. Level {level}.",
    },
    "escalated": {
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
    "ack_title": {Language.NL: "{name} komt — {room}", Language.EN: "{name} is coming — {room}"},
    "ack_body": {
        Language.NL: "{name} heeft het alarm in {room} bevestigd om {time} en komt ter plaatse.",
        Language.EN: "{name} acknowledged the alarm in {room} at {time} and is on the way.",
    },
    "again_title": {Language.NL: "Opnieuw gedrukt — {room}", Language.EN: "Pressed again — {room}"},
    "again_body": {
        Language.NL: "De knop in {room} is opnieuw ingedrukt om {time} ({presses}×).",
        Language.EN: "The button in {room} was pressed again at {time} ({presses}×).",
    },
    "remind_title": {
        Language.NL: "Niet afgesloten — {room}",
        Language.EN: "Not resolved — {room}",
    },
    "remind_body": {
        Language.NL: "Incident {incident} ({room}, {time}) is nog niet afgesloten. Registreer en sluit af.",
        Language.EN: "Incident {incident} ({room}, {time}) is not resolved yet. Register and resolve it.",
    },
    "resolved_title": {Language.NL: "Afgesloten — {room}", Language.EN: "Resolved — {room}"},
    "resolved_body": {
        Language.NL: "{name} heeft het alarm in {room} afgesloten om {time}. U hoeft niet meer te komen.",
        Language.EN: "{name} resolved the alarm in {room} at {time}. You need not come any more.",
    },
    # --- unit supervision ---------------------------------------------------------
    "fault_title": {Language.NL: "STORING {unit} — {room}", Language.EN: "FAULT {unit} — {room}"},
    "recovered_title": {Language.NL: "Hersteld {unit} — {room}", Language.EN: "Recovered {unit} — {room}"},
    "offline_lost": {
        Language.NL: "Toestel {unit} ({room}) is offline: verbinding verloren.",
        Language.EN: "Unit {unit} ({room}) is offline: connection lost.",
    },
    "offline_shutdown": {
        Language.NL: "Toestel {unit} ({room}) is uitgeschakeld.",
        Language.EN: "Unit {unit} ({room}) was shut down.",
    },
    "offline_silent": {
        Language.NL: "Toestel {unit} ({room}) zwijgt: geen hartslag sinds {time}.",
        Language.EN: "Unit {unit} ({room}) is silent: no heartbeat since {time}.",
    },
    "offline_never": {
        Language.NL: "Toestel {unit} ({room}) heeft zich sinds de start van de console niet gemeld.",
        Language.EN: "Unit {unit} ({room}) has not reported since the console started.",
    },
    "online": {
        Language.NL: "Toestel {unit} ({room}) is terug online.",
        Language.EN: "Unit {unit} ({room}) is back online.",
    },
    "fault": {
        Language.NL: "Toestel {unit} ({room}): storing {fault}{button}.",
        Language.EN: "Unit {unit} ({room}): fault {fault}{button}.",
    },
    "fault_cleared": {
        Language.NL: "Toestel {unit} ({room}): storing {fault}{button} opgeheven.",
        Language.EN: "Unit {unit} ({room}): fault {fault}{button} cleared.",
    },
    "restarted": {
        Language.NL: "Toestel {unit} ({room}) is onverwacht herstart.",
        Language.EN: "Unit {unit} ({room}) restarted unexpectedly.",
    },
    "backlog": {
        Language.NL: "Toestel {unit} ({room}) heeft {depth} niet-bevestigde meldingen in de wachtrij.",
        Language.EN: "Unit {unit} ({room}) has {depth} unreceipted events queued.",
    },
    "clock_off": {
        Language.NL: "Klok wijkt af: toestel {unit} ({room}) zegt {unit_time}, de alarmcentrale "
        "{console_time} ({offset} s). Meldingen en rapporten gebruiken de tijd van de alarmcentrale; "
        "zet de tijdsynchronisatie (NTP) van het toestel recht.",
        Language.EN: "Clock is off: unit {unit} ({room}) says {unit_time}, the console {console_time} "
        "({offset} s). Notices and reports use the console's time; fix the unit's time "
        "synchronisation (NTP).",
    },
    "clock_ok": {
        Language.NL: "Klok weer juist: toestel {unit} ({room}) loopt gelijk met de alarmcentrale.",
        Language.EN: "Clock right again: unit {unit} ({room}) agrees with the console.",
    },
    "unprotected": {
        Language.NL: "Let op: {room} heeft nu geen werkende alarmknop.",
        Language.EN: "Attention: {room} has no working panic button now.",
    },
    "flapping": {
        Language.NL: "Toestel {unit} ({room}): {count} wijzigingen in de laatste {minutes} min. Nu: {now}.",
        Language.EN: "Unit {unit} ({room}): {count} changes in the last {minutes} min. Now: {now}.",
    },
    "state_online": {Language.NL: "online", Language.EN: "online"},
    "state_offline": {Language.NL: "offline", Language.EN: "offline"},
    # --- weekly button tests and after-care (rendered from the fact alone: notice_text) ----
    "tests_overdue_title": {
        Language.NL: "Knoppentest: {overdue} te laat, {faulty} defect",
        Language.EN: "Button test: {overdue} overdue, {faulty} faulty",
    },
    "tests_overdue_body": {
        Language.NL: "{overdue} alarmknop(pen) zijn meer dan 7 dagen niet getest en {faulty} hebben een "
        "storing: {buttons}. Test ze (alarm-console test start) of herstel ze.",
        Language.EN: "{overdue} panic button(s) were not tested in the last 7 days and {faulty} have a "
        "fault: {buttons}. Test them (alarm-console test start) or repair them.",
    },
    "rooms_untested_title": {
        Language.NL: "Alarmknop niet in orde — {rooms}",
        Language.EN: "Panic button not in order — {rooms}",
    },
    "rooms_untested_body": {
        Language.NL: "In {rooms} is een alarmknop defect of al meer dan 7 dagen niet getest. "
        "De technische dienst is verwittigd.",
        Language.EN: "In {rooms} a panic button is faulty or was not tested in the last 7 days. "
        "Facilities have been told.",
    },
    "aftercare_title": {Language.NL: "Nazorg — {room}", Language.EN: "After-care — {room}"},
    "aftercare_body": {
        Language.NL: "Incident {incident} ({room}) werd {days} dag(en) geleden afgesloten. Neem contact op "
        "met de betrokken medewerker voor nazorg en registreer ze: alarm-console aftercare done {incident}.",
        Language.EN: "Incident {incident} ({room}) was resolved {days} day(s) ago. Check in with the staff "
        "member involved for after-care and record it: alarm-console aftercare done {incident}.",
    },
    # --- command replies ------------------------------------------------------------
    "reply_ok": {Language.NL: "Uitgevoerd.", Language.EN: "Done."},
    "reply_unknown_incident": {
        Language.NL: "Onbekend incident {incident}.",
        Language.EN: "Unknown incident {incident}.",
    },
    "reply_not_authorised": {
        Language.NL: "U mag dit niet doen ({what}).",
        Language.EN: "You are not allowed to do this ({what}).",
    },
    "reply_already_resolved": {
        Language.NL: "Incident {incident} is al afgesloten.",
        Language.EN: "Incident {incident} is already resolved.",
    },
    "reply_already_acknowledged": {
        Language.NL: "Incident {incident} is al bevestigd door {name}.",
        Language.EN: "Incident {incident} was already acknowledged by {name}.",
    },
    "reply_invalid": {
        Language.NL: "Ongeldig bericht: {what}",
        Language.EN: "Invalid message: {what}",
    },
    "reply_not_resolved": {
        Language.NL: "Incident {incident} is nog niet afgesloten.",
        Language.EN: "Incident {incident} is not resolved yet.",
    },
    "reply_no_aftercare": {
        Language.NL: "Voor incident {incident} wordt geen nazorg opgevolgd.",
        Language.EN: "No after-care is followed up for incident {incident}.",
    },
    "reply_unknown_target": {
        Language.NL: "Onbekend doel {what}.",
        Language.EN: "Unknown target {what}.",
    },
}


def text(key: str, lang: Language, **values: object) -> str:
    """The text `key` in `lang`, with `values` filled in (falls back to Dutch)."""
    entry = _T[key]
    return entry.get(lang, entry[Language.NL]).format(**values)


def local_time(site: Site, at: datetime) -> str:
    """`at` as HH:MM:SS in the site's time zone."""
    return at.astimezone(ZoneInfo(site.site.timezone)).strftime("%H:%M:%S")


def room_label(site: Site, room_id: str, lang: Language) -> str:
    """A room's label in `lang` (English label when given, else the Dutch one)."""
    room = site.room(room_id)
    return room.label_en if lang is Language.EN and room.label_en else room.label


def person_name(site: Site, person_id: str) -> str:
    """A person's display name (the id when unknown)."""
    try:
        return site.person(person_id).name
    except KeyError:
        return person_id


def clip(s: str, n: int) -> str:
    """Cut `s` to at most `n` characters (wire fields have maximum lengths)."""
    return s if len(s) <= n else s[: n - 1] + "…"


NOTICE_KEYS = frozenset({"tests_overdue", "rooms_untested", "aftercare"})
"""Notices whose whole text comes from the fact's `detail` (they outlive the incident in memory)."""


def notice_text(site: Site, text_key: str, detail: dict[str, str], lang: Language) -> tuple[str, str] | None:
    """(title, body) of a self-contained notice (NOTICE_KEYS), or None for any other text key."""
    if text_key not in NOTICE_KEYS:
        return None
    rooms = {r.id for r in site.rooms}
    v: dict[str, object] = dict(detail)
    if "room" in detail:
        v["room"] = room_label(site, detail["room"], lang) if detail["room"] in rooms else detail["room"]
    if "rooms" in detail:
        ids = [x for x in detail["rooms"].split(",") if x]
        v["rooms"] = ", ".join(room_label(site, x, lang) if x in rooms else x for x in ids)
    v.setdefault("buttons", "-")
    return text(f"{text_key}_title", lang, **v), text(f"{text_key}_body", lang, **v)
