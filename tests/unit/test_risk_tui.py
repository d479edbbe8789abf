"""The console's running risky conversations (no broker): the pure model's lines and confirm target
from the retained copies, and the Textual console showing them under the alarms with the key v
confirming the stand-by, and dropping a cleared one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Cleared, Got, Up
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.risks import build_risks, confirm_target
from stilalarm.console.tui.texts import NL
from stilalarm.console.tui.widgets import Notice, Plain
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import ConsoleStatus, LinkState, Notification, RiskState

SITE = parse_site(VISIT_SITE)
NOW = datetime(2026, 11, 25, 13, 5, tzinfo=UTC)  # 14:05 in Brussels


def held(confirmed: bool = False, risk_id: str = "r-1", minutes: float = 60) -> RiskState:
    """A retained copy of a running conversation (as the console service publishes it on risk/P/R)."""
    return RiskState(
        risk_id=risk_id,
        room_id="spreekkamer-1",
        person_id="hanne",
        standby="ilse",
        starts_at=NOW - timedelta(minutes=5),
        ends_at=NOW + timedelta(minutes=minutes),
        confirmed=confirmed,
    )


def told(person: str) -> Notification:
    return Notification(
        notification_id=uuid.uuid4(),
        person_id=person,
        reason="info",
        title="Risicogesprek",
        body="…",
        at=NOW,
    )


def ctx(me: str) -> Ctx:
    return Ctx(SITE, me, NL)


def test_the_model_lists_running_conversations_and_what_v_confirms() -> None:
    rec = Received().with_risk(held())
    rec = rec.with_risk(held(risk_id="r-old", minutes=-1))  # over already (the service was away)
    rows = build_risks(rec, ctx("ilse"), NOW)
    assert [r.risk_id for r in rows] == ["r-1"]
    line = "Risicogesprek · Spreekkamer 1 · 14:00–15:05 · Hanne Wouters · stand-by Ilse Jacobs"
    assert rows[0].text == line + " (nog niet bevestigd)"
    assert confirm_target(rows) == "r-1"
    assert confirm_target(build_risks(rec, ctx("an"), NOW)) is None  # a lead sees it, does not stand by
    rec = rec.with_risk(held(confirmed=True))
    assert confirm_target(build_risks(rec, ctx("ilse"), NOW)) is None
    assert build_risks(rec, ctx("ilse"), NOW)[0].text.endswith("(bevestigd)")
    assert build_risks(rec.without_risk("r-1"), ctx("ilse"), NOW) == ()  # cancelled or ended: cleared


def test_the_list_is_the_retained_state_notices_do_not_make_it() -> None:
    """A notice is only shown; a reconnect keeps what the broker delivered again and drops the rest."""
    rec = Received().connected().with_notification(told("ilse"))
    assert rec.risks == {}
    rec = rec.with_risk(held()).with_risk(held(risk_id="r-2"))
    rec = rec.connected().with_risk(held())  # after a reconnect only r-1 is delivered again
    assert set(rec.pruned().risks) == {"r-1"}


def test_the_console_shows_the_line_and_v_confirms() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "ilse", None, clock=lambda: NOW)
        async with app.run_test(size=(120, 30)) as pilot:
            app.apply(Up())
            app.apply(Got(ConsoleStatus(state=LinkState.ONLINE, at=NOW)))
            await pilot.press("v")
            assert "Geen risicogesprek" in app.query_one(Notice).plain
            app.apply(Got(held()))
            await pilot.pause()
            assert "stand-by Ilse Jacobs (nog niet bevestigd)" in app.query_one("#alarm-risks", Plain).plain
            await pilot.press("v")
            assert "Stand-by bevestigd voor risicogesprek r-1" in app.query_one(Notice).plain
            app.apply(Cleared("risk", "r-1"))  # cancelled, or the window ended
            await pilot.pause()
            assert "Risicogesprek" not in app.query_one("#alarm-risks", Plain).plain

    asyncio.run(go())
