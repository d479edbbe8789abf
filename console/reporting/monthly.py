"""The monthly report for the board and the prevention service
(`alarm-console report --month YYYY-MM --format text|html|json`). Pure: records in, figures out."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console import i18n
from stilalarm.console.reporting.buttontests import site_buttons
from stilalarm.console.reporting.records import ButtonTestRecord, IncidentRecord, OfflineSpan, TestOutcome
from stilalarm.inventory.model import Site

UNREGISTERED = "niet_geregistreerd"


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of a month like '2026-11' in the site's time zone."""
    try:
        y, m = (int(x) for x in month.split("-"))
        start = datetime(y, m, 1, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(f"--month {month!r}: expected YYYY-MM, e.g. 2026-11") from exc
    end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=tz)
    return start, end


def previous_months(month: str, n: int) -> list[str]:
    """The n months before `month`, oldest first."""
    y, m = (int(x) for x in month.split("-"))
    out = []
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(f"{y:04d}-{m:02d}")
    return out[::-1]


@dataclass(frozen=True)
class MonthlyFigures:
    """Everything the monthly report shows, as plain numbers (the JSON format is this)."""

    month: str
    site: str
    incidents: int
    false_alarms: int
    per_team: dict[str, int]
    per_place_type: dict[str, int]
    per_aggression_type: dict[str, int]
    per_severity: dict[str, int]
    police_called: int
    trend: dict[str, int]  # month -> incidents, oldest first, this month last
    ack_median_s: float | None
    ack_p90_s: float | None
    ack_worst_s: float | None
    unacknowledged: int
    levels_reached: dict[str, int]  # "1", "2", "3", ... -> incidents whose highest level was that
    offline_hours: dict[str, float]  # unit -> hours offline within the month
    test_weeks: dict[str, float]  # ISO week -> % of buttons tested OK in that week
    buttons: int
    year: dict[str, int] = field(default_factory=dict)
    """The month against the previous twelve: month -> incidents and registrations, oldest first."""
    previous_twelve_avg: float = 0.0
    without_alarm: int = 0
    """Registrations that followed no alarm (counted in `incidents`)."""
    incomplete: int = 0
    """Registrations whose lead's part is not in yet."""
    declines: int = 0
    """'Kan niet komen' answers given for this month's incidents."""
    nobody_reachable: int = 0
    """Incidents where nobody on the whole escalation was reachable (the desk was told)."""
    on_site_median_s: float | None = None
    """Median seconds from the stored press to 'ter plaatse', over the incidents that had one."""


def _p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.9 * (len(s) - 1)))]


def _in(r: IncidentRecord, start: datetime, end: datetime) -> bool:
    """The incident falls in [start, end) by the console's time (a unit's clock may be wrong)."""
    return start <= r.stored_at < end


def compute(
    site: Site,
    month: str,
    incidents: list[IncidentRecord],
    offline: list[OfflineSpan],
    tests: list[ButtonTestRecord],
    now: datetime,
    trend_months: int = 5,
) -> MonthlyFigures:
    """The month's figures; `incidents` may hold earlier months too (for the trend)."""
    tz = ZoneInfo(site.site.timezone)
    start, end = month_bounds(month, tz)
    this = [r for r in incidents if _in(r, start, end)]
    real = [r for r in this if not (r.registration and r.registration.false_alarm)]
    team_names = {t.id: t.name for t in site.teams}

    per_type: Counter[str] = Counter()
    per_sev: Counter[str] = Counter()
    for r in real:
        if r.registration is None:
            per_type[UNREGISTERED] += 1
            per_sev[UNREGISTERED] += 1
            continue
        for t in r.registration.aggression_types:
            per_type[t.value] += 1
        if r.registration.severity is not None:
            per_sev[r.registration.severity.value] += 1
        else:  # a registration whose lead's part is not in yet
            per_sev[UNREGISTERED] += 1

    def count(mo: str) -> int:
        s, e = month_bounds(mo, tz)
        return sum(
            1 for r in incidents if _in(r, s, e) and not (r.registration and r.registration.false_alarm)
        )

    trend = {mo: count(mo) for mo in [*previous_months(month, trend_months), month]}
    twelve = previous_months(month, 12)
    year = {mo: trend[mo] if mo in trend else count(mo) for mo in [*twelve, month]}

    alarms = [r for r in real if r.kind != "registration"]  # a registration without alarm has no response
    acks = [r.ack_seconds for r in alarms if r.ack_seconds is not None]
    levels = Counter(str(r.levels_reached) for r in alarms)
    on_site = [r.on_site_seconds for r in alarms if r.on_site_seconds is not None]

    horizon = min(end, now)
    offline_h: dict[str, float] = {}
    for span in offline:
        s = max(span.start, start)
        e = min(span.end or horizon, horizon)
        if e > s:
            offline_h[span.unit_id] = offline_h.get(span.unit_id, 0.0) + (e - s).total_seconds() / 3600

    buttons = site_buttons(site)
    weeks: dict[str, float] = {}
    day = start.date()
    while day < end.date():
        iso = day.isocalendar()
        key = f"{iso.year}-W{iso.week:02d}"
        if key not in weeks:
            monday = date.fromisocalendar(iso.year, iso.week, 1)
            ws = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
            we = ws + timedelta(days=7)
            ok = {
                (t.unit_id, t.button_id)
                for t in tests
                if t.outcome is TestOutcome.OK and ws <= t.started_at < we
            }
            weeks[key] = round(100.0 * len(ok & set(buttons)) / len(buttons), 1) if buttons else 0.0
        day += timedelta(days=1)

    return MonthlyFigures(
        month=month,
        site=site.site.name,
        incidents=len(real),
        false_alarms=len(this) - len(real),
        per_team=dict(Counter(team_names.get(r.team_id, r.team_id) for r in real).most_common()),
        per_place_type=dict(Counter(r.room_kind for r in real).most_common()),
        per_aggression_type=dict(per_type.most_common()),
        per_severity=dict(per_sev.most_common()),
        police_called=sum(1 for r in real if r.registration and r.registration.police_called),
        trend=trend,
        ack_median_s=round(statistics.median(acks), 1) if acks else None,
        ack_p90_s=round(_p90(acks), 1) if acks else None,
        ack_worst_s=round(max(acks), 1) if acks else None,
        unacknowledged=sum(1 for r in alarms if r.acknowledged_at is None),
        levels_reached=dict(sorted(levels.items())),
        offline_hours={k: round(v, 2) for k, v in sorted(offline_h.items())},
        test_weeks=weeks,
        buttons=len(buttons),
        year=year,
        previous_twelve_avg=round(sum(year[m] for m in twelve) / 12, 1),
        without_alarm=sum(1 for r in real if r.kind == "registration"),
        incomplete=sum(1 for r in real if r.report is not None and r.report.completed_by is None),
        declines=sum(len(r.declined_by) for r in real),
        nobody_reachable=sum(1 for r in real if r.nobody_reachable),
        on_site_median_s=round(statistics.median(on_site), 1) if on_site else None,
    )


def render_json(f: MonthlyFigures) -> str:
    return json.dumps(asdict(f), ensure_ascii=False, indent=2) + "\n"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} s"


def render_text(f: MonthlyFigures, lang: str = "nl") -> str:
    L: list[str] = []

    def block(key: str, d: dict[str, int] | dict[str, float], unit: str = "", **v: object) -> None:
        L.append(i18n.t(key, lang, **v))
        if not d:
            L.append("  -")
        for k, val in d.items():
            L.append(f"  {k:<28} {val}{unit}")
        L.append("")

    L.append(i18n.t("report.month_title", lang, month=f.month, site=f.site))
    L.append("")
    L.append(
        i18n.t(
            "report.month_incidents",
            lang,
            incidents=f.incidents,
            false_alarms=f.false_alarms,
            police_called=f.police_called,
        )
    )
    L.append("")
    block("report.per_team", f.per_team)
    block("report.per_place_type", f.per_place_type)
    block("report.per_aggression", f.per_aggression_type)
    block("report.per_severity", f.per_severity)
    block("report.trend_text", f.trend)
    L.append(i18n.t("report.response_head", lang))
    L.append(
        i18n.t(
            "report.response_line",
            lang,
            median=_secs(f.ack_median_s),
            p90=_secs(f.ack_p90_s),
            worst=_secs(f.ack_worst_s),
        )
    )
    L.append(i18n.t("report.unacknowledged_line", lang, count=f.unacknowledged))
    L.append(
        i18n.t(
            "report.responses_line",
            lang,
            declines=f.declines,
            nobody=f.nobody_reachable,
            on_site=_secs(f.on_site_median_s),
        )
    )
    L.append("")
    block("report.levels", f.levels_reached)
    block("report.offline_hours", f.offline_hours)
    block("report.tests_per_week", f.test_weeks, " %", buttons=f.buttons)
    return "\n".join(L)
