"""Registration export, weekly test report and monthly figures, against hand-checked numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stilalarm.console.reporting import buttontests, export, monthly
from stilalarm.console.reporting.html import render_html
from stilalarm.console.reporting.records import ButtonTestRecord, IncidentRecord, OfflineSpan, TestOutcome
from stilalarm.wire.messages import Registration

TZ = ZoneInfo("Europe/Brussels")


def reg(**kw: object) -> Registration:
    base: dict[str, object] = {"aggression_types": ("verbaal",), "severity": "boosheid"}
    base.update(kw)
    return Registration.model_validate(base)


def inc(
    n: int,
    pressed: datetime,
    *,
    room: str = "spreekkamer-2",
    kind: str = "spreekkamer",
    team: str = "sociale-dienst",
    team_name: str = "Sociale dienst",
    ack_after: float | None = 20,
    levels: int = 1,
    registration: Registration | None = None,
) -> IncidentRecord:
    return IncidentRecord(
        incident_id=f"i-{n}",
        site_id="hz-gemeentehuis",
        building="Gemeentehuis",
        room_id=room,
        room_label=room.replace("-", " ").title(),
        room_kind=kind,
        team_id=team,
        team_name=team_name,
        unit_id=room,
        pressed_at=pressed,
        stored_at=pressed + timedelta(milliseconds=3),
        presses=1,
        first_notified_at=pressed + timedelta(milliseconds=5),
        levels_reached=levels,
        acknowledged_by="an" if ack_after is not None else None,
        acknowledged_at=pressed + timedelta(seconds=ack_after) if ack_after is not None else None,
        resolved_by="an",
        resolved_at=pressed + timedelta(minutes=10),
        registration=registration,
    )


def november(site) -> list[IncidentRecord]:
    d = lambda day, h=10: datetime(2026, 11, day, h, 0, tzinfo=TZ).astimezone(UTC)  # noqa: E731
    return [
        # 5 real incidents in November 2026, 1 false alarm, 1 in October, 1 in December
        inc(1, d(2), ack_after=12, levels=1, registration=reg(aggression_types=("verbaal",))),
        inc(
            2,
            d(5),
            ack_after=40,
            levels=2,
            registration=reg(aggression_types=("verbaal", "fysiek"), severity="agressie", police_called=True),
        ),
        inc(
            3,
            d(9),
            room="balie-1",
            kind="balie",
            team="burgerzaken",
            team_name="Burgerzaken",
            ack_after=75,
            levels=3,
            registration=reg(
                aggression_types=("fysiek",),
                severity="geweld",
                police_called=True,
                pv_number="PV-123",
                weapon=True,
            ),
        ),
        inc(
            4,
            d(17),
            room="balie-2",
            kind="balie",
            team="burgerzaken",
            team_name="Burgerzaken",
            ack_after=8,
            levels=1,
            registration=reg(aggression_types=("psychisch",)),
        ),
        inc(5, d(28), ack_after=None, levels=3, registration=None),  # unacknowledged, unregistered
        inc(6, d(20), ack_after=3, registration=Registration(false_alarm=True)),
        inc(7, datetime(2026, 10, 30, 9, tzinfo=TZ).astimezone(UTC), registration=reg()),
        inc(8, datetime(2026, 12, 1, 0, 30, tzinfo=TZ).astimezone(UTC), registration=reg()),
    ]


def test_monthly_figures_match_hand_count(site) -> None:
    now = datetime(2026, 12, 5, tzinfo=UTC)
    offline = [
        OfflineSpan("balie-1", datetime(2026, 11, 3, 8, tzinfo=TZ), datetime(2026, 11, 3, 10, 30, tzinfo=TZ)),
        # started in October: only the November part counts (1 h)
        OfflineSpan("wachtzaal", datetime(2026, 10, 31, 23, tzinfo=TZ), datetime(2026, 11, 1, 1, tzinfo=TZ)),
    ]
    f = monthly.compute(site, "2026-11", november(site), offline, [], now)
    assert f.incidents == 5 and f.false_alarms == 1
    assert f.per_team == {"Sociale dienst": 3, "Burgerzaken": 2}
    assert f.per_place_type == {"spreekkamer": 3, "balie": 2}
    assert f.per_aggression_type == {"verbaal": 2, "fysiek": 2, "psychisch": 1, "niet_geregistreerd": 1}
    assert f.police_called == 2
    # acknowledged: 12, 40, 75, 8 s -> median 26, p90 = sorted[round(0.9*3)=3] = 75, worst 75
    assert (f.ack_median_s, f.ack_p90_s, f.ack_worst_s, f.unacknowledged) == (26.0, 75.0, 75.0, 1)
    assert f.levels_reached == {"1": 2, "2": 1, "3": 2}
    assert f.offline_hours == {"balie-1": 2.5, "wachtzaal": 1.0}
    assert f.trend["2026-10"] == 1 and f.trend["2026-11"] == 5 and list(f.trend)[-1] == "2026-11"
    assert len(f.trend) == 6
    text = monthly.render_text(f)
    assert "Incidenten: 5 (valse alarmen: 1)" in text and "mediaan 26 s" in text
    assert json.loads(monthly.render_json(f))["per_team"] == {"Sociale dienst": 3, "Burgerzaken": 2}


def test_html_report_is_self_contained(site) -> None:
    f = monthly.compute(site, "2026-11", november(site), [], [], datetime(2026, 12, 5, tzinfo=UTC))
    html = render_html(f)
    assert html.startswith("<!doctype html>") and "<svg" in html
    for forbidden in ("http://", "https://", "<script", "<link"):
        assert forbidden not in html.replace('xmlns="http://www.w3.org/2000/svg"', ""), forbidden
    assert "Maandrapport agressie 2026-11" in html
    assert "Monthly aggression report" in render_html(f, "en")


def test_export_has_every_field_in_stable_columns(site) -> None:
    recs = [r for r in november(site) if r.incident_id == "i-3"]
    text = export.to_csv(recs, TZ)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1
    row = rows[0]
    assert row["datum"] == "2026-11-09" and row["tijdstip"] == "10:00:00"  # local time
    assert row["locatie"] == "Balie 1" and row["type_plaats"] == "balie" and row["dienst"] == "Burgerzaken"
    assert row["vorm_agressie"] == "fysiek" and row["ernst"] == "geweld" and row["wapen"] == "ja"
    assert row["politie_gebeld_101"] == "ja" and row["pv_nummer"] == "PV-123"
    assert row["reactietijd_s"] == "75.0" and row["hoogste_niveau"] == "3" and row["erkend_door"] == "an"
    en = next(iter(csv.DictReader(io.StringIO(export.to_csv(recs, TZ, lang="en")))))
    assert en["place_type"] == "balie"
    js = json.loads(export.to_json(recs, TZ))
    assert js[0]["incident_id"] == "i-3" and set(js[0]) == {c.key for c in export.COLUMNS}


def _campaign(
    unit: str, button: str, outcome: TestOutcome, started: datetime, **kw: object
) -> ButtonTestRecord:
    return ButtonTestRecord(
        campaign_id="c-1",
        unit_id=unit,
        button_id=button,
        room_id=unit,
        room_label=unit,
        team_id="t",
        started_at=started,
        started_by="fien",
        outcome=outcome,
        **kw,  # type: ignore[arg-type]
    )


def test_week_report_counts_every_button(site) -> None:
    start = datetime(2026, 11, 24, 9, tzinfo=TZ)  # Tuesday of 2026-W48
    recs = [
        _campaign(
            "balie-1",
            "knop",
            TestOutcome.OK,
            start,
            tested_at=start + timedelta(minutes=2),
            latency_ms=4.2,
            led_confirmed=True,
        ),
        _campaign("balie-2", "knop", TestOutcome.FAILED, start, faults=("cut",)),
        _campaign("balie-3", "knop", TestOutcome.NOT_TESTED, start),
        # an earlier failed campaign for balie-1 the same week does not override the OK
        _campaign("balie-1", "knop", TestOutcome.FAILED, start - timedelta(hours=1)),
        # last week's test does not count for W48
        _campaign("onthaal", "links", TestOutcome.OK, start - timedelta(days=7)),
    ]
    rep = buttontests.week_report(site, "2026-W48", recs)
    total = sum(len(u.buttons) for u in site.units if u.via.value != "app")  # not a panic page
    assert rep.total == total == 14  # 12 wired buttons and two desk phones' keys
    assert rep.summary() == "1/14 knoppen getest, 1 defect, 12 niet getest"
    assert rep.summary("en") == "1/14 buttons tested, 1 faulty, 12 not tested"
    text = buttontests.render_text(rep, TZ)
    assert "DEFECT" in text and "cut" in text and text.rstrip().endswith("12 niet getest")
    js = json.loads(buttontests.render_json(rep))
    b1 = next(b for b in js["buttons"] if b["unit"] == "balie-1")
    assert b1["result"] == "ok" and b1["tested_by"] == "fien" and b1["latency_ms"] == 4.2
    assert "balie-2,knop" in buttontests.render_csv(rep).replace('"', "")


def test_test_state_ok_due_overdue() -> None:
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert buttontests.test_state(now - timedelta(days=2), now) is buttontests.TestState.OK
    assert buttontests.test_state(now - timedelta(days=6, hours=1), now) is buttontests.TestState.DUE
    assert buttontests.test_state(now - timedelta(days=8), now) is buttontests.TestState.OVERDUE
    assert buttontests.test_state(None, now) is buttontests.TestState.OVERDUE


def test_bad_week_and_month_say_the_format() -> None:
    with pytest.raises(ValueError, match="YYYY-Www"):
        buttontests.iso_week_bounds("2026-48", TZ)
    with pytest.raises(ValueError, match="YYYY-MM"):
        monthly.month_bounds("nov 2026", TZ)


def test_export_columns_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "EXPORT.md").read_text(encoding="utf-8")
    assert export.columns_doc() in doc, "docs/EXPORT.md is out of date with console/reporting/export.py"
