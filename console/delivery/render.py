"""Rendering (pure): a `Notified` fact becomes one `Notification` per person, in their language.

The service stores the console's copy in the outbox in the same transaction as the fact
and hands every copy to the channels after the commit (`stilalarm.console.delivery.dispatcher`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from stilalarm.console.core.engine import Incident
from stilalarm.console.delivery.texts import channel_fault_text, channel_recovered_text
from stilalarm.console.delivery.visittexts import is_visit_notice, visit_notification
from stilalarm.console.facts import Notified
from stilalarm.console.i18n import has, t
from stilalarm.console.texts import (
    RISK_KEYS,
    clip,
    local_time,
    notice_text,
    person_name,
    room_label,
    source_sentence,
)
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import Notification, NotifyReason, RiskNote
from stilalarm.wire.messages.state import RECORD_MAX


def render(
    site: Site, fact: Notified, person_id: str, nid: uuid.UUID, incident: Incident | None
) -> Notification:
    """The notification for one recipient of a `Notified` fact, in their language."""
    if is_visit_notice(fact, incident):  # a home visit's notice has its own words
        return visit_notification(site, fact, person_id, nid, incident)
    ix = site.index
    lang = site.language_of(person_id) if person_id in ix.people else site.site.language
    own = notice_text(site, fact.text_key, fact.detail, lang)
    room_id: str | None
    if own is not None:  # after-care, daily button check: the text comes from the fact alone
        title, body = own
        room = fact.detail.get("room")
        room_id = room if room is not None and room in ix.rooms else None
    elif fact.incident_id is not None:
        title, body = _incident_text(site, fact, lang, incident)
        room_id = incident.room_id if incident else None
    else:
        title, body = _unit_text(site, fact, lang)
        unit = ix.units.get(fact.unit_id) if fact.unit_id is not None else None
        room_id = unit.room if unit is not None else None
    evacuate = room_label(site, fact.evacuate, lang) if fact.evacuate else None
    risk = risk_note(fact)
    return Notification(
        notification_id=nid,
        person_id=person_id,
        reason=fact.reason,
        incident_id=fact.incident_id,
        unit_id=fact.unit_id,
        room_id=room_id,
        level=min(fact.level, 20),
        call_101=fact.call_101,
        evacuate=clip(evacuate, 200) if evacuate else None,
        title=clip(title, 200),
        body=clip(body, 2000),
        at=fact.at,
        record=_record(fact),
        risk=risk,
    )


def _record(fact: Notified) -> str | None:
    """A completed registration's record for Preventie (too large for a notification: the export)."""
    done = ("registration_done", "registration_corrected")  # a correction after it was sent: the new one
    rec = fact.detail.get("record") if fact.text_key in done else None
    return rec if rec is not None and len(rec) <= RECORD_MAX else None


def risk_note(fact: Notified) -> RiskNote | None:
    """Which risky conversation a `risk_*` notice is about (None for any other notice)."""
    d = fact.detail
    if fact.text_key not in RISK_KEYS or "risk" not in d:
        return None
    state = {"risk_cancelled": "cancelled"}.get(
        fact.text_key, "confirmed" if d.get("confirmed") else "announced"
    )
    try:
        return RiskNote.model_validate(
            {
                "risk_id": d["risk"],
                "room_id": d["room"],
                "person_id": d["person"],
                "standby": d["standby"],
                "starts_at": d["starts_at"],
                "ends_at": d["ends_at"],
                "state": state,
            }
        )
    except (KeyError, ValueError):
        return None


def _incident_text(site: Site, f: Notified, lang: Language, inc: Incident | None) -> tuple[str, str]:
    if inc is None or inc.room_id is None:
        return f"{f.incident_id}", f"{f.reason.value} {f.incident_id}"
    room = room_label(site, inc.room_id, lang)
    team = site.index.teams[inc.team_id].name
    floor = site.index.rooms[inc.room_id].floor
    v = {
        "room": room,
        "team": team,
        "floor": f" ({floor})" if floor else "",
        "time": local_time(site, inc.stored_at, lang),
        "level": f.level,
        "incident": inc.id,
        "presses": f.detail.get("presses", str(inc.presses)),
        "name": person_name(site, f.detail.get("person", "")),
    }
    if f.text_key == "alarm":
        parts = [t("alarm_body", lang, **v)]
        source = source_sentence(site, inc.unit_id or "", inc.place, lang)
        if source:
            parts.append(source)
        if f.reason is NotifyReason.ESCALATION:
            parts.append(t("escalated", lang))
        elif f.reason is NotifyReason.REPEAT:
            parts.insert(0, t("repeat", lang))
        if f.call_101:
            parts.append(t("call_101", lang))
        if f.evacuate:
            parts.append(t("evacuate", lang, room=room_label(site, f.evacuate, lang)))
        return t("alarm_title", lang, **v), " ".join(parts)
    v["time"] = local_time(site, f.at, lang)
    if f.text_key == "remind":
        v["time"] = local_time(site, inc.stored_at, lang)
    key = {"ack": "ack", "again": "again", "remind": "remind", "resolved": "resolved"}.get(f.text_key, "ack")
    key = f.text_key if f.text_key in RESPONSE_NOTICES else key
    return t(f"{key}_title", lang, **v), t(f"{key}_body", lang, **v)


RESPONSE_NOTICES = ("declined", "on_site", "onsite_remind", "no_show", "danger", "danger_escalated")
"""The response notices (issue 16): each has its own `<key>_title` and `<key>_body` text."""


def _unit_text(site: Site, f: Notified, lang: Language) -> tuple[str, str]:
    if f.text_key in ("channel_fault", "channel_recovered"):
        return _channel_text(site, f, lang)
    uid = f.unit_id or ""
    unit = site.index.units.get(uid)
    room_id = unit.room if unit is not None else f.detail.get("room", "")
    room = room_label(site, room_id, lang) if room_id in site.index.rooms else room_id
    v: dict[str, object] = {"unit": uid, "room": room, **f.detail}
    if f.text_key in ("fault", "fault_cleared") and has(name := f"faultname.{f.detail.get('fault', '')}"):
        v["fault"] = t(name, lang)
    if f.text_key == "unprotected":
        v["room"] = room_label(site, f.detail.get("room", room_id), lang)
    if f.text_key == "offline_silent":
        last = f.detail.get("last")
        v["time"] = local_time(site, datetime.fromisoformat(last), lang) if last else "?"
    if f.text_key == "flapping":
        v["now"] = t(f"state_{f.detail.get('state', 'offline')}", lang)
    good = f.text_key in ("online", "fault_cleared", "flood_cleared", "clock_ok")
    title = t("recovered_title", lang, **v) if good else t("fault_title", lang, **v)
    try:
        body = t(f.text_key, lang, **v)
    except KeyError:
        body = f"{f.text_key}: {uid}"
    return title, body


def _channel_text(site: Site, f: Notified, lang: Language) -> tuple[str, str]:
    """A delivery channel that keeps failing (or works again), for facilities."""
    channel = f.detail.get("channel", "?")
    since = datetime.fromisoformat(f.detail["since"]) if "since" in f.detail else f.at
    if f.text_key == "channel_fault":
        body = channel_fault_text(site, channel, since, f.detail.get("reason", ""), lang)
        return t("fault_title", lang, unit=channel, room=""), body
    body = channel_recovered_text(site, channel, since, lang)
    return t("recovered_title", lang, unit=channel, room=""), body
