"""The Textual app without a broker: demo hook, keys per screen, 80x24 layout, and `main()` errors."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stilalarm.console.tui import main
from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Down, Got, Up
from stilalarm.console.tui.widgets import AlarmBanner, Notice, StatusBar
from stilalarm.inventory import Site
from stilalarm.wire.messages import ConsoleStatus, IncidentState, LinkState, Notification, NotifyReason

NOW = datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def online(app: ConsoleApp) -> None:
    app.apply(Up())
    app.apply(Got(ConsoleStatus(state=LinkState.ONLINE, at=NOW)))


def state(iid: str, **kw: object) -> IncidentState:
    at = NOW - timedelta(seconds=30)
    base: dict[str, object] = dict(
        incident_id=iid,
        unit_id="balie-2",
        room_id="balie-2",
        team_id="burgerzaken",
        status="open",
        level=1,
        pressed_at=at,
        stored_at=at,
        presses=1,
        notified=("bart",),
        version=1,
    )
    return IncidentState.model_validate({**base, **kw})


def test_demo_hook_presses_the_picked_unit(site: Site) -> None:
    pressed: list[str] = []
    done = threading.Event()

    def press(unit_id: str) -> None:
        pressed.append(unit_id)
        done.set()

    async def go() -> None:
        app = ConsoleApp(site, "bart", None, on_demo_press=press, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p")
            assert len(app.screen_stack) == 2
            await pilot.press("down", "enter")  # the second desk unit
            for _ in range(100):
                if done.is_set():
                    break
                await pilot.pause(0.02)
            assert pressed == ["balie-2"]
            assert "balie-2" in app.query_one(Notice).plain

    asyncio.run(go())


def test_demo_dialog_number_keys_pick_the_shown_unit(site: Site) -> None:
    pressed: list[str] = []
    done = threading.Event()

    def press(unit_id: str) -> None:
        pressed.append(unit_id)
        done.set()

    async def go() -> None:
        app = ConsoleApp(site, "bart", None, on_demo_press=press, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p", "5")  # the list shows "5  Spreekkamer 2 (spreekkamer-2)"
            for _ in range(100):
                if done.is_set():
                    break
                await pilot.pause(0.02)
            assert pressed == ["spreekkamer-2"]
            assert len(app.screen_stack) == 1

    asyncio.run(go())


def test_without_the_hook_p_does_nothing(site: Site) -> None:
    async def go() -> None:
        app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("p")
            assert len(app.screen_stack) == 1

    asyncio.run(go())


def test_state_fed_directly_draws_bar_banner_and_takes_over(site: Site) -> None:
    async def go() -> None:
        app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            bar = app.query_one(StatusBar)
            assert bar.has_class("alarm") and "GEEN VERBINDING" in bar.plain
            online(app)
            await pilot.pause()
            assert not bar.has_class("alarm")
            await pilot.press("h")
            assert app.view == "history"
            app.apply(Got(state("i-1")))
            await pilot.pause()
            assert app.view == "alarms" and app.bells == 1
            assert "Balie 2 — Burgerzaken" in app.query_one(AlarmBanner).plain
            app.apply(Down("test"))
            await pilot.pause()
            assert bar.has_class("alarm") and "VERBINDING VERBROKEN" in bar.plain
            # the list stays visible (marked stale by the bar), the banner too
            assert app.query_one(AlarmBanner).banner is not None
            app.apply(Got(state("i-1", version=2, status="acknowledged", acknowledged_by="bart")))
            await pilot.pause()
            assert app.query_one(AlarmBanner).banner is None and app.bells == 1

    asyncio.run(go())


def test_keys_only_act_on_their_screen(site: Site) -> None:
    async def go() -> None:
        app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            online(app)
            app.apply(Got(state("i-1")))
            await pilot.press("w", "k")  # presence screen: k is not Ik kom there
            assert "Ik kom" not in app.query_one(Notice).plain
            await pilot.press("a", "r")
            assert app.view == "resolve"
            await pilot.press("escape")
            assert app.view == "alarms"
            await pilot.press("u")
            assert app.view == "units" and app.focused is not None and app.focused.id == "unit-table"

    asyncio.run(go())


def note(reason: str, title: str, iid: str | None = None, n: int = 0) -> Notification:
    return Notification(
        notification_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{reason}/{title}/{n}"),
        person_id="bart",
        reason=NotifyReason(reason),
        incident_id=iid,
        title=title,
        body="...",
        at=NOW,
    )


def test_a_notification_sent_again_is_taken_once(site: Site) -> None:
    """The service re-sends a notification it had no confirmation of at its restart, with the same
    id (docs/CONSOLE.md): the copy neither takes the screen over again nor replaces a later notice."""

    async def go() -> None:
        app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            online(app)
            app.apply(Got(state("i-1")))
            await pilot.press("h")
            alarm = note("alarm", "ALARM Balie 2", "i-1")
            app.apply(Got(alarm))
            await pilot.pause()
            assert app.view == "alarms" and app.bells == 2  # the state, then my page
            await pilot.press("h")
            app.apply(Got(alarm))  # the copy
            await pilot.pause()
            assert app.view == "history" and app.bells == 2
            first, second = note("fault", "STORING een"), note("fault", "STORING twee")
            app.apply(Got(first))
            app.apply(Got(second))
            app.apply(Got(first))  # its copy
            await pilot.pause()
            assert "STORING twee" in app.query_one(Notice).plain
            app.apply(Got(note("fault", "STORING een", n=1)))  # a new one, the same words
            await pilot.pause()
            assert "STORING een" in app.query_one(Notice).plain

    asyncio.run(go())


def test_main_refuses_missing_or_mismatched_config(tmp_path: Path) -> None:
    assert main([]) == 2
    assert main(["--as", "an", "--broker-dir", str(tmp_path), "--site", "examples/site.toml"]) == 2
    cfg = tmp_path / "people" / "an.json"
    cfg.parent.mkdir()
    cfg.write_text(
        json.dumps(
            {
                "site_id": "other-site",
                "person_id": "an",
                "language": "nl",
                "broker": {
                    "site_id": "other-site",
                    "username": "person-an",
                    "password": "x" * 20,
                    "host": "127.0.0.1",
                    "port": 1,
                },
            }
        )
    )
    assert main(["--as", "an", "--broker-dir", str(tmp_path), "--site", "examples/site.toml"]) == 2
    assert main(["--as", "bart", "--config", str(cfg), "--site", "examples/site.toml"]) == 2
