"""Every text the console shows, by name: the fields of `Texts`, filled from `stilalarm.console.i18n`
(message ids `tui.<field>` and `tui.<map>.<key>`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache

from stilalarm.console import i18n


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
    key_reached: str
    key_no_answer: str
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
    via_phone: str
    via_app: str
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
    # -- home visits ----------------------------------------------------------
    visit_location: str
    visit_late: str
    visit_none: str
    visit_sent_reached: str
    visit_sent_no_answer: str
    visit_closed: str
    banner_visit: str
    # -- responses (kan niet komen, ter plaatse, niemand bereikbaar) -----------
    key_decline: str
    key_on_site: str
    decline_none: str
    decline_sent: str
    on_site_none: str
    on_site_sent: str
    nobody_reachable: str
    on_site: str
    declined: str
    # -- risky conversations --------------------------------------------------
    risk_line: str
    risk_confirmed: str
    risk_unconfirmed: str
    risk_none: str
    risk_sent: str
    key_risk_confirm: str
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
    # -- registrations to complete (Meldingen) --------------------------------
    nav_registrations: str
    key_complete: str
    reg_empty: str
    reg_more: str
    reg_count: str
    reg_col_when: str
    reg_col_place: str
    reg_col_victim: str
    reg_col_forms: str
    reg_col_what: str
    reg_title: str
    reg_hint: str
    reg_victim: str
    reg_when: str
    reg_when_text: str
    reg_place: str
    reg_alarm: str
    reg_what: str
    reg_how: str
    reg_special: str
    reg_clipped: str
    reg_weapon_rule: str
    reg_note: str
    reg_none: str
    reg_gone: str
    reg_sent: str
    # -- units ----------------------------------------------------------------
    u_unit: str
    u_room: str
    u_state: str
    u_heartbeat: str
    u_faults: str
    u_firmware: str
    u_config: str
    u_config_stale: str
    u_versions: str
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
    place: dict[str, str] = field(default_factory=dict)
    special: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Registration validator messages (English, from stilalarm.wire.messages) -> shown text."""


_MAPS = (
    "aggression",
    "severity",
    "sanctions",
    "aftercare",
    "timeline_kinds",
    "reply_codes",
    "place",
    "special",
)
_ERRORS = {
    "give at least one type of aggression": "no_type",
    "give the severity": "no_severity",
    "severity": "no_severity",
    "a proces-verbaal number implies": "pv_needs_police",
    "pv_number": "pv_number",
    "staff_member": "staff_member",
    "note": "note",
}
"""Registration validator messages (English, from stilalarm.wire.messages) -> message id `tui.errors.<id>`."""


def texts_for(lang: str) -> Texts:
    """The texts for a language code ('nl', 'en', 'fr'); Dutch for anything else, and for any
    message the language has not translated."""
    return _texts(i18n.lang_code(lang))


@cache
def _texts(code: str) -> Texts:
    plain = {
        f.name: i18n.raw(f"tui.{f.name}", code)
        for f in fields(Texts)
        if f.name != "lang" and f.name not in (*_MAPS, "errors")
    }
    maps = {
        m: {k.removeprefix(f"tui.{m}."): i18n.raw(k, code) for k in i18n.keys(f"tui.{m}.")} for m in _MAPS
    }
    errors = {frag: i18n.raw(f"tui.errors.{key}", code) for frag, key in _ERRORS.items()}
    # every field is filled by name; mypy cannot tell str fields from map fields in a ** dict
    return Texts(lang=code, **plain, **maps, errors=errors)  # type: ignore[arg-type]


NL = texts_for("nl")
EN = texts_for("en")
