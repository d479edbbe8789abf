"""The Meldingen view: the registrations a lead still has to complete, built by the pure core for
one person only (their teams), and the TUI's list and form of the lead's part (Textual pilot, no
broker): validated by the CLI's own `RegistrationCompleteCmd`, texts in the person's language."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from textual.widgets import Checkbox, Input, RadioButton

from stilalarm.console.core import engine
from stilalarm.console.core.engine import EngineState, PersonCmdIn
from stilalarm.console.core.engine.regtodo import CLIP_TO, todo_items, todo_message
from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Cleared, Got, Up
from stilalarm.console.tui.regpanes import CompletePane, RegistrationsPane
from stilalarm.console.tui.widgets import Notice, TopLine
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    MAX_PAYLOAD_BYTES,
    AggressionType,
    ConsoleStatus,
    LinkState,
    PlaceKind,
    RegistrationCompleteCmd,
    RegistrationFileCmd,
    RegistrationTodo,
    Severity,
    encode,
    parse,
)

SITE = parse_site(VISIT_SITE)  # sociale-dienst: lead an, deputy dirk; onthaal: lead chris, deputy bart
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
WHAT = "De klant schold mij uit en sloeg met de vuist op de balie."


def filed(s: EngineState, reg: str, person: str = "hanne", t: float = 0, **kw: object) -> EngineState:
    kw.setdefault("place_kind", PlaceKind.BALIE)
    kw.setdefault("what_happened", WHAT)
    kw.setdefault("aggression_types", (AggressionType.VERBAAL,))
    cmd = RegistrationFileCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, registration_id=reg, **kw)
    s, _ = engine.step(s, PersonCmdIn(cmd), T0 + timedelta(seconds=t))
    return s


def completed(s: EngineState, reg: str, person: str = "an") -> EngineState:
    cmd = RegistrationCompleteCmd(
        cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, registration_id=reg, severity=Severity.BOOSHEID
    )
    s, _ = engine.step(s, PersonCmdIn(cmd), T0 + timedelta(seconds=99))
    return s


def ids(s: EngineState, person: str) -> list[str]:
    items, more = todo_items(s, person)
    assert more == 0
    return [i.registration_id for i in items]


def test_the_list_is_the_incomplete_registrations_of_the_persons_own_teams() -> None:
    s = EngineState.initial(SITE)
    s = filed(s, "reg-1", "hanne", weapon=True, room_id="spreekkamer-1", place_kind=PlaceKind.SPREEKKAMER)
    s = filed(s, "reg-2", "ilse", t=5)
    s = filed(s, "reg-3", "els", t=9, room_id="balie-1")  # reception, in no team: the room's team
    assert ids(s, "an") == ["reg-1", "reg-2"] and ids(s, "dirk") == ["reg-1", "reg-2"]
    assert ids(s, "chris") == ["reg-3"] and ids(s, "bart") == ["reg-3"]
    for nobody in ("hanne", "ilse", "els", "fien"):  # the victims and others complete nothing
        assert ids(s, nobody) == []
    (first, _), _ = todo_items(s, "an")
    assert first.victim == "hanne" and first.weapon and first.what_happened == WHAT and not first.clipped
    assert first.room_id == "spreekkamer-1" and first.place_kind is PlaceKind.SPREEKKAMER
    assert completed(s, "reg-1").registrations == s.registrations  # a weapon needs more than boosheid
    s = completed(s, "reg-2")
    assert ids(s, "an") == ["reg-1"] and ids(s, "dirk") == ["reg-1"] and ids(s, "chris") == ["reg-3"]


def test_a_long_list_fits_one_message_shortened_and_says_how_many_more() -> None:
    s = EngineState.initial(SITE)
    long = "é" * 3990 + " — einde"
    for n in range(40):
        s = filed(s, f"reg-{n:02d}", "hanne", t=n, what_happened=long)
    items, more = todo_items(s, "an")
    assert items and more == 40 - len(items) and more > 0
    assert all(i.clipped and len(i.what_happened) == CLIP_TO for i in items)
    assert [i.registration_id for i in items] == [f"reg-{n:02d}" for n in range(len(items))]  # oldest first
    payload = encode(todo_message("an", items, more, T0))
    assert len(payload) <= MAX_PAYLOAD_BYTES
    assert parse(RegistrationTodo, payload).more == more
    short = filed(EngineState.initial(SITE), "reg-x", what_happened=long)
    (only,), none = todo_items(short, "an")
    assert none == 0 and only.what_happened == long and not only.clipped  # one fits whole


def todo(*regs: str, person: str = "an", weapon: bool = False) -> RegistrationTodo:
    s = EngineState.initial(SITE)
    for n, reg in enumerate(regs):
        s = filed(s, reg, "hanne" if n % 2 == 0 else "ilse", t=n, weapon=weapon, how_are_you="Geschrokken.")
    items, more = todo_items(s, person)
    return todo_message(person, items, more, T0)


def keys_shown(app: ConsoleApp) -> str:
    """The footer's key descriptions (the bindings shown and allowed on the current screen)."""
    return " ".join(
        a.binding.description for a in app.active_bindings.values() if a.binding.show and a.enabled
    )


def ready(app: ConsoleApp) -> None:
    app.apply(Up())
    app.apply(Got(ConsoleStatus(state=LinkState.ONLINE, at=T0)))


def test_meldingen_lists_opens_the_form_and_validates_with_the_clis_model() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "an", None, clock=lambda: T0 + timedelta(hours=1))
        async with app.run_test(size=(80, 24)) as pilot:
            ready(app)
            await pilot.press("m")
            assert app.view == "registrations"
            pane = app.query_one(RegistrationsPane)
            assert "Geen meldingen" in pane.query_one("#reg-summary").plain  # type: ignore[attr-defined]
            app.apply(Got(todo("reg-1", "reg-2", weapon=True)))
            await pilot.pause()
            assert pane.ids == ["reg-1", "reg-2"]
            assert "Meldingen (2)" in app.query_one(TopLine).plain
            footer = keys_shown(app)
            assert "Vervolledigen" in footer and "Ik kom" not in footer
            await pilot.press("down", "enter")  # the second one
            assert app.view == "complete"
            form = app.query_one(CompletePane)
            assert form.registration_id == "reg-2"
            victim = form.query_one("#c-victim").plain  # type: ignore[attr-defined]
            assert "Ilse J." in victim and WHAT in victim and "Geschrokken." in victim
            assert "wapen" in victim and "101" in victim  # the weapon rule, before the lead chooses
            await pilot.press("ctrl+s")  # no severity: refused with the model's reason, nothing sent
            assert "ernst" in form.query_one("#c-error").plain.lower()  # type: ignore[attr-defined]
            assert app.view == "complete" and not app.pending
            form.query_one("#c-sev-agressie", RadioButton).value = True
            form.query_one("#c-pv", Input).value = "PV 26/1"  # a PV number without the police: refused
            await pilot.press("ctrl+s")
            assert "politie" in form.query_one("#c-error").plain.lower()  # type: ignore[attr-defined]
            form.query_one("#c-police", Checkbox).value = True
            form.query_one("#c-note", Input).value = "x" * 1001  # longer than the console takes
            await pilot.press("ctrl+s")
            assert app.view == "complete" and form.query_one("#c-error").display  # type: ignore[attr-defined]
            form.query_one("#c-note", Input).value = "Gesprek met de klant gepland."
            assert form.values()["severity"] == "agressie" and form.values()["police_called"] is True
            await pilot.press("ctrl+s")  # valid: sent (no broker here), back to the list
            assert app.view == "registrations" and not form.query_one("#c-error").display  # type: ignore[attr-defined]
            assert "reg-2" in app.query_one(Notice).plain
            await pilot.press("escape", "c")  # c opens the highlighted one; the form kept its content
            assert app.view == "complete" and form.query_one("#c-pv", Input).value == "PV 26/1"
            await pilot.press("escape")
            assert app.view == "registrations"
            app.apply(Cleared("registrations", "an"))  # the service: nothing left to complete
            await pilot.pause()
            assert pane.ids == [] and "Meldingen (" not in app.query_one(TopLine).plain

    asyncio.run(go())


def test_another_persons_list_is_ignored_and_english_texts() -> None:
    async def go() -> None:
        app = ConsoleApp(SITE, "an", None, lang="en", clock=lambda: T0)
        async with app.run_test(size=(80, 24)) as pilot:
            ready(app)
            app.apply(Got(todo("reg-1", person="dirk")))  # not mine (the broker would not deliver it)
            await pilot.press("f5")
            assert app.query_one(RegistrationsPane).ids == []
            assert "No aggression registrations" in app.query_one("#reg-summary").plain  # type: ignore[attr-defined]
            app.apply(Got(todo("reg-1")))
            await pilot.pause()
            footer = keys_shown(app)
            assert "Complete" in footer
            await pilot.press("c")
            assert app.view == "complete"
            assert "Filed by" in app.query_one("#c-victim").plain  # type: ignore[attr-defined]
            await pilot.press("a")  # F1: back to the alarms from anywhere
            assert app.view == "alarms"

    asyncio.run(go())
