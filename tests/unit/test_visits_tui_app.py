"""The Textual console with an overdue home visit (no broker): the colleague's banner and line, and
the keys b ('bereikt, alles ok') and g ('geen antwoord') acting on it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from textual.widgets import DataTable

from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Got, Up
from stilalarm.console.tui.widgets import AlarmBanner, Notice
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import ConsoleStatus, IncidentState, LinkState, Notification

SITE = parse_site(VISIT_SITE)
NOW = datetime(2026, 11, 25, 15, 40, tzinfo=UTC)
ADDRESS = "Kerkstraat 12, Heusden"


def overdue(**kw: object) -> IncidentState:
    base: dict[str, object] = dict(
        incident_id="20261125-0001",
        kind="overdue",
        team_id="sociale-dienst",
        status="open",
        level=1,
        pressed_at=NOW - timedelta(minutes=20),
        stored_at=NOW - timedelta(minutes=5),
        presses=1,
        notified=("ilse",),
        visit_id="v-1",
        visitor="hanne",
        planned_end=NOW - timedelta(minutes=20),
        version=2,
    )
    return IncidentState.model_validate({**base, **kw})


def note() -> Notification:
    return Notification(
        notification_id=uuid.uuid4(),
        person_id="ilse",
        reason="alarm",
        incident_id="20261125-0001",
        title="HUISBEZOEK TE LAAT — bel Hanne Wouters",
        body="Bel Hanne Wouters op 0470 12 34 56 ...",
        at=NOW - timedelta(minutes=5),
        visit_id="v-1",
        call="Bel Hanne Wouters op 0470 12 34 56",
        address=ADDRESS,
    )


def row_text(app: ConsoleApp) -> str:
    """The first row of the Alarms table, as text."""
    table = app.query_one("#alarm-table", DataTable)
    return " ".join(str(getattr(c, "plain", c)) for c in table.get_row_at(0))


def test_the_colleague_sees_whom_to_call_and_answers_with_b_or_g() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "ilse", None, clock=lambda: NOW)
        async with app.run_test(size=(100, 30)) as pilot:
            app.apply(Up())
            app.apply(Got(ConsoleStatus(state=LinkState.ONLINE, at=NOW)))
            app.apply(Got(note()))
            app.apply(Got(overdue()))
            await pilot.pause()
            banner = app.query_one(AlarmBanner).plain
            assert "Huisbezoek Hanne Wouters" in banner and "b = bereikt" in banner
            assert f"Bel Hanne Wouters op 0470 12 34 56 · {ADDRESS}" in banner
            assert f"Bel Hanne Wouters op 0470 12 34 56 · {ADDRESS}" in row_text(app)
            await pilot.press("g")
            assert "'Geen antwoord' verzonden voor #1" in app.query_one(Notice).plain
            await pilot.press("b")
            assert "'Bereikt, alles ok' verzonden voor #1" in app.query_one(Notice).plain
            await pilot.press("h", "b")  # history screen: b does nothing there
            assert app.view == "history"

    asyncio.run(go())


def test_a_lead_not_yet_reached_sees_no_address() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "chris", None, clock=lambda: NOW)
        async with app.run_test(size=(100, 30)) as pilot:
            app.apply(Up())
            app.apply(Got(overdue()))
            await pilot.pause()
            text = row_text(app)
            assert "Huisbezoek Hanne Wouters" in text and "gepland tot 16:20" in text
            assert ADDRESS not in text and "0470" not in text

    asyncio.run(go())
