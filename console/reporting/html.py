"""The monthly report as one self-contained HTML file: inline CSS and SVG charts, no scripts,
no fonts or CDNs to fetch, so it opens anywhere and can be mailed to the board."""

from __future__ import annotations

from html import escape

from stilalarm.console import i18n
from stilalarm.console.reporting.monthly import MonthlyFigures

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;
color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin:1.8rem 0 .6rem}
.sub{color:#5b6474;margin-top:0}
.kpis{display:flex;flex-wrap:wrap;gap:.8rem}
.kpi{border:1px solid #d9dde5;border-radius:.5rem;padding:.7rem 1rem;min-width:9rem}
.kpi b{display:block;font-size:1.6rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(26rem,1fr));gap:1rem}
svg text{font-size:12px;fill:#1d2330}
table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #e6e9ef;text-align:left}
.warn{color:#a4161a;font-weight:600}
"""


def bar_chart(data: dict[str, int] | dict[str, float], unit: str = "", colour: str = "#2f5eb3") -> str:
    """Horizontal bar chart as inline SVG, with the value written next to each bar."""
    if not data:
        return '<p class="sub">—</p>'
    row_h, label_w, bar_w = 24, 170, 260
    top = max(max(data.values()), 1e-9)
    h = row_h * len(data) + 8
    parts = [
        f'<svg class="chart" role="img" width="{label_w + bar_w + 70}" height="{h}" '
        f'viewBox="0 0 {label_w + bar_w + 70} {h}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (k, v) in enumerate(data.items()):
        y = 4 + i * row_h
        w = max(2.0, bar_w * float(v) / top) if v else 0.0
        val = f"{v:g}{unit}"
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{escape(str(k))}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" '
            f'rx="3" fill="{colour}"><title>{escape(str(k))}: {escape(val)}</title></rect>'
        )
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{escape(val)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _kpi(value: str, label: str, warn: bool = False) -> str:
    cls = ' class="warn"' if warn else ""
    return f'<div class="kpi"><b{cls}>{escape(value)}</b>{escape(label)}</div>'


def render_html(f: MonthlyFigures, lang: str = "nl") -> str:
    """A complete HTML document for the month."""
    code = i18n.lang_code(lang)

    def say(key: str, **v: object) -> str:
        return i18n.t(f"report.html.{key}", code, **v)

    def secs(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f} s"

    sections = [
        ("team", bar_chart(f.per_team)),
        ("place", bar_chart(f.per_place_type)),
        ("type", bar_chart(f.per_aggression_type, colour="#b3412f")),
        ("sev", bar_chart(f.per_severity, colour="#b3412f")),
        ("trend", bar_chart(f.trend, colour="#4a4a4a")),
        ("year", bar_chart(f.year, colour="#2f5eb3")),
        (
            "levels",
            bar_chart(
                {say("level", level=k): v for k, v in f.levels_reached.items()},
                colour="#8a5a00",
            ),
        ),
        ("offline", bar_chart(f.offline_hours, " h", colour="#6b6b6b")),
        ("tests", bar_chart(f.test_weeks, " %", colour="#2e7d32")),
    ]
    body = "".join(f"<section><h2>{escape(say(k))}</h2>{chart}</section>" for k, chart in sections)
    kpis = "".join(
        [
            _kpi(str(f.incidents), say("incidents")),
            _kpi(str(f.false_alarms), say("false")),
            _kpi(str(f.police_called), say("police")),
            _kpi(secs(f.ack_median_s), say("median")),
            _kpi(f"{secs(f.ack_p90_s)}", say("p90")),
            _kpi(secs(f.ack_worst_s), say("worst")),
            _kpi(str(f.unacknowledged), say("unack"), warn=f.unacknowledged > 0),
            _kpi(f"{f.previous_twelve_avg:g}", say("avg12")),
            _kpi(str(f.without_alarm), say("without_alarm")),
            _kpi(str(f.incomplete), say("incomplete"), warn=f.incomplete > 0),
        ]
    )
    title = escape(say("title"))
    return (
        f'<!doctype html><html lang="{code}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title} {escape(f.month)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{title} {escape(f.month)}</h1><p class="sub">{escape(f.site)}</p>'
        f'<div class="kpis">{kpis}</div><div class="grid">{body}</div></body></html>\n'
    )
