"""The monthly HTML report renders in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stilalarm.console.reporting import monthly
from stilalarm.console.reporting.html import render_html
from tests.unit.test_reporting import november

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium missing: run scripts/ensure-chromium.sh (make test does)")
    return exe


def test_monthly_html_renders_in_headless_chromium(site, tmp_path: Path) -> None:
    f = monthly.compute(site, "2026-11", november(site), [], [], datetime(2026, 12, 5, tzinfo=UTC))
    page = tmp_path / "report.html"
    page.write_text(render_html(f), encoding="utf-8")
    base = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    # The browser parsed the document and built the charts: one per non-empty figure,
    # one bar per category.
    datasets = (
        f.per_team,
        f.per_place_type,
        f.per_aggression_type,
        f.per_severity,
        f.trend,
        f.levels_reached,
        f.offline_hours,
        f.test_weeks,
        f.year,
    )
    assert dom.count('class="chart"') == sum(1 for d in datasets if d) == 8
    assert dom.count('class="bar"') == sum(len(d) for d in datasets)
    assert "Maandrapport agressie 2026-11" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real page, not a blank one
