"""Every text the console shows, in Dutch (default) and English: the one place to translate."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Texts:
    """All strings of the console in one language; `{name}` placeholders are filled with str.format."""

    lang: str
    # -- navigation and keys --------------------------------------------------
    title: str
    me: str
    nav_alarms: str
    nav_units: str
    nav_history: str
    nav_presence: str
    nav_resolve: str
    key_ack: str
    key_pick: str
    key_up: str
    key_down: str
    key_resolve: str
    key_demo: str
    key_test_start: str
    key_test_stop: str
    key_present: str
    key_absent: str
    key_filter: str
    key_save: str
    key_back: str
    # -- status bar -----------------------------------------------------------
    bar_connecting: str
    bar_lost: str
    bar_service_offline: str
    bar_service_unknown: str
    bar_service_silent: str
    bar_ok: str
    bar_unreachable: str
    # -- alarms ---------------------------------------------------------------
    status_open: str
    status_acknowledged: str
    status_resolved: str
    location: str
    unit_line: str
    secs: str
    mins: str
    hours: str
    level: str
    level_short: str
    nobody_yet: str
    coming: str
    for_me: str
    col_num: str
    col_status: str
    col_location: str
    col_since: str
    col_level: str
    col_ack: str
    no_alarms: str
    banner_alarm: str
    banner_detail: str
    banner_101: str
    banner_evacuate: str
    banner_one: str
    banner_pick: str
    banner_picked: str
    ack_pick_first: str
    ack_already: str
    ack_none: str
    ack_sent: str
    sent_offline: str
    reply_ok: str
    reply_rejected: str
    bad_message: str
    # -- resolve --------------------------------------------------------------
    resolve_title: str
    resolve_none: str
    resolve_hint: str
    f_false_alarm: str
    f_types: str
    f_severity: str
    f_weapon: str
    f_police: str
    f_pv: str
    f_sanctions: str
    f_aftercare: str
    f_accident: str
    f_staff: str
    f_note: str
    resolve_save: str
    resolve_cancel: str
    resolve_sent: str
    # -- units ----------------------------------------------------------------
    u_unit: str
    u_room: str
    u_state: str
    u_heartbeat: str
    u_faults: str
    u_firmware: str
    u_test: str
    u_last_test: str
    u_online: str
    u_offline: str
    u_unknown: str
    u_test_until: str
    u_never: str
    u_overdue: str
    u_pager: str
    u_summary: str
    test_title: str
    test_unit: str
    test_room: str
    test_minutes: str
    test_sent: str
    test_stop_sent: str
    # -- history --------------------------------------------------------------
    h_pressed: str
    h_location: str
    h_team: str
    h_status: str
    h_level: str
    h_ack: str
    h_resolved: str
    h_filter: str
    h_empty: str
    h_timeline: str
    h_no_timeline: str
    # -- presence -------------------------------------------------------------
    p_me_present: str
    p_me_absent: str
    p_present: str
    p_absent: str
    p_reachable: str
    p_nobody: str
    p_lead: str
    p_deputy: str
    p_sent: str
    # -- demo -----------------------------------------------------------------
    demo_title: str
    demo_pressed: str
    # -- label maps -----------------------------------------------------------
    aggression: dict[str, str] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    sanctions: dict[str, str] = field(default_factory=dict)
    aftercare: dict[str, str] = field(default_factory=dict)
    timeline_kinds: dict[str, str] = field(default_factory=dict)
    reply_codes: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Registration validator messages (English, from wire.messages) -> shown text."""


NL = Texts(
    lang="nl",
    title="STILALARM",
    me="Ik: {name}",
    nav_alarms="Alarmen",
    nav_units="Eenheden",
    nav_history="Historiek",
    nav_presence="Aanwezigheid",
    nav_resolve="Afhandelen",
    key_ack="Ik kom",
    key_pick="Kies alarm",
    key_up="Vorige",
    key_down="Volgende",
    key_resolve="Afhandelen",
    key_demo="Demo: druk knop",
    key_test_start="Test starten",
    key_test_stop="Test stoppen",
    key_present="Ik ben aanwezig",
    key_absent="Ik ben afwezig",
    key_filter="Filter",
    key_save="Opslaan",
    key_back="Terug",
    bar_connecting="GEEN VERBINDING met de alarmserver — bezig met verbinden…",
    bar_lost="VERBINDING VERBROKEN sinds {since} — gegevens kunnen verouderd zijn; opnieuw verbinden…",
    bar_service_offline="ALARMCENTRALE OFFLINE sinds {since} — alarmen worden NIET doorgestuurd",
    bar_service_unknown="ALARMCENTRALE: status onbekend — alarmen komen mogelijk niet door",
    bar_service_silent="ALARMCENTRALE OFFLINE: geen teken van leven sinds {since} — alarmen worden "
    "mogelijk NIET doorgestuurd",
    bar_ok="● verbonden · alarmcentrale online",
    bar_unreachable="⚠ {n} team(s) onbereikbaar (F4)",
    status_open="OPEN",
    status_acknowledged="BEVESTIGD",
    status_resolved="AFGEHANDELD",
    location="{room} — {team}",
    unit_line="eenheid {unit}{floor}",
    secs="{s} s",
    mins="{m}:{s:02d}",
    hours="{h}:{m:02d}:{s:02d}",
    level="niveau {n}",
    level_short="niv. {n}",
    nobody_yet="nog niemand verwittigd",
    coming="{name} komt",
    for_me="VOOR JOU",
    col_num="#",
    col_status="Status",
    col_location="Locatie",
    col_since="Sinds",
    col_level="Verwittigd",
    col_ack="Ik kom",
    no_alarms="Geen open alarmen.",
    banner_alarm="ALARM  {location}",
    banner_detail="{detail} · {elapsed} geleden · {level}",
    banner_101="BEL 101",
    banner_evacuate="Evacueer de wachtzaal ({room})",
    banner_one="Druk  k  of  Enter  =  IK KOM",
    banner_pick="{n} OPEN ALARMEN — kies eerst met 1–{max} of ↑↓, dan  k  = Ik kom",
    banner_picked="{n} open alarmen · GEKOZEN: #{num} {location}  —  k  = Ik kom voor #{num}",
    ack_pick_first="Meerdere open alarmen: kies eerst met 1–9 of ↑↓ welk alarm je neemt, dan k.",
    ack_already="Alarm #{num} is al bevestigd: {name} komt.",
    ack_none="Geen open alarm om te bevestigen.",
    ack_sent="‘Ik kom’ verzonden voor #{num} {location} …",
    sent_offline="GEEN VERBINDING: wordt verzonden zodra de verbinding terug is — verwittig telefonisch!",
    reply_ok="Aanvaard door de alarmcentrale: {what}",
    reply_rejected="GEWEIGERD: {reason}",
    bad_message="Ongeldig bericht genegeerd op {topic}: {error}",
    resolve_title="Afhandelen: #{num} {location} ({incident})",
    resolve_none="Kies eerst een alarm in Alarmen en druk r.",
    resolve_hint="Tab: volgend veld · spatie: aanvinken · Ctrl+S: opslaan · Esc: terug",
    f_false_alarm="Vals alarm (per vergissing, geen incident)",
    f_types="Soort agressie",
    f_severity="Ernst",
    f_weapon="Wapen gebruikt",
    f_police="Politie gebeld (101)",
    f_pv="PV-nummer (proces-verbaal)",
    f_sanctions="Voorgestelde sanctie",
    f_aftercare="Nazorg aangeboden aan het slachtoffer",
    f_accident="Arbeidsongeval aangegeven",
    f_staff="Betrokken medewerker (optioneel)",
    f_note="Notitie",
    resolve_save="Opslaan",
    resolve_cancel="Annuleren",
    resolve_sent="Afhandeling verzonden voor {incident} …",
    u_unit="Eenheid",
    u_room="Locatie",
    u_state="Status",
    u_heartbeat="Hartslag",
    u_faults="Storingen",
    u_firmware="Firmware",
    u_test="Testmodus",
    u_last_test="Laatste test",
    u_online="ONLINE",
    u_offline="OFFLINE",
    u_unknown="? GEEN DATA",
    u_test_until="TEST tot {t}",
    u_never="nooit",
    u_overdue="TE LAAT",
    u_pager="(pager)",
    u_summary="{n} eenheden · {offline} offline · {faults} met storing · {overdue} test te laat",
    test_title="Testvenster openen (ter plaatse, max. 15 min)",
    test_unit="Deze eenheid: {unit}",
    test_room="Deze ruimte: {room}",
    test_minutes="Minuten (hoogstens 15)",
    test_sent="Test gevraagd: {what} ({minutes} min) …",
    test_stop_sent="Stoppen van de test gevraagd …",
    h_pressed="Ingedrukt",
    h_location="Locatie",
    h_team="Team",
    h_status="Status",
    h_level="Niv.",
    h_ack="Ik kom",
    h_resolved="Afgehandeld",
    h_filter="Filter op team, ruimte, status, persoon … (/)",
    h_empty="Geen incidenten in de laatste {days} dagen.",
    h_timeline="Tijdlijn: {location} ({incident})",
    h_no_timeline="Nog geen tijdlijn ontvangen voor dit incident.",
    p_me_present="Jij bent AANWEZIG (bereikbaar voor alarmen) — druk o voor afwezig",
    p_me_absent="Jij bent AFWEZIG (krijgt geen alarmen) — druk i voor aanwezig",
    p_present="aanwezig",
    p_absent="AFWEZIG",
    p_reachable="bereikbaar: {names}",
    p_nobody="⚠ NIEMAND BEREIKBAAR",
    p_lead="verantwoordelijke",
    p_deputy="vervanger",
    p_sent="Aanwezigheid verzonden …",
    demo_title="Demo: welke paniekknop indrukken?",
    demo_pressed="Demo: knop van {unit} ingedrukt",
    aggression={"verbaal": "verbaal", "fysiek": "fysiek", "psychisch": "psychisch"},
    severity={"boosheid": "boosheid", "agressie": "agressie", "geweld": "geweld"},
    sanctions={
        "waarschuwing": "waarschuwing",
        "ordegesprek": "ordegesprek",
        "uitzetting": "uitzetting",
        "aangifte": "aangifte",
        "toegangsverbod": "toegangsverbod",
        "straatverbod": "straatverbod",
        "schadeclaim": "schadeclaim",
    },
    aftercare={"opvang": "opvang", "medisch": "medisch", "psychologisch": "psychologisch"},
    timeline_kinds={
        "pressed": "knop ingedrukt",
        "stored": "ontvangen door de alarmcentrale",
        "notified": "verwittigd",
        "escalated": "geëscaleerd",
        "repeated": "herhaald",
        "acknowledged": "Ik kom",
        "resolved": "afgehandeld",
    },
    reply_codes={
        "ok": "ok",
        "unknown_incident": "onbekend incident",
        "not_authorised": "je hebt hiervoor geen rechten",
        "already_resolved": "het incident is al afgehandeld",
        "already_acknowledged": "iemand anders komt al",
        "invalid": "ongeldige opdracht",
        "unknown_target": "onbekende eenheid, ruimte of team",
    },
    errors={
        "give at least one type of aggression": "Kies minstens één soort agressie "
        "(verbaal / fysiek / psychisch).",
        "give the severity": "Kies de ernst (boosheid / agressie / geweld).",
        "a proces-verbaal number implies": "Een PV-nummer kan alleen als de politie gebeld is.",
        "pv_number": "Het PV-nummer is te lang (max. 60 tekens).",
        "staff_member": "De naam van de medewerker is te lang (max. 120 tekens).",
        "note": "De notitie is te lang (max. 4000 tekens).",
    },
)

EN = Texts(
    lang="en",
    title="STILALARM",
    me="Me: {name}",
    nav_alarms="Alarms",
    nav_units="Units",
    nav_history="History",
    nav_presence="Presence",
    nav_resolve="Resolve",
    key_ack="I'm coming",
    key_pick="Pick alarm",
    key_up="Previous",
    key_down="Next",
    key_resolve="Resolve",
    key_demo="Demo: press button",
    key_test_start="Start test",
    key_test_stop="Stop test",
    key_present="I'm present",
    key_absent="I'm absent",
    key_filter="Filter",
    key_save="Save",
    key_back="Back",
    bar_connecting="NO CONNECTION to the alarm server — connecting…",
    bar_lost="CONNECTION LOST since {since} — data may be out of date; reconnecting…",
    bar_service_offline="ALARM SERVICE OFFLINE since {since} — alarms are NOT being forwarded",
    bar_service_unknown="ALARM SERVICE: status unknown — alarms may not get through",
    bar_service_silent="ALARM SERVICE OFFLINE: no sign of life since {since} — alarms may NOT be forwarded",
    bar_ok="● connected · alarm service online",
    bar_unreachable="⚠ {n} team(s) unreachable (F4)",
    status_open="OPEN",
    status_acknowledged="CONFIRMED",
    status_resolved="RESOLVED",
    location="{room} — {team}",
    unit_line="unit {unit}{floor}",
    secs="{s} s",
    mins="{m}:{s:02d}",
    hours="{h}:{m:02d}:{s:02d}",
    level="level {n}",
    level_short="lvl {n}",
    nobody_yet="nobody notified yet",
    coming="{name} is coming",
    for_me="FOR YOU",
    col_num="#",
    col_status="Status",
    col_location="Location",
    col_since="Since",
    col_level="Notified",
    col_ack="Coming",
    no_alarms="No open alarms.",
    banner_alarm="ALARM  {location}",
    banner_detail="{detail} · {elapsed} ago · {level}",
    banner_101="CALL 101",
    banner_evacuate="Evacuate the waiting room ({room})",
    banner_one="Press  k  or  Enter  =  I'M COMING",
    banner_pick="{n} OPEN ALARMS — first pick with 1–{max} or ↑↓, then  k  = I'm coming",
    banner_picked="{n} open alarms · PICKED: #{num} {location}  —  k  = I'm coming to #{num}",
    ack_pick_first="Several open alarms: first pick with 1–9 or ↑↓ which one you take, then k.",
    ack_already="Alarm #{num} is already acknowledged: {name} is coming.",
    ack_none="No open alarm to acknowledge.",
    ack_sent="'I'm coming' sent for #{num} {location} …",
    sent_offline="NO CONNECTION: will be sent when the connection is back — call by phone meanwhile!",
    reply_ok="Accepted by the alarm service: {what}",
    reply_rejected="REJECTED: {reason}",
    bad_message="Ignored an invalid message on {topic}: {error}",
    resolve_title="Resolve: #{num} {location} ({incident})",
    resolve_none="First pick an alarm in Alarms and press r.",
    resolve_hint="Tab: next field · space: tick · Ctrl+S: save · Esc: back",
    f_false_alarm="False alarm (pressed by mistake, no incident)",
    f_types="Type of aggression",
    f_severity="Severity",
    f_weapon="Weapon involved",
    f_police="Police called (101)",
    f_pv="Police report number (PV)",
    f_sanctions="Sanction proposed",
    f_aftercare="Victim care offered (nazorg)",
    f_accident="Occupational accident declared",
    f_staff="Staff member involved (optional)",
    f_note="Note",
    resolve_save="Save",
    resolve_cancel="Cancel",
    resolve_sent="Resolution sent for {incident} …",
    u_unit="Unit",
    u_room="Location",
    u_state="State",
    u_heartbeat="Heartbeat",
    u_faults="Faults",
    u_firmware="Firmware",
    u_test="Test mode",
    u_last_test="Last test",
    u_online="ONLINE",
    u_offline="OFFLINE",
    u_unknown="? NO DATA",
    u_test_until="TEST until {t}",
    u_never="never",
    u_overdue="OVERDUE",
    u_pager="(pager)",
    u_summary="{n} units · {offline} offline · {faults} with faults · {overdue} test overdue",
    test_title="Open a test window (where you stand, max. 15 min)",
    test_unit="This unit: {unit}",
    test_room="This room: {room}",
    test_minutes="Minutes (at most 15)",
    test_sent="Test requested: {what} ({minutes} min) …",
    test_stop_sent="Stopping the test requested …",
    h_pressed="Pressed",
    h_location="Location",
    h_team="Team",
    h_status="Status",
    h_level="Lvl",
    h_ack="Coming",
    h_resolved="Resolved",
    h_filter="Filter by team, room, status, person … (/)",
    h_empty="No incidents in the last {days} days.",
    h_timeline="Timeline: {location} ({incident})",
    h_no_timeline="No timeline received for this incident yet.",
    p_me_present="You are PRESENT (reachable for alarms) — press o for absent",
    p_me_absent="You are ABSENT (you get no alarms) — press i for present",
    p_present="present",
    p_absent="ABSENT",
    p_reachable="reachable: {names}",
    p_nobody="⚠ NOBODY REACHABLE",
    p_lead="lead",
    p_deputy="deputy",
    p_sent="Presence sent …",
    demo_title="Demo: which panic button to press?",
    demo_pressed="Demo: pressed the button of {unit}",
    aggression={"verbaal": "verbal", "fysiek": "physical", "psychisch": "psychological"},
    severity={"boosheid": "anger", "agressie": "aggression", "geweld": "violence"},
    sanctions={
        "waarschuwing": "warning",
        "ordegesprek": "formal talk",
        "uitzetting": "removal from the building",
        "aangifte": "police complaint",
        "toegangsverbod": "access ban",
        "straatverbod": "restraining order",
        "schadeclaim": "damages claim",
    },
    aftercare={"opvang": "support", "medisch": "medical", "psychologisch": "psychological"},
    timeline_kinds={
        "pressed": "button pressed",
        "stored": "received by the alarm service",
        "notified": "notified",
        "escalated": "escalated",
        "repeated": "repeated",
        "acknowledged": "I'm coming",
        "resolved": "resolved",
    },
    reply_codes={
        "ok": "ok",
        "unknown_incident": "unknown incident",
        "not_authorised": "you are not allowed to do this",
        "already_resolved": "the incident is already resolved",
        "already_acknowledged": "someone else is already coming",
        "invalid": "invalid command",
        "unknown_target": "unknown unit, room or team",
    },
    errors={
        "give at least one type of aggression": "Pick at least one type of aggression (verbal / physical / "
        "psychological).",
        "give the severity": "Pick the severity (anger / aggression / violence).",
        "a proces-verbaal number implies": "A police report number needs 'police called'.",
        "pv_number": "The police report number is too long (max. 60 characters).",
        "staff_member": "The staff member's name is too long (max. 120 characters).",
        "note": "The note is too long (max. 4000 characters).",
    },
)


def texts_for(lang: str) -> Texts:
    """The texts for a language code ('nl' or 'en'); Dutch for anything else."""
    return EN if lang == "en" else NL
