"""Issue 7 end to end: a real mosquitto, the real `alarm-console serve` subprocess, scripted units,
and the CLI as a subprocess: a test campaign gives the right `tests report`; a resolved incident
(with after-care) exports with every field; the monthly HTML report renders in headless Chromium.
Timeouts are for liveness only."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import EventKind, Notification, NotifyReason, parse
from stilalarm.wire.topics import Topics
from tests.e2e.test_report_browser import CHROMIUM_FLAGS, _chromium
from tests.harness import wait_until
from tests.rig import ConsoleRig

REGISTRATION_KEYS = (
    "registration_id",
    "reported_by",
    "reported_at",
    "what_happened",
    "wellbeing",
    "stalking",
    "telephone_stalking",
    "damage_belongings",
    "animals",
    "alcohol_drugs",
    "sexual_intimidation",
    "completed_by",
    "completed_at",
    "complete",
)
"""The registration's columns (issue 16), between the visit's and the responses'."""
SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]


Rig = ConsoleRig


def _snapshot(live: Path, copy: Path) -> Path:
    """A consistent copy of the live database (SQLite online backup), for reports that must agree."""
    src = sqlite3.connect(f"file:{live}?mode=ro", uri=True)
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return copy


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.stop()


def test_campaign_with_some_buttons_pressed_gives_the_right_tests_report(rig: Rig) -> None:
    # facilities open one window at a time, where they stand: balie-1, then the waiting room
    balie, wachtzaal = rig.unit("balie-1"), rig.unit("wachtzaal")
    campaign = ""
    for u in (balie, wachtzaal):
        out = rig.person("test", "start", "--as", "fien", "--room", u.unit_id, "--minutes", "5")
        campaign = next(w for w in out.split() if w.startswith("test-"))
        ev = u.press(EventKind.TEST, button="knop", campaign_id=campaign)
        wait_until(lambda u=u, ev=ev: u.receipt_for(ev.event_id) is not None, 10, "the test receipt")
        receipt = u.receipt_for(ev.event_id)
        assert receipt is not None and receipt.incident_id is None  # a test, not an alarm
    # balie-1's second button (voet) is never pressed
    rig.person("test", "stop", "--as", "fien", "--campaign", campaign)

    rep = rig.db("tests", "report", "--format", "json")  # default: this ISO week
    assert rep.returncode == 0, rep.stderr
    data = json.loads(rep.stdout)
    rows = {(b["unit"], b["button"]): b for b in data["buttons"]}
    assert set(rows) == {
        ("spreekkamer-1", "knop"),
        ("balie-1", "knop"),
        ("balie-1", "voet"),
        ("wachtzaal", "knop"),
        ("pager-an", "ik-kom"),
    }
    for key in (("balie-1", "knop"), ("wachtzaal", "knop")):
        b = rows[key]
        assert b["result"] == "ok" and b["tested_by"] == "fien" and b["led_confirmed"] is True
        assert b["latency_ms"] is not None and 0 <= b["latency_ms"] < 10_000 and b["tested_at"]
    for key in (("balie-1", "voet"), ("spreekkamer-1", "knop"), ("pager-an", "ik-kom")):
        assert rows[key]["result"] == "not_tested" and rows[key]["tested_by"] is None
    assert data["summary"] == "2/5 knoppen getest, 0 defect, 3 niet getest"

    text = rig.db("tests", "report", "--lang", "en")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.strip().splitlines()
    assert lines[-1] == "2/5 buttons tested, 0 faulty, 3 not tested"
    voet = next(line for line in lines if line.startswith("balie-1") and " voet " in line)
    assert "NOT TESTED" in voet
    knop = next(line for line in lines if line.startswith("balie-1") and " knop " in line)
    assert " OK " in knop and "fien" in knop

    bad = rig.db("tests", "report", "--week", "2026-48")
    assert bad.returncode == 2 and "YYYY-Www" in bad.stderr


def test_resolved_incident_exports_with_every_field_and_the_month_renders(rig: Rig, tmp_path: Path) -> None:
    unit = rig.unit("spreekkamer-1")
    ev = unit.press()
    wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the alarm receipt")
    receipt = unit.receipt_for(ev.event_id)
    assert receipt is not None and receipt.incident_id is not None
    inc = receipt.incident_id
    rig.person("ack", inc, "--as", "an")
    rig.person(
        *("resolve", inc, "--as", "an", "--type", "verbaal", "--type", "fysiek", "--severity", "geweld"),
        *("--police", "--pv", "PV-2026-0042", "--weapon", "--sanction", "waarschuwing"),
        *("--sanction", "toegangsverbod", "--aftercare", "opvang", "--aftercare", "psychologisch"),
        *("--occupational-accident", "--staff-member", "Jan Peeters", "--note", "Klant duwde de medewerker"),
    )
    refused = rig.cli("aftercare", "done", inc, "--as", "fien", "--broker-dir", str(rig.broker.dir))
    assert refused.returncode == 1 and "not_authorised" in refused.stderr
    rig.person("aftercare", "done", inc, "--as", "an", "--note", "gebeld, hervat morgen")

    tz = ZoneInfo(SITE.site.timezone)
    today = datetime.now(tz).date().isoformat()
    ex = rig.db("export", "--since", today, "--format", "json")
    assert ex.returncode == 0, ex.stderr
    (row,) = json.loads(ex.stdout)
    assert {
        k: row[k] for k in row if k not in ("date", "time", "pressed_at", "first_notified_at", "unit_time")
    } == {
        "incident_id": inc,
        "site": "fast",
        "building": "",
        "location": "Spreekkamer 1",
        "place_type": "spreekkamer",
        "department": "Sociale dienst",
        "unit": "spreekkamer-1",
        "staff_member": "Jan Peeters",
        "false_alarm": "nee",
        "aggression_types": "verbaal;fysiek",
        "severity": "geweld",
        "weapon": "ja",
        "police_called": "ja",
        "pv_number": "PV-2026-0042",
        "sanctions": "waarschuwing;toegangsverbod",
        "aftercare": "opvang;psychologisch",
        "occupational_accident": "ja",
        "description": "Klant duwde de medewerker",
        "presses": 1,
        "acknowledged_by": "an",
        "ack_seconds": row["ack_seconds"],
        "levels_reached": row["levels_reached"],
        "resolved_by": "an",
        "resolved_at": row["resolved_at"],
        "aftercare_reminders": "",
        "aftercare_done_by": "an",
        "aftercare_done_at": row["aftercare_done_at"],
        "aftercare_note": "gebeld, hervat morgen",
        "incident_kind": "alarm",
        "visit_address": "",
        **dict.fromkeys(REGISTRATION_KEYS, ""),  # resolved with the lead's fields, no victim's part filed
        "declined_by": "",
        "declines": 0,
        "on_site_seconds": "",
        "nobody_reachable": "nee",
        "presses_after_ack": 0,
        "corrected_by": "",
        "corrected_at": "",
    }
    assert row["date"] == today and row["pressed_at"].startswith(today) and row["time"] in row["pressed_at"]
    assert row["first_notified_at"] >= row["pressed_at"] and row["resolved_at"] >= row["first_notified_at"]
    assert row["aftercare_done_at"] >= row["resolved_at"] and isinstance(row["ack_seconds"], float)
    assert row["ack_seconds"] > 0 and row["levels_reached"] >= 1
    csv_out = tmp_path / "export.csv"
    assert rig.db("export", "--since", today, "--format", "csv", "--out", str(csv_out)).returncode == 0
    head, line = csv_out.read_text(encoding="utf-8").splitlines()
    assert head.startswith("incident,datum,tijdstip,site,gebouw,locatie") and inc in line
    # the lead heard nothing of after-care yet (the first reminder is due after a day)
    notes = [parse(Notification, p) for p in rig.seen.on(T.person_notify("an"))]
    assert not [n for n in notes if n.reason is NotifyReason.REMINDER]

    # The HTML and the JSON report come from one frozen copy of the log: the live one keeps
    # growing (the units nobody started go offline at their own pace), and two calls on it
    # could see a different set of offline units.
    frozen = _snapshot(rig.dir / "console.db", tmp_path / "frozen.db")
    month = datetime.now(tz).strftime("%Y-%m")
    page = tmp_path / "report.html"
    html = rig.db("report", "--month", month, "--format", "html", "--out", str(page), db=frozen)
    assert html.returncode == 0, html.stderr
    figures = json.loads(rig.db("report", "--month", month, "--format", "json", db=frozen).stdout)
    assert figures["incidents"] == 1 and figures["per_severity"] == {"geweld": 1}
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    keys = (
        "per_team",
        "per_place_type",
        "per_aggression_type",
        "per_severity",
        "trend",
        "levels_reached",
        "offline_hours",
        "test_weeks",
        "year",  # the month against the previous twelve (issue 16)
    )
    assert dom.count('class="chart"') == sum(1 for k in keys if figures[k])
    assert dom.count('class="bar"') == sum(len(figures[k]) for k in keys)
    assert f"Maandrapport agressie {month}" in dom
    assert rig.db("report", "--month", "2026-13").returncode == 2
