"""Helpers to render the console service's texts per recipient (the texts are in `stilalarm.console.i18n`).

Pure functions: they take the inventory, ids and times, and return strings. The
shell picks the language per recipient with `Site.language_of`.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.core.engine.regowed import panic_page_person
from stilalarm.console.i18n import fmt_time, t
from stilalarm.inventory.kinds import Language, Via
from stilalarm.inventory.model import Site


def local_time(site: Site, at: datetime, lang: Language | None = None) -> str:
    """`at` as a wall-clock time (10:42:05) in the site's time zone, written the way `lang` does
    (the site's language when None)."""
    return fmt_time(at, ZoneInfo(site.site.timezone), lang or site.site.language)


def room_label(site: Site, room_id: str, lang: Language) -> str:
    """A room's label in `lang` (English label when given, else the Dutch one)."""
    room = site.room(room_id)
    return room.label_en if lang is Language.EN and room.label_en else room.label


def building_name(site: Site, building_id: str, lang: Language) -> str:
    """A building's name in `lang` (English name when given, else the Dutch one; the id when unknown)."""
    b = site.index.buildings.get(building_id)
    if b is None:
        return building_id
    return b.name_en if lang is Language.EN and b.name_en else b.name


def person_name(site: Site, person_id: str) -> str:
    """A person's display name (the id when unknown)."""
    try:
        return site.person(person_id).name
    except KeyError:
        return person_id


def holder_of(site: Site, unit_id: str) -> str | None:
    """The person whose panic page a web unit (via = app) is, from its live token; else None."""
    return panic_page_person(site, unit_id)


def source_sentence(site: Site, unit_id: str, place: str, lang: Language) -> str:
    """How the alarm came in, for a web unit: the desk phone's key, or whose panic page and where."""
    unit = site.index.units.get(unit_id)
    if unit is None or unit.via is Via.GPIO:
        return ""
    if unit.via is Via.PHONE:
        return t("via_phone", lang)
    holder = holder_of(site, unit_id)
    said = t("via_app", lang, name=person_name(site, holder) if holder else unit_id)
    return f"{said} {t('place', lang, place=place)}" if place else said


def clip(s: str, n: int) -> str:
    """Cut `s` to at most `n` characters (wire fields have maximum lengths)."""
    return s if len(s) <= n else s[: n - 1] + "…"


RISK_KEYS = frozenset(
    {"risk_standby", "risk_announced", "risk_outside_hours", "risk_confirmed", "risk_cancelled"}
    | {"risk_start", "risk_start_unconfirmed"}
)
"""A risky conversation's notices (docs/RISKY.md): their text comes from the fact's `detail`."""
NOTICE_KEYS = (
    frozenset({"tests_overdue", "rooms_untested", "aftercare", "test_press"})
    | {"registration_remind", "registration_remind_victim", "registration_done"}
    | {"registration_corrected"}
    | {"team_unstaffed", "team_staffed"}
    | {"building_unreachable", "building_reachable"}
    | {"queue_unlimited", "standby_missing", "standby_back", "standby_older"}
    | {"node_silent", "node_back"}
    | RISK_KEYS
)
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
    if "building" in detail:
        v["building"] = building_name(site, detail["building"], lang)
    if "since" in detail:
        v["since"] = local_time(site, datetime.fromisoformat(detail["since"]), lang)
    for who in ("by", "person", "standby"):
        if who in detail:
            v[who] = person_name(site, detail[who])
    v.setdefault("buttons", "-")
    return t(f"{text_key}_title", lang, **v), t(f"{text_key}_body", lang, **v)
