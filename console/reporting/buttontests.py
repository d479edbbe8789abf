"""Weekly button tests: per-button status and the report facilities hand in
(`alarm-console tests report --week YYYY-Www --format text|csv|json`)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from stilalarm.console.i18n import t
from stilalarm.console.reporting.records import ButtonTestRecord, TestOutcome
from stilalarm.inventory.kinds import UnitRole, Via
from stilalarm.inventory.model import Site

OK_FOR = timedelta(days=6)
"""A button tested OK less than this long ago is OK."""
DUE_AFTER = OK_FOR
OVERDUE_AFTER = timedelta(days=7)
"""A button whose last OK test is older than this (or that was never tested) is overdue."""


class TestState(StrEnum):
    __test__ = False  # not a pytest test class
    OK = "ok"
    DUE = "due"
    OVERDUE = "overdue"


def test_state(last_ok: datetime | None, now: datetime) -> TestState:
    """OK (tested in the last 6 days), due (6 to 7 days), overdue (older or never)."""
    if last_ok is None or now - last_ok > OVERDUE_AFTER:
        return TestState.OVERDUE
    if now - last_ok >= DUE_AFTER:
        return TestState.DUE
    return TestState.OK


def site_buttons(site: Site) -> list[tuple[str, str]]:
    """(unit id, button id) of every button facilities test weekly: desk units, pagers and desk
    phones' alarm keys; not a person's panic page (on their own phone, not in the building)."""
    return [(u.id, b.id) for u in site.units if u.via is not Via.APP for b in u.buttons]


def iso_week_bounds(week: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start (Monday 00:00 local) and end of an ISO week like '2026-W48'."""
    try:
        year_s, w_s = week.upper().split("-W")
        monday = date.fromisocalendar(int(year_s), int(w_s), 1)
    except ValueError as exc:
        raise ValueError(f"--week {week!r}: expected YYYY-Www, e.g. 2026-W48") from exc
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    return start, start + timedelta(days=7)


@dataclass(frozen=True)
class ButtonRow:
    unit_id: str
    button_id: str
    room_label: str
    team_id: str
    outcome: TestOutcome
    tested_at: datetime | None
    tested_by: str | None
    latency_ms: float | None
    led_confirmed: bool
    faults: tuple[str, ...]


@dataclass(frozen=True)
class WeekReport:
    week: str
    rows: tuple[ButtonRow, ...]

    @property
    def total(self) -> int:
        return len(self.rows)

    def count(self, outcome: TestOutcome) -> int:
        return sum(1 for r in self.rows if r.outcome is outcome)

    def summary(self, lang: str = "nl") -> str:
        """'38/40 knoppen getest, 1 defect, 1 niet getest'."""
        ok, bad, nt = (self.count(o) for o in (TestOutcome.OK, TestOutcome.FAILED, TestOutcome.NOT_TESTED))
        return t("report.tests_summary", lang, ok=ok, total=self.total, bad=bad, untested=nt)


_RANK = {TestOutcome.OK: 2, TestOutcome.FAILED: 1, TestOutcome.NOT_TESTED: 0}


def week_report(site: Site, week: str, records: list[ButtonTestRecord]) -> WeekReport:
    """Every button of the site with its best result in campaigns started in that week.

    A button pressed OK in any campaign of the week is OK; else failed if a fault was
    found; else not tested (also when no campaign covered it at all).
    """
    tz = ZoneInfo(site.site.timezone)
    start, end = iso_week_bounds(week, tz)
    best: dict[tuple[str, str], ButtonTestRecord] = {}
    for r in records:
        if not (start <= r.started_at < end):
            continue
        key = (r.unit_id, r.button_id)
        cur = best.get(key)
        if cur is None or _RANK[r.outcome] > _RANK[cur.outcome]:
            best[key] = r
    rows = []
    for unit_id, button_id in site_buttons(site):
        unit = site.unit(unit_id)
        room = site.room(unit.room)
        label = room.label + (t("report.pager", site.site.language) if unit.role is UnitRole.LEAD else "")
        rec = best.get((unit_id, button_id))
        rows.append(
            ButtonRow(
                unit_id=unit_id,
                button_id=button_id,
                room_label=label,
                team_id=room.team,
                outcome=rec.outcome if rec else TestOutcome.NOT_TESTED,
                tested_at=rec.tested_at if rec else None,
                tested_by=rec.started_by if rec and rec.outcome is not TestOutcome.NOT_TESTED else None,
                latency_ms=rec.latency_ms if rec else None,
                led_confirmed=rec.led_confirmed if rec else False,
                faults=rec.faults if rec else (),
            )
        )
    return WeekReport(week=week, rows=tuple(rows))


_COLUMNS = ("unit", "button", "location", "result", "tested_at", "by", "ms", "led", "faults")


def render_text(rep: WeekReport, tz: ZoneInfo, lang: str = "nl") -> str:
    head = tuple(t(f"report.col.{c}", lang) for c in _COLUMNS)
    table = [head]
    for r in rep.rows:
        table.append(
            (
                r.unit_id,
                r.button_id,
                r.room_label,
                t(f"report.outcome.{r.outcome.value}", lang),
                r.tested_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if r.tested_at else "-",
                r.tested_by or "-",
                f"{r.latency_ms:.0f}" if r.latency_ms is not None else "-",
                t("report.yes", lang) if r.led_confirmed else "-",
                ", ".join(r.faults) or "-",
            )
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    title = t("report.tests_title", lang, week=rep.week)
    lines = [title, ""]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines += ["", rep.summary(lang)]
    return "\n".join(lines) + "\n"


def _dicts(rep: WeekReport) -> list[dict[str, object]]:
    return [
        {
            "unit": r.unit_id,
            "button": r.button_id,
            "location": r.room_label,
            "team": r.team_id,
            "result": r.outcome.value,
            "tested_at": r.tested_at.isoformat() if r.tested_at else None,
            "tested_by": r.tested_by,
            "latency_ms": round(r.latency_ms, 1) if r.latency_ms is not None else None,
            "led_confirmed": r.led_confirmed,
            "faults": list(r.faults),
        }
        for r in rep.rows
    ]


def render_csv(rep: WeekReport) -> str:
    buf = io.StringIO()
    rows = _dicts(rep)
    keys = list(rows[0]) if rows else ["unit", "button"]
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\r\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()})
    return buf.getvalue()


def render_json(rep: WeekReport, lang: str = "nl") -> str:
    return (
        json.dumps(
            {"week": rep.week, "summary": rep.summary(lang), "buttons": _dicts(rep)},
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )
