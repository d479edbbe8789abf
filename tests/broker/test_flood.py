"""Finding 5: one unit's credentials flood the console; another unit's alarm still gets through.

A hostile client logs in as desk unit balie-1 (its own username and password) and sends 5,000
alarm events and 5,000 heartbeats against the real mosquitto and the real `alarm-console serve`.
Meanwhile spreekkamer-1 presses. No timed assertion: we wait for the outcome and count.

This is the console's own limit (console/intake.py), the second layer: the broker's per-login
publish limit, which normally stops most of such a flood before the console
(tests/broker/test_broker_ratelimit.py), is raised out of the way here so that the whole flood
reaches the console, as it would if the broker's limit were set too high.

On both profiles. The cluster (3 NATS nodes) has no per-login publish limit at all (docs/HA.md),
so there the console's limit is the only one. There nats-server 2.9 hands a few dozen of a
10,000-message flood to the console only on its redelivery after `ack_wait` (30 s), so the
flooder retransmits what has no receipt every few seconds, as a unit's outbox does: the end-to-end
receipt, not QoS1, is the guarantee.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker, LocalCluster, high_publish_limit
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import Notification, NotifyReason, UnitHealth, parse
from stilalarm.wire.topics import Topics
from tests.flood import Flooder
from tests.harness import Capture, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
N = 5000
RESEND_S = 5.0
"""The flooder retransmits what has no receipt after this long (the firmware: 2 s, backing off)."""


@dataclass
class Rig:
    broker: LocalBroker | LocalCluster
    console: ServiceProcess
    seen: Capture

    def notes(self, person: str) -> list[Notification]:
        return self.seen.notifications(person)


@pytest.fixture(params=["mosquitto", "cluster"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker: LocalBroker | LocalCluster = (
        LocalBroker(high_publish_limit(SITE), tmp_path / "broker")
        if request.param == "mosquitto"
        else LocalCluster(SITE, tmp_path / "broker")
    )
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    try:
        console.start()
        console.wait_ready()
        if request.param == "cluster":  # a console without --ha sets the queue limits too (HA.md, 13)
            wait_until(lambda: "limited $MQTT_msgs to 16 per topic" in console.log(), 30, console.log())
        yield Rig(broker, console, seen)
    finally:
        console.kill()
        seen.stop()
        broker.kill()


def _rows(db: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "received")}
    finally:
        con.close()


def _flood_notices(rig: Rig, person: str) -> list[Notification]:
    return [
        n
        for n in rig.notes(person)
        if n.reason is NotifyReason.FAULT
        and n.unit_id == "balie-1"
        and ("too many messages" in n.body or "te veel berichten" in n.body)
    ]


def _receipted(hostile: Flooder, n: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while hostile.receipts() < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return hostile.receipts() >= n


def test_a_flooding_unit_is_counted_and_flagged_while_another_units_alarm_gets_through(rig: Rig) -> None:
    hostile = Flooder(rig.broker.creds("unit-balie-1"), "balie-1").start()
    other = ScriptedUnit(rig.broker.creds("unit-spreekkamer-1"), "spreekkamer-1").start()
    try:
        first = hostile.alarm()  # the flooding unit's own first alarm opens an incident, as always
        wait_until(lambda: first in hostile.receipted, 20, "the receipt of the flooding unit's first alarm")
        before = _rows(rig.console.db)

        for _ in range(5):
            hostile.alarms(N // 5)
            hostile.heartbeats(N // 5)
        ev = other.press()  # while the flood is on its way

        wait_until(lambda: other.receipt_for(ev.event_id) is not None, 120, "the other unit's receipt")
        wait_until(
            lambda: any(
                n.unit_id == "spreekkamer-1" and n.reason is NotifyReason.ALARM for n in rig.notes("an")
            ),
            60,
            "the lead's page for the other unit's alarm",
        )
        # every flooded event is receipted in the end (a real unit would retransmit forever otherwise)
        for _ in range(int(120 / RESEND_S)):
            if _receipted(hostile, N + 1, RESEND_S):
                break
            hostile.resend()
        assert hostile.receipts() == N + 1, "a receipt for every flooded alarm, with retransmissions"
        assert len(hostile.incidents) == 1  # all of them joined the one incident
    finally:
        hostile.stop()
        other.stop()

    wait_until(lambda: _flood_notices(rig, "fien") and _flood_notices(rig, "gert"), 20, "the flood notices")
    (en,) = _flood_notices(rig, "fien")  # exactly one, in English
    (nl,) = _flood_notices(rig, "gert")  # and in Dutch
    assert "too many messages" in en.body and "te veel berichten" in nl.body
    assert en.title.startswith("FAULT balie-1") and nl.title.startswith("STORING balie-1")
    health = parse(UnitHealth, rig.seen.on(T.unitstate("balie-1"))[-1])
    assert "unit:flood" in health.faults

    assert rig.console.terminate() == 0
    log = rig.console.log()
    assert "unit balie-1 floods the console" in log
    assert "internal error" not in log

    after = _rows(rig.console.db)
    grown = {t: after[t] - before[t] for t in after}
    assert grown["received"] < N / 10, grown  # not one row per flooded event
    assert grown["events"] < N / 10, grown
    con = sqlite3.connect(f"file:{rig.console.db}?mode=ro", uri=True)
    try:
        (presses,) = con.execute("SELECT presses FROM incidents WHERE unit_id = 'balie-1'").fetchone()
        (other_inc,) = con.execute(
            "SELECT count(*) FROM incidents WHERE unit_id = 'spreekkamer-1'"
        ).fetchone()
    finally:
        con.close()
    assert presses == N + 1  # kept as a count
    assert other_inc == 1


def test_counted_presses_waiting_for_their_row_are_not_lost_when_the_console_is_killed(rig: Rig) -> None:
    """A counted repeat press is receipted only once its row is written (`count_every_s`). The
    console SIGKILLed while presses wait for that row loses none: without a receipt the unit
    retransmits, and after the restart every press is receipted and counted."""
    n = 300
    hostile = Flooder(rig.broker.creds("unit-balie-1"), "balie-1").start()
    try:
        first = hostile.alarm()
        wait_until(lambda: first in hostile.receipted, 20, "the receipt of the unit's first alarm")
        hostile.alarms(n)
        rig.console.kill()  # at once: the counted presses' row is at least count_every_s away
        assert hostile.receipts() < n + 1
        rig.console.start()
        rig.console.wait_ready(60)
        for _ in range(int(120 / RESEND_S)):
            if _receipted(hostile, n + 1, RESEND_S):
                break
            hostile.resend()
        assert hostile.receipts() == n + 1, "a receipt for every press after the restart"
        assert len(hostile.incidents) == 1
    finally:
        hostile.stop()
    assert rig.console.terminate() == 0
    assert "internal error" not in rig.console.log()
    con = sqlite3.connect(f"file:{rig.console.db}?mode=ro", uri=True)
    try:
        (presses,) = con.execute("SELECT presses FROM incidents WHERE unit_id = 'balie-1'").fetchone()
    finally:
        con.close()
    assert presses >= n + 1  # none lost; one counted again after the restart is allowed (fail open)
