"""Generate the SVG screenshots of the console TUI into docs/screenshots/ (scripted state, fixed clock).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

No broker is needed: the app runs headless without credentials and is fed the same bus
events the MQTT glue would deliver, so the pictures are reproducible.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Checkbox, Input  # noqa: E402

from stilalarm.console.tui.app import ConsoleApp  # noqa: E402
from stilalarm.console.tui.bus import Down, Got, Up  # noqa: E402
from stilalarm.inventory import Site, load_site  # noqa: E402
from stilalarm.wire.messages import (  # noqa: E402
    AggressionType,
    ConsoleStatus,
    IncidentState,
    IncidentTimeline,
    LinkState,
    Notification,
    PlaceKind,
    PresenceState,
    RegistrationTodo,
    RegistrationTodoItem,
    RiskState,
    TimelineEntry,
    UnitHealth,
)

NOW = datetime(2026, 11, 24, 13, 42, 7, tzinfo=UTC)  # 14:42 in Brussels, a Tuesday


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def incident(iid: str, room: str, team: str, pressed: float, **kw: object) -> IncidentState:
    base: dict[str, object] = dict(
        incident_id=iid,
        unit_id=room,
        room_id=room,
        team_id=team,
        status="open",
        level=1,
        pressed_at=ago(pressed),
        stored_at=ago(pressed - 0.1),
        presses=1,
        version=1,
    )
    return IncidentState.model_validate({**base, **kw})


def events(person: str) -> list[object]:
    """A busy afternoon: a level-3 alarm, one acknowledged, history, unit health, presence."""
    evs: list[object] = [Up(), Got(ConsoleStatus(state=LinkState.ONLINE, at=ago(3600)))]
    l3 = incident(
        "i-0042",
        "balie-2",
        "burgerzaken",
        75,
        level=3,
        call_101=True,
        evacuate="wachtzaal",
        notified=("bart", "an", "chris", "els", "dirk"),
        version=4,
    )
    acked = incident(
        "i-0041",
        "spreekkamer-2",
        "sociale-dienst",
        260,
        status="acknowledged",
        level=1,
        notified=("an",),
        acknowledged_by="an",
        acknowledged_at=ago(248),
        version=3,
    )
    done = incident(
        "i-0039",
        "onthaal",
        "onthaal",
        26 * 3600,
        status="resolved",
        level=2,
        notified=("chris", "bart"),
        acknowledged_by="bart",
        acknowledged_at=ago(26 * 3600 - 41),
        resolved_by="bart",
        resolved_at=ago(25 * 3600),
        version=6,
    )
    older = incident(
        "i-0036",
        "spreekkamer-1",
        "sociale-dienst",
        3 * 86400,
        status="resolved",
        notified=("an",),
        acknowledged_by="an",
        resolved_by="an",
        version=4,
    )
    evs += [Got(x) for x in (l3, acked, done, older)]
    t0 = 26 * 3600
    evs.append(
        Got(
            IncidentTimeline(
                incident_id="i-0039",
                version=6,
                entries=(
                    TimelineEntry(at=ago(t0), kind="pressed", text="knop links"),
                    TimelineEntry(at=ago(t0 - 0.2), kind="stored"),
                    TimelineEntry(at=ago(t0 - 0.3), kind="notified", person_id="chris", level=1),
                    TimelineEntry(at=ago(t0 - 30), kind="escalated", level=2),
                    TimelineEntry(at=ago(t0 - 30.1), kind="notified", person_id="bart", level=2),
                    TimelineEntry(at=ago(t0 - 41), kind="acknowledged", person_id="bart"),
                    TimelineEntry(
                        at=ago(25 * 3600), kind="resolved", person_id="bart", text="verbaal · boosheid"
                    ),
                ),
            )
        )
    )
    for uid in (
        "balie-1",
        "balie-3",
        "spreekkamer-1",
        "spreekkamer-2",
        "spreekkamer-3",
        "wachtzaal",
        "pager-an",
    ):
        evs.append(
            Got(
                UnitHealth(
                    unit_id=uid,
                    online=True,
                    since=ago(86400),
                    last_heartbeat=ago(3),
                    firmware_version="0.4.1",
                    last_test_ok=ago(2 * 86400),
                )
            )
        )
    evs.append(
        Got(
            UnitHealth(
                unit_id="balie-2",
                online=True,
                last_heartbeat=ago(2),
                firmware_version="0.4.1",
                test_mode=True,
                test_until=ago(-600),
                last_test_ok=ago(9 * 86400),
            )
        )
    )
    evs.append(
        Got(
            UnitHealth(
                unit_id="onthaal",
                online=False,
                since=ago(1800),
                last_heartbeat=ago(1805),
                faults=("links: cut",),
                firmware_version="0.4.0",
                last_test_ok=ago(12 * 86400),
            )
        )
    )
    for pid, present in (("chris", False), ("bart", False), ("dirk", True)):
        evs.append(Got(PresenceState(person_id=pid, present=present, at=ago(5000))))
    if person in l3.notified:
        evs.append(
            Got(
                Notification(
                    notification_id=uuid.UUID(int=42),
                    person_id=person,
                    reason="escalation",
                    incident_id="i-0042",
                    room_id="balie-2",
                    unit_id="balie-2",
                    level=3,
                    call_101=True,
                    evacuate="wachtzaal",
                    title="ALARM Balie 2",
                    body="Bel 101",
                    at=ago(15),
                )
            )
        )
    return evs


def registrations_and_risk() -> list[object]:
    """For An: a risky conversation in spreekkamer-1 with her as the stand-by colleague, and two
    registrations of her team that lack the lead's part (one with a weapon)."""
    risk = RiskState(
        risk_id="r-0007",
        room_id="spreekkamer-1",
        person_id="dirk",
        standby="an",
        starts_at=ago(600),
        ends_at=ago(-1800),
        confirmed=True,
    )
    items = (
        RegistrationTodoItem(
            registration_id="m-0012",
            team_id="sociale-dienst",
            victim="els",
            filed_at=ago(2 * 86400),
            occurred_at=ago(2 * 86400 + 600),
            place_kind=PlaceKind.TELEFOON,
            what_happened="Klant belde voor de derde keer deze week en dreigde ons 'op te wachten'.",
            aggression_types=(AggressionType.VERBAAL,),
            telephone_stalking=True,
            stalking=True,
            reminders_sent=1,
        ),
        RegistrationTodoItem(
            registration_id="m-0014",
            team_id="sociale-dienst",
            victim="dirk",
            filed_at=ago(3 * 3600),
            occurred_at=ago(3 * 3600 + 900),
            place_kind=PlaceKind.SPREEKKAMER,
            room_id="spreekkamer-2",
            what_happened="Klant haalde een mes boven toen de aanvraag geweigerd werd.",
            aggression_types=(AggressionType.VERBAAL, AggressionType.FYSIEK),
            how_are_you="Geschrokken, gaat wel.",
            weapon=True,
        ),
    )
    return [Got(risk), Got(RegistrationTodo(person_id="an", at=ago(5), items=items))]


def feed(app: ConsoleApp) -> None:
    for ev in events(app.ctx.me):
        app.apply(ev)  # type: ignore[arg-type]


async def fill_resolve(app: ConsoleApp, pilot: Pilot[int]) -> None:
    """Bart acknowledged the level-3 alarm; his form is half filled in and was refused (no severity)."""
    old = app.rec.incidents["i-0042"].model_dump()
    taken = IncidentState.model_validate(
        {**old, "status": "acknowledged", "acknowledged_by": "bart", "acknowledged_at": ago(60), "version": 5}
    )
    app.apply(Got(taken))
    await pilot.pause()
    await pilot.press("1", "r")
    app.query_one("#r-type-verbaal", Checkbox).value = True
    app.query_one("#r-type-fysiek", Checkbox).value = True
    app.query_one("#r-police", Checkbox).value = True
    app.query_one("#r-pv", Input).value = "HZ.55.L3.012345/26"
    app.query_one("#r-note", Input).value = "Klant duwde medewerker weg; politie ter plaatse om 14:52."
    await pilot.press("ctrl+s")
    await pilot.pause()


async def shoot(site: Site, out: Path) -> list[Path]:
    written: list[Path] = []

    def save(app: ConsoleApp, name: str) -> None:
        app.save_screenshot(name, str(out))
        written.append(out / name)

    # Bart (lead of Burgerzaken): alarms with the level-3 banner, then he takes it and resolves it
    app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app)
        await pilot.pause()
        save(app, "alarms-level3.svg")
        await fill_resolve(app, pilot)
        save(app, "resolve.svg")
        await pilot.press("escape", "h", "down", "down")
        await pilot.pause()
        save(app, "history-timeline.svg")
        await pilot.press("w")
        await pilot.pause()
        save(app, "presence.svg")
        await pilot.press("a")
        app.apply(Down("broker gone"))
        await pilot.pause()
        save(app, "alarms-connection-lost.svg")

    app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
    async with app.run_test(size=(100, 46)) as pilot:
        feed(app)
        await fill_resolve(app, pilot)
        save(app, "resolve-full.svg")

    # Two open alarms: the choice is explicit
    app = ConsoleApp(site, "an", None, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        feed(app)
        app.apply(Got(incident("i-0043", "spreekkamer-3", "sociale-dienst", 12, notified=("an",))))
        await pilot.pause()
        save(app, "alarms-pick.svg")

    # Fien (facilities, English): units
    app = ConsoleApp(site, "fien", None, clock=lambda: NOW)
    async with app.run_test(size=(100, 24)) as pilot:
        feed(app)
        await pilot.press("u")
        await pilot.pause()
        save(app, "units-en.svg")

    # An (lead of Sociale dienst): a running risky conversation, then the registrations to complete
    app = ConsoleApp(site, "an", None, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        feed(app)
        for ev in registrations_and_risk():
            app.apply(ev)  # type: ignore[arg-type]
        await pilot.pause()
        save(app, "alarms-risky.svg")
        await pilot.press("m")
        await pilot.pause()
        save(app, "registrations.svg")
        await pilot.press("enter")
        await pilot.pause()
        save(app, "registration-form.svg")

    # a bigger terminal
    app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
    async with app.run_test(size=(120, 32)) as pilot:
        feed(app)
        await pilot.pause()
        save(app, "alarms-120x32.svg")
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    p.add_argument("--site", type=Path, default=ROOT / "examples" / "site.toml")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(load_site(args.site), args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
