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
    "flood": {
        Language.NL: "Toestel {unit} ({room}) stuurt veel te veel berichten ({count} boven zijn limiet): "
        "misbruik van zijn login of een defect. Alarmen komen nog door; herhaalde drukken worden geteld, "
        "overtollige hartslagen genegeerd. Controleer het toestel en vervang zijn wachtwoord.",
        Language.EN: "Unit {unit} ({room}) sends far too many messages ({count} over its limit): "
        "misuse of its login or a defect. Alarms still get through; repeated presses are counted, "
        "surplus heartbeats ignored. Check the unit and replace its password.",
    },
    "flood_cleared": {
        Language.NL: "Toestel {unit} ({room}) houdt zich weer aan zijn limiet "
        "({count} berichten te veel in totaal).",
        Language.EN: "Unit {unit} ({room}) keeps to its limit again ({count} messages too many in all).",
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
    "test_press_title": {
        Language.NL: "TEST in {room} (technische dienst)",
        Language.EN: "TEST at {room} (facilities)",
    },
    "test_press_body": {
        Language.NL: "Knop {button} van toestel {unit} werd als test gedrukt tijdens het testvenster van "
        "{by}. Geen test? Behandel het als een alarm en ga kijken.",
        Language.EN: "Button {button} of unit {unit} was pressed as a test during {by}'s test window. "
        "Not a test? Treat it as an alarm and go and look.",
    },
    "aftercare_title": {Language.NL: "Nazorg — {room}", Language.EN: "After-care — {room}"},
    "aftercare_body": {
        Language.NL: "Incident {incident} ({room}) werd {days} dag(en) geleden afgesloten. Neem contact op "
        "met de betrokken medewerker voor nazorg en registreer ze: alarm-console aftercare done {incident}.",
        Language.EN: "Incident {incident} ({room}) was resolved {days} day(s) ago. Check in with the staff "
        "member involved for after-care and record it: alarm-console aftercare done {incident}.",
    },
    # --- `alarm-console test start --all`: a campaign only lists what is due ----------------
    "campaign_head": {
        Language.NL: "Een sitebrede test opent geen testvensters: een echt alarm mag nooit als test "
        "verloren gaan. Aan de beurt voor de wekelijkse test ({due} van {units} toestellen):",
        Language.EN: "A site-wide test opens no test windows: a real alarm must never be lost to a "
        "test. Due for the weekly test ({due} of {units} units):",
    },
    "campaign_line": {
        Language.NL: "  {unit:<16} {state:<12} {detail}",
        Language.EN: "  {unit:<16} {state:<12} {detail}",
    },
    "campaign_never": {Language.NL: "nooit getest", Language.EN: "never tested"},
    "campaign_last": {Language.NL: "laatst getest {date}", Language.EN: "last tested {date}"},
    "campaign_state_due": {Language.NL: "aan de beurt", Language.EN: "due"},
    "campaign_state_overdue": {Language.NL: "te laat", Language.EN: "overdue"},
    "campaign_offline": {Language.NL: ", OFFLINE", Language.EN: ", OFFLINE"},
    "campaign_none": {
        Language.NL: "  geen: elk toestel is de laatste 6 dagen getest.",
        Language.EN: "  none: every unit was tested in the last 6 days.",
    },
    "campaign_how": {
        Language.NL: "Open ter plaatse één venster per toestel of lokaal: alarm-console test start "
        "--unit TOESTEL --as {person} (of --room LOKAAL). Het duurt {minutes} minuten (hoogstens {max}); "
        "de teamverantwoordelijke ziet elke testdruk.",
        Language.EN: "Where you stand, open one window per unit or room: alarm-console test start "
        "--unit UNIT --as {person} (or --room ROOM). It lasts {minutes} minutes (at most {max}); the "
        "team lead sees every test press.",
    },
    "campaign_unreachable": {
        Language.NL: "De alarmcentrale heeft binnen {seconds} s geen toestellen gemeld: draait "
        "`alarm-console serve` en is de broker bereikbaar?",
        Language.EN: "The console reported no units within {seconds} s: is `alarm-console serve` running "
        "and the broker reachable?",
    },
    # --- the console's own storage (disk full, database unwritable) ----------------------
    "not_stored_tag": {Language.NL: "niet opgeslagen", Language.EN: "not stored"},
    "not_stored": {
        Language.NL: "LET OP, niet opgeslagen: de alarmcentrale kan dit nu niet bewaren (storing).",
        Language.EN: "NOTE, not stored: the alarm console cannot save this right now (fault).",
    },
    "store_fault_title": {
        Language.NL: "STORING alarmcentrale: kan niet opslaan",
        Language.EN: "FAULT alarm console: cannot store",
    },
    "store_fault_body": {
        Language.NL: "De alarmcentrale kan sinds {time} niets meer opslaan ({reason}); wellicht is de "
        'schijf vol. Alarmen worden nog doorgegeven vanuit het geheugen ("niet opgeslagen") en de '
        "toestellen blijven ze opnieuw sturen tot ze bewaard zijn. Maak meteen schijfruimte vrij op "
        "de server.",
        Language.EN: "The alarm console cannot store anything since {time} ({reason}); the disk may "
        'be full. Alarms are still passed on from memory ("not stored") and the units keep sending '
        "them again until they are saved. Free disk space on the server now.",
    },
    "store_recovered_title": {
        Language.NL: "Hersteld: alarmcentrale slaat weer op",
        Language.EN: "Recovered: alarm console stores again",
    },
    "store_recovered_body": {
        Language.NL: "De alarmcentrale slaat weer op (storing sinds {time}). {held} melding(en) van "
        "toestellen die niet opgeslagen waren, zijn nu bewaard en bevestigd.",
        Language.EN: "The alarm console stores again (fault since {time}). {held} unit event(s) that "
        "were not stored are now saved and receipted.",
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
    "reply_resolve_needs_ack": {
        Language.NL: "Incident {incident} kan pas afgesloten worden nadat iemand 'Ik kom' heeft "
        "bevestigd; het alarm loopt door.",
        Language.EN: "Incident {incident} can only be resolved after someone has acknowledged it "
        "('on my way'); the alarm goes on.",
    },
    "reply_resolve_not_yours": {
        Language.NL: "Enkel wie incident {incident} bevestigde, of een verantwoordelijke of vervanger "
        "van team {team}, mag het afsluiten.",
        Language.EN: "Only the person who acknowledged incident {incident}, or a lead or deputy of "
        "team {team}, may resolve it.",
    },
    "reply_test_one_place": {
        Language.NL: "Een testvenster gaat open voor één toestel of één lokaal tegelijk (niet: {what}). "
        "Gebruik --unit of --room ter plaatse; 'test start --all' toont wat aan de beurt is.",
        Language.EN: "A test window opens for one unit or one room at a time (not: {what}). Use --unit "
        "or --room when you are there; 'test start --all' lists what is due.",
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


NOTICE_KEYS = frozenset({"tests_overdue", "rooms_untested", "aftercare", "test_press"})
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
    if "by" in detail:
        v["by"] = person_name(site, detail["by"])
    v.setdefault("buttons", "-")
    return text(f"{text_key}_title", lang, **v), text(f"{text_key}_body", lang, **v)
