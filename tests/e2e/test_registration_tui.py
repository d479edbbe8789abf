"""A standalone registration completed in the leads' console, with real processes: a broker, the
console service (`alarm-console serve`), the CLI a staff member files with, and the Textual console
(pilot) connected to the real broker as the lead. Hanne (staff, sociale dienst: lead An, deputy
Dirk who is also Preventie) files; An sees it under Meldingen and completes the lead's part; the
record is complete in the log and the export, and Preventie's notice is in the outbox and on the
wire. Chris (lead of Onthaal) never sees it, cannot read An's list, cannot forge it, and his
console's attempt to complete it is refused with the reason."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, RadioButton

from stilalarm.console.store import Store
from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.regpanes import CompletePane, RegistrationsPane
from stilalarm.console.tui.widgets import Notice
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import RegistrationTodo, encode, parse, utcnow
from stilalarm.wire.topics import Topics
from tests.harness import wait_until
from tests.rig import ConsoleRig

SITE = parse_site(VISIT_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
WHAT = "Een cliënt sloeg met de vuist op de balie en schold mij uit."


class System(ConsoleRig):
    def file(self, reg: str, person: str = "hanne", *extra: str) -> None:
        """The staff member's part, from the CLI (a standalone registration: no alarm)."""
        out = self.cli(
            *("register", "file", "--as", person, "--place", "balie", "--what", WHAT, *extra),
            *("--form", "verbaal,fysiek", "--how", "Geschrokken.", "--alcohol-drugs"),
            *("--registration-id", reg, "--broker-dir", str(self.broker.dir)),
        )
        assert out.returncode == 0 and reg in out.stdout, out.stderr

    def outbox(self, person: str) -> list[dict[str, Any]]:
        db = Store(self.console.db, readonly=True).db
        rows = db.execute("SELECT channel, payload FROM outbox WHERE person_id = ?", (person,)).fetchall()
        return [{"channel": r[0], **json.loads(r[1])} for r in rows]

    def export(self, *who: str) -> list[dict[str, Any]]:
        out = self.cli(
            *("export", "--since", "2000-01-01", "--format", "json", *who),
            *("--site", str(self.site_file), "--db", str(self.console.db)),
        )
        assert out.returncode == 0, out.stderr
        rows: list[dict[str, Any]] = json.loads(out.stdout)
        return rows

    def todo(self, person: str) -> list[str]:
        """The registration ids of the person's last retained list, as the observer saw it."""
        got = self.seen.on(T.person_registrations(person))
        if not got or not got[-1]:
            return []
        return [i.registration_id for i in parse(RegistrationTodo, got[-1]).items]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = System(tmp_path, VISIT_SITE)
    yield s
    s.stop()


async def until(pilot: Pilot[int], pred: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def app_for(s: System, person: str) -> ConsoleApp:
    return ConsoleApp(SITE, person, s.broker.creds(f"person-{person}"), resync_settle_s=0.5)


async def connected(pilot: Pilot[int], app: ConsoleApp) -> None:
    await until(pilot, lambda: app.rec.link_up and app.rec.console is not None, "connected to the service")


def listed(app: ConsoleApp) -> list[str]:
    return app.query_one(RegistrationsPane).ids


def test_a_standalone_registration_is_completed_by_the_lead_in_the_console(system: System) -> None:
    async def go() -> None:
        app = app_for(system, "an")
        async with app.run_test(size=(100, 32)) as pilot:
            await connected(pilot, app)
            await pilot.press("m")
            assert app.view == "registrations" and listed(app) == []
            # Hanne files from the CLI while An's console runs: the list follows at once
            await asyncio.to_thread(system.file, "reg-tui-1", "hanne", "--weapon")
            await until(pilot, lambda: listed(app) == ["reg-tui-1"], "the registration in An's list")
            await pilot.press("enter")
            assert app.view == "complete"
            form = app.query_one(CompletePane)
            victim = form.query_one("#c-victim").plain  # type: ignore[attr-defined]
            assert WHAT in victim and "Hanne W." in victim and "alcohol of drugs" in victim
            assert "wapen" in victim
            form.query_one("#c-sev-agressie", RadioButton).value = True
            form.query_one("#c-sanction-waarschuwing", Checkbox).value = True
            form.query_one("#c-care-opvang", Checkbox).value = True
            form.query_one("#c-note", Input).value = "Gesprek met de cliënt gepland."
            # the console's own rule (a weapon: the police are called): refused with the reason
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "GEWEIGERD" in app.query_one(Notice).plain, "the console's refusal")
            assert "101" in app.query_one(Notice).plain and "reg-tui-1" in app.query_one(Notice).plain
            assert system.facts("registration_completed") == [] and listed(app) == ["reg-tui-1"]
            await pilot.press("enter")  # the form kept its content and says why
            assert app.view == "complete" and "101" in form.query_one("#c-error").plain  # type: ignore[attr-defined]
            assert form.query_one("#c-note", Input).value == "Gesprek met de cliënt gepland."
            form.query_one("#c-police", Checkbox).value = True
            form.query_one("#c-pv", Input).value = "PV 26/777"
            await pilot.press("ctrl+s")
            assert app.view == "registrations"
            await until(pilot, lambda: "Aanvaard" in app.query_one(Notice).plain, "the console's ok")
            await until(pilot, lambda: listed(app) == [], "the completed registration gone from the list")
            assert "reg-tui-1" in app.query_one(Notice).plain

    asyncio.run(go())
    (done,) = system.facts("registration_completed")
    assert done["registration_id"] == "reg-tui-1" and done["person_id"] == "an"
    assert (
        done["severity"] == "agressie" and done["police_called"] is True and done["pv_number"] == "PV 26/777"
    )
    assert done["sanctions"] == ["waarschuwing"] and done["aftercare"] == ["opvang"]
    assert done["note"] == "Gesprek met de cliënt gepland."
    (row,) = system.export("--as", "dirk")
    assert row["incident_id"] == "reg-tui-1" and row["incident_kind"] == "registration"
    assert row["complete"] == "ja" and row["completed_by"] == "an" and row["reported_by"] == "hanne"
    assert row["severity"] == "agressie" and row["what_happened"] == WHAT
    # to Preventie: queued in the outbox for Dirk's channels and delivered to his console
    queued = [n for n in system.outbox("dirk") if "reg-tui-1" in n["title"]]
    assert queued and all(n["record"] for n in queued)
    rec = json.loads(queued[0]["record"])
    assert rec["person_id"] == "hanne" and rec["completed_by"] == "an" and rec["pv_number"] == "PV 26/777"
    wait_until(
        lambda: any("reg-tui-1" in n.title for n in system.seen.notifications("dirk")), 15, "Preventie told"
    )
    wait_until(lambda: system.todo("an") == [] and system.todo("dirk") == [], 10, "the lists cleared")


def test_a_lead_of_another_team_neither_sees_nor_reads_nor_completes_it(system: System) -> None:
    system.file("reg-tui-2")
    wait_until(lambda: system.todo("an") == ["reg-tui-2"], 15, "An's list published")
    assert system.todo("dirk") == ["reg-tui-2"] and system.todo("chris") == [] and system.todo("bart") == []

    # Chris's own login cannot read An's list (the broker ACL), nor write a forged one into it
    spy_got: list[bytes] = []
    spy = Link(system.broker.creds("person-chris"), client_id="person-chris.spy")
    spy.subscribe(T.person_registrations("an"), lambda _t, p: spy_got.append(p))
    spy.subscribe(T.person_registrations("dirk"), lambda _t, p: spy_got.append(p))
    spy.start()
    assert spy.wait_connected(5)
    forged = RegistrationTodo(person_id="an", at=utcnow(), items=())
    spy.publish(T.person_registrations("an"), encode(forged), qos=1, retain=True).wait_for_publish(5)

    async def go() -> None:
        chris = app_for(system, "chris")
        async with chris.run_test(size=(100, 32)) as pilot:
            await connected(pilot, chris)
            await pilot.press("f5")
            await pilot.pause(1.0)  # the retained lists have been delivered on connect
            assert listed(chris) == [] and chris.rec.todo is None
            # his console driven to send the lead's part anyway (the id known from elsewhere)
            form = chris.query_one(CompletePane)
            form.load("reg-tui-2", "reg-tui-2", [], False)
            chris.switch_view("complete")
            form.query_one("#c-sev-boosheid", RadioButton).value = True
            await pilot.press("ctrl+s")
            await until(pilot, lambda: "GEWEIGERD" in chris.query_one(Notice).plain, "the refusal")
            notice = chris.query_one(Notice).plain
            assert "reg-tui-2" in notice and "Sociale dienst" in notice, notice
            # an unknown registration: refused with its reason too
            form.load("reg-nope", "reg-nope", [], False)
            chris.switch_view("complete")
            form.query_one("#c-sev-boosheid", RadioButton).value = True
            await pilot.press("ctrl+s")
            # (first the notice says it was sent, "Melding reg-nope verzonden": wait for the answer)
            await until(
                pilot,
                lambda: "reg-nope" in (n := chris.query_one(Notice).plain) and "GEWEIGERD" in n,
                f"the second refusal, not {chris.query_one(Notice).plain!r}",
            )

        an = app_for(system, "an")  # An's list is the console's, not Chris's forgery
        async with an.run_test(size=(100, 32)) as pilot:
            await connected(pilot, an)
            await pilot.press("m")
            await until(pilot, lambda: listed(an) == ["reg-tui-2"], "An's list")

    asyncio.run(go())
    spy.stop()
    assert spy_got == []
    assert system.facts("registration_completed") == []
    assert system.todo("an") == ["reg-tui-2"]  # nothing changed
