"""The console TUI against a real mosquitto; the test plays the console service (link "console")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.widgets import AlarmBanner, Notice, StatusBar
from stilalarm.inventory import Site
from stilalarm.wire import messages as m
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    ConsoleStatus,
    IncidentState,
    IncidentStatus,
    LinkState,
    PresenceCmd,
    ResolveCmd,
    encode,
    parse_person_command,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import Capture


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


async def until(pilot: Pilot[int], pred: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Let the app run until `pred()` holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def publish(link: Link, topic: str, msg: BaseModel, retain: bool = True) -> None:
    link.publish(topic, encode(msg), qos=1, retain=retain).wait_for_publish(5)


def incident(iid: str, *, ago: float = 10, version: int = 1, **kw: Any) -> IncidentState:
    at = utcnow() - timedelta(seconds=ago)
    fields: dict[str, Any] = {
        "incident_id": iid,
        "unit_id": "spreekkamer-2",
        "room_id": "spreekkamer-2",
        "team_id": "sociale-dienst",
        "status": "open",
        "level": 1,
        "pressed_at": at,
        "stored_at": at,
        "presses": 1,
        "notified": ("an",),
        "version": version,
    }
    return IncidentState.model_validate({**fields, **kw})


def service_online(console: Link, topics: Topics) -> None:
    publish(console, topics.console_status(), ConsoleStatus(state=LinkState.ONLINE, at=utcnow()))


def app_for(broker: LocalBroker, site: Site, person: str = "an") -> ConsoleApp:
    return ConsoleApp(site, person, broker.creds(f"person-{person}"), resync_settle_s=0.5)


async def ready(pilot: Pilot[int], app: ConsoleApp) -> None:
    await until(pilot, lambda: app.rec.link_up and app.rec.console is not None, "connected, service status")


def sent(cap: Capture, topic: str) -> list:
    """The commands the console sent, without its own connect/exit announcements (console_link)."""
    return [c for c in map(parse_person_command, cap.on(topic)) if c.kind != "console_link"]


async def commands(pilot: Pilot[int], cap: Capture, topic: str, n: int = 1) -> list:
    """Wait for n commands (other than console announcements) on topic; return them parsed."""
    await until(pilot, lambda: len(sent(cap, topic)) >= n, f"{n} command(s) on {topic}")
    return sent(cap, topic)


def banner(app: ConsoleApp) -> AlarmBanner:
    return app.query_one(AlarmBanner)


def test_alarm_takes_over_ik_kom_sends_ack_and_banner_clears(broker, link, capture, topics, site) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("an"))
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            await pilot.press("f2")  # on another screen: the alarm must take over
            assert not app.query_one(StatusBar).has_class("alarm") and banner(app).banner is None
            publish(console, topics.incident("i-1"), incident("i-1", level=1))
            # the requirement: on screen within a second of publication
            await until(pilot, lambda: banner(app).banner is not None, "the alarm banner", timeout=1.0)
            assert "Spreekkamer 2 — Sociale dienst" in banner(app).plain
            assert banner(app).has_class("on") and app.view == "alarms" and app.bells >= 1
            await pilot.press("k")
            (cmd,) = await commands(pilot, cap, topics.person_cmd("an"))
            assert isinstance(cmd, AckCmd) and cmd.incident_id == "i-1" and cmd.person_id == "an"
            publish(
                console,
                topics.incident("i-1"),
                incident("i-1", status="acknowledged", acknowledged_by="an", version=2),
            )
            await until(pilot, lambda: banner(app).banner is None, "the banner to clear")
            assert not banner(app).has_class("on")
            (row,) = app.snap.alarms.rows  # still listed until resolved
            assert row.status is IncidentStatus.ACKNOWLEDGED and row.ack_by == "an"

    run(go())


def test_level_3_banner_says_call_101_and_evacuate(broker, link, topics, site) -> None:
    console = link("console")
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site, "bart")
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            st = incident(
                "i-3",
                unit_id="balie-1",
                room_id="balie-1",
                team_id="burgerzaken",
                level=3,
                call_101=True,
                evacuate="wachtzaal",
                notified=("bart", "an", "chris"),
            )
            publish(console, topics.incident("i-3"), st)
            await until(pilot, lambda: "BEL 101" in banner(app).plain, "BEL 101 on the banner")
            assert (
                "Evacueer de wachtzaal" in banner(app).plain and "Balie 1 — Burgerzaken" in banner(app).plain
            )
            assert banner(app).has_class("level3")

    run(go())


def test_with_two_open_alarms_ik_kom_acts_on_the_explicit_pick(broker, link, capture, topics, site) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("an"))
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            publish(console, topics.incident("i-old"), incident("i-old", ago=60))
            publish(
                console,
                topics.incident("i-new"),
                incident("i-new", ago=5, unit_id="spreekkamer-1", room_id="spreekkamer-1"),
            )
            await until(pilot, lambda: len(app.snap.alarms.rows) == 2, "two alarms listed")
            assert [r.incident_id for r in app.snap.alarms.rows] == ["i-old", "i-new"]
            assert "2 OPEN ALARMEN" in banner(app).plain
            await pilot.press("k")  # no pick yet: refused, nothing sent
            notice = app.query_one(Notice)
            assert "kies eerst" in notice.plain and notice.has_class("warn")
            await pilot.press("2")
            assert "GEKOZEN: #2 Spreekkamer 1" in banner(app).plain
            await pilot.press("k")
            (cmd,) = await commands(pilot, cap, topics.person_cmd("an"))
            assert isinstance(cmd, AckCmd) and cmd.incident_id == "i-new"
            await pilot.pause(0.2)
            assert len(sent(cap, topics.person_cmd("an"))) == 1  # the refused press sent nothing

    run(go())


def test_resolve_form_rejects_incomplete_input_and_sends_a_valid_resolve(
    broker, link, capture, topics, site
) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("an"))
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            publish(
                console, topics.incident("i-5"), incident("i-5", status="acknowledged", acknowledged_by="an")
            )
            await until(pilot, lambda: len(app.snap.alarms.rows) == 1, "the incident listed")
            await pilot.press("r")
            assert app.view == "resolve"
            await pilot.press("ctrl+s")
            error = app.query_one("#resolve-error")
            assert "Kies minstens één soort agressie" in getattr(error, "plain", "") and error.display
            await pilot.press("tab", "space")  # from 'vals alarm' to 'verbaal', tick it
            assert app.query_one("#r-type-verbaal", Checkbox).value
            await pilot.press("ctrl+s")
            assert "Kies de ernst" in getattr(error, "plain", "")
            app.query_one("#r-sev-agressie", RadioButton).value = True
            app.query_one("#r-police", Checkbox).value = True
            app.query_one("#r-pv", Input).value = "PV-2026-123"
            app.query_one("#r-note", Input).value = "klant dreigde"
            await pilot.pause()
            assert sent(cap, topics.person_cmd("an")) == []  # nothing sent while invalid
            await pilot.press("ctrl+s")
            (cmd,) = await commands(pilot, cap, topics.person_cmd("an"))
            assert isinstance(cmd, ResolveCmd) and cmd.incident_id == "i-5"
            reg = cmd.registration
            assert [a.value for a in reg.aggression_types] == ["verbaal"]
            assert reg.severity is not None and reg.severity.value == "agressie"
            assert reg.police_called and reg.pv_number == "PV-2026-123" and reg.note == "klant dreigde"
            assert app.view == "alarms"

    run(go())


def test_red_bar_when_the_broker_dies_and_gone_after_it_returns(broker, link, topics, site) -> None:
    console = link("console")
    service_online(console, topics)
    publish(console, topics.incident("i-7"), incident("i-7", notified=("bart",)))

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            bar = app.query_one(StatusBar)
            await until(pilot, lambda: len(app.snap.alarms.rows) == 1, "the retained incident")
            assert not bar.has_class("alarm")
            broker.kill()
            await until(pilot, lambda: bar.has_class("alarm"), "the red bar")
            assert "VERBINDING VERBROKEN" in bar.plain
            broker.start()
            # The broker saves every second, so a SIGKILL may lose the retained state; the
            # console service republishes its state when it reconnects. Play that here.
            await until(pilot, console.connected.is_set, "the console to reconnect", timeout=20)
            publish(console, topics.incident("i-7"), incident("i-7", notified=("bart",)))
            await until(pilot, lambda: not bar.has_class("alarm"), "the red bar to go", timeout=20)
            assert "verbonden" in bar.plain
            await pilot.pause(0.7)  # past the resync: retained state is still (again) there
            assert [r.incident_id for r in app.snap.alarms.rows] == ["i-7"]

    run(go())


def test_service_offline_shows_the_red_bar(broker, link, topics, site) -> None:
    console = link("console")
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            bar = app.query_one(StatusBar)
            publish(console, topics.console_status(), ConsoleStatus(state=LinkState.OFFLINE, at=utcnow()))
            await until(pilot, lambda: bar.has_class("alarm"), "the red bar")
            assert "ALARMCENTRALE OFFLINE" in bar.plain

    run(go())


def test_a_rejected_command_shows_its_reason(broker, link, capture, topics, site) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("an"))
    service_online(console, topics)

    async def go() -> None:
        app = app_for(broker, site)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            publish(console, topics.incident("i-8"), incident("i-8"))
            await until(pilot, lambda: banner(app).banner is not None, "the banner")
            await pilot.press("enter")
            (cmd,) = await commands(pilot, cap, topics.person_cmd("an"))
            reply = CommandReply(
                cmd_id=cmd.cmd_id, ok=False, code="already_acknowledged", reason="Bart komt al"
            )
            publish(console, topics.person_reply("an"), reply, retain=False)
            notice = app.query_one(Notice)
            await until(pilot, lambda: "GEWEIGERD: Bart komt al" in notice.plain, "the refusal")
            assert notice.has_class("error")

    run(go())


def test_facilities_start_a_room_test_and_presence_in_english(broker, link, capture, topics, site) -> None:
    console = link("console")
    cap = capture(topics.person_cmd("fien"))
    service_online(console, topics)
    console.publish(topics.incident("junk"), b"{not json", qos=1, retain=True).wait_for_publish(5)

    async def go() -> None:
        app = app_for(broker, site, "fien")
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            notice = app.query_one(Notice)
            await until(
                pilot, lambda: "Ignored an invalid message" in notice.plain, "the contract error shown"
            )
            await pilot.press("u", "down", "down", "down", "t")  # units, row 4: spreekkamer-1
            await until(pilot, lambda: len(app.screen_stack) == 2, "the test dialog")
            await pilot.press("down", "enter")  # option 2: this room
            (cmd,) = await commands(pilot, cap, topics.person_cmd("fien"))
            assert isinstance(cmd, m.TestStartCmd)
            assert (cmd.scope, cmd.target, cmd.minutes) == (m.TestScope.ROOM, "spreekkamer-1", 5)
            await pilot.press("w", "o")
            cmds = await commands(pilot, cap, topics.person_cmd("fien"), 2)
            assert isinstance(cmds[1], PresenceCmd) and cmds[1].present is False
            assert "Presence" in app.query_one("#top").plain  # English texts

    run(go())
