"""Finding 5 at the broker: one login's flood is stopped by mosquitto, before the console.

Our broker plugin (broker_config/clientid_plugin.c) gives every unit and person login a token
bucket ([broker] publish_burst, publish_rate_per_s). A real paho client with one unit's
credentials floods 20,000 QoS1 alarm events against the real mosquitto; the observer (which
sees what the console would see) gets at most burst + rate x the flood's duration of them,
while another unit's burst, sent in the middle of the flood, arrives whole. The broker log
names the login and accounts for every dropped message. No timed assertion: the bound uses
the duration the test itself measured around the flood, which can only make it looser.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.inventory.model import Site
from stilalarm.wire.identity import client_id
from stilalarm.wire.link import Link
from stilalarm.wire.messages import EventKind, Heartbeat, UnitEvent, encode, parse, utcnow
from stilalarm.wire.topics import Topics, UnitChannel
from tests.flood import Flooder
from tests.harness import Capture, wait_until

FLOOD = 20_000
LIMITED = re.compile(
    r"stilalarm-ratelimit: login '(?P<user>[^']+)' is over its publish limit .*?"
    r"dropped (?P<n>\d+) message\(s\) since the last report, (?P<total>\d+) in total"
)


@pytest.fixture
def limited(tmp_path: Path, site: Site) -> Iterator[LocalBroker]:
    """The example site's broker with the default limits, logging a limited login every second."""
    quick_log = site.broker.model_copy(update={"publish_limit_log_s": 1})
    b = LocalBroker(site.model_copy(update={"broker": quick_log}), tmp_path / "broker")
    b.start()
    yield b
    b.kill()


def _dropped(broker: LocalBroker, user: str) -> tuple[int, int]:
    """(sum of the counts in the limiting lines for `user`, the last running total)."""
    hits = [m for m in LIMITED.finditer(broker.log_path.read_text(errors="replace")) if m["user"] == user]
    return sum(int(m["n"]) for m in hits), int(hits[-1]["total"]) if hits else 0


def _event(unit_id: str, seq: int) -> UnitEvent:
    now = utcnow()
    return UnitEvent(
        event_id=uuid.uuid4(),
        unit_id=unit_id,
        kind=EventKind.ALARM,
        button_id="knop",
        seq=seq,
        boot_id=uuid.uuid4(),
        occurred_at=now,
        sent_at=now,
    )


def _after_outage(link: Link, topics: Topics, unit_id: str, n: int) -> list[uuid.UUID]:
    """What a unit sends when its link comes back: retained status, its whole outbox, a heartbeat."""
    link.publish(topics.unit_status(unit_id), b'{"state":"online"}', qos=1, retain=True)
    events = [_event(unit_id, i) for i in range(n)]
    infos = [link.publish(topics.unit_event(unit_id), encode(ev), qos=1) for ev in events]
    hb = Heartbeat(
        unit_id=unit_id,
        boot_id=uuid.uuid4(),
        seq=0,
        sent_at=utcnow(),
        interval_s=5,
        uptime_s=1.0,
        outbox_depth=n,
        firmware_version="test",
        test_mode=False,
    )
    link.publish(topics.unit_heartbeat(unit_id), encode(hb), qos=0)
    for info in infos:
        info.wait_for_publish(30)
    return [ev.event_id for ev in events]


def test_a_one_login_flood_is_cut_at_the_broker_and_another_units_burst_passes_whole(
    limited: LocalBroker, topics: Topics
) -> None:
    b = limited.site.broker
    seen = Capture(limited.creds("observer"), (topics.all_units(UnitChannel.EVENT),)).start()
    hostile = Flooder(limited.creds("unit-balie-1"), "balie-1").start()
    other = Link(limited.creds("unit-spreekkamer-1"), client_id="unit-spreekkamer-1")
    other.start()
    assert other.wait_connected(5)
    try:
        t0 = time.monotonic()
        hostile.alarms(FLOOD // 2)
        # an outage's worth from another unit in the middle of the flood
        legit = _after_outage(other, topics, "spreekkamer-1", 30)
        hostile.alarms(FLOOD // 2)
        wait_until(lambda: hostile.acked() >= FLOOD, 180, "a PUBACK for every flooded event")
        flood_s = time.monotonic() - t0
        assert hostile.client.is_connected()  # dropped messages, not a cut connection
        # the broker accounts for every message it dropped (a line per login per second)
        flooded = topics.unit_event("balie-1")
        wait_until(
            lambda: _dropped(limited, "unit-balie-1")[0] + len(seen.on(flooded)) >= FLOOD,
            30,
            "the broker's limiting lines for unit-balie-1",
        )
    finally:
        hostile.stop()
        other.stop()
        seen.stop()

    got = seen.on(topics.unit_event("balie-1"))
    bound = b.publish_burst + b.publish_rate_per_s * flood_s
    assert b.publish_burst <= len(got) <= bound + 10, (len(got), flood_s)  # not 20,000
    assert len(got) < FLOOD / 10
    dropped, total = _dropped(limited, "unit-balie-1")
    assert dropped == total == FLOOD - len(got)  # nothing lost unaccounted for, no one else blamed
    others = {parse(UnitEvent, p).event_id for p in seen.on(topics.unit_event("spreekkamer-1"))}
    assert others == set(legit)  # the other unit's 30 events all arrived
    log = limited.log_path.read_text(errors="replace")
    assert "login 'unit-spreekkamer-1' is over" not in log


def test_the_console_and_observer_logins_are_never_limited(limited: LocalBroker, topics: Topics) -> None:
    n = 1000
    seen = Capture(limited.creds("observer"), (topics.all_units(UnitChannel.RECEIPT),)).start()
    console = Link(limited.creds("console"))
    console.start()
    try:
        assert console.wait_connected(5)
        infos = [console.publish(topics.unit_receipt("balie-1"), str(i).encode(), qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(30)
        wait_until(lambda: len(seen.on(topics.unit_receipt("balie-1"))) >= n, 30, f"{n} receipts")
    finally:
        console.stop()
        seen.stop()
    assert "is over its publish limit" not in limited.log_path.read_text(errors="replace")


def test_a_person_login_is_limited_across_its_connections(limited: LocalBroker, topics: Topics) -> None:
    b = limited.site.broker
    seen = Capture(limited.creds("observer"), (topics.person_cmd("an"),)).start()
    creds = limited.creds("person-an")
    links = [Link(creds, client_id=client_id("person-an", f"pc{i}")) for i in range(2)]
    try:
        for lk in links:
            lk.start()
            assert lk.wait_connected(5)
        t0 = time.monotonic()
        per_link = int(b.publish_burst) * 3
        infos = [lk.publish(topics.person_cmd("an"), b"{}", qos=1) for lk in links for _ in range(per_link)]
        for info in infos:
            info.wait_for_publish(60)
        took = time.monotonic() - t0
        wait_until(lambda: _dropped(limited, "person-an")[1] > 0, 30, "the limiting line for person-an")
    finally:
        for lk in links:
            lk.stop()
        seen.stop()
    got = len(seen.on(topics.person_cmd("an")))
    assert got <= b.publish_burst + b.publish_rate_per_s * took + 10, (got, took)  # one bucket for both
