"""FastClient (every Link) against the real broker: bursts in both directions at once arrive
whole, once and in order, and every QoS 1 publish is confirmed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from stilalarm.broker_config.local import LocalBroker, high_publish_limit
from stilalarm.inventory.model import Site
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.harness import wait_until

N = 3000


class Inbox:
    """Integers received on one subscription, in arrival order."""

    def __init__(self) -> None:
        self.got: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, _topic: str, payload: bytes) -> None:
        with self._lock:
            self.got.append(int(payload))


@pytest.fixture
def links(tmp_path: Path, site: Site) -> Iterator[tuple[Link, Link]]:
    """The console and one unit on a broker whose per-login publish limit is out of the way."""
    broker = LocalBroker(high_publish_limit(site), tmp_path / "broker")
    broker.start()
    console = Link(broker.creds("console"), max_inflight=0)  # the service's setting
    unit = Link(broker.creds("unit-balie-1"))
    try:
        yield console, unit
    finally:
        for lk in (console, unit):
            lk.stop()
        broker.kill()


def test_bursts_both_ways_arrive_whole_and_in_order(links: tuple[Link, Link], topics: Topics) -> None:
    console, unit = links
    events, receipts = Inbox(), Inbox()
    console.subscribe(topics.unit_event("balie-1"), events)
    unit.subscribe(topics.unit_receipt("balie-1"), receipts)
    for lk in (console, unit):
        lk.start()
        assert lk.wait_connected(5)
    console_infos: list[mqtt.MQTTMessageInfo] = []

    def console_side() -> None:  # not paho's thread: these publishes wake its loop
        for i in range(N):
            console_infos.append(console.publish(topics.unit_receipt("balie-1"), str(i).encode(), qos=1))

    t = threading.Thread(target=console_side)
    t.start()
    unit_infos = [unit.publish(topics.unit_event("balie-1"), str(i).encode(), qos=1) for i in range(N)]
    t.join()
    wait_until(lambda: len(events.got) >= N and len(receipts.got) >= N, 60, f"{N} messages each way")
    wait_until(lambda: all(i.is_published() for i in console_infos + unit_infos), 30, "every PUBACK")
    assert events.got == list(range(N))
    assert receipts.got == list(range(N))
