"""The console's running risky conversations (no broker): the pure model's lines and confirm target,
and the Textual console showing them under the alarms with the key v confirming the stand-by."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Got, Up
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.risks import build_risks, confirm_target
from stilalarm.console.tui.texts import NL
from stilalarm.console.tui.widgets import Notice, Plain
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import ConsoleStatus, LinkState, Notification, RiskNote

SITE = parse_site(VISIT_SITE)
NOW = datetime(2026, 11, 25, 13, 5, tzinfo=UTC)  # 14:05 in Brussels


def told(person: str, state: str, risk_id: str = "r-1", minutes: float = 60) -> Notification:
    return Notification(
        notification_id=uuid.uuid4(),
        person_id=person,
        reason="info",
        title="Risicogesprek",
        body="…",
        at=NOW,
        risk=RiskNote(
            risk_id=risk_id,
            room_id="spreekkamer-1",
            person_id="hanne",
            standby="ilse",
            starts_at=NOW - timedelta(minutes=5),
            ends_at=NOW + timedelta(minutes=minutes),
            state=state,  # type: ignore[arg-type]
        ),
    )


def ctx(me: str) -> Ctx:
    return Ctx(SITE, me, NL)


def test_the_model_lists_running_conversations_and_what_v_confirms() -> None:
    rec = Received().with_notification(told("ilse", "announced"))
    rec = rec.with_notification(told("ilse", "announced", "r-old", minutes=-1))  # over already
    rows = build_risks(rec, ctx("ilse"), NOW)
    assert [r.risk_id for r in rows] == ["r-1"]
    line = "Risicogesprek · Spreekkamer 1 · 14:00–15:05 · Hanne Wouters · stand-by Ilse Jacobs"
    assert rows[0].text == line + " (nog niet bevestigd)"
    assert confirm_target(rows) == "r-1"
    assert confirm_target(build_risks(rec, ctx("an"), NOW)) is None  # a lead sees it, does not stand by
    rec = rec.with_notification(told("ilse", "confirmed"))
    assert confirm_target(build_risks(rec, ctx("ilse"), NOW)) is None
    assert build_risks(rec, ctx("ilse"), NOW)[0].text.endswith("(bevestigd)")
    rec = rec.with_notification(told("ilse", "cancelled"))
    assert build_risks(rec, ctx("ilse"), NOW) == ()


def test_the_console_shows_the_line_and_v_confirms() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "ilse", None, clock=lambda: NOW)
        async with app.run_test(size=(120, 30)) as pilot:
            app.apply(Up())
            app.apply(Got(ConsoleStatus(state=LinkState.ONLINE, at=NOW)))
            await pilot.press("v")
            assert "Geen risicogesprek" in app.query_one(Notice).plain
            app.apply(Got(told("ilse", "announced")))
            await pilot.pause()
            assert "stand-by Ilse Jacobs (nog niet bevestigd)" in app.query_one("#alarm-risks", Plain).plain
            await pilot.press("v")
            assert "Stand-by bevestigd voor risicogesprek r-1" in app.query_one(Notice).plain

    asyncio.run(go())
