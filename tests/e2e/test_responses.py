"""Responses (issue 16) with real processes: `alarm-console serve`, a real mosquitto, the CLI, and
the Textual console on the real broker.

The site is FAST_SITE with the sociale-dienst team's levels moved to 0 / 20 / 40 s (so "at once"
cannot be the timer) and 'ter plaatse' due 2 s after 'ik kom', the next level told 2 s later.
Timeouts are for liveness only.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.widgets import Notice
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    EventKind,
    Feedback,
    FeedbackCmd,
    Notification,
    NotifyReason,
    parse_unit_command,
)
from stilalarm.wire.topics import Topics
from tests.broker.test_tui_console import until
from tests.harness import wait_until
from tests.rig import ConsoleRig

_TEAM = """[teams.escalation]
repeat_every_s = 5
remind_unresolved_after_s = 60
[[teams.escalation.levels]]
after_s = 0
notify = ["team_leads"]
[[teams.escalation.levels]]
after_s = 1
notify = ["team_deputies"]
[[teams.escalation.levels]]
after_s = 2
"""
_SLOW = _TEAM.replace("after_s = 1\n", "after_s = 20\n").replace("after_s = 2\n", "after_s = 40\n")
_ON_SITE = "remind_unresolved_after_s = 60\non_site_within_s = 2\non_site_escalate_after_s = 2\n"
assert FAST_SITE.count(_TEAM) == 2
SITE_TEXT = FAST_SITE.replace(_TEAM, _SLOW, 1).replace("remind_unresolved_after_s = 60\n", _ON_SITE)
SITE = parse_site(SITE_TEXT)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]


class System(ConsoleRig):
    def notes_on(self, person: str, incident_id: str) -> list[Notification]:
        return [n for n in self.notes(person) if n.incident_id == incident_id]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return super().cli(*args, "--broker-dir", str(self.broker.dir))


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = System(tmp_path, SITE_TEXT)
    yield s
    s.stop()


def feedbacks(unit: ScriptedUnit) -> list[Feedback]:
    cmds = [parse_unit_command(p) for p in unit.commands]
    return [c.feedback for c in cmds if isinstance(c, FeedbackCmd)]


def test_decline_by_the_lead_pages_the_deputy_at_once(system: System) -> None:
    unit = system.unit("spreekkamer-1")  # sociale-dienst: an, then dirk after 20 s
    inc = system.press(unit)
    wait_until(lambda: system.notes_on("an", inc), 5, "the lead's page")
    t0 = time.monotonic()
    done = system.cli("decline", inc, "--as", "an")
    assert done.returncode == 0, done.stderr
    wait_until(
        lambda: any(n.reason is NotifyReason.ESCALATION for n in system.notes_on("dirk", inc)),
        10,
        "the deputy",
    )
    assert time.monotonic() - t0 < 15  # long before the deputy's 20 s timer
    wait_until(lambda: system.incident(inc).declined == ("an",), 5, "'kan niet komen' in the state")
    # someone not notified may not decline (fail closed): refused with a reason, nothing changes
    bad = system.cli("decline", inc, "--as", "els")
    assert bad.returncode == 1 and "not_authorised" in bad.stderr
    unknown = system.cli("onsite", "20990101-0001", "--as", "an")
    assert unknown.returncode == 1 and "unknown_incident" in unknown.stderr
    assert system.incident(inc).declined == ("an",)


def test_everyone_declined_tells_the_desk_nobody_reachable(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    inc = system.press(unit)
    wait_until(lambda: system.notes_on("an", inc), 5, "the lead's page")
    assert system.cli("decline", inc, "--as", "an").returncode == 0  # -> dirk at once
    assert system.cli("decline", inc, "--as", "dirk").returncode == 0  # -> everyone + 101 at once
    wait_until(lambda: system.notes_on("els", inc), 10, "level 3")
    for p in ("chris", "els"):
        assert system.cli("decline", inc, "--as", p).returncode == 0
    wait_until(lambda: Feedback.NOBODY_REACHABLE in feedbacks(unit), 10, "'niemand bereikbaar' at the desk")
    wait_until(lambda: system.incident(inc).nobody_reachable, 5, "the badge in the retained state")
    # the escalation goes on: the last level repeats (every 5 s)
    wait_until(
        lambda: any(n.reason is NotifyReason.REPEAT for n in system.notes_on("els", inc)), 15, "a repeat"
    )


def test_ack_without_on_site_reminds_then_tells_the_next_level(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    inc = system.press(unit)
    assert system.cli("ack", inc, "--as", "an").returncode == 0
    other = system.cli("onsite", inc, "--as", "dirk")  # not the acknowledger: refused, nothing changes
    assert other.returncode == 1 and "not_authorised" in other.stderr
    assert system.incident(inc).on_site_at is None
    wait_until(
        lambda: any(n.title.startswith("Nog niet ter plaatse") for n in system.notes_on("an", inc)),
        10,
        "the on-site reminder to the acknowledger",
    )
    wait_until(
        lambda: any(
            n.title.startswith("Hulp mogelijk niet aangekomen") for n in system.notes_on("dirk", inc)
        ),
        10,
        "the next level told that help may not have arrived",
    )


def test_on_site_stops_the_reminder_and_a_new_press_realerts_the_acknowledger(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    inc = system.press(unit)
    assert system.cli("ack", inc, "--as", "an").returncode == 0
    done = system.cli("onsite", inc, "--as", "an")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: system.incident(inc).on_site_at is not None, 5, "'ter plaatse' in the state")
    time.sleep(5)  # past the reminder (2 s) and the next level (4 s)
    assert not [n for n in system.notes_on("an", inc) if n.title.startswith("Nog niet ter plaatse")]
    assert not [n for n in system.notes_on("dirk", inc) if n.title.startswith("Hulp mogelijk")]
    # pressed again after 'ik kom': still in danger, the acknowledger is paged again at once
    system.press(unit)
    wait_until(
        lambda: any(n.title.startswith("NOG STEEDS IN GEVAAR") for n in system.notes_on("an", inc)),
        10,
        "the re-alert",
    )
    assert Feedback.ACKNOWLEDGED in feedbacks(unit)


def test_the_console_keys_decline_and_on_site(system: System) -> None:
    unit = system.unit("spreekkamer-1")

    async def go() -> None:
        app = ConsoleApp(SITE, "an", system.broker.creds("person-an"), resync_settle_s=0.5)
        async with app.run_test(size=(100, 30)) as pilot:
            inc = system.press(unit)
            await until(pilot, lambda: app.snap.alarms.row(inc) is not None, "the alarm on An's console")
            await pilot.press("n")
            await until(pilot, lambda: "Kan niet komen" in app.query_one(Notice).plain, "the decline sent")
            await until(
                pilot,
                lambda: any(n.reason is NotifyReason.ESCALATION for n in system.notes_on("dirk", inc)),
                "the deputy paged at once",
            )
            assert system.cli("ack", inc, "--as", "dirk").returncode == 0
            await until(pilot, lambda: system.incident(inc).acknowledged_by == "dirk", "dirk's ack")
            await pilot.press("d")  # An did not acknowledge: refused locally, nothing sent
            assert "Kies eerst het alarm" in app.query_one(Notice).plain

    asyncio.run(go())


def test_the_acknowledger_marks_on_site_with_the_console_key(system: System) -> None:
    unit = system.unit("spreekkamer-1")

    async def go() -> None:
        app = ConsoleApp(SITE, "an", system.broker.creds("person-an"), resync_settle_s=0.5)
        async with app.run_test(size=(100, 30)) as pilot:
            inc = system.press(unit)
            await until(pilot, lambda: app.snap.alarms.row(inc) is not None, "the alarm on An's console")
            await pilot.press("k")
            await until(pilot, lambda: system.incident(inc).acknowledged_by == "an", "An's ack")
            await until(
                pilot,
                lambda: (r := app.snap.alarms.row(inc)) is not None and r.ack_by == "an",
                "the ack on An's console",
            )
            await pilot.press("d")
            await until(pilot, lambda: system.incident(inc).on_site_at is not None, "'ter plaatse' stored")

    asyncio.run(go())


def test_the_pagers_second_press_is_on_site(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    pager = system.unit("pager-an")
    inc = system.press(unit)
    wait_until(lambda: system.notes_on("an", inc), 5, "the lead's page")
    pager.press(kind=EventKind.PAGER_ACK, button="ik-kom")  # 'ik kom'
    wait_until(lambda: system.incident(inc).acknowledged_by == "an", 10, "the pager's ack")
    pager.press(kind=EventKind.PAGER_ACK, button="ik-kom")  # 'ter plaatse'
    wait_until(lambda: system.incident(inc).on_site_at is not None, 10, "the pager's 'ter plaatse'")
