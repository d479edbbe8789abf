"""How a home visit's notices are worded (pure): for the console (`visit_notification`, called by
`render.render`) and for e-mail and chat (`visit_rendered`, called by `texts.render`).

The client's name and the address appear only in the overdue incident's level notices
(`visit_overdue`, `visit_police`), so only to the people its escalation reaches, and only while it
is open: they come from the engine's state (`Incident.visit_private`), which is emptied when the
incident is resolved; no fact in the log carries them except `visit_details` (purged later).
Visit notices go to every channel of the person (`Notification.level` 0): the colleague may be
away from their desk (docs/VISITS.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.core.engine import Incident
from stilalarm.console.delivery.texts import Rendered, language_of, local_time
from stilalarm.console.facts import Notified
from stilalarm.console.i18n import t
from stilalarm.console.texts import clip, person_name
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import Person
from stilalarm.wire.messages import Notification, NotifyReason

EVENING = "visit_evening"
LEVEL_KEYS = frozenset({"visit_overdue", "visit_police"})
"""The notices that carry the address (and the client's name): the escalation's levels."""


def is_visit_notice(fact: Notified, incident: Incident | None) -> bool:
    """Whether a notice is about a home visit (its own words, here)."""
    return fact.text_key.startswith("visit_") or (incident is not None and incident.kind == "overdue")


def hhmm(site: Site, at: datetime) -> str:
    """A local wall-clock time, 17:30."""
    return at.astimezone(ZoneInfo(site.site.timezone)).strftime("%H:%M")


def visit_notification(
    site: Site, f: Notified, person_id: str, nid: uuid.UUID, inc: Incident | None
) -> Notification:
    """The console's notification of one home-visit notice for one person."""
    lang = site.language_of(person_id) if person_id in site.index.people else site.site.language
    call: str | None = None
    address: str | None = None
    visit_id: str | None
    if f.text_key == EVENING or inc is None:
        d = f.detail
        visitor = person_name(site, d.get("visitor", ""))
        v = {
            "visitor": visitor,
            "mobile": d.get("mobile", "?"),
            "planned": _when(site, d.get("planned_end")),
            "overdue": _when(site, d.get("overdue_at")),
        }
        title, body = t("visit_evening_title", lang, **v), t("visit_evening_body", lang, **v)
        call = t("visit_call", lang, **v)
        visit_id = d.get("visit")
    else:
        title, body, call, address = _incident_text(site, f, inc, lang)
        visit_id = inc.visit_id
    return Notification(
        notification_id=nid,
        person_id=person_id,
        reason=f.reason,
        incident_id=f.incident_id,
        level=0,  # every channel of the person (console, e-mail, chat): see the module docstring
        call_101=f.call_101,
        title=clip(title, 200),
        body=clip(body, 2000),
        at=f.at,
        visit_id=visit_id,
        call=clip(call, 200) if call else None,
        address=clip(address, 200) if address else None,
    )


def _when(site: Site, iso: str | None) -> str:
    if not iso:
        return "?"
    try:
        return hhmm(site, datetime.fromisoformat(iso))
    except ValueError:
        return "?"


def _incident_text(
    site: Site, f: Notified, inc: Incident, lang: Language
) -> tuple[str, str, str | None, str | None]:
    """(title, body, call, address) of a notice about an overdue visit."""
    client, address, mobile = inc.visit_private
    visitor = person_name(site, inc.visitor or "")
    v = {
        "visitor": visitor,
        "mobile": mobile or "?",
        "where": f"{client}, {address}" if client and address else (address or "?"),
        "address": address or "?",
        "planned": hhmm(site, inc.pressed_at),
        "time": hhmm(site, f.at),
        "incident": inc.id,
        "name": person_name(site, f.detail.get("person", "")),
        "by": person_name(site, f.detail.get("by", "")),
    }
    key = f.text_key
    if key in LEVEL_KEYS:
        title, body = t(f"{key}_title", lang, **v), t(f"{key}_body", lang, **v)
        if f.reason is NotifyReason.REPEAT:
            body = f"{t('repeat', lang)} {body}"
        return title, body, t("visit_call", lang, **v) if mobile else None, address or None
    if key == "visit_closed":
        how = "reached" if f.detail.get("how") == "reached" else "checked_in"
        return t("visit_closed_title", lang, **v), t(f"visit_closed_{how}", lang, **v), None, None
    if key == "remind":
        return t("visit_remind_title", lang, **v), t("visit_remind_body", lang, **v), None, None
    return t("visit_ack_title", lang, **v), t("visit_ack_body", lang, **v), None, None


def visit_rendered(site: Site, n: Notification, person: Person) -> Rendered:
    """A home visit's notice as e-mail and chat text: the console's words, whom to call and where."""
    lang = language_of(site, person)
    time_s, date_s = local_time(site, n.at, lang)
    facts = [n.body]
    if n.call:
        facts.append(n.call)
    if n.address:
        facts.append(t("visit_mail_address", lang, address=n.address))
    facts.append(t("mail.time", lang, time=time_s, date=date_s))
    lines = [*facts]
    if n.incident_id:
        lines += ["", t("mail.incident", lang, incident=n.incident_id)]
    footer = t("mail.footer", lang, site=site.site.name)
    body = "\n".join([*lines, "", "-- ", footer]) + "\n"
    return Rendered(subject=n.title, body=body, short="\n".join(facts))
