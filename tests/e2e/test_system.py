"""The whole alarm path with real processes on both ends: `alarm-sim` (the real firmware code
on simulated pins) -> real mosquitto -> `alarm-console serve` -> back to the unit's LED.

Each fault is injected for real: SIGKILL of the console and of the broker while alarms are
in flight, a unit dying without last words. Timeouts are for liveness only.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stilalarm.devkit.localsystem import LocalSystem, script
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import IncidentState, IncidentStatus, Notification, NotifyReason, parse

# The fast test site (levels at 0 / 1 / 2 s), with a feedback LED on spreekkamer-1.
SITE_TEXT = FAST_SITE.replace(
    'id = "spreekkamer-1"\nroom = "spreekkamer-1"\n',
    'id = "spreekkamer-1"\nroom = "spreekkamer-1"\nled_pin = 17\n',
    1,
)
assert SITE_TEXT != FAST_SITE
SITE = parse_site(SITE_TEXT)


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE_TEXT)
    s = LocalSystem(SITE, site_file, tmp_path / "sys")
    s.start_all()
    yield s
    s.stop()


def ev(unit: str, event: str, **match: Any) -> Any:
    return lambda e: (
        e.get("unit") == unit and e.get("event") == event and all(e.get(k) == v for k, v in match.items())
    )


def notes(s: LocalSystem, person: str) -> list[Notification]:
    topic = s.topics.person_notify(person)
    return [parse(Notification, p) for _m, t, p, _r in list(s.observed.items) if t == topic]


def incidents_in_db(s: LocalSystem) -> list[tuple[str, str]]:
    with sqlite3.connect(s.db) as c:
        return [(r[0], r[1]) for r in c.execute("SELECT incident_id, unit_id FROM incidents")]


def cli(s: LocalSystem, *args: str) -> str:
    out = subprocess.run(
        [script("alarm-console"), *args, "--broker-dir", str(s.broker.dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_press_to_led_and_back(system: LocalSystem) -> None:
    s, sim = system, system.sim
    assert sim is not None
    sim.send("press spreekkamer-1")
    stored = sim.wait(ev("spreekkamer-1", "alarm_stored"), 10, "alarm in the unit's outbox")
    receipt = sim.wait(ev("spreekkamer-1", "receipt", event_id=stored["event_id"]), 10, "the receipt")
    iid = receipt["incident_id"]
    sim.wait(ev("spreekkamer-1", "led", pattern="stored"), 10, "LED 'stored'")
    s.observed.wait(lambda t, p: t == s.topics.person_notify("an") and iid.encode() in p, 10, "lead notified")
    assert "ok" in cli(s, "ack", iid, "--as", "an")
    sim.wait(ev("spreekkamer-1", "led", pattern="acknowledged"), 10, "LED 'help is coming'")
    cli(s, "resolve", iid, "--as", "an", "--type", "verbaal", "--severity", "boosheid", "--note", "e2e")
    sim.wait(ev("spreekkamer-1", "led", pattern="off"), 10, "LED off after resolve")
    assert incidents_in_db(s) == [(iid, "spreekkamer-1")]


def test_console_sigkill_while_unit_presses_loses_nothing_and_makes_one_incident(system: LocalSystem) -> None:
    s, sim = system, system.sim
    assert sim is not None
    s.kill_console()
    sim.send("press balie-1")
    stored = sim.wait(ev("balie-1", "alarm_stored"), 10, "alarm in the unit's outbox")
    sim.send("press balie-1 voet")  # pressed again while nobody answers
    sim.wait(ev("balie-1", "alarm_stored", button="voet"), 10, "second press stored")
    s.start_console()
    r1 = sim.wait(ev("balie-1", "receipt", event_id=stored["event_id"]), 30, "receipt after the restart")
    r2 = sim.wait(ev("balie-1", "receipt", button="voet"), 30, "receipt of the second press")
    assert r1["incident_id"] == r2["incident_id"]  # one incident, two presses
    assert incidents_in_db(s) == [(r1["incident_id"], "balie-1")]
    state_topic = s.topics.incident(r1["incident_id"])
    _i, _t, payload = s.observed.wait(
        lambda t, p: t == state_topic and p and parse(IncidentState, p).presses == 2, 10, "2 presses"
    )
    assert parse(IncidentState, payload).status is IncidentStatus.OPEN


def test_broker_sigkill_with_alarm_in_flight_loses_nothing(system: LocalSystem) -> None:
    s, sim = system, system.sim
    assert sim is not None
    s.broker.kill()
    sim.send("press wachtzaal")
    stored = sim.wait(ev("wachtzaal", "alarm_stored"), 10, "alarm in the unit's outbox")
    s.broker.start()
    r = sim.wait(ev("wachtzaal", "receipt", event_id=stored["event_id"]), 40, "receipt after broker restart")
    assert incidents_in_db(s) == [(r["incident_id"], "wachtzaal")]


def test_unit_dying_without_last_words_reaches_facilities(system: LocalSystem) -> None:
    s, sim = system, system.sim
    assert sim is not None
    sim.send("kill spreekkamer-1")

    def offline_notice(t: str, p: bytes) -> bool:
        if t != s.topics.person_notify("fien"):
            return False
        n = parse(Notification, p)
        return n.reason is NotifyReason.FAULT and n.unit_id == "spreekkamer-1"

    s.observed.wait(offline_notice, 15, "offline notice to facilities")
    assert not any(n.reason is NotifyReason.ALARM for n in notes(s, "fien"))  # never mixed with alarms


def test_lead_whose_console_died_is_skipped_straight_to_the_deputy(system: LocalSystem) -> None:
    import socket as _socket

    from stilalarm.console.tui.bus import Bus
    from stilalarm.wire.messages import PresenceState

    s, sim = system, system.sim
    assert sim is not None
    bus = Bus(s.broker.creds("person-an"), "an", lambda _e: None, console_id="pc-an")
    bus.start()

    def presence(present: bool, reason: str) -> Any:
        topic = s.topics.presence("an")

        def ok(t: str, p: bytes) -> bool:
            if t != topic or not p:
                return False
            st = parse(PresenceState, p)
            return st.present is present and st.reason == reason

        return ok

    s.observed.wait(presence(True, "manual"), 15, "An's console counted as live")
    sock = bus.link._client.socket()
    assert sock is not None
    sock.shutdown(_socket.SHUT_RDWR)  # An's PC drops off the network: the broker sends the will
    bus.link.stop()
    s.observed.wait(presence(False, "console_offline"), 15, "An absent: console offline")
    sim.send("press spreekkamer-1")
    receipt = sim.wait(ev("spreekkamer-1", "receipt"), 10, "the receipt")
    first = s.observed.wait(
        lambda t, p: t.endswith("/notify") and receipt["incident_id"].encode() in p, 10, "the first page"
    )
    assert first[1] == s.topics.person_notify("dirk")  # level 1 skipped at once
    assert parse(Notification, first[2]).level == 2
