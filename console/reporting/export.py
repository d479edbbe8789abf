"""Registration export for the dienst Preventie en Veiligheid (`alarm-console export`).

Column keys are stable (documented in docs/EXPORT.md); headers are Dutch by default.
Only what the protocol's registration needs is exported. Every time is the console's own
(when it stored the press); the unit's clock is only the `unit_time` column.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stilalarm.console.reporting.records import IncidentRecord, RegReport


@dataclass(frozen=True)
class Column:
    key: str
    nl: str
    en: str
    get: Callable[[IncidentRecord, ZoneInfo], Any]


def _local(ts: datetime | None, tz: ZoneInfo) -> str:
    if ts is None:
        return ""
    try:
        return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError):  # a unit's clock at the very edge of the calendar
        return ts.isoformat()


def _pressed(r: IncidentRecord) -> datetime | None:
    return None if r.kind == "registration" else r.stored_at


def _unit_time(r: IncidentRecord) -> datetime | None:
    return None if r.kind == "registration" else r.pressed_at


def _rep(r: IncidentRecord, attr: str) -> str:
    v = getattr(r.report, attr) if r.report is not None else None
    return "" if v is None else str(v)


def _rep_at(r: IncidentRecord, attr: str) -> datetime | None:
    rep: RegReport | None = r.report
    at: datetime | None = getattr(rep, attr) if rep is not None else None
    return at


def _special(r: IncidentRecord, name: str) -> str:
    if r.report is None:
        return ""
    return "ja" if name in r.report.special else "nee"


def _complete(r: IncidentRecord) -> str:
    if r.report is None:
        return ""
    return "ja" if r.report.completed_by is not None else "nee"


def _reg(attr: str) -> Callable[[IncidentRecord, ZoneInfo], Any]:
    def get(r: IncidentRecord, _tz: ZoneInfo) -> Any:
        if r.registration is None:
            return ""
        v = getattr(r.registration, attr)
        if isinstance(v, tuple):
            return ";".join(str(x) for x in v)
        if isinstance(v, bool):
            return "ja" if v else "nee"
        return "" if v is None else str(v)

    return get


COLUMNS: tuple[Column, ...] = (
    Column("incident_id", "incident", "incident", lambda r, tz: r.incident_id),
    Column("date", "datum", "date", lambda r, tz: r.stored_at.astimezone(tz).strftime("%Y-%m-%d")),
    Column("time", "tijdstip", "time", lambda r, tz: r.stored_at.astimezone(tz).strftime("%H:%M:%S")),
    Column("site", "site", "site", lambda r, tz: r.site_id),
    Column("building", "gebouw", "building", lambda r, tz: r.building),
    Column("location", "locatie", "location", lambda r, tz: r.room_label),
    Column("place_type", "type_plaats", "place_type", lambda r, tz: r.room_kind),
    Column("department", "dienst", "department", lambda r, tz: r.team_name),
    Column("unit", "toestel", "unit", lambda r, tz: r.unit_id),
    Column("staff_member", "medewerker", "staff_member", _reg("staff_member")),
    Column("false_alarm", "vals_alarm", "false_alarm", _reg("false_alarm")),
    Column("aggression_types", "vorm_agressie", "aggression_types", _reg("aggression_types")),
    Column("severity", "ernst", "severity", _reg("severity")),
    Column("weapon", "wapen", "weapon", _reg("weapon")),
    Column("police_called", "politie_gebeld_101", "police_called", _reg("police_called")),
    Column("pv_number", "pv_nummer", "pv_number", _reg("pv_number")),
    Column("sanctions", "sancties", "sanctions", _reg("sanctions")),
    Column("aftercare", "nazorg", "aftercare", _reg("aftercare")),
    Column("occupational_accident", "arbeidsongeval", "occupational_accident", _reg("occupational_accident")),
    Column("description", "omschrijving", "description", _reg("note")),
    Column("pressed_at", "tijd_druk", "pressed_at", lambda r, tz: _local(_pressed(r), tz)),
    Column("presses", "aantal_drukken", "presses", lambda r, tz: r.presses),
    Column(
        "first_notified_at",
        "eerste_melding",
        "first_notified_at",
        lambda r, tz: _local(r.first_notified_at, tz),
    ),
    Column("acknowledged_by", "erkend_door", "acknowledged_by", lambda r, tz: r.acknowledged_by or ""),
    Column(
        "ack_seconds",
        "reactietijd_s",
        "ack_seconds",
        lambda r, tz: "" if r.ack_seconds is None else round(r.ack_seconds, 1),
    ),
    Column("levels_reached", "hoogste_niveau", "levels_reached", lambda r, tz: r.levels_reached),
    Column("resolved_by", "afgehandeld_door", "resolved_by", lambda r, tz: r.resolved_by or ""),
    Column("resolved_at", "afgehandeld_op", "resolved_at", lambda r, tz: _local(r.resolved_at, tz)),
    Column(
        "aftercare_reminders",
        "nazorg_herinneringen",
        "aftercare_reminders",
        lambda r, tz: ";".join(_local(t, tz) for t in r.aftercare_reminded_at),
    ),
    Column("aftercare_done_by", "nazorg_door", "aftercare_done_by", lambda r, tz: r.aftercare_done_by or ""),
    Column(
        "aftercare_done_at",
        "nazorg_gegeven_op",
        "aftercare_done_at",
        lambda r, tz: _local(r.aftercare_done_at, tz),
    ),
    Column("aftercare_note", "nazorg_notitie", "aftercare_note", lambda r, tz: r.aftercare_note),
    Column("unit_time", "tijd_eenheid", "unit_time", lambda r, tz: _local(_unit_time(r), tz)),
    Column("incident_kind", "soort_incident", "incident_kind", lambda r, tz: r.kind),
    Column("visit_address", "adres_huisbezoek", "visit_address", lambda r, tz: r.visit_address),
    # the registration's two parts (docs/REGISTRATION.md); empty for an alarm nobody filed a part for
    Column("registration_id", "registratie", "registration_id", lambda r, tz: _rep(r, "registration_id")),
    Column("reported_by", "gemeld_door", "reported_by", lambda r, tz: _rep(r, "victim")),
    Column("reported_at", "gemeld_op", "reported_at", lambda r, tz: _local(_rep_at(r, "filed_at"), tz)),
    Column("what_happened", "wat_gebeurd", "what_happened", lambda r, tz: _rep(r, "what_happened")),
    Column("wellbeing", "welzijn", "wellbeing", lambda r, tz: _rep(r, "how_are_you")),
    Column("stalking", "stalking", "stalking", lambda r, tz: _special(r, "stalking")),
    Column(
        "telephone_stalking",
        "telefonische_stalking",
        "telephone_stalking",
        lambda r, tz: _special(r, "telephone_stalking"),
    ),
    Column(
        "damage_belongings",
        "schade_spullen",
        "damage_belongings",
        lambda r, tz: _special(r, "damage_belongings"),
    ),
    Column("animals", "dieren", "animals", lambda r, tz: _special(r, "animals")),
    Column("alcohol_drugs", "alcohol_drugs", "alcohol_drugs", lambda r, tz: _special(r, "alcohol_drugs")),
    Column(
        "sexual_intimidation",
        "seksuele_intimidatie",
        "sexual_intimidation",
        lambda r, tz: _special(r, "sexual_intimidation"),
    ),
    Column("completed_by", "aangevuld_door", "completed_by", lambda r, tz: _rep(r, "completed_by")),
    Column(
        "completed_at", "aangevuld_op", "completed_at", lambda r, tz: _local(_rep_at(r, "completed_at"), tz)
    ),
    Column("complete", "volledig", "complete", lambda r, tz: _complete(r)),
    Column("declined_by", "kan_niet_komen", "declined_by", lambda r, tz: ";".join(r.declined_by)),
    Column("declines", "aantal_kan_niet_komen", "declines", lambda r, tz: len(r.declined_by)),
    Column(
        "on_site_seconds",
        "ter_plaatse_s",
        "on_site_seconds",
        lambda r, tz: "" if r.on_site_seconds is None else round(r.on_site_seconds, 1),
    ),
    Column(
        "nobody_reachable",
        "niemand_bereikbaar",
        "nobody_reachable",
        lambda r, tz: "ja" if r.nobody_reachable else "nee",
    ),
    Column("presses_after_ack", "gedrukt_na_ik_kom", "presses_after_ack", lambda r, tz: r.presses_after_ack),
    # corrections of a registration's part (docs/REGISTRATION.md): the parts above are the newest
    Column(
        "corrected_by",
        "gecorrigeerd_door",
        "corrected_by",
        lambda r, tz: ";".join(r.report.corrected_by) if r.report else "",
    ),
    Column(
        "corrected_at",
        "gecorrigeerd_op",
        "corrected_at",
        lambda r, tz: _local(r.report.corrected_at if r.report else None, tz),
    ),
)


def rows(records: Iterable[IncidentRecord], tz: ZoneInfo) -> list[dict[str, Any]]:
    """One dict per record, keyed by the stable column keys, oldest first (console time)."""
    ordered = sorted(records, key=lambda r: (r.stored_at, r.incident_id))
    return [{c.key: c.get(r, tz) for c in COLUMNS} for r in ordered]


def to_csv(records: Iterable[IncidentRecord], tz: ZoneInfo, lang: str = "nl") -> str:
    """UTF-8 CSV, header row in the chosen language (nl or en)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([c.nl if lang == "nl" else c.en for c in COLUMNS])
    for row in rows(records, tz):
        w.writerow([row[c.key] for c in COLUMNS])
    return buf.getvalue()


def to_json(records: Iterable[IncidentRecord], tz: ZoneInfo) -> str:
    """JSON array of objects with the stable keys (values as in the CSV)."""
    return json.dumps(rows(records, tz), ensure_ascii=False, indent=2) + "\n"


def columns_doc() -> str:
    """Markdown table of the columns (docs/EXPORT.md is generated from this)."""
    lines = ["| key | Dutch header | English header |", "|---|---|---|"]
    lines += [f"| `{c.key}` | `{c.nl}` | `{c.en}` |" for c in COLUMNS]
    return "\n".join(lines)
